"""helpers.models.growth.fit against the NIST StRD certified results for Rat42 (logistic) and Rat43 (Richards).

Both NIST starting points are converted to our parameterisation (K = b1, r = b3, t0 = b2/b3, nu = b4) and
the results are compared in NIST's b-parameterisation.  b2 = r * t0 and its standard error comes from the
delta method, cov_b = G cov_theta G^T with G = d b / d theta.  For the linear-approximation covariance
s^2 (J^T J)^{-1} this is exact, not an approximation: at the optimum J_b = J_theta G^{-1}, hence
s^2 (J_b^T J_b)^{-1} = G s^2 (J_theta^T J_theta)^{-1} G^T.  The test also refits directly in b-space with a
custom Model to confirm.

Accuracy bar: parameters 1e-6 relative, standard errors 1e-5, residual sum of squares 1e-8.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import special

from helpers.config import ROOT
from helpers.models import growth, nist, registry

NIST = ROOT / "tests" / "data" / "nist"
CERT = json.loads((NIST / "certified.json").read_text())
CASES = [("Rat42", "logistic"), ("Rat43", "richards")]


def _data(problem: str) -> pd.DataFrame:
    return pd.read_csv(NIST / f"{problem.lower()}.csv")


@pytest.mark.parametrize("problem,model", CASES)
@pytest.mark.parametrize("start", ["start1", "start2", None])
def test_nist_certified(problem: str, model: str, start: str | None) -> None:
    cert = CERT[problem]
    d = _data(problem)
    assert len(d) == cert["n"]
    p0 = nist.from_b(cert[start]) if start else None  # None: the self-starting values
    res = growth.fit(model, d["x"], d["y"], p0=p0)
    assert res.converged, res.message
    assert res.n == cert["n"] and res.dof == cert["dof"]
    b, se = nist.to_b(res)
    dev_p = max(abs(b[k] / v - 1) for k, v in cert["estimate"].items())
    dev_se = max(abs(se[k] / v - 1) for k, v in cert["stderr"].items())
    dev_rss = abs(res.rss / cert["rss"] - 1)
    print(f"{problem} {start}: params {dev_p:.1e}, stderr {dev_se:.1e}, rss {dev_rss:.1e}")
    assert dev_p < 1e-6
    assert dev_se < 1e-5
    assert dev_rss < 1e-8
    assert res.sigma == pytest.approx(cert["residual_sd"], rel=1e-8)


def _b_model(problem: str) -> registry.Model:
    """NIST's own parameterisation as a Model, to check the delta-method standard error of b2."""

    def f(x, b1, b2, b3, b4=1.0):
        return b1 * np.exp(-np.logaddexp(0.0, b2 - b3 * x) / b4)

    def jac(x, b1, b2, b3, b4=1.0):
        z = b2 - b3 * x
        L = np.logaddexp(0.0, z)
        g = np.exp(-L / b4)
        dz = -b1 * g * special.expit(z) / b4
        cols = [g, dz, -dz * x] + ([b1 * g * L / b4**2] if problem == "Rat43" else [])
        return registry._stack(cols)

    if problem == "Rat42":
        return registry.Model(
            "rat42_b",
            ("b1", "b2", "b3"),
            lambda x, a, b, c: f(x, a, b, c),
            lambda x, a, b, c: jac(x, a, b, c),
            (False, False, False),
            True,
            "b1/(1+exp(b2-b3 x))",
        )
    return registry.Model("rat43_b", ("b1", "b2", "b3", "b4"), f, jac, (False,) * 4, True, "Rat43")


@pytest.mark.parametrize("problem", ["Rat42", "Rat43"])
def test_nist_refit_in_b_space(problem: str) -> None:
    cert = CERT[problem]
    d = _data(problem)
    res = growth.fit(_b_model(problem), d["x"], d["y"], p0=cert["start2"])
    assert res.converged, res.message
    for k, v in cert["estimate"].items():
        assert res.params[k] == pytest.approx(v, rel=1e-6)
        assert res.stderr[k] == pytest.approx(cert["stderr"][k], rel=1e-5)
