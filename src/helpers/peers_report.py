"""Tables, sentences and figures of notebook ``03_compare_peers`` (North Korea against the ITU panel).

The fitting itself lives in :mod:`helpers.panel` (:func:`~helpers.panel.fit_panel`,
:func:`~helpers.panel.rank_table`, :func:`~helpers.panel.counterfactual`); this module only turns its
results into the step's products:

- :func:`format_fits` -- the full fit table rounded for ``peer_fits.csv``;
- :func:`flag_counts`, :func:`flagged_countries` -- how many fits each flag marks, and which countries
  (nothing is dropped silently);
- :func:`best_rows` -- each country's lowest-AICc fit as a pseudo-model ``"best"``;
- :func:`rank_summary` -- the focal country's percentiles among all countries, per model, for two reference
  sets (every usable fit; only countries whose series never fell > 15 % below its peak) with the percentile
  of the ends of the country's own 95 % interval;
- :func:`comparison_table` -- the focal country and its peers side by side (``peer_comparison.csv``);
- :func:`bootstrap_bands` -- fitted curves with pointwise 95 % bands, from the *same* residual-bootstrap
  resamples as the fit table (same seeds), so the bands and the table's intervals agree;
- :func:`leave_one_out`, :func:`counterfactual_numbers` -- the counterfactual's sensitivity to any single
  peer and its numbers/sentence;
- :func:`write_csv`, :func:`write_json` -- byte-stable writers;
- ``fig_*`` -- the four figures.

Percentile convention (from :func:`helpers.panel.rank_table`): share of reference countries with a smaller
value, ties counting half. For ``speed`` (years from 10 % to 90 % of the ceiling) a *high* percentile means
*slower* than most countries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers._lazy import lazy
from helpers.contracts_peers import Counterfactual, EraRow, PercentileInterval, PointPercentile
from helpers.models import panel as P
from helpers.models import panel_fit, panel_peers
from helpers.models.registry import MODELS

plt = lazy("matplotlib.pyplot")

__all__ = [
    "FLAGS",
    "best_rows",
    "bootstrap_bands",
    "ceiling_ci_at_bound",
    "comparison_table",
    "counterfactual",
    "counterfactual_contract",
    "counterfactual_numbers",
    "display_comparison",
    "era_rows",
    "era_sensitivity",
    "external_directory",
    "fig_aligned",
    "fig_counterfactual",
    "fig_distribution",
    "fig_small_multiples",
    "interval_percentiles",
    "flag_counts",
    "flagged_countries",
    "format_fits",
    "launch_years",
    "leave_one_out",
    "metric_draws",
    "missing_years",
    "ordinal",
    "peer_paths",
    "peer_values",
    "percentile_draws",
    "percentile_interval_sentence",
    "percentile_intervals",
    "PERCENTILE_COLUMNS",
    "percentile_sentence",
    "point_percentiles",
    "rank_summary",
    "same_era",
    "robustness_sentence",
    "usable",
    "write_csv",
    "write_json",
]

#: Flags of :func:`helpers.panel.fit_panel`, in reporting order.
FLAGS: tuple[str, ...] = ("too_few_points", "no_convergence", "not_s_shaped", "ceiling_at_bound")

#: Decimal places per column of the written fit table (everything else: 6 significant digits).
_DECIMALS: dict[str, int] = {
    "last_per100": 3, "peak_per100": 3, "rss": 4, "aicc": 3, "delta_aicc": 3,
    "ceiling": 3, "ceiling_lo": 3, "ceiling_hi": 3, "speed": 3, "speed_lo": 3, "speed_hi": 3,
    "inflection_year": 2, "inflection_lo": 2, "inflection_hi": 2,
}  # fmt: skip

FOCAL_COLOR = "#c0392b"
PEER_COLOR = "#2c6fad"
GREY = "#b0b0b0"


# ------------------------------------------------------------------------------------------------ tables
def _round_sig(x: pd.Series, digits: int = 6) -> pd.Series:
    """Round to ``digits`` significant digits (NaN and inf kept)."""
    v = x.astype(float).to_numpy()
    out = v.copy()
    ok = np.isfinite(v) & (v != 0)
    mag = np.floor(np.log10(np.abs(v[ok])))
    scale = 10.0 ** (digits - 1 - mag)
    out[ok] = np.round(v[ok] * scale) / scale
    return pd.Series(out, index=x.index)


def format_fits(fits: pd.DataFrame) -> pd.DataFrame:
    """The fit table rounded for publication, sorted by ``iso3`` then model order, columns unchanged.

    Per-100 levels and speeds to 3 decimals, years to 2, AICc to 3, RSS to 4; rates and raw parameters to
    6 significant digits (they span many orders of magnitude). Far below the bootstrap uncertainty.
    """
    out = fits.copy()
    order = {m: i for i, m in enumerate(MODELS)}
    out = out.sort_values(["iso3", "model"], key=lambda s: s.map(order) if s.name == "model" else s)
    for col in out.columns:
        if col in _DECIMALS:
            out[col] = out[col].astype(float).round(_DECIMALS[col])
        elif col in ("rate", "rate_lo", "rate_hi") or col.startswith("p_"):
            out[col] = _round_sig(out[col])
    return out.reset_index(drop=True)


def usable(fits: pd.DataFrame) -> pd.Series:
    """Fits usable as a reference (same rule as :func:`helpers.panel.rank_table`): converged, enough points,
    ceiling not on its bound."""
    return (
        fits["converged"].astype(bool)
        & ~fits["too_few_points"].astype(bool)
        & ~fits["ceiling_at_bound"].astype(bool)
        & ~fits["no_convergence"].astype(bool)
    )


def ceiling_ci_at_bound(fits: pd.DataFrame, ceiling_factor: float | None = None) -> pd.Series:
    """Fits whose ceiling *interval* reaches the ceiling's upper bound (``ceiling_factor`` x the series peak,
    default that of :class:`helpers.panel.FitOptions`) although the point estimate does not.

    Informational: the fit stays usable, but resamples piled up on the bound, so ``ceiling_hi`` understates
    the upper end of the uncertainty.
    """
    factor = panel_fit.FitOptions().ceiling_factor if ceiling_factor is None else float(ceiling_factor)
    hi = fits["ceiling_hi"].astype(float)
    bound = factor * fits["peak_per100"].astype(float)
    return (hi >= bound * (1.0 - 1e-6)) & ~fits["ceiling_at_bound"].astype(bool)


def flag_counts(fits: pd.DataFrame) -> pd.DataFrame:
    """Per model: ``model, n_countries, n_fitted`` (a converged fit), ``n_usable``, one count per flag and
    ``ceiling_ci_at_bound`` (informational, :func:`ceiling_ci_at_bound`).

    Models appear in the order of the table. A country can carry several flags.
    """
    rows = []
    for model, g in fits.groupby("model", sort=False):
        row: dict[str, Any] = {
            "model": model,
            "n_countries": int(g["iso3"].nunique()),
            "n_fitted": int(g["converged"].astype(bool).sum()),
            "n_usable": int(usable(g).sum()),
        }
        row |= {f: int(g[f].astype(bool).sum()) for f in FLAGS}
        row["ceiling_ci_at_bound"] = int(ceiling_ci_at_bound(g).sum())
        rows.append(row)
    cols = ["model", "n_countries", "n_fitted", "n_usable", *FLAGS, "ceiling_ci_at_bound"]
    return pd.DataFrame(rows, columns=cols)


def flagged_countries(fits: pd.DataFrame) -> pd.DataFrame:
    """Every country with at least one flag under at least one model: ``iso3, name`` and, per flag, the
    models carrying it (comma-separated, empty if none). Sorted by ``iso3``."""
    rows = []
    for iso3, g in fits.groupby("iso3", sort=True):
        row = {"iso3": iso3, "name": str(g["name"].iloc[0])}
        for f in FLAGS:
            row[f] = ",".join(g.loc[g[f].astype(bool), "model"].astype(str))
        if any(row[f] for f in FLAGS):
            rows.append(row)
    return pd.DataFrame(rows, columns=["iso3", "name", *FLAGS])


def best_rows(fits: pd.DataFrame) -> pd.DataFrame:
    """Each country's lowest-AICc row, relabelled ``model="best"``, its model kept in ``best_model``.

    Countries without a converged fit keep their first row (flagged, hence never usable as a reference).
    """
    order = {m: i for i, m in enumerate(MODELS)}
    f = fits.assign(_best=~fits["best_aicc"].astype(bool), _m=fits["model"].map(order))
    f = f.sort_values(["iso3", "_best", "_m"]).drop_duplicates("iso3", keep="first")
    f = f.drop(columns=["_best", "_m"]).assign(best_model=lambda d: d["model"].where(d["best_aicc"], ""))
    return f.assign(model="best").reset_index(drop=True)


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
    :func:`helpers.panel.rank_table`) or ``"s_shaped"`` (the same without countries flagged
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


def _flags(row: pd.Series) -> str:
    out = [f for f in FLAGS if bool(row[f])]
    if bool(ceiling_ci_at_bound(row.to_frame().T).iloc[0]):
        out.append("ceiling_ci_at_bound")
    return ",".join(out)


def comparison_table(
    fits: pd.DataFrame,
    iso3: str,
    peers: Sequence[str],
    model: str = "logistic",
) -> pd.DataFrame:
    """The focal country and its peers under ``model``, ranked by ceiling (1 = highest).

    Columns: ``rank_ceiling, rank_speed`` (1 = fastest), ``iso3, name, role`` (``focal``/``peer``),
    ``model, best_model, delta_aicc`` (how much worse ``model`` fits than the country's best), ``launch_year,
    last_year, n_points, last_per100, ceiling, ceiling_lo, ceiling_hi, ceiling_pct, speed, speed_lo,
    speed_hi, speed_pct, inflection_year, inflection_lo, inflection_hi, flags`` (the fit's flags plus
    ``ceiling_ci_at_bound``, :func:`ceiling_ci_at_bound`). ``*_pct`` are percentiles
    among all countries' usable fits of ``model`` (each country compared with the others; NaN for an
    unusable fit). Peers missing from ``fits`` raise :class:`KeyError`.
    """
    wanted = [iso3, *[p for p in peers if p != iso3]]
    f = fits[fits["model"] == model]
    missing = [c for c in wanted if c not in set(f["iso3"])]
    if missing:
        raise KeyError(f"no {model} fit for {missing}")
    best = best_rows(fits).set_index("iso3")["best_model"]
    ok = usable(f)
    ref = f[ok]
    rows = []
    for c in wanted:
        r = f[f["iso3"] == c].iloc[0]
        pct = {}
        for metric in ("ceiling", "speed"):
            vals = ref.loc[ref["iso3"] != c, metric].astype(float).to_numpy()
            v = float(r[metric])
            pct[metric] = (
                100.0 * (np.sum(vals < v) + 0.5 * np.sum(vals == v)) / vals.size
                if vals.size and np.isfinite(v)
                else np.nan
            )
        rows.append(
            {
                "iso3": c,
                "name": r["name"],
                "role": "focal" if c == iso3 else "peer",
                "model": model,
                "best_model": best.get(c, ""),
                "delta_aicc": r["delta_aicc"],
                "launch_year": r["first_year"],
                "last_year": r["last_year"],
                "n_points": r["n_points"],
                "last_per100": r["last_per100"],
                "ceiling": r["ceiling"],
                "ceiling_lo": r["ceiling_lo"],
                "ceiling_hi": r["ceiling_hi"],
                "ceiling_pct": pct["ceiling"],
                "speed": r["speed"],
                "speed_lo": r["speed_lo"],
                "speed_hi": r["speed_hi"],
                "speed_pct": pct["speed"],
                "inflection_year": r["inflection_year"],
                "inflection_lo": r["inflection_lo"],
                "inflection_hi": r["inflection_hi"],
                "flags": _flags(r),
                "_usable": bool(ok.loc[r.name]),
            }
        )
    out = pd.DataFrame(rows)
    out["rank_ceiling"] = (
        out["ceiling"].where(out["_usable"]).rank(ascending=False, method="min").astype("Int64")
    )
    out["rank_speed"] = out["speed"].where(out["_usable"]).rank(ascending=True, method="min").astype("Int64")
    out = out.drop(columns="_usable").sort_values(["rank_ceiling", "iso3"], na_position="last")
    cols = ["rank_ceiling", "rank_speed", *[c for c in out.columns if not c.startswith("rank_")]]
    return out[cols].reset_index(drop=True)


def external_directory(inputs: Mapping[str, Path | str]) -> Path:
    """The directory holding the files :func:`helpers.data.external.panel` reads, checked against ``inputs``.

    ``inputs`` maps :data:`helpers.data.external.FILES` keys (``wb_mobile_per100``, ``gm_mobile_total``,
    ``gm_countries``, ``wb_population``, ``owid_population``) to paths. All must sit in one directory under
    their standard names (the readers look them up by name); otherwise :class:`ValueError` says which.
    """
    from helpers.data.external import FILES

    need = ("wb_mobile_per100", "gm_mobile_total", "gm_countries", "wb_population", "owid_population")
    missing = [k for k in need if k not in inputs]
    if missing:
        raise ValueError(f"inputs lack {missing}: every file the panel reads must be declared")
    paths = {k: Path(v) for k, v in inputs.items()}
    directory = paths[need[0]].parent
    bad = [f"{k}={v.name}" for k, v in paths.items() if k not in FILES or v != directory / FILES[k]]
    if bad:
        raise ValueError(
            f"inputs must be {directory.name}/<standard name> (helpers.data.external.FILES): {bad}"
        )
    return directory


def missing_years(panel_df: pd.DataFrame, iso3: str, threshold: float = 1.0) -> list[int]:
    """Years between ``iso3``'s launch and its last published year that the panel does not publish."""
    first, t, _y = P.country_series(panel_df, iso3, threshold)
    if first is None:
        return []
    have = set((t + first).astype(int).tolist())
    return [y for y in range(first, first + int(t[-1]) + 1) if y not in have]


