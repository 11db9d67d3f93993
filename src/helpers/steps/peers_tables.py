"""The tables of step 03 (North Korea against the ITU panel): fit table, flags, best fits, peer comparison.

The fitting itself lives in :mod:`helpers.models.panel`; this module turns its results into the step's tables:
:func:`format_fits` (the full fit table rounded for ``peer_fits.csv``), :func:`flag_counts` and
:func:`flagged_countries` (how many fits each flag marks, and which countries: nothing is dropped silently),
:func:`best_rows` (each country's lowest-AICc fit as a pseudo-model ``"best"``), :func:`comparison_table`
(the focal country and its peers side by side, ``peer_comparison.csv``) and :func:`display_comparison`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers.models import panel as P
from helpers.models import panel_fit
from helpers.models.registry import MODELS

#: Flags of :func:`helpers.models.panel.fit_panel`, in reporting order.
FLAGS: tuple[str, ...] = ("too_few_points", "no_convergence", "not_s_shaped", "ceiling_at_bound")


#: Decimal places per column of the written fit table (everything else: 6 significant digits).
_DECIMALS: dict[str, int] = {
    "last_per100": 3, "peak_per100": 3, "rss": 4, "aicc": 3, "delta_aicc": 3,
    "ceiling": 3, "ceiling_lo": 3, "ceiling_hi": 3, "speed": 3, "speed_lo": 3, "speed_hi": 3,
    "inflection_year": 2, "inflection_lo": 2, "inflection_hi": 2,
}  # fmt: skip


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
    """Fits usable as a reference (same rule as :func:`helpers.models.panel_peers.rank_table`): converged, enough points,
    ceiling not on its bound."""
    return (
        fits["converged"].astype(bool)
        & ~fits["too_few_points"].astype(bool)
        & ~fits["ceiling_at_bound"].astype(bool)
        & ~fits["no_convergence"].astype(bool)
    )


def ceiling_ci_at_bound(fits: pd.DataFrame, ceiling_factor: float | None = None) -> pd.Series:
    """Fits whose ceiling *interval* reaches the ceiling's upper bound (``ceiling_factor`` x the series peak,
    default that of :class:`helpers.models.panel_fit.FitOptions`) although the point estimate does not.

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


def flag_names(row: pd.Series) -> str:
    """The flags one fit row carries, comma-separated (``ceiling_ci_at_bound`` included)."""
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
                "flags": flag_names(r),
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
