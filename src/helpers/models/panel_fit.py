"""Fitting one growth model to many short series at once: options, bounds, batched LM, starts, bootstrap.

The engine behind :mod:`helpers.models.panel`: :class:`FitOptions`, the solver parametrisations
(:data:`SOLVER_MODELS`) and bounds, the per-model derived quantities (:func:`derived`), :func:`lm_batch`,
the multi-start :func:`point_fit` and its per-fit reference :func:`scipy_fit`, and the residual bootstrap
(:func:`residual_resamples`, :func:`bootstrap_country`).

Solver
------
Point fits and bootstrap refits are solved by :func:`lm_batch`. For the registry's four curves it runs the
compiled kernel :func:`helpers.models.lm_compiled.lm_panel` (numba; one problem at a time in machine code,
about 12 us of CPU per refit against 25-35 us for the NumPy form below and ~3 ms for a scipy call; it
releases the GIL, so :func:`helpers.models.panel.fit_panel` maps over threads). It is the same algorithm
as the NumPy form, which solves every other (registered) model and all models with
``NKT_PANEL_SOLVER=numpy``; the tests run the panel's solver tests on both and check that they reach the
same optima. The NumPy form calls the batched solver of the
project, :func:`helpers.models.solver.lm` (projected Levenberg-Marquardt over a batch of independent problems:
per-problem damping -- Marquardt scaling ``lambda * diag(J'J)``, Nielsen's update --, acceptance and
convergence masks, finished problems leave the working arrays; damped ``k x k`` systems by a vectorised
Cholesky), with the series in the batch-last layout (points x problems, so every array operation runs over
contiguous problems), ``J'J``, ``J'r``, ``r'r`` by one product and one sum over the points per entry, per
block of :data:`BLOCK` problems and over only the points the block's series have (a block of equal-length
series does no work on padding), and the registry's fused kernels (:mod:`helpers.models.registry`, checked
against the generic ones in the tests). Bounds are handled by projection: parameters on a bound whose gradient
points outwards are frozen for that iteration and the step is clipped to the box. Richards is solved with its
inflection time in place of ``t0`` (:data:`SOLVER_MODELS`). The point fit is multi-start: the registry's
coarse start grid over the nonlinear parameters with the scale (``K``/``m``) profiled out linearly, the
``n_starts`` best distinct grid points solved as one batch, the lowest RSS kept. Series are padded with
zero-weight points to a multiple of :data:`PAD` and countries of one padded length are batched together (per
model), so the slow-converging tail of one country's resamples shares its per-iteration overhead with the
others' while a country's arithmetic depends only on its own data. :func:`scipy_fit` is the per-fit reference
(``scipy.optimize.least_squares``, TRF, tolerances 1e-15); the tests check that point fits and (at the
point-fit tolerance) bootstrap refits agree with it (and point fits with :func:`helpers.models.growth.fit`) to
1e-6 relative on real series (location parameters: 1e-6 of the time span); refits at the production refit
tolerance: see :class:`FitOptions`.

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
"""

from __future__ import annotations

import importlib.util
import math
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from helpers.models import registry, solver
from helpers.models.registry import CUMULATIVE_MODELS, MODELS, Model, get_model, solver_model

__all__ = [
    "DEFAULT_BOUNDS",
    "FitOptions",
    "SOLVER_MODELS",
    "bootstrap_country",
    "derived",
    "lm_batch",
    "point_fit",
    "residual_resamples",
    "scipy_fit",
    "start_values",
    "to_internal",
    "to_natural",
    "uses_compiled_solver",
]

#: Bounds of every solver parameter except the ceiling (whose upper bound is ``ceiling_factor * max(y)``).
#: Time parameters are in years since ``first_year``. Richards is solved in ``(K, r, ti, nu)`` with the
#: inflection time ``ti = t0 - ln(nu)/r`` in place of ``t0`` (see :data:`SOLVER_MODELS`), so its time bound
#: applies to ``ti``.
DEFAULT_BOUNDS: dict[str, dict[str, tuple[float, float]]] = {
    name: dict(MODELS[name].panel_bounds) for name in CUMULATIVE_MODELS
}
_CEILING_LOWER = 1e-6


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


#: Problems per block when the solver evaluates residuals and Jacobians (arrays of a few hundred kB).
BLOCK = 512