def percentile_sentence(
    rank: pd.DataFrame, model: str, name: str = "North Korea", reference: str = "all"
) -> str:
    """One sentence on the focal country's ceiling and speed percentiles under ``model`` (rows of
    :func:`rank_summary`; the ranges are its percentile intervals over the bootstrap draws)."""
    r = rank[(rank["model"] == model) & (rank["reference"] == reference)].set_index("metric")
    c, s = r.loc["ceiling"], r.loc["speed"]
    return (
        f"Under the {model} curve, {name}'s ceiling ({c['value']:.0f} per 100, 95 % CI {c['lo']:.0f}-{c['hi']:.0f}) "
        f"is at the {ordinal(c['percentile'])} percentile of the {int(c['n_countries'])} countries with a usable "
        f"fit (median {c['median']:.0f}; 95 % interval {ordinal(c['percentile_lo'])}-{ordinal(c['percentile_hi'])} "
        f"over the bootstrap draws), and its speed ({s['value']:.0f} years from 10 % to 90 % of the ceiling, CI "
        f"{s['lo']:.0f}-{s['hi']:.0f}; median {s['median']:.0f}) at the {ordinal(s['percentile'])} "
        f"({ordinal(s['percentile_lo'])}-{ordinal(s['percentile_hi'])}): slower than "
        f"{s['percentile']:.0f} % of countries."
    )


