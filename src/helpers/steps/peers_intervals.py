"""Percentiles of step 03 and their uncertainty: rank summary, percentile intervals, fitted bands.

:func:`rank_summary` gives the focal country's percentiles among all countries, per model, for two reference
sets (every usable fit; only countries whose series never fell > 15 % below its peak) with intervals from
:func:`percentile_intervals` (the panel's bootstrap draws); :func:`bootstrap_bands` gives fitted curves with
pointwise 95 % bands from the *same* residual-bootstrap resamples as the fit table (same seeds), so the bands
and the table's intervals agree.

Percentile convention (from :func:`helpers.models.panel_peers.rank_table`): share of reference countries with a smaller
value, ties counting half. For ``speed`` (years from 10 % to 90 % of the ceiling) a *high* percentile means
*slower* than most countries.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from helpers.models import panel as P
from helpers.models import panel_fit, panel_peers
from helpers.models.registry import MODELS
from helpers.steps.peers_tables import best_rows, usable


def rank_summary(
    fits: pd.DataFrame,
    draws: P.PanelDraws | None,
    iso3: str = "PRK",
    metrics: Sequence[str] = ("ceiling", "speed"),
    include_best: bool = True,
    level: float = 0.95,
) -> pd.DataFrame:
    """The focal country's percentiles among all countries, per model and metric, for two reference sets.

    Columns: ``model, metric, reference, value, lo, hi, percentile, percentile_lo, percentile_hi,
    n_countries, median, p25, p75, flags``. ``reference`` is ``"all"`` (every usable fit, as in
    :func:`helpers.models.panel_peers.rank_table`) or ``"s_shaped"`` (the same without countries flagged
    ``not_s_shaped``: their fitted curves describe a rise that later reversed). ``percentile_lo``/``_hi``
    are the ``level`` interval of the percentile over the bootstrap draws, by the one method of
    :func:`percentile_intervals` (the focal country's draws ranked against the same reference set, the
    overlapping countries with their own draws); NaN where the focal country has no draws (``draws=None``
    or no converged refit). ``include_best`` adds the pseudo-model ``"best"`` (each country's lowest-AICc
    fit, :func:`best_rows`).
    """
    base = (
        pd.concat([fits, best_rows(fits).drop(columns="best_model")], ignore_index=True)
        if include_best
        else fits
    )
    refs = {
        "all": base,
        "s_shaped": base[~base["not_s_shaped"].astype(bool) | (base["iso3"] == iso3)],
    }
    frames = []
    for ref_name, f in refs.items():
        rk = panel_peers.rank_table(f, iso3=iso3, metrics=metrics)
        if rk.empty:
            continue
        rk.insert(2, "reference", ref_name)
        rk["percentile_lo"] = rk["percentile_hi"] = np.nan
        for model in dict.fromkeys(rk["model"]):
            if draws is None or (model != "best" and draws.metrics(iso3, model) is None):
                continue
            try:
                pi = percentile_intervals(
                    fits, draws, iso3, model, metrics, level, reference=sorted(set(f["iso3"].astype(str)))
                ).set_index("metric")
            except ValueError:  # no converged draw of the focal country for this model (or no reference)
                continue
            for metric in pi.index:
                sel = (rk["model"] == model) & (rk["metric"] == metric)
                rk.loc[sel, "percentile_lo"] = pi.loc[metric, "percentile_lo"]
                rk.loc[sel, "percentile_hi"] = pi.loc[metric, "percentile_hi"]
        frames.append(rk)
    cols = [
        "model", "metric", "reference", "value", "lo", "hi", "percentile", "percentile_lo", "percentile_hi",
        "n_countries", "median", "p25", "p75", "flags",
    ]  # fmt: skip
    if not frames:
        return pd.DataFrame(columns=cols)
    out = pd.concat(frames, ignore_index=True)[cols]
    morder = {m: i for i, m in enumerate([*MODELS, "best"])}
    out = out.sort_values(
        ["reference", "model", "metric"],
        key=lambda s: s.map(morder) if s.name == "model" else s,
    )
    return out.reset_index(drop=True)


def bootstrap_bands(
    panel_df: pd.DataFrame,
    fits: pd.DataFrame,
    draws: P.PanelDraws | None,
    iso3s: Sequence[str],
    model: str,
    years: np.ndarray,
    threshold: float = 1.0,
    level: float = 0.95,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fitted curves and pointwise ``level`` bands for ``iso3s`` under ``model`` (``"best"``: each country's
    lowest-AICc model), evaluated at the calendar ``years`` from the country's launch on.

    The curve is the fit table's point estimate (``p_<param>`` columns) and the band comes from ``draws``,
    the bootstrap refits behind the table (:func:`helpers.models.panel.fit_panel` with ``keep_draws=True``):
    nothing is refitted. Returns ``(curves, check)``: ``curves`` with ``iso3, model, year, fit, lo, hi``;
    ``check`` with ``iso3, model, ceiling_lo, ceiling_hi`` recomputed from the draws (compare with the fit
    table). Countries without a usable fit are skipped. ``draws=None``: point curves only (``lo``/``hi``
    NaN, ``check`` empty).
    """
    alpha = (1.0 - level) / 2.0
    if model == "best":
        chosen = best_rows(fits).set_index("iso3")["best_model"]
    curves, checks = [], []
    for c in iso3s:
        m = str(chosen.get(c, "")) if model == "best" else model
        row = fits[(fits["iso3"] == c) & (fits["model"] == m)]
        if not m or row.empty or not bool(usable(row).iloc[0]):
            continue
        r = row.iloc[0]
        first = int(r["first_year"])
        yrs = np.asarray(years, dtype=int)
        yrs = yrs[yrs >= first]  # the curves describe the series from launch on (Bass is undefined before)
        tt = yrs.astype(float) - first
        fm = MODELS[m]
        theta_hat = [float(r[f"p_{p}"]) for p in fm.param_names]
        lo = hi = np.full(yrs.size, np.nan)
        th = draws.theta.get((c, m)) if draws is not None else None
        if th is not None:
            theta = th[np.isfinite(th).all(axis=1)]
            with np.errstate(all="ignore"):
                B = fm.f(tt[None, :], *[theta[:, j : j + 1] for j in range(theta.shape[1])])
            lo, hi = np.nanquantile(B, [alpha, 1.0 - alpha], axis=0)
            K = panel_fit.derived(m, theta)["ceiling"]
            qlo, qhi = np.quantile(K[np.isfinite(K)], [alpha, 1.0 - alpha])
            checks.append({"iso3": c, "model": m, "ceiling_lo": float(qlo), "ceiling_hi": float(qhi)})
        curves.append(
            pd.DataFrame(
                {"iso3": c, "model": m, "year": yrs, "fit": fm.f(tt, *theta_hat), "lo": lo, "hi": hi}
            )
        )
    cols = ["iso3", "model", "year", "fit", "lo", "hi"]
    cv = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=cols)
    return cv, pd.DataFrame(checks, columns=["iso3", "model", "ceiling_lo", "ceiling_hi"])


