"""Growth curves for every country in the ITU mobile panel: per-country batched fits and bootstraps, parallel map.

Per country (:func:`fit_countries`, :func:`fit_country`)
-------------------------------------------------------
The series is the country's per-100 mobile subscriptions (``per100``) from the first year it reached
``threshold`` (default 1 per 100; that year is ``first_year``) to its last published year; time is
``t = year - first_year`` (years since "launch"). Years the source does not publish are absent, not
interpolated. Each model of :data:`helpers.models.registry.MODELS` (``logistic``, ``gompertz``, ``richards``,
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

How one model is fitted to many series at once (solver, starting values, bootstrap):
:mod:`helpers.models.panel_fit`.

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
:func:`fit_panel` maps :func:`fit_countries` over chunks of countries with joblib (local threads when every
model runs on the compiled solver, which releases the GIL; local processes otherwise) or,
when a Dask scheduler address is given (argument or ``NKT_DASK_SCHEDULER``), with ``dask.distributed``.
The workers must be able to import :mod:`helpers` (same environment).

Notebook helpers (:func:`~helpers.models.panel_peers.align_on_launch`,
:func:`~helpers.models.panel_peers.rank_table`, :func:`~helpers.models.panel_peers.counterfactual`):
:mod:`helpers.models.panel_peers`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from helpers.models.panel_fit import (
    SOLVER_MODELS,
    BatchResult,
    FitOptions,
    PointFit,
    _check_model,
    _eval,
    _linear_starts,
    _padded,
    _rng,
    derived,
    lm_batch,
    model_bounds,
    residual_resamples,
    start_values,
    to_natural,
    uses_compiled_solver,
)
from helpers.models.registry import CUMULATIVE_MODELS, MODELS, aicc

__all__ = [
    "PanelDraws",
    "Series",
    "by_country",
    "country_series",
    "fit_countries",
    "fit_country",
    "fit_panel",
]

#: Columns of the :func:`fit_panel` table, in order (``p_<name>`` columns follow for every parameter).
RESULT_COLUMNS: tuple[str, ...] = (
    "iso3", "name", "model", "first_year", "last_year", "n_points", "last_per100", "peak_per100",
    "converged", "rss", "aicc", "delta_aicc", "best_aicc",
    "ceiling", "ceiling_lo", "ceiling_hi", "rate", "rate_lo", "rate_hi", "speed", "speed_lo", "speed_hi",
    "inflection_year", "inflection_lo", "inflection_hi", "n_boot", "n_boot_ok",
    "too_few_points", "no_convergence", "not_s_shaped", "ceiling_at_bound", "params_at_bound",
)  # fmt: skip
PARAM_COLUMNS: tuple[str, ...] = ("p_K", "p_r", "p_t0", "p_b", "p_c", "p_nu", "p_m", "p_p", "p_q")


# --------------------------------------------------------------------------------------------------------
# One country
# --------------------------------------------------------------------------------------------------------
def country_series(
    panel_df: pd.DataFrame, iso3: str, threshold: float = 1.0
) -> tuple[int | None, np.ndarray, np.ndarray]:
    """``(first_year, t, y)`` for one country: rows from the first year ``per100 >= threshold`` on.

    ``t = year - first_year``. ``first_year`` is ``None`` (and ``t``, ``y`` empty) when never reached.
    """
    mine = panel_df["iso3"].to_numpy() == iso3  # NumPy, not pandas: called once per country (214 x)
    year = panel_df["year"].to_numpy(dtype=float, na_value=np.nan)[mine]
    val = panel_df["per100"].to_numpy(dtype=float, na_value=np.nan)[mine]
    keep = ~(np.isnan(year) | np.isnan(val))
    order = np.argsort(year[keep], kind="stable")
    year, val = year[keep][order], val[keep][order]
    if (np.diff(year) == 0).any():
        raise ValueError(f"duplicate years for {iso3} in the panel")
    hit = year[val >= threshold]
    if hit.size == 0:
        return None, np.empty(0), np.empty(0)
    first = int(hit.min())
    sel = year >= first
    return first, year[sel] - first, val[sel]


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
            T.append(tp)
            Y.append(np.broadcast_to(yp, (len(st), npad)))
            L.append(lo)
            U.append(hi)
        X0a = np.vstack(X0)
        owner_a = np.array(owner)
        res = lm_batch(
            model, np.vstack(T), np.vstack(Y), X0a, np.vstack(L), np.vstack(U),
            xtol=opts.xtol, ftol=opts.ftol, max_iter=opts.max_iter, n_obs=np.array(N),
            group=np.repeat(np.arange(len(grp)), [len(x) for x in X0]),
        )  # fmt: skip
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
            T.append(tp)
            X0.append(_linear_starts(model, pf, s.t, Ys))
            L.append(pf.lower)
            U.append(pf.upper)
        n_obs = np.repeat([series[i].t.size for i in grp], n_boot)
        res = lm_batch(
            model, np.vstack(T), np.vstack(Y), np.vstack(X0), np.vstack(L), np.vstack(U),
            xtol=opts.boot_xtol, ftol=opts.boot_ftol, max_iter=opts.boot_max_iter, n_obs=n_obs,
            group=np.repeat(np.arange(len(grp)), n_boot),
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
                    keys = (("ceiling", "ceiling"), ("rate", "rate"), ("speed", "speed"),
                            ("inflection_t", "inflection"))  # fmt: skip
                    V = np.stack([np.broadcast_to(dq[key], dq["ceiling"].shape) for key, _ in keys])
                    if np.isfinite(V).all():  # the usual case: one call (the same numbers as one per row)
                        q = np.quantile(V, [alpha, 1.0 - alpha], axis=1)
                        for j, (_, col) in enumerate(keys):
                            row[f"{col}_lo"], row[f"{col}_hi"] = float(q[0, j]), float(q[1, j])
                    else:
                        for j, (_, col) in enumerate(keys):
                            v = V[j][np.isfinite(V[j])]
                            if v.size:
                                row[f"{col}_lo"], row[f"{col}_hi"] = np.quantile(
                                    v, [alpha, 1.0 - alpha]
                                ).tolist()
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
    n_chunks: int = 1,
    keep_draws: bool = False,
) -> list[tuple]:
    """Tasks for the parallel map: one per (model, country chunk), heaviest first.

    Countries are sorted by (series length, iso3) and cut into chunks of ``chunk_size`` (default:
    ``n_chunks`` chunks; :func:`fit_panel` asks for one per worker process -- the NumPy solver pays its
    per-iteration overhead once per batch -- or four per worker thread). Heaviest first (points x
    parameters^2) keeps both cores busy until the end.
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
        chunk_size = -(-len(series) // max(int(n_chunks), 1))
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
    local threads (processes when a model has no compiled kernel; ``n_jobs=1``: in-process, no pool). The
    unit of work is one model on a chunk of ``chunk_size`` countries of similar series length (default: four
    chunks per thread, one per process; :func:`fit_countries` batches them), heaviest first. Results are identical across
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
    # The compiled solver runs without the GIL: threads of this process then share the work with no worker
    # start-up (imports), no pickling of series and results; the NumPy solver needs processes. Threads get
    # four chunks each, so that the last tasks, which decide when the map ends, are small.
    threads = all(uses_compiled_solver(m) for m in models)
    chunks = workers * (4 if threads and scheduler is None else 1)
    tasks = _tasks(
        panel_df, models, int(n_bootstrap), int(seed), float(threshold), opts, chunk_size, chunks, keep_draws
    )
    if scheduler is not None:
        results = _run_dask(tasks, scheduler)
    elif n_jobs == 1 or len(tasks) <= 1:
        results = [_task(a) for a in tasks]
    else:
        from joblib import Parallel, delayed

        prefer = "threads" if threads else "processes"
        results = Parallel(n_jobs=n_jobs, batch_size=1, prefer=prefer)(delayed(_task)(a) for a in tasks)
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