def robustness_sentence(rank: pd.DataFrame, name: str = "North Korea") -> str:
    """How far the focal country's percentiles move across models (rows of :func:`rank_summary`) and
    between the ``all`` and ``s_shaped`` reference sets, at the point estimates (no claim of robustness:
    the intervals of :func:`percentile_intervals` carry the uncertainty)."""
    parts = []
    for ref, label in (
        ("all", "against all usable fits"),
        ("s_shaped", "without the countries whose series declined"),
    ):
        r = rank[rank["reference"] == ref]
        if r.empty:
            continue
        c = r.loc[r["metric"] == "ceiling", "percentile"]
        sp = r.loc[r["metric"] == "speed", "percentile"]
        parts.append(
            f"{label}, the ceiling percentile ranges from {c.min():.1f} to {c.max():.1f} and the speed percentile "
            f"from {sp.min():.0f} to {sp.max():.0f}"
        )
    models = ", ".join(dict.fromkeys(rank["model"]))
    head = f"{name}'s percentiles at the point estimates, across models ({models}): "
    return head + "; ".join(parts) + " (with their uncertainty: see the intervals below)."


# ------------------------------------------------------------------------------------------------ bands
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
    the bootstrap refits behind the table (:func:`helpers.panel.fit_panel` with ``keep_draws=True``):
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


