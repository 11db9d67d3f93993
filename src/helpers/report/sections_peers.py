"""The report's prose on the peer comparison (step 03): North Korea among all countries and the counterfactual paths
of its peers, filled into ``templates/peers.md.j2`` and ``templates/abstract_peers.md.j2``.

The percentiles are quoted as intervals (the focal country's bootstrap draws ranked against the other countries,
:func:`helpers.steps.peers_intervals.percentile_intervals`); the headline counterfactual uses the same-era peers and the
text says it describes peers, not a cause.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from helpers.report.provenance import Provenance, esc, model_name
from helpers.report.text import Quoted, quoter, render
from helpers.steps.contracts_peers import PeerSummary, PercentileInterval

PEER_FILE = "data/processed/peer_summary.json"


def load_peer_summary(summary: PeerSummary | Mapping[str, Any], file: str = PEER_FILE) -> PeerSummary:
    """``summary`` as a validated :class:`~helpers.steps.contracts_peers.PeerSummary` (a parsed JSON mapping is
    checked against the contract; errors name ``file`` and the field)."""
    return summary if isinstance(summary, PeerSummary) else PeerSummary.from_dict(summary, source=file)


def share_range(pi: PercentileInterval, metric: str) -> str:
    """``"94–99.5"``: share of countries above (ceiling) or below (speed) the focal country, over its interval.

    The end near 100 gets one decimal when it would otherwise round to 100."""
    if metric == "ceiling":
        lo, hi = 100 - pi.percentile_hi, 100 - pi.percentile_lo
    else:
        lo, hi = pi.percentile_lo, pi.percentile_hi
    hi_t = f"{hi:.0f}" if round(hi) < 100 or hi >= 100 else f"{hi:.1f}"
    return f"{lo:.0f}–{hi_t}"


def _range(q: Any, lo: float, hi: float, path: str, label: str) -> Quoted:
    return q(f"{lo:.0f}–{hi:.0f}", "", label, f"{path}.lo, {path}.hi")


def peers_paragraphs(
    summary: PeerSummary | Mapping[str, Any], comparison: pd.DataFrame, p: Provenance, file: str = PEER_FILE
) -> str:
    """North Korea against every country and its peers, and the counterfactuals, every number registered."""
    s = load_peer_summary(summary, file)
    q = quoter(p, f"step 03: {file}")
    model, name = s.comparison_model, s.focal_name
    pc, ps = s.percentiles[model]["ceiling"], s.percentiles[model]["speed"]
    ints = s.percentile_intervals[model]
    base, ibase = f"percentiles.{model}", f"percentile_intervals.{model}"
    ic = ints["ceiling"]
    ceiling = {
        "value": q(pc.value, "{:.0f}", f"{name} {model} ceiling per 100", f"{base}.ceiling.value"),
        "range": _range(q, pc.lo, pc.hi, f"{base}.ceiling", f"{name} {model} ceiling per 100, interval"),
        "median": q(pc.median, "{:.0f}", f"median {model} ceiling per 100", f"{base}.ceiling.median"),
        "n_countries": q(pc.n_countries, "{:.0f}", "countries with a usable fit", f"{base}.ceiling.n_countries"),
        "share": q(share_range(ic, "ceiling"), "", f"countries with a higher {model} ceiling (%), interval",
                   f"100 − {ibase}.ceiling.percentile_hi, 100 − {ibase}.ceiling.percentile_lo"),
        "level": f"{100 * ic.level:.0f}%",
        "n_draws": q(ic.n_draws, "{:.0f}", "bootstrap draws of the focal ceiling", f"{ibase}.ceiling.n_draws"),
        "n_uncertain": q(ic.n_uncertain, "{:.0f}", "countries entering with their own draws",
                         f"{ibase}.ceiling.n_uncertain"),
        "point_share": q(100 - pc.percentile, "{:.0f}", f"countries with a higher {model} ceiling (%), point estimates",
                         f"100 − {base}.ceiling.percentile"),
    }  # fmt: skip
    best_fit = None
    best = s.fits.focal_best_model
    if best != model and best in s.percentile_intervals and "ceiling" in s.percentile_intervals[best]:
        ib = s.percentile_intervals[best]["ceiling"]
        best_fit = {
            "model": model_name(best),
            "range": _range(q, ib.lo, ib.hi, f"percentile_intervals.{best}.ceiling",
                            f"{name} {best} ceiling per 100, interval"),
            "share": q(share_range(ib, "ceiling"), "", f"countries with a higher {best} ceiling (%), interval",
                       f"100 − percentile_intervals.{best}.ceiling.percentile_hi, 100 − …percentile_lo"),
        }  # fmt: skip
    speed = {
        "value": q(ps.value, "{:.0f}", f"{name} years from 10% to 90% of ceiling", f"{base}.speed.value"),
        "range": _range(q, ps.lo, ps.hi, f"{base}.speed", f"{name} years from 10% to 90%, interval"),
        "median": q(ps.median, "{:.0f}", "median years from 10% to 90% of ceiling", f"{base}.speed.median"),
        "share": q(share_range(ints["speed"], "speed"), "", f"countries faster than {name} (%), interval",
                   f"{ibase}.speed.percentile_lo, {ibase}.speed.percentile_hi") if "speed" in ints else None,
        "point_share": q(ps.percentile, "{:.0f}", f"countries faster than {name} (%)", f"{base}.speed.percentile")
        if "speed" not in ints else None,
    }  # fmt: skip
    return render(
        "peers",
        name=name,
        model=model_name(model),
        n_panel=q(s.panel.n_countries, "{:.0f}", "countries in the ITU panel", "panel.n_countries"),
        ceiling=ceiling,
        best_fit=best_fit,
        speed=speed,
        cf=_counterfactual(s, comparison, q),
    )


def _counterfactual(s: PeerSummary, comparison: pd.DataFrame, q: Any) -> dict[str, Any]:
    """The quoted values of the counterfactual paragraph."""
    era, c_all, se = s.counterfactual_same_era, s.counterfactual, s.same_era
    ce, ca = "counterfactual_same_era", "counterfactual"
    names = dict(zip(comparison["iso3"], comparison["name"], strict=False)) if "iso3" in comparison else {}
    w = se.window_years
    return {
        "n_named": q(len(se.peer_launch_years), "{:.0f}", "named peers", "number of same_era.peer_launch_years"),
        "n_era": q(era.n_peers, "{:.0f}", "same-era peers", f"{ce}.n_peers"),
        "n_era_plain": era.n_peers,
        "window": w,
        "launch_year": se.focal_launch_year,
        "peers": [(esc(str(names.get(c, c))), se.peer_launch_years.get(c, "?")) for c in era.peers],
        "median": q(era.median, "{:.0f}", "same-era counterfactual per 100 at the horizon", f"{ce}.median"),
        "horizon": era.horizon_year,
        "band": era.band,
        "range": _range(q, era.lo, era.hi, ce, "same-era counterfactual per 100, range across peers"),
        "loo": q(f"{era.loo_min:.0f}–{era.loo_max:.0f}", "", "same-era counterfactual, leaving out one peer",
                 f"{ce}.loo_min, {ce}.loo_max") if era.loo_min is not None and era.loo_max is not None else None,
        "n_extrapolated": q(len(era.extrapolated), "{:.0f}", "same-era peers extrapolated to the horizon",
                            f"number of {ce}.extrapolated") if era.extrapolated else None,
        "last_observed": {
            "year": era.last_observed_year,
            "path": q(era.median_at_last_observed, "{:.0f}", "same-era path per 100 in the last observed year",
                      f"{ce}.median_at_last_observed"),
            "observed": q(era.last_observed_per100, "{:.0f}", f"{s.focal_name} per 100, last observed year",
                          f"{ce}.last_observed_per100"),
        } if era.last_observed_year is not None and era.median_at_last_observed is not None else None,
        "windows": [
            {"window": r.window, "n_peers": r.n_peers,
             "median": q(r.median, "{:.0f}", f"same-era counterfactual, window ±{r.window}",
                         f"same_era.sensitivity (window {r.window}).median")}
            for r in se.sensitivity if r.pool == se.pool and r.window != w and r.median is not None
        ],
        "pools": [
            {"pool": r.pool,
             "n_peers": q(r.n_peers, "{:.0f}", f"countries launched within ±{w} years ({r.pool})",
                          f"same_era.sensitivity ({r.pool}, window {w}).n_peers"),
             "median": q(r.median, "{:.0f}", f"same-era counterfactual, {r.pool}",
                         f"same_era.sensitivity ({r.pool}, window {w}).median")}
            for r in se.sensitivity if r.pool != se.pool and r.window == w and r.median is not None
        ],
        "n_all": q(c_all.n_peers, "{:.0f}", "peers in the all-peer counterfactual", f"{ca}.n_peers"),
        "median_all": q(c_all.median, "{:.0f}", "all-peer counterfactual per 100 at the horizon", f"{ca}.median"),
        "range_all": _range(q, c_all.lo, c_all.hi, ca, "all-peer counterfactual, interquartile range"),
    }  # fmt: skip


def abstract_peers(summary: PeerSummary | Mapping[str, Any], p: Provenance, file: str = PEER_FILE) -> str:
    """One abstract paragraph on the peer comparison (same registered numbers as :func:`peers_paragraphs`)."""
    s = load_peer_summary(summary, file)
    q = quoter(p, f"step 03: {file}")
    model, name = s.comparison_model, s.focal_name
    pc = s.percentiles[model]["ceiling"]
    ic = s.percentile_intervals[model]["ceiling"]
    era = s.counterfactual_same_era
    base, ibase = f"percentiles.{model}", f"percentile_intervals.{model}"
    return render(
        "abstract_peers",
        name=name,
        n_countries=q(pc.n_countries, "{:.0f}", "countries with a usable fit", f"{base}.ceiling.n_countries"),
        ceiling=q(pc.value, "{:.0f}", f"{name} {model} ceiling per 100", f"{base}.ceiling.value"),
        share=q(share_range(ic, "ceiling"), "", f"countries with a higher {model} ceiling (%), interval",
                f"100 − {ibase}.ceiling.percentile_hi, 100 − {ibase}.ceiling.percentile_lo"),
        n_peers=q(era.n_peers, "{:.0f}", "same-era peers", "counterfactual_same_era.n_peers"),
        window=s.same_era.window_years,
        median=q(era.median, "{:.0f}", "same-era counterfactual per 100 at the horizon", "counterfactual_same_era.median"),
        horizon=era.horizon_year,
    )  # fmt: skip