def _padded(n: int) -> int:
    return -(-n // PAD) * PAD


#: The registry's own four curves, by their fused kernel (so that a model registered in their place under
#: the same name is not mistaken for them) -> their name in :data:`helpers.models.lm_compiled.MODEL_CODES`.
_COMPILED = {
    registry._logistic_fused: "logistic",
    registry._gompertz_fused: "gompertz",
    registry._richards_ti_fused: "richards",
    registry._bass_fused: "bass",
}


def _compiled_name(m: Model) -> str | None:
    """The compiled kernel that solves ``m`` (a :data:`SOLVER_MODELS` entry); ``None``: the NumPy solver."""
    return _COMPILED.get(m.fused) if _USE_COMPILED else None


def uses_compiled_solver(model: str) -> bool:
    """Whether :func:`lm_batch` solves ``model`` with the compiled kernel (:mod:`helpers.models.lm_compiled`)."""
    return _compiled_name(SOLVER_MODELS[model]) is not None


#: ``False``: every model by :func:`helpers.models.solver.lm` -- with ``NKT_PANEL_SOLVER=numpy``, or when numba
#: is not installed (an environment built without the lock file); same results to rounding, ~2.5x the CPU.
_USE_COMPILED = (
    os.environ.get("NKT_PANEL_SOLVER", "compiled") != "numpy"
    and importlib.util.find_spec("numba") is not None
)


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
    group: np.ndarray | None = None,
) -> BatchResult:
    """Solve ``B`` bounded least-squares problems ``min ||f(t_b; x_b) - Y_b||^2`` at once.

    ``model``: a name in :data:`SOLVER_MODELS` (parameters in that parametrisation); ``X0``: (B, k) starts;
    ``t``: (n,) shared times or (B, n) one row per problem; ``Y``: (n,) or (B, n); ``lower``/``upper``:
    (k,) or (B, k) bounds. The solver is the compiled kernel :func:`helpers.models.lm_compiled.lm_panel` for
    the registry's four curves, else :func:`helpers.models.solver.lm` (the same algorithm: per-problem
    damping, acceptance and stopping; projected bounds); for the latter the series are padded with zero-weight points to a multiple of
    :data:`PAD`, so a problem gets the same answer whatever it is batched with. A problem stops when an
    accepted step changes no parameter by more than ``xtol`` relative, or lowers the RSS by at most
    ``ftol`` relative, or when the damping exceeds 1e16 (no descent possible at machine precision) -- all
    counted as converged; it is *not* converged when ``max_iter`` is reached or its RSS is not finite.
    ``n_obs`` (B,): rows of different lengths given padded -- only the first ``n_obs[b]`` points count.
    ``group`` (B,): ``t`` (G, n), ``lower`` and ``upper`` (G, k) have one row per group of problems (e.g. a
    country's resamples), and problem ``b`` uses row ``group[b]``.
    """
    m = SOLVER_MODELS[model]
    X0 = np.asarray(X0, dtype=float)
    B, k = X0.shape
    t = np.asarray(t, dtype=float)
    n = t.shape[-1]
    compiled = _compiled_name(m)
    if compiled is not None:
        from helpers.models import lm_compiled

        # times and bounds once per group of problems (row), not copied per problem: without ``group``, one
        # row shared by all, or one per problem when any of them is given per problem
        if group is None:
            per_problem = t.ndim > 1 or np.ndim(lower) > 1 or np.ndim(upper) > 1
            group = np.arange(B) if per_problem else np.zeros(B, dtype=np.int64)
            G = B if per_problem else 1
        else:
            G = t.shape[0]
        x, rss, status, n_iter = lm_compiled.lm_panel(
            compiled, np.broadcast_to(t, (G, n)), np.broadcast_to(np.asarray(Y, dtype=float), (B, n)),
            np.full(B, n) if n_obs is None else n_obs,
            X0, np.broadcast_to(lower, (G, k)), np.broadcast_to(upper, (G, k)), group,
            xtol=xtol, ftol=ftol, max_iter=max_iter, lam0=lam0,
        )  # fmt: skip
        return BatchResult(x=x, rss=rss, converged=status > 0, n_iter=n_iter)
    if group is not None:  # the NumPy form takes rows per problem
        t, lower, upper = (np.asarray(a, dtype=float)[group] for a in (t, lower, upper))
    npad = _padded(n)
    # batch-last layout (points x problems): every array operation runs over contiguous problems
    T = np.empty((npad, B))
    Yp = np.zeros((npad, B))
    T[:n] = t.T if t.ndim > 1 else t[:, None]
    T[n:] = T[n - 1 : n]
    Yp[:n] = np.asarray(Y, dtype=float).T if np.ndim(Y) > 1 else np.asarray(Y, dtype=float)[:, None]
    used = np.full(B, n) if n_obs is None else np.asarray(n_obs, dtype=np.int64)
    pairs = [(i, j) for i in range(k + 1) for j in range(i + 1)]
    rows_t = np.arange(npad)[:, None]

    def evaluate(XT, T_, Y_, used_):
        b = XT.shape[1]
        if b == 1:  # numpy sums a single column pairwise, wider blocks row by row: keep one summation order
            A, g, rss = evaluate(*(np.repeat(a, 2, axis=-1) for a in (XT, T_, Y_, used_)))
            return A[..., :1].copy(), g[:, :1].copy(), rss[:1].copy()
        A, g, rss = np.empty((k, k, b)), np.empty((k, b)), np.empty(b)
        tmp = np.empty((npad, min(b, BLOCK + 1)))
        edges = [*range(0, b, BLOCK), b]
        if len(edges) > 2 and b - edges[-2] == 1:  # no block of one problem (see above)
            del edges[-2]
        for lo_, hi_ in zip(edges[:-1], edges[1:], strict=True):  # blocks that stay in cache
            sl = slice(lo_, hi_)
            u = used_[sl]
            nb, nmin = int(u.max()), int(u.min())  # only the points some problem of the block uses
            F, JT = m.fj_t(T_[:nb, sl], XT[:, sl])
            np.subtract(F, Y_[:nb, sl], out=JT[k])  # residuals straight into the scratch row
            if nmin < nb:  # a shorter series in the block: its extra points get weight 0
                JT *= rows_t[:nb] < u
            tm = tmp[:nb, : JT.shape[2]]
            for i, j in pairs:  # [J | r]' [J | r], one product of two (n, b) rows per entry
                np.multiply(JT[i], JT[j], out=tm)
                if i < k:
                    np.add.reduce(tm, axis=0, out=A[i, j, sl])
                    A[j, i, sl] = A[i, j, sl]
                elif j < k:
                    np.add.reduce(tm, axis=0, out=g[j, sl])
                else:
                    np.add.reduce(tm, axis=0, out=rss[sl])
        return A, g, rss

    data = [T, Yp, used]
    res = solver.lm(
        evaluate, X0, lower, upper, data, xtol=xtol, ftol=ftol, max_iter=max_iter, lam0=lam0, batch_last=True
    )
    conv = res.status > 0
    return BatchResult(x=res.x, rss=res.rss, converged=conv, n_iter=res.n_iter)