def metric_draws(draws: P.PanelDraws, iso3s: Sequence[str], model: str) -> dict[str, dict[str, np.ndarray]]:
    """Bootstrap draws of the derived quantities for each country in ``iso3s`` under ``model``.

    ``{iso3: {"ceiling": ..., "speed": ..., "rate": ..., "inflection_t": ...}}``, each of length
    ``draws.n_bootstrap`` in resample order: the refits behind the fit table
    (:meth:`helpers.models.panel.PanelDraws.metrics`), so their percentile intervals equal the table's
    ``<metric>_lo/_hi``. Resamples that did not converge (or give a non-finite value) are NaN. Countries
    without refits (never reach the threshold, too few points, point fit not converged) are absent.
    """
    out: dict[str, dict[str, np.ndarray]] = {}
    for c in iso3s:
        d = draws.metrics(c, model)
        if d is not None:
            out[c] = d
    return out


def percentile_draws(focal: np.ndarray, fixed: np.ndarray, uncertain: np.ndarray | None = None) -> np.ndarray:
    """The focal country's percentile in each bootstrap draw.

    ``focal``: shape ``(B,)``, the focal country's draws. ``fixed``: shape ``(m,)``, reference countries
    whose uncertainty cannot change the comparison (taken at their point estimate). ``uncertain``: shape
    ``(B, k)``, the other reference countries' draws, paired with the focal draws by row (independent
    resamples, so any pairing is a draw from the joint distribution). Percentile convention as in
    :func:`helpers.models.panel_peers.rank_table`: share of the ``m + k`` reference values below the focal value, ties
    counting half, in percent. Returns shape ``(B,)``.
    """
    f = np.asarray(focal, dtype=float)
    fx = np.asarray(fixed, dtype=float).reshape(-1)
    un = np.empty((f.size, 0)) if uncertain is None else np.asarray(uncertain, dtype=float)
    if un.shape[0] != f.size:
        raise ValueError(f"uncertain draws have {un.shape[0]} rows, focal draws {f.size}")
    n = fx.size + un.shape[1]
    if n == 0:
        raise ValueError("no reference countries")
    below = (fx[None, :] < f[:, None]).sum(axis=1) + (un < f[:, None]).sum(axis=1)
    ties = (fx[None, :] == f[:, None]).sum(axis=1) + (un == f[:, None]).sum(axis=1)
    return 100.0 * (below + 0.5 * ties) / n


#: Columns of :func:`percentile_intervals`.
PERCENTILE_COLUMNS: tuple[str, ...] = (
    "model", "metric", "value", "lo", "hi", "percentile", "percentile_lo", "percentile_hi",
    "percentile_median", "level", "n_countries", "n_uncertain", "n_draws", "uncertain",
)  # fmt: skip


