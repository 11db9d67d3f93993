"""The summary of step 03: the parts of the typed ``PeerSummary`` and the sentences on the percentiles.

:func:`point_percentiles`, :func:`interval_percentiles`, :func:`counterfactual_contract` and :func:`era_rows`
turn the step's tables into :mod:`helpers.steps.contracts_peers` types; :func:`percentile_sentence`,
:func:`robustness_sentence` and :func:`percentile_interval_sentence` say the percentiles in words.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from helpers.steps.contracts_peers import Counterfactual, EraRow, PercentileInterval, PointPercentile


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


def era_rows(sens: pd.DataFrame) -> list[EraRow]:
    """Rows of :func:`era_sensitivity` as typed :class:`EraRow` (values ``None`` where no peer qualifies)."""

    def v(x: float) -> float | None:
        return float(x) if np.isfinite(float(x)) else None

    return [
        EraRow(pool=str(r.pool), window=int(r.window), n_peers=int(r.n_peers),
               peers=[x for x in str(r.peers).split(",") if x], median=v(r.median), min=v(r.min), max=v(r.max))
        for r in sens.itertuples()
    ]  # fmt: skip


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


def ordinal(x: float) -> str:
    """``81.8`` -> ``"82nd"`` (rounded to the nearest integer); below 0.5 -> ``"<1st"``."""
    if float(x) < 0.5:
        return "<1st"
    n = int(round(float(x)))
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