# ------------------------------------------------------------------------------------------------ percentile interval
def metric_draws(draws: P.PanelDraws, iso3s: Sequence[str], model: str) -> dict[str, dict[str, np.ndarray]]:
    """Bootstrap draws of the derived quantities for each country in ``iso3s`` under ``model``.

    ``{iso3: {"ceiling": ..., "speed": ..., "rate": ..., "inflection_t": ...}}``, each of length
    ``draws.n_bootstrap`` in resample order: the refits behind the fit table
    (:meth:`helpers.panel.PanelDraws.metrics`), so their percentile intervals equal the table's
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
    :func:`helpers.panel.rank_table`: share of the ``m + k`` reference values below the focal value, ties
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
    usable fit of ``model`` other than ``iso3``, as in :func:`helpers.panel.rank_table`). One row per
    metric, :data:`PERCENTILE_COLUMNS`: ``value`` (point estimate), ``lo, hi`` (``iso3``'s interval from
    the draws, equal to the fit table's), ``percentile`` (at the point estimates, as
    :func:`helpers.panel.rank_table`), ``percentile_lo, percentile_hi`` (the ``level`` interval of the
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


# ------------------------------------------------------------------------------------------------ counterfactual
def counterfactual(
    fits: pd.DataFrame,
    panel_df: pd.DataFrame,
    iso3: str,
    peers: Sequence[str],
    horizon_year: int,
    model: str = "logistic",
    threshold: float = 1.0,
    band: tuple[float, float] = (0.25, 0.75),
) -> pd.DataFrame:
    """:func:`helpers.panel.counterfactual` up to the calendar year ``horizon_year`` (converted to years
    since ``iso3``'s launch), with ``attrs["model"]`` and ``attrs["band"]`` (words for the ``band``
    quantiles across peers: ``(0.25, 0.75)`` the interquartile range, ``(0, 1)`` the range) set. Raises
    :class:`ValueError` if ``horizon_year`` precedes the launch."""
    first, _t, _y = P.country_series(panel_df, iso3, threshold)
    if first is None:
        raise ValueError(f"{iso3} never reaches {threshold} per 100 in the panel")
    if int(horizon_year) < first:
        raise ValueError(f"horizon {horizon_year} precedes {iso3}'s launch in {first}")
    cf = panel_peers.counterfactual(
        fits, panel_df, iso3=iso3, peers=list(peers), horizon=int(horizon_year) - first, model=model,
        threshold=threshold, band=band,
    )  # fmt: skip
    cf.attrs["model"] = model
    cf.attrs["band"] = _band_words(band)
    return cf


def _band_words(band: tuple[float, float]) -> str:
    lo, hi = float(band[0]), float(band[1])
    if (lo, hi) == (0.25, 0.75):
        return "interquartile range across peers"
    if (lo, hi) == (0.0, 1.0):
        return "range across peers"
    return f"{100 * lo:g}-{100 * hi:g} % range across peers"


def launch_years(panel_df: pd.DataFrame, threshold: float = 1.0) -> pd.Series:
    """Each country's launch year (first year at or above ``threshold`` per 100, as
    :func:`helpers.panel.country_series`), indexed by ``iso3``; countries that never reach it are absent."""
    out = {}
    groups = P.by_country(panel_df)
    for c in sorted(panel_df["iso3"].dropna().unique()):
        first, _t, _y = P.country_series(groups[str(c)], c, threshold)
        if first is not None:
            out[str(c)] = int(first)
    return pd.Series(out, dtype="int64", name="launch_year")


def same_era(
    launch: Mapping[str, int] | pd.Series, iso3: str, candidates: Sequence[str], years: int
) -> list[str]:
    """The ``candidates`` whose launch year lies within ``years`` of ``iso3``'s (both ends included), in
    the order given; ``iso3`` itself and candidates without a launch year are left out.

    The rule of the same-era counterfactual: peers whose mobile penetration first crossed the threshold
    within +-``years`` of the focal country's launch, so that they diffused with handsets, prices and
    network technology of the same period. Raises :class:`KeyError` if ``iso3`` has no launch year.
    """
    launch = pd.Series(launch) if not isinstance(launch, pd.Series) else launch
    if iso3 not in launch.index:
        raise KeyError(f"{iso3} has no launch year (never reaches the threshold)")
    if int(years) < 0:
        raise ValueError(f"years must be >= 0, got {years}")
    me = int(launch[iso3])
    return [
        c for c in dict.fromkeys(candidates)
        if c != iso3 and c in launch.index and abs(int(launch[c]) - me) <= int(years)
    ]  # fmt: skip


def peer_values(
    fits: pd.DataFrame,
    panel_df: pd.DataFrame,
    peers: Sequence[str],
    years_after_launch: int,
    model: str = "logistic",
    threshold: float = 1.0,
) -> pd.DataFrame:
    """Each peer's fitted ``model`` curve ``years_after_launch`` years after its own launch: ``iso3,
    launch_year, value, last_observed_year, observed`` (``observed``: True when that year lies within the
    peer's own data, False when the curve extrapolates). Peers without a usable fit are skipped (as in
    :func:`helpers.panel.counterfactual`)."""
    src = fits[(fits["model"] == model) & usable(fits)] if model != "best" else (
        best_rows(fits).assign(model=lambda d: d["best_model"]).pipe(lambda d: d[usable(d)])
    )  # fmt: skip
    rows = []
    for p in peers:
        r = src[src["iso3"] == p]
        first, t, _y = P.country_series(panel_df, p, threshold)
        if r.empty or first is None:
            continue
        r = r.iloc[0]
        m = MODELS[str(r["model"])]
        theta = [float(r[f"p_{n}"]) for n in m.param_names]
        value = float(m.f(np.array([float(years_after_launch)]), *theta)[0])
        rows.append({"iso3": p, "launch_year": int(first), "value": value, "last_observed_year": int(first + t[-1]),
                     "observed": bool(years_after_launch <= t[-1])})  # fmt: skip
    return pd.DataFrame(rows, columns=["iso3", "launch_year", "value", "last_observed_year", "observed"])


def era_sensitivity(
    fits: pd.DataFrame,
    panel_df: pd.DataFrame,
    iso3: str,
    pools: Mapping[str, Sequence[str]],
    windows: Sequence[int],
    horizon_year: int,
    model: str = "logistic",
    threshold: float = 1.0,
) -> pd.DataFrame:
    """The same-era counterfactual at ``horizon_year`` for every candidate ``pool`` (e.g. the named peers,
    every country) and every window (+-years around ``iso3``'s launch).

    Columns ``pool, window, n_peers, peers, median, min, p25, p75, max``: the median and spread across the
    peers' fitted curves ``horizon_year - launch`` years after their own launch. Windows with no usable
    peer get ``n_peers = 0`` and NaN values.
    """
    launch = launch_years(panel_df, threshold)
    h = int(horizon_year) - int(launch[iso3])
    rows = []
    for pool, cands in pools.items():
        for w in windows:
            peers = same_era(launch, iso3, cands, int(w))
            pv = peer_values(fits, panel_df, peers, h, model, threshold)
            v = pv["value"].to_numpy(dtype=float)
            q = np.quantile(v, [0.0, 0.25, 0.5, 0.75, 1.0]) if v.size else np.full(5, np.nan)
            rows.append({"pool": pool, "window": int(w), "n_peers": int(v.size), "peers": ",".join(pv["iso3"]),
                         "median": q[2], "min": q[0], "p25": q[1], "p75": q[3], "max": q[4]})  # fmt: skip
    return pd.DataFrame(
        rows, columns=["pool", "window", "n_peers", "peers", "median", "min", "p25", "p75", "max"]
    )


def peer_paths(
    fits: pd.DataFrame, peers: Sequence[str], launch_year: int, horizon_year: int, model: str
) -> pd.DataFrame:
    """Each peer's fitted ``model`` curve (``"best"``: its lowest-AICc model) from its own launch, placed at
    ``launch_year``: ``iso3, model, year, value`` for ``launch_year .. horizon_year``. Peers without a usable
    fit are skipped (as in :func:`helpers.panel.counterfactual`, whose median these curves reproduce)."""
    t = np.arange(int(horizon_year) - int(launch_year) + 1, dtype=float)
    src = (
        best_rows(fits).assign(model=lambda d: d["best_model"])
        if model == "best"
        else fits[fits["model"] == model]
    )
    src = src[usable(src)]
    frames = []
    for p in peers:
        r = src[src["iso3"] == p]
        if r.empty:
            continue
        r = r.iloc[0]
        m = MODELS[str(r["model"])]
        theta = [float(r[f"p_{n}"]) for n in m.param_names]
        frames.append(pd.DataFrame({"iso3": p, "model": r["model"], "year": (t + launch_year).astype(int),
                                    "value": m.f(t, *theta)}))  # fmt: skip
    cols = ["iso3", "model", "year", "value"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def leave_one_out(
    fits: pd.DataFrame,
    panel_df: pd.DataFrame,
    iso3: str,
    peers: Sequence[str],
    horizon: int,
    model: str = "logistic",
    threshold: float = 1.0,
) -> pd.DataFrame:
    """The counterfactual at ``horizon`` years after launch with each peer left out in turn.

    Columns ``left_out, year, median, lo, hi, n_peers``; a first row ``left_out=""`` holds the full set.
    Peers :func:`helpers.panel.counterfactual` would exclude anyway still get a row (identical to the full
    set).
    """
    rows = []
    for drop in ["", *peers]:
        sub = [p for p in peers if p != drop]
        cf = panel_peers.counterfactual(
            fits, panel_df, iso3=iso3, peers=sub, horizon=horizon, model=model, threshold=threshold
        )
        last = cf.iloc[-1]
        rows.append(
            {"left_out": drop, "year": int(last["year"]), "median": float(last["median"]), "lo": float(last["lo"]),
             "hi": float(last["hi"]), "n_peers": int(last["n_peers"])}
        )  # fmt: skip
    return pd.DataFrame(rows)


def counterfactual_numbers(
    cf: pd.DataFrame,
    loo: pd.DataFrame | None = None,
    name: str = "North Korea",
    names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Numbers and an English sentence for a :func:`helpers.panel.counterfactual` result.

    Keys: ``model, launch_year, horizon_year, median, lo, hi, band, n_peers, peers, excluded,
    not_s_shaped, last_observed_year, last_observed_per100, median_at_last_observed`` and, with ``loo``
    (:func:`leave_one_out`), ``loo_min, loo_max`` (range of the median when any one peer is left out), then
    ``sentence``. ``names`` maps peer codes to display names.
    """
    names = dict(names or {})
    last = cf.iloc[-1]
    obs = cf.dropna(subset=["actual"])
    model = str(cf.attrs.get("model", ""))
    peers = list(cf.attrs.get("peers", []))
    out: dict[str, Any] = {
        "model": model,
        "launch_year": int(cf["year"].iloc[0]),
        "horizon_year": int(last["year"]),
        "median": float(last["median"]),
        "lo": float(last["lo"]),
        "hi": float(last["hi"]),
        "band": str(cf.attrs.get("band", "interquartile range across peers")),
        "n_peers": int(last["n_peers"]),
        "peers": peers,
        "excluded": list(cf.attrs.get("excluded", [])),
        "not_s_shaped": list(cf.attrs.get("not_s_shaped", [])),
        "last_observed_year": int(obs["year"].iloc[-1]) if len(obs) else None,
        "last_observed_per100": float(obs["actual"].iloc[-1]) if len(obs) else None,
        "median_at_last_observed": float(obs["median"].iloc[-1]) if len(obs) else None,
    }
    loo_txt = ""
    if loo is not None and len(loo) > 1:
        sub = loo[loo["left_out"] != ""]
        out["loo_min"], out["loo_max"] = float(sub["median"].min()), float(sub["median"].max())
        loo_txt = f"; leaving out any one peer moves it between {out['loo_min']:.0f} and {out['loo_max']:.0f}"
    peer_txt = ", ".join(names.get(p, p) for p in peers)
    obs_txt = ""
    if out["last_observed_year"] is not None:
        obs_txt = (
            f" By {out['last_observed_year']}, the last year with data, the median peer path stood at "
            f"{out['median_at_last_observed']:.0f} per 100 against the {out['last_observed_per100']:.0f} "
            f"observed."
        )
    out["sentence"] = (
        f"Had {name} followed the median of its {out['n_peers']} peers ({peer_txt}; {model} curves) from its "
        f"launch in {out['launch_year']}, it would have reached {out['median']:.0f} mobile subscriptions per "
        f"100 people by {out['horizon_year']} ({out['band']} {out['lo']:.0f}-"
        f"{out['hi']:.0f}{loo_txt}).{obs_txt} This describes the peers' paths, not what caused {name}'s."
    )
    return out


def ordinal(x: float) -> str:
    """``81.8`` -> ``"82nd"`` (rounded to the nearest integer); below 0.5 -> ``"<1st"``."""
    if float(x) < 0.5:
        return "<1st"
    n = int(round(float(x)))
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# ------------------------------------------------------------------------------------------------ writers
def write_csv(df: pd.DataFrame, path: Path | str) -> Path:
    """Write ``df`` without index, ``\\n`` line ends, 10 significant digits at most (values are rounded
    upstream; this only guards against representation noise)."""
    from helpers import io as hio

    return hio.write_csv(df, path, float_format="%.10g")


def write_json(obj: Mapping[str, Any], path: Path | str, digits: int = 4) -> Path:
    """Write ``obj`` as sorted, indented JSON; floats rounded to ``digits`` decimals, NaN -> ``null``."""
    from helpers import io as hio

    return hio.write_json(obj, path, digits=digits, sort_keys=True)


# ------------------------------------------------------------------------------------------------ figures
def _ecdf(ax: plt.Axes, vals: np.ndarray, color: str = GREY) -> None:
    v = np.sort(vals[np.isfinite(vals)])
    ax.step(v, np.arange(1, v.size + 1) / v.size, where="post", color=color, lw=1.5)


def fig_distribution(
    fits: pd.DataFrame,
    iso3: str,
    peers: Sequence[str],
    model: str = "logistic",
    names: Mapping[str, str] | None = None,
) -> plt.Figure:
    """The focal country's ceiling and speed against every other usable fit of ``model``: two ECDFs (focal value
    with its 95 % interval shaded, peers marked) and a ceiling-vs-speed scatter (log axes)."""
    names = dict(names or {})
    f = fits[(fits["model"] == model) & usable(fits) & (fits["iso3"] != iso3)]
    me = fits[(fits["model"] == model) & (fits["iso3"] == iso3)].iloc[0]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.3))
    for ax, metric, label in (
        (axes[0], "ceiling", "ceiling (subscriptions per 100)"),
        (axes[1], "speed", "years from 10 % to 90 % of ceiling"),
    ):
        vals = f[metric].astype(float).to_numpy()
        _ecdf(ax, vals)
        v = np.sort(vals[np.isfinite(vals)])
        ax.axvspan(me[f"{metric}_lo"], me[f"{metric}_hi"], color=FOCAL_COLOR, alpha=0.15, lw=0)
        ax.axvline(me[metric], color=FOCAL_COLOR, lw=2)
        for p in peers:
            r = f[f["iso3"] == p]
            if r.empty:
                continue
            x = float(r[metric].iloc[0])
            yv = np.searchsorted(v, x, side="right") / v.size
            ax.plot(x, yv, "o", color=PEER_COLOR, ms=4)
            ax.annotate(p, (x, yv), xytext=(3, -8), textcoords="offset points", fontsize=7, color=PEER_COLOR)
        ax.set_xscale("log")
        ax.set(xlabel=label, ylabel="share of countries at or below", ylim=(0, 1.02))
        ax.set_title(f"{metric}: {names.get(iso3, iso3)} (red) and {v.size} other countries", fontsize=9)
    ax = axes[2]
    ax.scatter(f["ceiling"], f["speed"], s=10, color=GREY, label="all countries")
    pe = f[f["iso3"].isin(peers)]
    ax.scatter(pe["ceiling"], pe["speed"], s=22, color=PEER_COLOR, label="peers")
    for _, r in pe.iterrows():
        ax.annotate(
            r["iso3"], (r["ceiling"], r["speed"]), xytext=(3, 2), textcoords="offset points", fontsize=7
        )
    ax.errorbar(
        me["ceiling"], me["speed"],
        xerr=[[me["ceiling"] - me["ceiling_lo"]], [me["ceiling_hi"] - me["ceiling"]]],
        yerr=[[me["speed"] - me["speed_lo"]], [me["speed_hi"] - me["speed"]]],
        fmt="o", color=FOCAL_COLOR, ms=6, capsize=2, label=f"{names.get(iso3, iso3)} (95 % CI)",
    )  # fmt: skip
    ax.set(xscale="log", yscale="log", xlabel="ceiling (per 100)", ylabel="speed (years, 10 % to 90 %)")
    ax.set_title(f"{model} fits: ceiling vs speed", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def fig_aligned(
    aligned: pd.DataFrame, background: pd.DataFrame, iso3: str, names: Mapping[str, str] | None = None
) -> plt.Figure:
    """Per-100 series on years since launch: every country in grey (``background``), the peers coloured and
    labelled at their last point, the focal country thick red (``aligned``: :func:`helpers.panel.align_on_launch`
    output for the focal country and peers)."""
    names = dict(names or {})
    fig, ax = plt.subplots(figsize=(9, 5))
    for _, g in background.groupby("iso3"):
        ax.plot(g["years_since_launch"], g["per100"], color=GREY, lw=0.5, alpha=0.35)
    cmap = plt.get_cmap("tab20")
    others = [c for c in dict.fromkeys(aligned["iso3"]) if c != iso3]
    for i, c in enumerate(others):
        g = aligned[aligned["iso3"] == c]
        ax.plot(g["years_since_launch"], g["per100"], color=cmap(i % 20), lw=1.3)
        ax.annotate(c, (g["years_since_launch"].iloc[-1], g["per100"].iloc[-1]), xytext=(2, 0),
                    textcoords="offset points", fontsize=7, color=cmap(i % 20), va="center")  # fmt: skip
    g = aligned[aligned["iso3"] == iso3]
    ax.plot(
        g["years_since_launch"],
        g["per100"],
        "o-",
        color=FOCAL_COLOR,
        lw=2.5,
        ms=4,
        label=names.get(iso3, iso3),
    )
    ax.set(
        xlabel="years since launch (first year at or above the threshold)",
        ylabel="subscriptions per 100 people",
    )
    top = float(aligned["per100"].max())
    ax.set_ylim(0, top * 1.08)
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def fig_small_multiples(
    panel_df: pd.DataFrame,
    fits: pd.DataFrame,
    bands: pd.DataFrame,
    iso3s: Sequence[str],
    model: str,
    best_curves: pd.DataFrame | None = None,
    threshold: float = 1.0,
    ncols: int = 4,
) -> plt.Figure:
    """One panel per country: observed per-100 points (hollow before launch), the ``model`` fit with its
    pointwise 95 % band (``bands`` from :func:`bootstrap_bands`), the best-AICc fit dashed, the fitted
    ceiling as a dotted line. Shared x axis (calendar years)."""
    n = len(iso3s)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.5 * nrows), sharex=True, squeeze=False)
    for ax, c in zip(axes.flat, iso3s, strict=False):
        s = panel_df[panel_df["iso3"] == c]
        hit = s.loc[s["per100"] >= threshold, "year"]
        first = hit.min() if len(hit) else np.inf
        pre = s[s["year"] < first]
        post = s[s["year"] >= first]
        ax.plot(pre["year"], pre["per100"], "o", mfc="none", color="0.5", ms=2.5)
        ax.plot(post["year"], post["per100"], "o", color="k", ms=2.5)
        b = bands[bands["iso3"] == c]
        col = FOCAL_COLOR if c == iso3s[0] else PEER_COLOR
        if len(b):
            ax.fill_between(b["year"], b["lo"], b["hi"], color=col, alpha=0.2, lw=0)
            ax.plot(b["year"], b["fit"], color=col, lw=1.5)
        if best_curves is not None:
            bb = best_curves[best_curves["iso3"] == c]
            if len(bb) and bb["model"].iloc[0] != model:
                ax.plot(bb["year"], bb["fit"], "--", color="0.3", lw=1, label=f"best: {bb['model'].iloc[0]}")
                ax.legend(fontsize=6, loc="upper left")
        r = fits[(fits["iso3"] == c) & (fits["model"] == model)]
        title = f"{c} · {s['name'].iloc[0]}" if len(s) else c
        if len(r):
            r = r.iloc[0]
            ax.axhline(r["ceiling"], color=col, ls=":", lw=0.8)
            fl = _flags(r)
            title += f"\nK={r['ceiling']:.0f} [{r['ceiling_lo']:.0f}, {r['ceiling_hi']:.0f}]" + (
                f" · {fl}" if fl else ""
            )
        ax.set_title(title, fontsize=7.5)
        ax.tick_params(labelsize=7)
        ax.set_xlim(1985, None)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("per 100", fontsize=8)
    fig.tight_layout()
    return fig


