"""Comparing countries with the panel fits (notebook 03): series aligned on launch, rank table, counterfactual.

:func:`align_on_launch` (series in years since launch), :func:`rank_table` (where one country's ceiling
and speed fall among all countries) and :func:`counterfactual` (the median peer curve placed at one
country's launch).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from helpers.models.panel import country_series
from helpers.models.registry import MODELS

__all__ = ["align_on_launch", "counterfactual", "rank_table"]


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
