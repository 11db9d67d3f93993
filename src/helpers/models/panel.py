"""Growth curves for every country in the ITU mobile panel: batched fits, bootstrap, parallel map.

Per country (:func:`fit_countries`, :func:`fit_country`)
-------------------------------------------------------
The series is the country's per-100 mobile subscriptions (``per100``) from the first year it reached
``threshold`` (default 1 per 100; that year is ``first_year``) to its last published year; time is
``t = year - first_year`` (years since "launch"). Years the source does not publish are absent, not
interpolated. Each model of :data:`helpers.growth.MODELS` (``logistic``, ``gompertz``, ``richards``,
``bass``; same formulas and parameter order) is fitted by ordinary least squares on the linear scale.

Quantities reported for every model, so that models are comparable:

- ``ceiling``: ``K`` (``m`` for Bass), per 100 people;
- ``rate``: ``r`` (logistic, Richards), ``c`` (Gompertz), ``p + q`` (Bass), per year -- *not* comparable
  across models, hence also
- ``speed``: years from 10 % to 90 % of the ceiling (closed form for each model; smaller is faster);
- ``inflection_year``: ``first_year`` + the time of the steepest growth (logistic ``t0``, Gompertz
  ``ln(b)/c``, Richards ``t0 - ln(nu)/r``, Bass ``max(ln(q/p)/(p+q), 0)``: Bass is defined from launch on,
  and with ``q <= p`` adoption is fastest at launch). Logistic, Gompertz and Richards inflections may
  precede ``first_year`` (the curve is then concave over the whole observed series).

Solver
------
Point fits and bootstrap refits are solved by :func:`lm_batch`, which calls the one batched solver of the
project, :func:`helpers.models.solver.lm` (projected Levenberg-Marquardt over a batch of independent
problems: per-problem damping -- Marquardt scaling ``lambda * diag(J'J)``, Nielsen's update --, acceptance
and convergence masks, finished problems leave the working arrays; ``J'J``, ``J'r``, ``r'r`` from one
batched product per block of :data:`BLOCK` rows, damped ``k x k`` systems by a vectorised Cholesky), with
the registry's fused kernels (:mod:`helpers.models.registry`, checked against the generic ones in the
tests). Bounds are handled by projection: parameters on a bound whose gradient points outwards are frozen
for that iteration and the step is clipped to the box. Richards is solved with its inflection time in
place of ``t0`` (:data:`SOLVER_MODELS`). The point fit is multi-start: the registry's coarse start grid
over the nonlinear parameters with the scale (``K``/``m``) profiled out linearly, the ``n_starts`` best
distinct grid points solved as one batch, the lowest RSS kept. Series are padded with zero-weight points
to a multiple of :data:`PAD` and countries of one padded length are batched together (per model), so the
slow-converging tail of one country's resamples shares its per-iteration overhead with the others' while
a country's arithmetic depends only on its own data.
:func:`scipy_fit` is the per-fit reference (``scipy.optimize.least_squares``, TRF, tolerances 1e-15); the
tests check that point fits and (at the point-fit tolerance) bootstrap refits agree with it (and point
fits with :func:`helpers.growth.fit`) to 1e-6 relative on real series (location parameters: 1e-6 of the
time span); refits at the production refit tolerance: see :class:`FitOptions`.

Bootstrap
---------
Residual bootstrap (Davison & Hinkley 1997, alg. 6.1): ``y* = f(t; theta_hat) + e*`` with ``e*`` drawn with
replacement from the centred residuals inflated by ``sqrt(n / (n - k))``; every resample is refitted,
started from the point estimate moved by one Gauss-Newton step for its residuals (the Jacobian at the
point estimate is shared by all resamples of a fit: :func:`_linear_starts`), at the looser refit
tolerances of :class:`FitOptions` (what they guarantee is stated there). Why residuals and not cases: a country has 10-40 annual points and
the ceiling is identified by the last years and the rate by the take-off; resampling years (cases) routinely
drops one end and leaves the curve unidentified, whereas the residual bootstrap keeps the design (the
observed years) fixed. Caveat: it treats residuals as exchangeable, but residuals of a smooth curve fitted
to annual data are autocorrelated and grow with the level, so the intervals are best read as lower bounds
on the uncertainty. Intervals are percentile intervals over the resamples that converged
(``n_boot_ok`` of ``n_boot``). Seeds: each (country, model) gets its own generator,
``SeedSequence([seed, *iso3 bytes, 0, *model-name bytes])``, so results do not depend on the backend, the
number of workers, the order of countries or which other models are fitted.

Flags (a flagged row is kept, never dropped)
--------------------------------------------
``too_few_points`` (fewer than ``max(min_points, k + 2)`` points from ``first_year`` on, the threshold
never reached, or a constant series: no fit), ``no_convergence`` (point fit did not converge), ``not_s_shaped`` (the series ends
more than ``decline_tol`` below its peak: subscriptions fell, e.g. after SIM consolidation -- a cumulative
S-curve is the wrong model), ``ceiling_at_bound`` (the ceiling estimate is on its upper bound,
``ceiling_factor * max(y)``: the series shows no saturation yet and the ceiling is not identified).
``params_at_bound`` lists every solver parameter that ended on a bound (e.g. Richards ``nu`` at its lower
bound = the Gompertz limit; Bass ``q`` at ~0 = a concave modified-exponential curve); informational.

Parallel map
------------
:func:`fit_panel` maps :func:`fit_countries` over chunks of countries with joblib (local processes) or,
when a Dask scheduler address is given (argument or ``NKT_DASK_SCHEDULER``), with ``dask.distributed``.
The workers must be able to import :mod:`helpers` (same environment).

Notebook helpers
----------------
:func:`align_on_launch` (series in years since launch), :func:`rank_table` (where one country's ceiling
and speed fall among all countries) and :func:`counterfactual` (the median peer curve placed at one
country's launch).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from helpers.models import solver
from helpers.models.registry import CUMULATIVE_MODELS, MODELS, Model, aicc, get_model, solver_model

__all__ = [
    "DEFAULT_BOUNDS",
    "FitOptions",
    "PanelDraws",
    "align_on_launch",
    "bootstrap_country",
    "by_country",
    "counterfactual",
    "country_series",
    "derived",
    "Series",
    "fit_countries",
    "fit_country",
    "fit_panel",
    "lm_batch",
    "point_fit",
    "rank_table",
    "residual_resamples",
    "scipy_fit",
    "to_internal",
    "to_natural",
]

#: Bounds of every solver parameter except the ceiling (whose upper bound is ``ceiling_factor * max(y)``).
#: Time parameters are in years since ``first_year``. Richards is solved in ``(K, r, ti, nu)`` with the
#: inflection time ``ti = t0 - ln(nu)/r`` in place of ``t0`` (see :data:`SOLVER_MODELS`), so its time bound
#: applies to ``ti``.
DEFAULT_BOUNDS: dict[str, dict[str, tuple[float, float]]] = {
    name: dict(MODELS[name].panel_bounds) for name in CUMULATIVE_MODELS
}
_CEILING_LOWER = 1e-6

#: Columns of the :func:`fit_panel` table, in order (``p_<name>`` columns follow for every parameter).
RESULT_COLUMNS: tuple[str, ...] = (
    "iso3", "name", "model", "first_year", "last_year", "n_points", "last_per100", "peak_per100",
    "converged", "rss", "aicc", "delta_aicc", "best_aicc",
    "ceiling", "ceiling_lo", "ceiling_hi", "rate", "rate_lo", "rate_hi", "speed", "speed_lo", "speed_hi",
    "inflection_year", "inflection_lo", "inflection_hi", "n_boot", "n_boot_ok",
    "too_few_points", "no_convergence", "not_s_shaped", "ceiling_at_bound", "params_at_bound",
)  # fmt: skip
PARAM_COLUMNS: tuple[str, ...] = ("p_K", "p_r", "p_t0", "p_b", "p_c", "p_nu", "p_m", "p_p", "p_q")


class _SolverModels(Mapping[str, Model]):
    """Read-only view of the registry in the parametrisations the batched solver works in."""

    def __getitem__(self, name: str) -> Model:
        if name not in MODELS:
            raise KeyError(name)
        return solver_model(name)

    def __iter__(self):
        return (name for name, m in MODELS.items() if m.cumulative)

    def __len__(self) -> int:
        return sum(1 for m in MODELS.values() if m.cumulative)


#: Parametrisations the batched solver works in (the registry's ``solver_form``). Identical to the
#: registry's models except Richards, solved in ``(K, r, ti, nu)``: as ``nu -> 0`` (the Gompertz limit,
#: common in this panel) ``t0`` runs off to minus infinity along a curved, nearly flat valley while the
#: inflection time ``ti`` stays put; the reparametrisation makes that valley straight and cuts the
#: iterations several-fold. Same model, same least-squares optimum; parameters are reported as
#: ``(K, r, t0, nu)`` (:func:`to_natural`).
SOLVER_MODELS: Mapping[str, Model] = _SolverModels()


def _check_model(model: str) -> Model:
    m = MODELS.get(model)
    if m is None or not m.cumulative:
        known = [k for k, v in MODELS.items() if v.cumulative]
        raise ValueError(f"unknown model {model!r}; known: {known}")
    return m


def to_natural(model: str, x: np.ndarray) -> np.ndarray:
    """Solver parameters (..., k) -> the registry's parameter order and meaning."""
    m = get_model(model)
    return m.to_natural(x) if m.to_natural else np.array(x, dtype=float, copy=True)