def fig_counterfactual(
    cf: pd.DataFrame,
    panel_df: pd.DataFrame,
    iso3: str,
    peer_curves: pd.DataFrame | None = None,
    alt: pd.DataFrame | None = None,
    name: str = "North Korea",
    alt_label: str | None = None,
) -> plt.Figure:
    """Observed per-100 series of ``iso3`` against the median-peer path (``cf`` from
    :func:`helpers.panel.counterfactual`) with its band; ``peer_curves`` (``iso3, year, value``)
    drawn thin, ``alt`` (another counterfactual, e.g. the same-era peers; legend ``alt_label``) dashed, its
    horizon value and band annotated."""
    fig, ax = plt.subplots(figsize=(8, 4.8))
    if peer_curves is not None:
        for _, g in peer_curves.groupby("iso3"):
            ax.plot(g["year"], g["value"], color=GREY, lw=0.7)
    ax.fill_between(
        cf["year"],
        cf["lo"],
        cf["hi"],
        color=PEER_COLOR,
        alpha=0.2,
        lw=0,
        label=f"peer {cf.attrs.get('band', 'interquartile range across peers').replace(' across peers', '')}",
    )
    ax.plot(
        cf["year"], cf["median"], color=PEER_COLOR, lw=2, label=f"median peer ({cf.attrs.get('model', '')})"
    )
    if alt is not None:
        ax.plot(alt["year"], alt["median"], "--", color="k", lw=1.4,
                label=alt_label or f"median peer ({alt.attrs.get('model', '')})")  # fmt: skip
        end = alt.iloc[-1]
        ax.annotate(f"{end['median']:.0f} [{end['lo']:.0f}-{end['hi']:.0f}]", (end["year"], end["median"]),
                    xytext=(4, -10), textcoords="offset points", fontsize=8, color="k", va="center")  # fmt: skip
    s = panel_df[(panel_df["iso3"] == iso3) & (panel_df["year"] >= cf["year"].min() - 2)]
    ax.plot(s["year"], s["per100"], "o-", color=FOCAL_COLOR, lw=2, ms=4, label=f"{name} (observed)")
    last = cf.iloc[-1]
    ax.annotate(f"{last['median']:.0f} [{last['lo']:.0f}-{last['hi']:.0f}]", (last["year"], last["median"]),
                xytext=(4, 0), textcoords="offset points", fontsize=8, color=PEER_COLOR, va="center")  # fmt: skip
    ax.set(xlabel="year", ylabel="subscriptions per 100 people", ylim=(0, None))
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def display_comparison(comparison: pd.DataFrame) -> pd.DataFrame:
    """A compact, readable version of :func:`comparison_table` for the notebook (strings with intervals)."""

    def ci(v: float, lo: float, hi: float, fmt: str = "{:.0f}") -> str:
        if not np.isfinite(v):
            return ""
        return fmt.format(v) + (f" [{fmt.format(lo)}, {fmt.format(hi)}]" if np.isfinite(lo) else "")

    c = comparison
    return pd.DataFrame(
        {
            "rank": [("–" if pd.isna(x) else str(int(x))) for x in c["rank_ceiling"]],
            "country": c["name"] + " (" + c["iso3"] + ")",
            "launch": [("" if pd.isna(x) else str(int(x))) for x in c["launch_year"]],
            "last year": [("" if pd.isna(x) else str(int(x))) for x in c["last_year"]],
            "per 100, last": c["last_per100"].map("{:.0f}".format),
            "ceiling [95 % CI]": [ci(r.ceiling, r.ceiling_lo, r.ceiling_hi) for r in c.itertuples()],
            "ceiling pct": c["ceiling_pct"].map("{:.0f}".format),
            "years 10→90 % [95 % CI]": [
                ci(r.speed, r.speed_lo, r.speed_hi, "{:.1f}") for r in c.itertuples()
            ],
            "speed pct": c["speed_pct"].map("{:.0f}".format),
            "inflection [95 % CI]": [
                ci(r.inflection_year, r.inflection_lo, r.inflection_hi) for r in c.itertuples()
            ],
            "best AICc": c["best_model"],
            "flags": c["flags"],
        }
    )