# --------------------------------------------------------------------------------------------------------
# Starting values and point fit
# --------------------------------------------------------------------------------------------------------
_GRIDS: dict[tuple[Any, float], np.ndarray] = {}


def _grid(model: str, tmax: float) -> np.ndarray:
    """Candidate values of the nonlinear parameters (all but the ceiling), shape (G, k-1): the registry's
    coarse start grid on ``0 .. tmax`` (Richards: its centres are taken as ``ti``). Read-only; kept per grid
    function and ``tmax`` (series of equal length share it)."""
    m = _check_model(model)
    if m.grid is None:
        raise ValueError(f"model {model!r} has no start grid in the registry")
    key = (m.grid, float(tmax))
    G = _GRIDS.get(key)
    if G is None:
        G = np.asarray(m.grid(0.0, float(tmax), False), dtype=float)
        G.flags.writeable = False
        if len(_GRIDS) > 4096:
            _GRIDS.clear()
        _GRIDS[key] = G
    return G


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
    chosen: list[int] = []
    logX = np.log(np.abs(X) + 1e-300)
    for i in order:
        if not np.isfinite(cost[i]) or len(chosen) >= n:
            break
        # distinct from every start kept so far (max-norm of the log-parameters above 0.15)
        if not chosen or (np.abs(logX[chosen] - logX[i]).max(axis=1) > 0.15).all():
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