def to_internal(model: str, theta: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_natural`."""
    m = get_model(model)
    return m.to_solver(theta) if m.to_solver else np.array(theta, dtype=float, copy=True)


@dataclass(frozen=True)
class FitOptions:
    """Settings of :func:`fit_countries` (picklable; identical on every backend).

    ``min_points``/``decline_tol``: thresholds of the ``too_few_points``/``not_s_shaped`` flags.
    ``ceiling_factor``: the ceiling's upper bound is ``ceiling_factor * max(y)``. ``n_starts``: multi-start
    size of the point fit. ``level``: coverage of the percentile intervals. ``xtol``/``ftol``: relative step
    and relative RSS decrease at which :func:`lm_batch` stops a point fit, ``max_iter`` its iteration cap;
    ``boot_*`` the same for bootstrap refits, with looser tolerances (1e-10 step, 1e-14 RSS). What they
    give, measured against the same resamples solved to 1e-14 (and tested on five real series, every model):
    every RSS within 1e-12 relative; parameters within 1e-6 relative (location parameters: of the time
    span) for at least 95 % of the resamples and within 1e-5 for 99 % -- *not* 1e-6 for all: the rest lie
    along nearly flat directions of the RSS (Richards ``nu`` near the Gompertz limit, e.g. 4e-6 for DEU;
    Bass with ``p`` near 0, up to ~3e-4 for KOR), where such a change moves the RSS by < 1e-14 relative.
    Far below the Monte Carlo error of the intervals. Resamples that hit
    ``boot_max_iter`` lie on flat ridges of the RSS; they are counted as not converged and left out of the
    intervals (``n_boot_ok`` of ``n_boot``).
    """

    min_points: int = 6
    decline_tol: float = 0.15
    ceiling_factor: float = 5.0
    n_starts: int = 8
    level: float = 0.95
    xtol: float = 1e-12
    ftol: float = 1e-15
    max_iter: int = 1000
    boot_xtol: float = 1e-10
    boot_ftol: float = 1e-14
    boot_max_iter: int = 300
    bounds: Mapping[str, Mapping[str, tuple[float, float]]] = field(default_factory=lambda: DEFAULT_BOUNDS)


# --------------------------------------------------------------------------------------------------------
# Bounds, derived quantities
# --------------------------------------------------------------------------------------------------------
def model_bounds(model: str, y_max: float, opts: FitOptions | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Bounds (arrays in :data:`SOLVER_MODELS` parameter order) for ``model`` on a series peaking at ``y_max``.

    The ceiling's are ``(1e-6, ceiling_factor * y_max)``; the others come from ``opts.bounds`` and, for a
    model it does not list, from the registry entry's ``panel_bounds``.
    """
    opts = opts or FitOptions()
    m = SOLVER_MODELS[model]
    own = opts.bounds.get(model) or get_model(model).panel_bounds
    lo = np.empty(m.n_params)
    hi = np.empty(m.n_params)
    lo[0], hi[0] = _CEILING_LOWER, opts.ceiling_factor * max(float(y_max), 1e-6)
    for j, name in enumerate(m.param_names[1:], start=1):
        lo[j], hi[j] = own.get(name, (-np.inf, np.inf))
    return lo, hi


def derived(model: str, theta: np.ndarray) -> dict[str, np.ndarray]:
    """Comparable quantities from parameters ``theta`` of shape ``(..., k)`` (the registry's closed forms).

    Returns ``ceiling``, ``rate``, ``speed`` (years from 10 % to 90 % of the ceiling) and ``inflection_t``
    (time of steepest growth, same origin as the fit's ``t``), each of shape ``theta.shape[:-1]``; NaN for
    a quantity the model's registry entry does not define.
    """
    m = _check_model(model)
    th = np.asarray(theta, dtype=float)
    cols = [th[..., j] for j in range(th.shape[-1])]
    nan = np.full(th.shape[:-1], np.nan)
    with np.errstate(all="ignore"):
        return {
            "ceiling": cols[0],
            "rate": m.rate(*cols) if m.rate else nan,
            "speed": m.speed(*cols) if m.speed else nan,
            "inflection_t": m.inflection(*cols) if m.inflection else nan,
        }


# --------------------------------------------------------------------------------------------------------
# Batched Levenberg-Marquardt
# --------------------------------------------------------------------------------------------------------
@dataclass
class BatchResult:
    """Output of :func:`lm_batch`: parameters ``x`` (B, k), ``rss`` (B,), ``converged`` (B,), ``n_iter`` (B,)."""

    x: np.ndarray
    rss: np.ndarray
    converged: np.ndarray
    n_iter: np.ndarray


def _eval(m: Model, t: np.ndarray, X: np.ndarray, jac: bool) -> tuple[np.ndarray, np.ndarray | None]:
    cols = [X[:, j : j + 1] for j in range(X.shape[1])]
    with np.errstate(all="ignore"):
        F = m.f(t, *cols)
        J = m.jac(t, *cols) if jac else None
    return F, J


def _fj(model: str, t: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Model values ``F`` (B, n) and transposed Jacobian ``JT`` (B, k + 1, n) in the solver parametrisation
    (the registry's fused kernel where it has one; row ``k`` is scratch for :func:`helpers.models.solver.lm`)."""
    return SOLVER_MODELS[model].fj(t, X)


#: Series are padded (zero weight) to a multiple of this many points, so that countries of similar length
#: share one batch while a country's arithmetic still depends only on its own length.
PAD = 8


#: Rows per block when the solver evaluates residuals and Jacobians (arrays of a few hundred kB).
BLOCK = 512


def _padded(n: int) -> int:
    return -(-n // PAD) * PAD


def lm_batch(
    model: str,
    t: np.ndarray,
    Y: np.ndarray,
    X0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    *,
    xtol: float = 1e-12,
    ftol: float = 1e-15,
    max_iter: int = 400,
    lam0: float = 1e-3,
    n_obs: np.ndarray | None = None,
) -> BatchResult:
    """Solve ``B`` bounded least-squares problems ``min ||f(t_b; x_b) - Y_b||^2`` at once.

    ``model``: a name in :data:`SOLVER_MODELS` (parameters in that parametrisation); ``X0``: (B, k) starts;
    ``t``: (n,) shared times or (B, n) one row per problem; ``Y``: (n,) or (B, n); ``lower``/``upper``:
    (k,) or (B, k) bounds. The solver is :func:`helpers.models.solver.lm` (per-problem damping, acceptance
    and stopping; projected bounds); the series are padded with zero-weight points to a multiple of
    :data:`PAD`, so a problem gets the same answer whatever it is batched with. A problem stops when an
    accepted step changes no parameter by more than ``xtol`` relative, or lowers the RSS by at most
    ``ftol`` relative, or when the damping exceeds 1e16 (no descent possible at machine precision) -- all
    counted as converged; it is *not* converged when ``max_iter`` is reached or its RSS is not finite.
    ``n_obs`` (B,): rows of different lengths given padded -- only the first ``n_obs[b]`` points count.
    """
    m = SOLVER_MODELS[model]
    X0 = np.asarray(X0, dtype=float)
    B, k = X0.shape
    t = np.asarray(t, dtype=float)
    n = t.shape[-1]
    npad = _padded(n)
    T = np.empty((B, npad))
    Yp = np.zeros((B, npad))
    T[:, :n] = t
    T[:, n:] = T[:, n - 1 : n]
    Yp[:, :n] = Y
    used = np.full(B, n) if n_obs is None else np.asarray(n_obs)
    W = None
    if np.any(used < npad):
        W = (np.arange(npad) < used[:, None]).astype(float)

    def evaluate(X, T_, Y_, *W_):
        b = X.shape[0]
        A, g, rss = np.empty((b, k, k)), np.empty((b, k)), np.empty(b)
        for lo_ in range(0, b, BLOCK):  # blocks that stay in cache: ~3x faster than whole-batch arrays
            sl = slice(lo_, lo_ + BLOCK)
            F, JT = m.fj(T_[sl], X[sl])
            np.subtract(F, Y_[sl], out=JT[:, k])  # residuals straight into the scratch row
            if W_:
                JT *= W_[0][sl][:, None, :]  # residuals and Jacobian in one pass
            M = np.matmul(JT, JT.transpose(0, 2, 1))
            A[sl], g[sl], rss[sl] = M[:, :k, :k], M[:, :k, k], M[:, k, k]
        return A, g, rss

    data = [T, Yp] + ([W] if W is not None else [])
    res = solver.lm(evaluate, X0, lower, upper, data, xtol=xtol, ftol=ftol, max_iter=max_iter, lam0=lam0)
    conv = res.status > 0
    return BatchResult(x=res.x, rss=res.rss, converged=conv, n_iter=res.n_iter)


# --------------------------------------------------------------------------------------------------------
# Starting values and point fit
# --------------------------------------------------------------------------------------------------------
def _grid(model: str, tmax: float) -> np.ndarray:
    """Candidate values of the nonlinear parameters (all but the ceiling), shape (G, k-1): the registry's
    coarse start grid on ``0 .. tmax`` (Richards: its centres are taken as ``ti``)."""
    m = _check_model(model)
    if m.grid is None:
        raise ValueError(f"model {model!r} has no start grid in the registry")
    return m.grid(0.0, float(tmax), False)


def start_values(
    model: str, t: np.ndarray, y: np.ndarray, lower: np.ndarray, upper: np.ndarray, n: int
) -> np.ndarray:
    """The ``n`` best distinct grid starts (ceiling profiled out by linear least squares), shape (<=n, k)."""
    G = _grid(model, float(np.max(t)))
    G = np.clip(G, lower[1:], upper[1:])
    X = np.column_stack([np.ones(len(G)), G])
    F, _ = _eval(SOLVER_MODELS[model], t, X, jac=False)  # (G, n) with ceiling 1
    with np.errstate(all="ignore"):
        K = np.clip((F @ y) / np.einsum("gn,gn->g", F, F), lower[0], upper[0])
        cost = np.einsum("gn,gn->g", F * K[:, None] - y, F * K[:, None] - y)
    cost = np.where(np.isfinite(cost) & np.isfinite(K), cost, np.inf)
    order = np.argsort(cost, kind="stable")
    X[:, 0] = K
    chosen: list[np.ndarray] = []
    logX = np.log(np.abs(X) + 1e-300)
    for i in order:
        if not np.isfinite(cost[i]) or len(chosen) >= n:
            break
        if all(np.max(np.abs(logX[i] - logX[j])) > 0.15 for j in chosen):
            chosen.append(i)
    if not chosen:
        raise ValueError(f"no finite starting values for {model}")
    return X[np.array(chosen)]


@dataclass
class PointFit:
    """A point fit: solver parameters ``x`` (natural ones: ``theta``), ``rss``, ``converged``, the solver
    bounds used, the fitted values and the multi-start point that won."""

    model: str
    x: np.ndarray
    theta: np.ndarray
    rss: float
    converged: bool
    lower: np.ndarray
    upper: np.ndarray
    fitted: np.ndarray
    start: np.ndarray


def point_fit(model: str, t: np.ndarray, y: np.ndarray, opts: FitOptions | None = None) -> PointFit:
    """Multi-start batched point fit of ``model`` to ``(t, y)`` (see the module docstring)."""
    opts = opts or FitOptions()
    t = np.asarray(t, dtype=float)
    y = np.asarray(y, dtype=float)
    lo, hi = model_bounds(model, float(np.max(y)), opts)
    starts = start_values(model, t, y, lo, hi, opts.n_starts)
    res = lm_batch(model, t, y, starts, lo, hi, xtol=opts.xtol, ftol=opts.ftol, max_iter=opts.max_iter)
    rss = np.where(res.converged, res.rss, np.inf)
    if not np.isfinite(rss).any():
        rss = res.rss
    i = int(np.nanargmin(np.where(np.isfinite(rss), rss, np.nan))) if np.isfinite(rss).any() else 0
    x = res.x[i]
    F, _ = _eval(SOLVER_MODELS[model], t, x[None, :], jac=False)
    theta = to_natural(model, x)
    return PointFit(model, x, theta, float(res.rss[i]), bool(res.converged[i]), lo, hi, F[0], starts[i])


def scipy_fit(
    model: str,
    t: np.ndarray,
    y: np.ndarray,
    x0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    xtol: float = 1e-15,
    ftol: float = 1e-15,
) -> tuple[np.ndarray, float, bool]:
    """Per-fit reference: :func:`scipy.optimize.least_squares` (TRF, analytic Jacobian, tolerances 1e-15
    unless ``xtol``/``ftol`` are given; the benchmark passes the production ones of :class:`FitOptions`).

    Works in the solver parametrisation (:data:`SOLVER_MODELS`; ``x0`` and bounds as in :class:`PointFit`).
    Returns ``(x, rss, success)``. Used by the tests (batched == scalar) and the benchmark.
    """
    from scipy import optimize

    m = SOLVER_MODELS[model]
    t = np.asarray(t, dtype=float)
    y = np.asarray(y, dtype=float)
    x0 = np.clip(
        np.asarray(x0, dtype=float), lower + 1e-12 * (1 + np.abs(lower)), upper - 1e-12 * (1 + np.abs(upper))
    )

    def fun(x: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            r = m.f(t, *x) - y
        return np.where(np.isfinite(r), r, 1e150)

    def jac(x: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            J = m.jac(t, *x)
        return np.where(np.isfinite(J), J, 0.0)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sol = optimize.least_squares(
            fun,
            x0,
            jac=jac,
            bounds=(lower, upper),
            method="trf",
            x_scale="jac",
            ftol=ftol,
            xtol=xtol,
            gtol=1e-15,
        )
    return np.asarray(sol.x), float(2.0 * sol.cost), bool(sol.status > 0)


# --------------------------------------------------------------------------------------------------------
# Bootstrap
# --------------------------------------------------------------------------------------------------------
def _rng(seed: int, iso3: str, model: str) -> np.random.Generator:
    entropy = [int(seed) & 0xFFFFFFFF, *iso3.encode(), 0, *model.encode()]
    return np.random.default_rng(np.random.SeedSequence(entropy))


def residual_resamples(
    fitted: np.ndarray, y: np.ndarray, k: int, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """Residual-bootstrap data sets, shape (n_boot, n): ``fitted + e*``, ``e*`` from the centred residuals
    inflated by ``sqrt(n / (n - k))``."""
    e = np.asarray(y, dtype=float) - fitted
    n = e.size
    e = (e - e.mean()) * (math.sqrt(n / (n - k)) if n > k else 1.0)
    idx = rng.integers(0, n, size=(n_boot, n))
    return fitted[None, :] + e[idx]


def bootstrap_country(
    pf: PointFit,
    t: np.ndarray,
    y: np.ndarray,
    n_boot: int,
    rng: np.random.Generator,
    opts: FitOptions | None = None,
) -> BatchResult:
    """Refit ``n_boot`` residual-bootstrap resamples of ``(t, y)`` in one batch, started as in the panel
    (:func:`_linear_starts`: one shared Gauss-Newton step from the point estimate)."""
    opts = opts or FitOptions()
    k = pf.x.size
    Ys = residual_resamples(pf.fitted, y, k, n_boot, rng)
    X0 = _linear_starts(pf.model, pf, np.asarray(t, dtype=float), Ys)
    return lm_batch(
        pf.model,
        t,
        Ys,
        X0,
        pf.lower,
        pf.upper,
        xtol=opts.boot_xtol,
        ftol=opts.boot_ftol,
        max_iter=opts.boot_max_iter,
    )


# --------------------------------------------------------------------------------------------------------
# One country
# --------------------------------------------------------------------------------------------------------
def country_series(
    panel_df: pd.DataFrame, iso3: str, threshold: float = 1.0
) -> tuple[int | None, np.ndarray, np.ndarray]:
    """``(first_year, t, y)`` for one country: rows from the first year ``per100 >= threshold`` on.

    ``t = year - first_year``. ``first_year`` is ``None`` (and ``t``, ``y`` empty) when never reached.
    """
    s = panel_df.loc[panel_df["iso3"] == iso3, ["year", "per100"]].dropna().sort_values("year")
    if s["year"].duplicated().any():
        raise ValueError(f"duplicate years for {iso3} in the panel")
    hit = s.loc[s["per100"] >= threshold, "year"]
    if hit.empty:
        return None, np.empty(0), np.empty(0)
    first = int(hit.min())
    s = s[s["year"] >= first]
    return first, (s["year"].to_numpy(dtype=float) - first), s["per100"].to_numpy(dtype=float)


def by_country(panel_df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``panel_df`` split by ``iso3`` in one pass (for :func:`country_series` on many countries: filtering the
    whole panel once per country costs ~5 ms each)."""
    return {str(k): g for k, g in panel_df.groupby("iso3", sort=False)}


def _nan_row() -> dict[str, Any]:
    return {c: np.nan for c in RESULT_COLUMNS[6:]} | {p: np.nan for p in PARAM_COLUMNS}


@dataclass(frozen=True)
class Series:
    """One country's series for :func:`fit_countries`: ``t`` = years since ``first_year``, ``y`` = per100."""

    iso3: str
    name: str
    first_year: int | None
    t: np.ndarray
    y: np.ndarray


def _base_row(s: Series, model: str, opts: FitOptions) -> dict[str, Any]:
    n = int(s.t.size)
    peak = float(np.max(s.y)) if n else np.nan
    last = float(s.y[-1]) if n else np.nan
    k = MODELS[model].n_params
    return _nan_row() | {
        "iso3": s.iso3,
        "name": s.name,
        "model": model,
        "first_year": s.first_year if s.first_year is not None else np.nan,
        "last_year": (s.first_year + int(s.t[-1])) if n else np.nan,
        "n_points": n,
        "last_per100": last,
        "peak_per100": peak,
        "n_boot": 0,
        "n_boot_ok": 0,
        "converged": False,
        "too_few_points": bool(n < max(opts.min_points, k + 2) or (n and np.ptp(s.y) == 0)),
        "no_convergence": False,
        "not_s_shaped": bool(n >= 2 and peak > 0 and (peak - last) / peak > opts.decline_tol),
        "ceiling_at_bound": False,
        "params_at_bound": "",
    }


def _pad(t: np.ndarray, y: np.ndarray, npad: int) -> tuple[np.ndarray, np.ndarray]:
    """``t`` padded with its last value and ``y`` with zeros to ``npad`` points (weights 0 in the solver)."""
    extra = npad - t.size
    return np.concatenate([t, np.full(extra, t[-1])]), np.concatenate([y, np.zeros(extra)])


def _groups(series: Sequence[Series], members: Sequence[int]) -> dict[int, list[int]]:
    """Indices of ``members`` grouped by padded series length (:data:`PAD`; such problems share a batch)."""
    out: dict[int, list[int]] = {}
    for i in members:
        out.setdefault(_padded(int(series[i].t.size)), []).append(i)
    return out


def _point_fits(
    model: str, series: Sequence[Series], members: Sequence[int], opts: FitOptions
) -> dict[int, PointFit]:
    """Multi-start point fits of ``model`` for ``members``, batched across countries of equal length."""
    fits: dict[int, PointFit] = {}
    for npad, grp in _groups(series, members).items():
        T, Y, X0, L, U, owner, N = [], [], [], [], [], [], []
        bounds = {}
        for i in grp:
            s = series[i]
            lo, hi = model_bounds(model, float(np.max(s.y)), opts)
            bounds[i] = (lo, hi)
            st = start_values(model, s.t, s.y, lo, hi, opts.n_starts)
            X0.append(st)
            owner += [i] * len(st)
            N += [s.t.size] * len(st)
            tp, yp = _pad(s.t, s.y, npad)
            T.append(np.broadcast_to(tp, (len(st), npad)))
            Y.append(np.broadcast_to(yp, (len(st), npad)))
            L.append(np.broadcast_to(lo, st.shape))
            U.append(np.broadcast_to(hi, st.shape))
        X0a = np.vstack(X0)
        res = lm_batch(
            model, np.vstack(T), np.vstack(Y), X0a, np.vstack(L), np.vstack(U),
            xtol=opts.xtol, ftol=opts.ftol, max_iter=opts.max_iter, n_obs=np.array(N),
        )  # fmt: skip
        owner_a = np.array(owner)
        for i in grp:
            rows = np.flatnonzero(owner_a == i)
            rss = np.where(res.converged[rows], res.rss[rows], np.inf)
            if not np.isfinite(rss).any():
                rss = res.rss[rows]
            j = rows[int(np.argmin(np.where(np.isfinite(rss), rss, np.inf)))]
            x = res.x[j]
            s = series[i]
            F, _ = _eval(SOLVER_MODELS[model], s.t, x[None, :], jac=False)
            fits[i] = PointFit(model, x, to_natural(model, x), float(res.rss[j]), bool(res.converged[j]),
                               bounds[i][0], bounds[i][1], F[0], X0a[j])  # fmt: skip
    return fits


def _linear_starts(model: str, pf: PointFit, t: np.ndarray, Ys: np.ndarray) -> np.ndarray:
    """Starting values of the refits of resamples ``Ys`` (B, n): the point estimate moved by one Gauss-Newton
    step from it, ``x_hat + J^+ (y* - f(x_hat))`` with ``J`` the Jacobian at the point estimate (shared by
    all resamples, so the step costs one small least-squares solve per country; parameters on a bound
    are held there), clipped to the bounds. A row keeps ``x_hat`` where the step does not lower its RSS. The linearised refit is exact up to
    second-order terms, so the solver starts closer to each resample's optimum (fewer iterations); the
    optimum it converges to is the same."""
    m = SOLVER_MODELS[model]
    k = pf.x.size
    E = Ys - pf.fitted[None, :]
    with np.errstate(all="ignore"):
        _, JT = m.fj(t[None, :], pf.x[None, :])
        J = JT[0, :k].T
        if not np.isfinite(J).all():
            return np.broadcast_to(pf.x, (Ys.shape[0], k))
        span = np.where(np.isfinite(pf.upper - pf.lower), np.abs(pf.upper - pf.lower), 1.0)
        free = (pf.x > pf.lower + 1e-9 * span) & (pf.x < pf.upper - 1e-9 * span)  # on a bound: held
        D = np.zeros((Ys.shape[0], k))
        if free.any():
            D[:, free] = E @ np.linalg.pinv(J[:, free]).T  # pinv of the small (n, k) matrix, then one product
        X1 = np.clip(pf.x + D, pf.lower, pf.upper)
        F1 = m.f(t, *[X1[:, j : j + 1] for j in range(k)])
        rss1 = np.einsum("bn,bn->b", F1 - Ys, F1 - Ys)
    use = np.isfinite(rss1) & np.isfinite(X1).all(axis=1) & (rss1 < np.einsum("bn,bn->b", E, E))
    return np.where(use[:, None], X1, pf.x)


def _bootstraps(
    model: str, series: Sequence[Series], pfs: dict[int, PointFit], n_boot: int, seed: int, opts: FitOptions
) -> dict[int, BatchResult]:
    """Residual-bootstrap refits for every converged point fit, batched across countries of equal length."""
    out: dict[int, BatchResult] = {}
    members = [i for i, pf in pfs.items() if pf.converged]
    for npad, grp in _groups(series, members).items():
        T, Y, X0, L, U = [], [], [], [], []
        for i in grp:
            s, pf = series[i], pfs[i]
            Ys = residual_resamples(pf.fitted, s.y, pf.x.size, n_boot, _rng(seed, s.iso3, model))
            tp, _ = _pad(s.t, s.y, npad)
            Y.append(np.pad(Ys, ((0, 0), (0, npad - s.t.size))))
            T.append(np.broadcast_to(tp, (n_boot, npad)))
            X0.append(_linear_starts(model, pf, s.t, Ys))
            L.append(np.broadcast_to(pf.lower, (n_boot, pf.x.size)))
            U.append(np.broadcast_to(pf.upper, (n_boot, pf.x.size)))
        n_obs = np.repeat([series[i].t.size for i in grp], n_boot)
        res = lm_batch(
            model, np.vstack(T), np.vstack(Y), np.vstack(X0), np.vstack(L), np.vstack(U),
            xtol=opts.boot_xtol, ftol=opts.boot_ftol, max_iter=opts.boot_max_iter, n_obs=n_obs,
            )  # fmt: skip
        for j, i in enumerate(grp):
            sl = slice(j * n_boot, (j + 1) * n_boot)
            out[i] = BatchResult(res.x[sl], res.rss[sl], res.converged[sl], res.n_iter[sl])
    return out


def fit_countries(
    series: Sequence[Series],
    models: Sequence[str] = CUMULATIVE_MODELS,
    n_bootstrap: int = 1000,
    seed: int = 0,
    opts: FitOptions | None = None,
    keep_draws: bool = False,
) -> list[dict[str, Any]]:
    """Fit and bootstrap every model for several countries; one result dict per country x model.

    Problems of countries with the same number of points are solved in one :func:`lm_batch` call (per
    model: all multi-starts of the point fits together, then all bootstrap resamples together), which
    spreads the per-iteration overhead of the slow-converging tail over many countries. Rows of a batch
    are independent (see :func:`lm_batch`) and every resample comes from the country's own seed, so a
    country's result does not depend on which countries it is batched with. Keys: :data:`RESULT_COLUMNS`
    plus ``p_<param>`` columns; with ``keep_draws``, rows with bootstrap refits also carry ``"draws"``: the
    refits' parameters (``(n_bootstrap, k)``, the registry's parametrisation, NaN rows for resamples that
    did not converge), the arrays :class:`PanelDraws` collects.
    """
    opts = opts or FitOptions()
    alpha = (1.0 - opts.level) / 2.0
    rows: list[dict[str, Any]] = []
    for model in models:
        _check_model(model)
        base = [_base_row(s, model, opts) for s in series]
        members = [i for i, r in enumerate(base) if not r["too_few_points"]]
        pfs = _point_fits(model, series, members, opts)
        boots = _bootstraps(model, series, pfs, n_bootstrap, seed, opts) if n_bootstrap > 0 else {}
        names = SOLVER_MODELS[model].param_names
        for i, row in enumerate(base):
            rows.append(row)
            if i not in pfs:
                continue
            s, pf = series[i], pfs[i]
            point = derived(model, pf.theta[None, :])
            row.update(
                converged=pf.converged,
                no_convergence=not pf.converged,
                rss=pf.rss,
                aicc=float(aicc(pf.rss, int(s.t.size), pf.x.size)),
                ceiling_at_bound=bool(pf.x[0] >= pf.upper[0] * (1.0 - 1e-6)),
                params_at_bound=",".join(
                    nm
                    for nm, v, a, b in zip(names, pf.x, pf.lower, pf.upper, strict=True)
                    if abs(v - a) <= 1e-6 * max(abs(a), 1e-6) or abs(b - v) <= 1e-6 * max(abs(b), 1e-6)
                ),
                ceiling=float(point["ceiling"][0]),
                rate=float(point["rate"][0]),
                speed=float(point["speed"][0]),
                inflection_year=float(point["inflection_t"][0]) + s.first_year,
            )
            for pname, v in zip(MODELS[model].param_names, pf.theta, strict=True):
                row[f"p_{pname}"] = float(v)
            if i in boots:
                br = boots[i]
                ok = br.converged
                if keep_draws:
                    row["draws"] = np.where(ok[:, None], to_natural(model, br.x), np.nan)
                row["n_boot"] = int(n_bootstrap)
                row["n_boot_ok"] = int(ok.sum())
                if ok.any():
                    dq = derived(model, to_natural(model, br.x[ok]))
                    dq["inflection_t"] = dq["inflection_t"] + s.first_year
                    for key, col in (("ceiling", "ceiling"), ("rate", "rate"), ("speed", "speed"),
                                     ("inflection_t", "inflection")):  # fmt: skip
                        v = dq[key][np.isfinite(dq[key])]
                        if v.size:
                            row[f"{col}_lo"], row[f"{col}_hi"] = np.quantile(v, [alpha, 1.0 - alpha]).tolist()
    order = {iso: j for j, iso in enumerate(s.iso3 for s in series)}
    morder = {m: j for j, m in enumerate(MODELS)}
    rows.sort(key=lambda r: (order[r["iso3"]], morder[r["model"]]))
    return rows


def fit_country(
    iso3: str,
    name: str,
    first_year: int | None,
    t: np.ndarray,
    y: np.ndarray,
    models: Sequence[str] = CUMULATIVE_MODELS,
    n_bootstrap: int = 1000,
    seed: int = 0,
    opts: FitOptions | None = None,
) -> list[dict[str, Any]]:
    """Fit every model to one country's series and bootstrap it; one result dict per model.

    ``t`` are years since ``first_year``. Same results as the country's rows of :func:`fit_countries`.
    """
    s = Series(iso3, name, first_year, np.asarray(t, dtype=float), np.asarray(y, dtype=float))
    return fit_countries([s], models, n_bootstrap, seed, opts)


# --------------------------------------------------------------------------------------------------------
# Panel
# --------------------------------------------------------------------------------------------------------
def _task(args: tuple) -> list[dict[str, Any]]:
    return fit_countries(*args)


@dataclass
class PanelDraws:
    """The bootstrap refits behind a :func:`fit_panel` table, kept so later steps reuse them.

    ``theta[(iso3, model)]``: ``(n_bootstrap, k)`` parameters in the registry's order (NaN rows: resamples
    that did not converge, left out of the table's intervals); ``n_bootstrap``, ``seed``: how they were
    drawn. Only fits with refits have an entry (not ``too_few_points``, point fit converged).
    """

    n_bootstrap: int
    seed: int
    theta: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)

    def metrics(self, iso3: str, model: str) -> dict[str, np.ndarray] | None:
        """:func:`derived` quantities of every draw (``ceiling, rate, speed, inflection_t``; NaN where the
        resample did not converge or the value is not finite), or ``None`` without refits."""
        th = self.theta.get((iso3, model))
        if th is None:
            return None
        with np.errstate(all="ignore"):
            dq = derived(model, th)
        return {k: np.where(np.isfinite(v), v, np.nan).astype(float) for k, v in dq.items()}


def _tasks(
    panel_df: pd.DataFrame,
    models: Sequence[str],
    n_bootstrap: int,
    seed: int,
    threshold: float,
    opts: FitOptions,
    chunk_size: int | None,
    n_workers: int = 1,
    keep_draws: bool = False,
) -> list[tuple]:
    """Tasks for the parallel map: one per (model, country chunk), heaviest first.

    Countries are sorted by (series length, iso3) and cut into chunks of ``chunk_size`` (default: one chunk
    per worker, so each task is a few large batches and the solver's per-iteration overhead is paid
    rarely). Heaviest first (points x parameters^2) keeps both cores busy until the end.
    """
    need = {"iso3", "year", "per100"}
    missing = need - set(panel_df.columns)
    if missing:
        raise ValueError(f"panel_df lacks column(s) {sorted(missing)}")
    names = (
        panel_df.drop_duplicates("iso3").set_index("iso3")["name"].astype(str)
        if "name" in panel_df.columns
        else pd.Series(dtype=str)
    )
    series = []
    groups = by_country(panel_df)
    for iso3 in sorted(panel_df["iso3"].dropna().unique()):
        first, t, y = country_series(groups[str(iso3)], iso3, threshold)
        series.append(Series(str(iso3), str(names.get(iso3, iso3)), first, t, y))
    series.sort(key=lambda s: (s.t.size, s.iso3))
    if chunk_size is None:
        chunk_size = -(-len(series) // max(int(n_workers), 1))
    chunks = [series[i : i + chunk_size] for i in range(0, len(series), max(int(chunk_size), 1))]
    tasks = [(chunk, (model,), n_bootstrap, seed, opts, keep_draws) for model in models for chunk in chunks]

    def cost(task: tuple) -> float:
        k = MODELS[task[1][0]].n_params
        return -sum(s.t.size for s in task[0]) * (k + 1) ** 2

    return sorted(tasks, key=cost)


def _run_dask(tasks: list[tuple], scheduler: Any) -> list[list[dict[str, Any]]]:
    from distributed import Client

    own = not isinstance(scheduler, Client)
    client = Client(scheduler) if own else scheduler
    try:
        futures = client.map(_task, tasks, pure=False)
        return client.gather(futures)
    finally:
        if own:
            client.close()


def fit_panel(
    panel_df: pd.DataFrame,
    models: Sequence[str] = CUMULATIVE_MODELS,
    n_bootstrap: int = 1000,
    seed: int = 0,
    threshold: float = 1.0,
    n_jobs: int = -1,
    scheduler: Any = None,
    opts: FitOptions | None = None,
    chunk_size: int | None = None,
    keep_draws: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, PanelDraws]:
    """Fit ``models`` to every country of ``panel_df`` (columns ``iso3, year, per100``, optional ``name``).

    One row per country x model, :data:`RESULT_COLUMNS` then ``p_<param>`` columns; countries with too few
    points or that never reach ``threshold`` are kept with ``too_few_points=True``. ``delta_aicc`` is the
    AICc difference to the country's best converged model and ``best_aicc`` marks that model.

    Backend: ``scheduler`` (a ``dask.distributed`` address such as ``"tcp://host:8786"``, or a ``Client``),
    else the environment variable ``NKT_DASK_SCHEDULER``, selects Dask; otherwise joblib with ``n_jobs``
    local processes (``n_jobs=1``: in-process, no pool). The unit of work is one model on a chunk of
    ``chunk_size`` countries of similar series length (default: one chunk per worker; :func:`fit_countries`
    batches them), heaviest first. Results are identical across
    backends, worker counts and chunkings (per-country seeds and row-independent batches; see the module
    docstring).

    ``keep_draws=True`` returns ``(table, draws)``: :class:`PanelDraws`, the bootstrap refits behind the
    table's intervals, for the step's later tables and figures (so nothing is refitted).
    """
    unknown = [m for m in models if m not in MODELS or not MODELS[m].cumulative]
    if unknown:
        known = [k for k, v in MODELS.items() if v.cumulative]
        raise ValueError(f"unknown model(s) {unknown}; known: {known}")
    opts = opts or FitOptions()
    scheduler = scheduler if scheduler is not None else (os.environ.get("NKT_DASK_SCHEDULER") or None)
    workers = 1 if n_jobs == 1 else (os.cpu_count() or 1) if n_jobs < 0 else int(n_jobs)
    tasks = _tasks(
        panel_df, models, int(n_bootstrap), int(seed), float(threshold), opts, chunk_size, workers, keep_draws
    )
    if scheduler is not None:
        results = _run_dask(tasks, scheduler)
    elif n_jobs == 1 or len(tasks) <= 1:
        results = [_task(a) for a in tasks]
    else:
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=n_jobs, batch_size=1)(delayed(_task)(a) for a in tasks)
    rows = [r for rs in results for r in rs]
    draws = PanelDraws(int(n_bootstrap), int(seed))
    for r in rows:
        if "draws" in r:
            draws.theta[(r["iso3"], r["model"])] = r.pop("draws")
    df = pd.DataFrame(rows)
    if df.empty:
        df = pd.DataFrame(columns=[*RESULT_COLUMNS, *PARAM_COLUMNS])
        return (df, draws) if keep_draws else df
    ok = df["converged"].astype(bool) & np.isfinite(df["aicc"].astype(float))
    best = df["aicc"].where(ok).groupby(df["iso3"]).transform("min")
    df["delta_aicc"] = (df["aicc"] - best).where(ok)
    df["best_aicc"] = ok & (df["delta_aicc"] == 0)
    order = {m: i for i, m in enumerate(MODELS)}
    df = df.sort_values(["iso3", "model"], key=lambda s: s.map(order) if s.name == "model" else s)
    for c in ("converged", "too_few_points", "no_convergence", "not_s_shaped", "ceiling_at_bound"):
        df[c] = df[c].astype(bool)
    for c in ("n_points", "n_boot", "n_boot_ok"):
        df[c] = df[c].astype("int64")
    df["first_year"] = df["first_year"].astype("Int64")
    df["last_year"] = df["last_year"].astype("Int64")
    df = df[[*RESULT_COLUMNS, *PARAM_COLUMNS]].reset_index(drop=True)
    return (df, draws) if keep_draws else df


# --------------------------------------------------------------------------------------------------------
# Helpers for notebook 03
# --------------------------------------------------------------------------------------------------------
def align_on_launch(panel_df: pd.DataFrame, iso3s: Iterable[str], threshold: float = 1.0) -> pd.DataFrame:
    """Series of ``iso3s`` aligned on their launch: ``iso3, name, year, first_year, years_since_launch, per100``.

    Launch = first year with ``per100 >= threshold``; only rows from then on. Countries that never reach
    the threshold are absent (check ``set(iso3s) - set(result.iso3)``).
    """
    cols = ["iso3", "name", "year", "first_year", "years_since_launch", "per100"]
    order = {str(c): i for i, c in enumerate(dict.fromkeys(iso3s))}
    keep = ["iso3", "year", "per100"] + (["name"] if "name" in panel_df.columns else [])
    d = panel_df.loc[panel_df["iso3"].isin(list(order)), keep].dropna(subset=["year", "per100"])
    dup = d.duplicated(["iso3", "year"])
    if dup.any():
        raise ValueError(f"duplicate years for {d.loc[dup, 'iso3'].iloc[0]} in the panel")
    if "name" not in d.columns:
        d = d.assign(name=d["iso3"])
    first = d.loc[d["per100"] >= threshold].groupby("iso3")["year"].min().rename("first_year")
    d = d.join(first, on="iso3", how="inner")
    d = d[d["year"] >= d["first_year"]]
    if d.empty:
        return pd.DataFrame(columns=cols)
    d = d.assign(_o=d["iso3"].astype(str).map(order)).sort_values(["_o", "year"], kind="stable")
    out = pd.DataFrame(
        {
            "iso3": d["iso3"].to_numpy(),
            "name": d.groupby("iso3")["name"].transform("first").to_numpy(),
            "year": d["year"].astype(int).to_numpy(),
            "first_year": d["first_year"].astype(int).to_numpy(),
            "years_since_launch": (d["year"] - d["first_year"]).astype(int).to_numpy(),
            "per100": d["per100"].astype(float).to_numpy(),
        }
    )
    return out[cols]


def _usable(fits: pd.DataFrame) -> pd.Series:
    return fits["converged"] & ~fits["too_few_points"] & ~fits["ceiling_at_bound"] & ~fits["no_convergence"]


def rank_table(
    fits: pd.DataFrame, iso3: str = "PRK", metrics: Sequence[str] = ("ceiling", "speed")
) -> pd.DataFrame:
    """Where ``iso3`` stands among all countries, per model and metric.

    Columns: ``model, metric, value, lo, hi, percentile, n_countries, median, p25, p75, flags``.
    ``percentile`` = share of reference countries with a smaller value (ties count half), in percent; the
    reference set is every country whose fit is usable (converged, enough points, ceiling not on its
    bound). For ``speed`` (years from 10 % to 90 %) a low percentile means *faster* than most. ``iso3``'s
    own flags are listed in ``flags``; its value is reported even if flagged.
    """
    out = []
    use = _usable(fits)
    for model, g in fits.groupby("model", sort=False):
        me = g[g["iso3"] == iso3]
        if me.empty:
            continue
        me = me.iloc[0]
        ref = g[use.loc[g.index] & (g["iso3"] != iso3)]
        flags = ",".join(
            f for f in ("too_few_points", "no_convergence", "not_s_shaped", "ceiling_at_bound") if bool(me[f])
        )
        for metric in metrics:
            v = float(me[metric])
            vals = ref[metric].astype(float).to_numpy()
            vals = vals[np.isfinite(vals)]
            pct = (
                (100.0 * (np.sum(vals < v) + 0.5 * np.sum(vals == v)) / vals.size)
                if vals.size and np.isfinite(v)
                else np.nan
            )
            out.append(
                {
                    "model": model,
                    "metric": metric,
                    "value": v,
                    "lo": float(me.get(f"{metric}_lo", np.nan)),
                    "hi": float(me.get(f"{metric}_hi", np.nan)),
                    "percentile": pct,
                    "n_countries": int(vals.size),
                    "median": float(np.median(vals)) if vals.size else np.nan,
                    "p25": float(np.quantile(vals, 0.25)) if vals.size else np.nan,
                    "p75": float(np.quantile(vals, 0.75)) if vals.size else np.nan,
                    "flags": flags,
                }
            )
    return pd.DataFrame(out)


def _curve(row: pd.Series, t: np.ndarray) -> np.ndarray:
    m = MODELS[row["model"]]
    theta = [float(row[f"p_{p}"]) for p in m.param_names]
    return m.f(t, *theta)


def counterfactual(
    fits: pd.DataFrame,
    panel_df: pd.DataFrame,
    iso3: str = "PRK",
    peers: Sequence[str] = ("CUB", "MMR", "ERI", "TKM", "LAO", "VNM", "KHM", "MNG"),
    horizon: int | None = None,
    model: str = "logistic",
    threshold: float = 1.0,
    band: tuple[float, float] = (0.25, 0.75),
) -> pd.DataFrame:
    """ "Had ``iso3`` followed the median peer curve after its launch, it would have reached X per 100 by Y."

    Each peer's fitted ``model`` curve (``model="best"``: its lowest-AICc model) is evaluated at
    ``t = 0 .. horizon`` years after *its own* launch; the counterfactual is the pointwise median across
    peers placed at ``iso3``'s launch year, and the interval is the ``band`` quantiles across peers (spread
    between peer trajectories -- the dominant uncertainty here; the peers' bootstrap intervals are much
    narrower and are not added). Peers with an unusable fit (not converged, too few points, ceiling on
    its bound) are left out and listed in ``attrs["excluded"]``; peers whose series later declined are
    kept (their fitted rise is still informative) and listed in ``attrs["not_s_shaped"]``. ``horizon`` defaults to ``iso3``'s last observed year minus its launch year.

    Returns ``years_since_launch, year, median, lo, hi, n_peers, actual`` (``actual``: ``iso3``'s observed
    per100, NaN where not observed); ``attrs["sentence"]`` states the result.
    """
    first, t_obs, y_obs = country_series(panel_df, iso3, threshold)
    if first is None:
        raise ValueError(f"{iso3} never reaches {threshold} per 100 in the panel")
    if horizon is None:
        horizon = int(t_obs[-1])
    t = np.arange(horizon + 1, dtype=float)
    use = _usable(fits)
    curves, used, excluded = [], [], []
    for p in peers:
        g = fits[(fits["iso3"] == p) & use]
        if model == "best":
            g = g[g["best_aicc"]]
        else:
            g = g[g["model"] == model]
        if g.empty:
            excluded.append(p)
            continue
        curves.append(_curve(g.iloc[0], t))
        used.append(p)
    if not curves:
        raise ValueError(f"no usable peer fits among {list(peers)} for model {model!r}")
    C = np.vstack(curves)
    actual = pd.Series(y_obs, index=t_obs.astype(int)).reindex(t.astype(int)).to_numpy()
    out = pd.DataFrame(
        {
            "years_since_launch": t.astype(int),
            "year": (t + first).astype(int),
            "median": np.median(C, axis=0),
            "lo": np.quantile(C, band[0], axis=0),
            "hi": np.quantile(C, band[1], axis=0),
            "n_peers": len(used),
            "actual": actual,
        }
    )
    last = out.iloc[-1]
    act = "" if np.isnan(last["actual"]) else f", against an actual {last['actual']:.1f}"
    out.attrs["sentence"] = (
        f"Had {iso3} followed the median peer curve ({model}; peers {', '.join(used)}) after its launch in "
        f"{first}, it would have reached {last['median']:.1f} per 100 by {int(last['year'])} "
        f"(peer {int(band[0] * 100)}-{int(band[1] * 100)}% range {last['lo']:.1f}-{last['hi']:.1f}){act}."
    )
    out.attrs["peers"] = used
    out.attrs["excluded"] = excluded
    flagged = fits[fits["iso3"].isin(used) & fits["not_s_shaped"]]["iso3"].unique().tolist()
    out.attrs["not_s_shaped"] = [p for p in used if p in flagged]
    return out