# ------------------------------------------------------------------------------------------------ contract
def point_percentiles(rank: pd.DataFrame, reference: str = "all") -> dict[str, dict[str, PointPercentile]]:
    """Rows of :func:`rank_summary` for one ``reference`` set as model -> metric -> :class:`PointPercentile`."""
    out: dict[str, dict[str, PointPercentile]] = {}
    for _, r in rank[rank["reference"] == reference].iterrows():
        out.setdefault(str(r["model"]), {})[str(r["metric"])] = PointPercentile(
            value=float(r["value"]), lo=float(r["lo"]), hi=float(r["hi"]), percentile=float(r["percentile"]),
            n_countries=int(r["n_countries"]), median=float(r["median"]),
        )  # fmt: skip
    return out


def interval_percentiles(table: pd.DataFrame) -> dict[str, dict[str, PercentileInterval]]:
    """Rows of :func:`percentile_intervals` as model -> metric -> :class:`PercentileInterval`."""
    out: dict[str, dict[str, PercentileInterval]] = {}
    for _, r in table.iterrows():
        out.setdefault(str(r["model"]), {})[str(r["metric"])] = PercentileInterval(
            value=float(r["value"]), lo=float(r["lo"]), hi=float(r["hi"]), percentile=float(r["percentile"]),
            percentile_lo=float(r["percentile_lo"]), percentile_hi=float(r["percentile_hi"]),
            level=float(r["level"]), n_countries=int(r["n_countries"]), n_uncertain=int(r["n_uncertain"]),
            n_draws=int(r["n_draws"]),
        )  # fmt: skip
    return out


