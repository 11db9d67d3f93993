"""Input of a growth fit: validated observations (exact and censored), parameter bounds, self-starting values.

Shared by the least-squares and maximum-likelihood paths of :func:`helpers.models.growth.fit`, the bootstrap
(:mod:`helpers.models.bootstrap`) and the backtests (:mod:`helpers.models.selection`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from helpers._lazy import lazy
from helpers.models.registry import MODELS, Model
from helpers.models.solver import residuals as _shared_residuals

optimize = lazy("scipy.optimize")

ArrayLike = Any

# --------------------------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Data:
    """Validated observations, in shifted time ``tau = t - epoch``."""

    tau: np.ndarray
    y: np.ndarray  # NaN for bound-only points
    lower: np.ndarray  # -inf where absent
    upper: np.ndarray  # +inf where absent
    w: np.ndarray
    exact: np.ndarray  # bool
    log: bool


def _as_1d(name: str, values: ArrayLike | None, n: int, fill: float) -> np.ndarray:
    if values is None:
        return np.full(n, fill)
    a = np.asarray(values, dtype=float).reshape(-1)
    if a.shape != (n,):
        raise ValueError(f"{name} has {a.size} values but t has {n}")
    return a


def naive_points(y: ArrayLike, lower: ArrayLike | None = None, upper: ArrayLike | None = None) -> np.ndarray:
    """The ``y`` a naive fit would use: exact values, else the interval midpoint, else the single bound.

    "More than L" becomes ``L``, "at most U" becomes ``U`` and "L-U" becomes ``(L + U) / 2``.  Fitting these
    as exact points is what treating "more than" figures as point values means; compare with the censored
    fit (same ``t``, original ``y``/``lower``/``upper``) to show the difference.
    """
    y = np.asarray(y, dtype=float).reshape(-1).copy()
    n = y.size
    lo = _as_1d("lower", lower, n, np.nan)
    hi = _as_1d("upper", upper, n, np.nan)
    miss = np.isnan(y)
    both = miss & np.isfinite(lo) & np.isfinite(hi)
    y[both] = 0.5 * (lo[both] + hi[both])
    only_lo = miss & np.isfinite(lo) & ~np.isfinite(hi)
    y[only_lo] = lo[only_lo]
    only_hi = miss & ~np.isfinite(lo) & np.isfinite(hi)
    y[only_hi] = hi[only_hi]
    return y


def _validate(
    model: Model,
    t: ArrayLike,
    y: ArrayLike,
    lower: ArrayLike | None,
    upper: ArrayLike | None,
    weights: ArrayLike | None,
    loss_scale: str,
    epoch: float,
) -> _Data:
    """Check the observations and raise ``ValueError`` naming the first problem found."""
    if loss_scale not in ("linear", "log"):
        raise ValueError(f"loss_scale must be 'linear' or 'log', not {loss_scale!r}")
    t = np.asarray(t, dtype=float).reshape(-1)
    n = t.size
    y = _as_1d("y", y, n, np.nan)
    lo = _as_1d("lower", lower, n, np.nan)
    hi = _as_1d("upper", upper, n, np.nan)
    w = _as_1d("weights", weights, n, 1.0)
    if not np.all(np.isfinite(t)):
        raise ValueError("t contains NaN or infinite values")
    if not np.isfinite(epoch):
        raise ValueError("epoch must be finite")
    # replicates (several observations at the same time) are accepted, as in R's nls and scipy
    if n > 1 and np.any(np.diff(t) < 0):
        raise ValueError("t is not sorted in non-decreasing order")
    for name, a in (("y", y), ("lower", lo), ("upper", hi)):
        if np.any(np.isinf(a)):
            raise ValueError(f"{name} contains infinite values (use NaN for an absent bound)")
        if np.any(a[~np.isnan(a)] < 0):
            raise ValueError(f"{name} contains negative values")
    if not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise ValueError("weights must be finite and > 0")
    has_bound = np.isfinite(lo) | np.isfinite(hi)
    if np.any(np.isnan(y) & ~has_bound):
        idx = np.flatnonzero(np.isnan(y) & ~has_bound)
        raise ValueError(f"y is NaN with no lower/upper bound at t = {t[idx].tolist()}")
    both = np.isfinite(lo) & np.isfinite(hi)
    if np.any(lo[both] > hi[both]):
        raise ValueError(f"lower > upper at t = {t[both][lo[both] > hi[both]].tolist()}")
    exact = np.isfinite(y)
    bad = exact & ((np.isfinite(lo) & (y < lo)) | (np.isfinite(hi) & (y > hi)))
    if np.any(bad):
        raise ValueError(f"y lies outside its own [lower, upper] at t = {t[bad].tolist()}")
    p = model.n_params
    if n <= p:
        raise ValueError(
            f"too few observations for {model.name}: n = {n} but the model has p = {p} parameters "
            "(need n > p for a residual variance)"
        )
    if exact.sum() < 2:
        raise ValueError("need at least two exact (non-bound) observations")
    if np.ptp(y[exact]) == 0:
        raise ValueError("y is constant: a growth curve cannot be fitted to constant values")
    log = loss_scale == "log"
    if log:
        if np.any(y[exact] <= 0) or np.any(lo[np.isfinite(lo)] <= 0) or np.any(hi[np.isfinite(hi)] <= 0):
            raise ValueError("loss_scale='log' needs y, lower and upper > 0 (zero values found)")
    tau = t - float(epoch)
    if model.name in ("bass", "bass_rate") and np.any(tau < 0):
        raise ValueError(f"{model.name} is defined for time since launch: t - epoch must be >= 0")
    lo = np.where(np.isfinite(lo), lo, -np.inf)
    hi = np.where(np.isfinite(hi), hi, np.inf)
    return _Data(tau, y, lo, hi, w, exact, log)


# --------------------------------------------------------------------------------------------------------
# Residuals (shared by the single and the batched solvers; arrays broadcast over a leading batch axis)
# --------------------------------------------------------------------------------------------------------


_residuals = _shared_residuals


DEFAULT_BOUNDS: dict[str, dict[str, tuple[float, float]]] = {
    name: dict(m.bounds) for name, m in MODELS.items() if m.bounds
}
"""Default parameter bounds beyond positivity (the registry entries' ``bounds``).  Richards ``nu``: as ``nu -> 0`` the curve tends to the
Gompertz curve and as ``nu -> inf`` to a step, so on short series the unbounded optimum often runs off to a
limit and never converges; ``[0.01, 100]`` spans every practically distinct shape, and a fit that ends on
it is reported (``at_bound``) rather than silently accepted."""


def _natural_bounds(
    model: Model, bounds: Mapping[str, tuple[float, float]] | None
) -> tuple[list[float], list[float], list[bool]]:
    """Lower/upper bound lists: positivity, then :data:`DEFAULT_BOUNDS`, then the user's ``bounds``.

    The third list marks *open* lower bounds: the implicit ``> 0`` of a positive parameter.  A fit that
    runs onto an open bound has no optimum inside the model's domain (e.g. Bass ``p -> 0`` with ``m -> inf``
    when the data show no saturation) and is reported as not converged; explicit bounds are closed, and a
    fit ending on one is a valid constrained optimum flagged in ``at_bound``.
    """
    lo = [0.0 if pos else -np.inf for pos in model.positive]
    open_lo = list(model.positive)
    hi = [np.inf] * model.n_params
    merged = {**dict(model.bounds), **dict(bounds or {})}
    for name, (a, b) in merged.items():
        if name not in model.param_names:
            raise ValueError(f"bounds for unknown parameter {name!r} of {model.name} {model.param_names}")
        j = model.param_names.index(name)
        if not a < b:
            raise ValueError(f"bounds for {name}: lower {a} must be < upper {b}")
        lo[j], hi[j] = float(a), float(b)
        open_lo[j] = False
    return lo, hi, open_lo


# --------------------------------------------------------------------------------------------------------
# Self-starting values: grid over the nonlinear parameters, the scale (K or m) solved linearly
# --------------------------------------------------------------------------------------------------------


def _grid(model: Model, tau: np.ndarray) -> np.ndarray:
    """Candidate nonlinear parameters (all but the first), shape ``(G, p-1)``, scaled to the data span."""
    if model.grid is None:
        raise ValueError(f"model {model.name!r} has no start grid in the registry: pass p0")
    return model.grid(float(tau.min()), float(tau.max()), True)


def _start_candidates(model: Model, d: _Data, n_best: int = 3) -> list[np.ndarray]:
    """Best ``n_best`` distinct grid points (by naive-point RSS), with the scale parameter profiled out."""
    y = naive_points(
        d.y, np.where(np.isfinite(d.lower), d.lower, np.nan), np.where(np.isfinite(d.upper), d.upper, np.nan)
    )
    G = _grid(model, d.tau)
    cols = [G[:, j : j + 1] for j in range(G.shape[1])]
    with np.errstate(all="ignore"):
        g = model.f(d.tau, 1.0, *cols)  # (G, n)
        ok_pts = np.isfinite(y) & (y > 0 if d.log else np.isfinite(y))
        w = d.w * ok_pts
        yy = np.where(ok_pts, y, 0.0)
        if d.log:
            lg = np.log(np.where(g > 0, g, np.nan))
            logK = np.nansum(w * (np.log(np.where(ok_pts, yy, 1.0)) - lg), axis=1) / w.sum()
            K = np.exp(logK)
            res = (np.log(np.where(ok_pts, yy, 1.0)) - logK[:, None] - lg) * ok_pts
        else:
            K = (w * yy * g).sum(axis=1) / (w * g * g).sum(axis=1)
            res = (yy - K[:, None] * g) * ok_pts
        cost = (w * res**2).sum(axis=1)
    cost = np.where(np.isfinite(cost) & np.isfinite(K) & (K > 0), cost, np.inf)
    order = np.argsort(cost, kind="stable")
    out: list[np.ndarray] = []
    for i in order:
        if not np.isfinite(cost[i]):
            break
        cand = np.concatenate([[K[i]], G[i]])
        if all(np.max(np.abs(np.log(np.abs(cand) + 1e-300) - np.log(np.abs(c) + 1e-300))) > 0.2 for c in out):
            out.append(cand)
        if len(out) >= n_best:
            break
    if not out:
        hint = (
            " (on the log scale a curve that is 0 at t = epoch cannot fit a positive value there: "
            "choose an earlier epoch)"
            if d.log and model.since_launch
            else ""
        )
        raise ValueError(f"no finite starting values found for {model.name}; check t, epoch and y{hint}")
    return out
