"""Profile-likelihood intervals for censored maximum-likelihood growth fits.

:func:`profile_threshold` is the deviance threshold (F or chi-square calibration); :func:`profile_interval`
bounds the saturation, any parameter, or a smooth function of the parameters (the year of fastest growth)
where the profile log-likelihood crosses it, with ``None`` for an end not reached within the search range.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize, stats

from helpers.models.batch_mle import _newton_minimise
from helpers.models.censored import _Obs, _obs_from, _Param, _param_space
from helpers.models.likelihood import _minimise, _neg

CHI2_1 = {0.95: 3.841458820694124}


def _chi2(level: float) -> float:
    return CHI2_1.get(level, float(stats.chi2.ppf(level, 1)))


def profile_threshold(level: float, n: int, p: int, calibration: str = "f") -> float:
    """Deviance threshold of a profile-likelihood interval: ``2 (l_max - l_p(q)) <= threshold``.

    ``calibration="chi2"``: the asymptotic ``chi2_1(level)`` quantile (Wilks), anticonservative with a handful
    of figures.  ``calibration="f"`` (default): the classic small-sample threshold of nonlinear regression
    profiles (Bates & Watts 1988, ch. 6; what R's ``profile.nls``/``confint`` use through ``F(1, n - p)``),
    ``n log(1 + F_{1, n-p}(level) / (n - p))``, with ``n`` the number of figures (every exact value, bound and
    range contributes one likelihood term) and ``p`` the number of estimated parameters including ``sigma``.
    It tends to ``chi2_1(level)`` as ``n`` grows; with ``n - p < 1`` no finite threshold exists (``inf``).
    """
    if calibration == "chi2":
        return _chi2(level)
    if calibration != "f":
        raise ValueError(f"calibration must be 'f' or 'chi2', not {calibration!r}")
    dof = int(n) - int(p)
    if dof < 1:
        return math.inf
    return float(n * math.log1p(stats.f.ppf(level, 1, dof) / dof))


# --------------------------------------------------------------------------------------------------------
# Profile likelihood
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileInterval:
    """Profile-likelihood interval: ``estimate``, ``lo``/``hi`` (``None`` = not reached within the search
    range: that end is not constrained by the data), ``level`` and the search limits used."""

    estimate: float
    lo: float | None
    hi: float | None
    level: float
    search_lo: float
    search_hi: float

    def covers(self, value: float) -> bool:
        """Whether ``value`` lies inside (an unreached end counts as open)."""
        lo = -math.inf if self.lo is None else self.lo
        hi = math.inf if self.hi is None else self.hi
        return bool(lo <= value <= hi)


def _state(res: Any) -> tuple[Any, _Param, _Obs, np.ndarray]:
    from helpers.models import growth

    if getattr(res, "method", "lsq") != "mle":
        raise ValueError("profile likelihood needs a fit made with method='mle'")
    d = growth._data_of(res)
    o = _obs_from(d)
    P = _param_space(*res.bounds)
    v_hat = np.concatenate([P.to_u(res.theta), [math.log(res.sigma)]])
    return res.model, P, o, v_hat


def _profile_param(
    res: Any, j: int, value: float, warm: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """Maximised log-likelihood with parameter ``j`` fixed at ``value``; and the optimiser's free vector."""
    model, P, o, v_hat = _state(res)
    u_fix = float(P.to_u(np.array([value if k == j else res.theta[k] for k in range(res.theta.size)]))[j])
    fun = _neg(model, P, o, {j: u_fix})
    free = fun.free
    v0 = np.concatenate([v_hat[:-1][free], [v_hat[-1]]]) if warm is None else warm
    # damped Newton (:func:`_newton_minimise`); the former BFGS + Newton path when it does not end on a
    # stationary point (gradient >= 1e-6)
    v, fv, gv = _newton_minimise(model, P, o, v0[None, :], {j: u_fix})
    if np.isfinite(fv) and fv < 1e299 and np.all(np.isfinite(gv)) and np.max(np.abs(gv)) < 1e-6:
        return -fv, v
    sol = _minimise(fun, v0)
    return -float(sol.fun), np.asarray(sol.x, dtype=float)


def _profile_derived(
    res: Any, g: Callable[[np.ndarray], float], value: float, warm: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """Maximised log-likelihood subject to ``g(theta) = value`` (SLSQP in the optimiser's coordinates)."""
    model, P, o, v_hat = _state(res)
    fun = _neg(model, P, o)
    cons = {"type": "eq", "fun": lambda v: g(P.to_theta(v[:-1])) - value}
    best = None
    for v0 in ([warm] if warm is not None else []) + [v_hat]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sol = optimize.minimize(
                fun,
                v0,
                jac=True,
                method="SLSQP",
                constraints=[cons],
                options=dict(maxiter=500, ftol=1e-12),
            )
        if abs(g(P.to_theta(sol.x[:-1])) - value) > 1e-6 * max(1.0, abs(value)):
            continue
        if best is None or sol.fun < best.fun:
            best = sol
    if best is None:
        return -math.inf, v_hat
    return -float(best.fun), np.asarray(best.x, dtype=float)


def profile_interval(
    res: Any,
    quantity: str | Callable[[np.ndarray], float] = "saturation",
    *,
    level: float = 0.95,
    max_factor: float = 100.0,
    span: float | None = None,
    calibration: str = "f",
) -> ProfileInterval:
    """Profile-likelihood interval ``{q : 2 (l_max - l_p(q)) <= c}``, ``c`` from :func:`profile_threshold`
    (default: the small-sample ``F(1, n - p)`` calibration, ``n`` figures, ``p`` parameters incl. ``sigma``;
    ``calibration="chi2"``: the asymptotic ``chi2_1(level)``).

    ``quantity`` is ``"saturation"`` (the first parameter, ``K`` or ``m``), a parameter name, or a function of
    the parameter vector (e.g. the inflection time, see :func:`helpers.models.derived.inflection`).  Parameters are
    profiled by fixing them and maximising over the rest; functions by constrained maximisation (SLSQP).
    The search runs from the estimate outwards: for a positive parameter down to ``estimate / max_factor``
    and up to ``estimate * max_factor``, otherwise ``estimate -/+ span`` (default 50 for times); an end whose
    deviance stays below the threshold within that range is returned as ``None`` (not constrained by the
    data).  The interval of a monotone function of one parameter (the ceiling per 100 =
    ``100 K / population``) is that parameter's interval transformed.
    """
    model = res.model
    names = list(model.param_names)
    if quantity == "saturation":
        quantity = names[0]
    crit = profile_threshold(level, int(np.asarray(res.t).size), len(names) + 1, calibration)
    ll_max = res.loglik
    if isinstance(quantity, str):
        if quantity not in names:
            raise ValueError(
                f"unknown quantity {quantity!r}: a parameter of {model.name} {names} or a function"
            )
        j = names.index(quantity)
        est = float(res.theta[j])
        positive = res.bounds[0][j] >= 0

        def prof(val: float, warm: np.ndarray | None) -> tuple[float, np.ndarray]:
            return _profile_param(res, j, val, warm)

        bounded_lo = res.bounds[0][j]
        bounded_hi = res.bounds[1][j]
    else:
        fn = quantity
        est = float(fn(res.theta))
        positive = False

        def prof(val: float, warm: np.ndarray | None) -> tuple[float, np.ndarray]:
            return _profile_derived(res, fn, val, warm)

        bounded_lo, bounded_hi = -math.inf, math.inf
    if positive:
        s_lo, s_hi = max(est / max_factor, bounded_lo), min(est * max_factor, bounded_hi)
    else:
        w = 50.0 if span is None else span
        s_lo, s_hi = max(est - w, bounded_lo), min(est + w, bounded_hi)

    def dev(val: float, warm: np.ndarray | None) -> tuple[float, np.ndarray]:
        lp, v = prof(val, warm)
        return 2.0 * (ll_max - lp) - crit, v

    def side(limit: float) -> float | None:
        # walk outwards (geometrically for a positive quantity) until the deviance crosses the threshold,
        # warm-starting each constrained fit from the previous one; then Brent's method inside the bracket
        prev, warm = est, None
        x = est
        for k in range(1, 60):
            step = 0.25 * 1.6**k
            x = (
                est * math.exp(math.copysign(min(step, abs(math.log(limit / est))), limit - est))
                if positive
                else (est + math.copysign(min(0.25 * step, abs(limit - est)), limit - est))
            )
            dv, warm = dev(x, warm)
            if dv > 0:
                break
            if x == limit:
                return None
            prev = x
        else:
            return None
        w0 = warm

        def h(z: float) -> float:
            return dev(math.exp(z) if positive else z, w0)[0]

        a, b = (math.log(prev), math.log(x)) if positive else (prev, x)
        if (
            h(a) > 0
        ):  # the warm start misled the previous evaluation: fall back to bisection from the estimate
            a = math.log(est) if positive else est
        z = optimize.brentq(h, a, b, xtol=1e-7, rtol=1e-7, maxiter=60)
        return math.exp(z) if positive else z

    lo = side(s_lo)
    hi = side(s_hi)
    return ProfileInterval(est, lo, hi, level, s_lo, s_hi)