def counterfactual_contract(
    nums: Mapping[str, Any], rule: str, values: pd.DataFrame | None = None
) -> Counterfactual:
    """A :func:`counterfactual_numbers` dict as a typed :class:`Counterfactual` (``rule``: how the peers were
    chosen, in words; ``values``: :func:`peer_values` at the horizon, giving ``peer_values`` and
    ``extrapolated``)."""
    values = values if values is not None else pd.DataFrame(columns=["iso3", "value", "observed"])

    def opt(k: str) -> float | None:
        v = nums.get(k)
        return None if v is None or not np.isfinite(float(v)) else float(v)

    return Counterfactual(
        model=str(nums["model"]), rule=rule, launch_year=int(nums["launch_year"]),
        horizon_year=int(nums["horizon_year"]), median=float(nums["median"]), lo=float(nums["lo"]),
        hi=float(nums["hi"]), band=str(nums["band"]), n_peers=int(nums["n_peers"]),
        peers=[str(p) for p in nums["peers"]],
        peer_values={str(r.iso3): float(r.value) for r in values.itertuples()},
        extrapolated=[str(r.iso3) for r in values.itertuples() if not bool(r.observed)],
        excluded=[str(p) for p in nums.get("excluded", [])],
        not_s_shaped=[str(p) for p in nums.get("not_s_shaped", [])],
        last_observed_year=None if nums.get("last_observed_year") is None else int(nums["last_observed_year"]),
        last_observed_per100=opt("last_observed_per100"), median_at_last_observed=opt("median_at_last_observed"),
        loo_min=opt("loo_min"), loo_max=opt("loo_max"), sentence=str(nums["sentence"]),
    )  # fmt: skip


