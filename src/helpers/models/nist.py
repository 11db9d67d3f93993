"""NIST StRD nonlinear-regression problems in this project's parameterisations.

NIST certifies Rat42 as ``y = b1 / (1 + exp(b2 - b3 x))`` and Rat43 as ``y = b1 / (1 + exp(b2 - b3 x))^(1/b4)``.
Our logistic and Richards models use ``K, r, t0 (, nu)``, so ``b1 = K``, ``b2 = r t0``, ``b3 = r``, ``b4 = nu``.
Used by the NIST tests and by the report's live validation table, so both compare the same way.
"""

from __future__ import annotations

import numpy as np

from helpers.models.growth import FitResult


def from_b(b: dict[str, float]) -> dict[str, float]:
    """Starting values in our parameters from NIST's ``b1..b4``."""
    p0 = {"K": b["b1"], "r": b["b3"], "t0": b["b2"] / b["b3"]}
    if "b4" in b:
        p0["nu"] = b["b4"]
    return p0


def to_b(res: FitResult) -> tuple[dict[str, float], dict[str, float]]:
    """NIST's ``b`` parameters of a logistic/Richards fit and their standard errors.

    The standard errors come from the fit's covariance by the delta method, ``G C G^T`` with ``G`` the Jacobian
    of ``(K, r, t0, nu) -> (b1, b2, b3, b4)``; for a linearised (Jacobian-based) covariance this is exact.
    """
    P = res.params
    names = ["b1", "b2", "b3"] + (["b4"] if res.model.name == "richards" else [])
    G = np.zeros((len(names), res.model.n_params))
    G[0, 0] = 1.0  # b1 = K
    G[1, 1], G[1, 2] = P["t0"], P["r"]  # b2 = r t0
    G[2, 1] = 1.0  # b3 = r
    b = {"b1": P["K"], "b2": P["r"] * P["t0"], "b3": P["r"]}
    if res.model.name == "richards":
        G[3, 3] = 1.0  # b4 = nu
        b["b4"] = P["nu"]
    se = np.sqrt(np.diag(G @ res.cov @ G.T))
    return b, dict(zip(names, se, strict=True))