def percentile_intervals(
    fits: pd.DataFrame,
    draws: P.PanelDraws,
    iso3: str,
    model: str,
    metrics: Sequence[str] = ("ceiling", "speed"),
    level: float = 0.95,
    reference: Sequence[str] | None = None,
) -> pd.DataFrame:
    """``iso3``'s percentile among all usable fits of ``model``, with an interval from the fits' uncertainty.

    Each bootstrap draw of ``iso3``'s metric (``draws``: the refits behind the fit table) is ranked against
    the reference countries (:func:`percentile_draws`). A reference country *matters* when its own
    ``level`` interval (fit table) overlaps the range of ``iso3``'s draws: its draws are then paired with
    ``iso3``'s, so its uncertainty enters too. Countries whose interval lies wholly above or below that
    range are taken at their point estimate (at most ``(1 - level) / 2`` of their draws could cross, and
    only against ``iso3``'s most extreme draws). Non-converged draws of a reference country are replaced by
    its converged draws picked at random (seeded by ``draws.seed`` and ``iso3``); ``iso3``'s own are
    dropped.

    ``model`` may be ``"best"`` (the pseudo-model of :func:`best_rows`: each country with the draws of its
    own lowest-AICc model). ``reference``: restrict the reference set to these countries (default: every
    usable fit of ``model`` other than ``iso3``, as in :func:`helpers.models.panel_peers.rank_table`). One row per
    metric, :data:`PERCENTILE_COLUMNS`: ``value`` (point estimate), ``lo, hi`` (``iso3``'s interval from
    the draws, equal to the fit table's), ``percentile`` (at the point estimates, as
    :func:`helpers.models.panel_peers.rank_table`), ``percentile_lo, percentile_hi`` (the ``level`` interval of the
    percentile over the draws), ``percentile_median``, ``n_countries`` (reference countries),
    ``n_uncertain`` and ``uncertain`` (those entering with their draws, comma-separated), ``n_draws``
    (usable draws of ``iso3``).
    """
    if model == "best":
        f = best_rows(fits)
        own = f.set_index("iso3")["best_model"].astype(str).to_dict()
    else:
        f = fits[fits["model"] == model]
        own = dict.fromkeys(f["iso3"].astype(str), model)
    me = f[f["iso3"] == iso3]
    if me.empty:
        raise KeyError(f"no {model} fit for {iso3}")
    me = me.iloc[0]
    ref_all = f[usable(f) & (f["iso3"] != iso3)]
    if reference is not None:
        ref_all = ref_all[ref_all["iso3"].isin(list(reference))]

    def lookup(c: str) -> dict[str, np.ndarray]:
        return draws.metrics(c, own.get(c, "")) or {}

    focal_draws = lookup(iso3)
    if not focal_draws:
        raise ValueError(f"no bootstrap draws of {iso3} under {model} (too few points or no converged fit)")
    plan = {}
    for metric in metrics:
        fd = focal_draws[metric]
        fd = fd[np.isfinite(fd)]
        if fd.size == 0:
            raise ValueError(f"no converged bootstrap draw of {iso3}'s {model} {metric}")
        ref = ref_all[np.isfinite(ref_all[metric].astype(float))]
        if ref.empty:
            raise ValueError(f"no usable reference fits of {model} for {metric}")
        lo_c, hi_c = ref[f"{metric}_lo"].astype(float), ref[f"{metric}_hi"].astype(float)
        overlap = ~((lo_c > fd.max()) | (hi_c < fd.min())) | lo_c.isna() | hi_c.isna()
        plan[metric] = (fd, ref, overlap)
    rng = np.random.default_rng(np.random.SeedSequence([int(draws.seed) & 0xFFFFFFFF, *iso3.encode(), 1]))
    alpha = (1.0 - level) / 2.0
    rows = []
    for metric, (fd, ref, overlap) in plan.items():
        fixed = ref.loc[~overlap, metric].astype(float).to_numpy()
        codes = sorted(ref.loc[overlap, "iso3"].astype(str))
        point = ref.set_index("iso3")[metric].astype(float)
        cols = []
        for c in codes:
            d = lookup(c).get(metric, np.array([]))
            ok = d[np.isfinite(d)]
            if ok.size == 0:  # no usable draw: the country enters at its point estimate
                cols.append(np.full(fd.size, float(point[c])))
                continue
            d = np.resize(d, fd.size).copy()
            bad = ~np.isfinite(d)
            d[bad] = rng.choice(ok, size=int(bad.sum()))
            cols.append(d)
        pct = percentile_draws(fd, fixed, np.column_stack(cols) if cols else None)
        vals = ref[metric].astype(float).to_numpy()
        v = float(me[metric])
        qlo, qhi = np.quantile(fd, [alpha, 1.0 - alpha])
        plo, phi = np.quantile(pct, [alpha, 1.0 - alpha])
        rows.append(
            {
                "model": model, "metric": metric, "value": v, "lo": float(qlo), "hi": float(qhi),
                "percentile": float(100.0 * (np.sum(vals < v) + 0.5 * np.sum(vals == v)) / vals.size),
                "percentile_lo": float(plo), "percentile_hi": float(phi),
                "percentile_median": float(np.median(pct)), "level": float(level),
                "n_countries": int(vals.size), "n_uncertain": len(codes), "n_draws": int(fd.size),
                "uncertain": ",".join(codes),
            }
        )  # fmt: skip
    return pd.DataFrame(rows, columns=list(PERCENTILE_COLUMNS))