def percentile_interval_sentence(
    pi: PercentileInterval, model: str, metric: str = "ceiling", name: str = "North Korea"
) -> str:
    """The focal country's ceiling (or speed) percentile with its interval, in words, without over-claiming:
    ``"... lower than that of 94-99.5 % of the 209 countries ..."``."""
    pct = f"{100 * pi.level:.0f} %"
    if metric == "ceiling":
        share = f"{100 - pi.percentile_hi:.0f}-{100 - pi.percentile_lo:.1f} %"
        what = (
            f"{name}'s ceiling ({pi.value:.0f} per 100, {pct} interval {pi.lo:.0f}-{pi.hi:.0f}) is lower than "
            f"that of {share} of the {pi.n_countries} countries with a usable fit (point estimates: "
            f"{100 - pi.percentile:.0f} %)"
        )
    else:
        share = f"{pi.percentile_lo:.0f}-{pi.percentile_hi:.0f} %"
        what = (
            f"{name}'s rise from 10 % to 90 % of its ceiling ({pi.value:.0f} years, {pct} interval "
            f"{pi.lo:.0f}-{pi.hi:.0f}) is slower than that of {share} of the {pi.n_countries} countries "
            f"(point estimates: {pi.percentile:.0f} %)"
        )
    return (
        f"Under the {model} curve, {what}. The range is the {pct} interval of the percentile over {name}'s "
        f"{pi.n_draws} bootstrap draws, each ranked against the other countries; the {pi.n_uncertain} countries "
        f"whose own interval overlaps {name}'s enter with their own draws."
    )


def era_rows(sens: pd.DataFrame) -> list[EraRow]:
    """Rows of :func:`era_sensitivity` as typed :class:`EraRow` (values ``None`` where no peer qualifies)."""

    def v(x: float) -> float | None:
        return float(x) if np.isfinite(float(x)) else None

    return [
        EraRow(pool=str(r.pool), window=int(r.window), n_peers=int(r.n_peers),
               peers=[x for x in str(r.peers).split(",") if x], median=v(r.median), min=v(r.min), max=v(r.max))
        for r in sens.itertuples()
    ]  # fmt: skip
