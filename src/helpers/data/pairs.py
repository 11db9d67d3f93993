"""Figures of one family that disagree about roughly the same period (step 01), unfiltered.

:func:`reconcile` lists every such pair with the spread and a plain-words explanation generated from the
rows (:func:`explain_disagreement`); :func:`overlapping_pairs` finds the pairs of periods that overlap or
lie close, on arrays. The curated comparison the report uses is :func:`helpers.data.reconcile.reconcile_sources`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from helpers.data.cleaning import blank, scope_parts

# --------------------------------------------------------------------------- reconciliation

#: Indicators compared with each other, by family (the unit of the comparison).
FAMILIES: dict[str, list[str]] = {
    "mobile count": ["mobile_subscriptions", "mobile_users"],
    "mobile share (%)": [
        "mobile_penetration_pct",
        "mobile_ownership_pct",
        "households_with_mobile_pct",
    ],
}

_DEFINITIONS = {
    "mobile_subscriptions": "subscriptions (SIM cards)",
    "mobile_users": "unique users (people)",
    "mobile_penetration_pct": "subscriptions per 100 people",
    "mobile_ownership_pct": "share of people who own a phone",
    "households_with_mobile_pct": "share of households with a phone",
}


def itu_as_observations(itu: pd.DataFrame) -> pd.DataFrame:
    """The ITU series as pseudo-observations (end-of-year counts and per-100 values), for :func:`reconcile`."""
    rows = []
    for _, r in itu.iterrows():
        y = int(r["year"])
        end = pd.Timestamp(f"{y}-12-31")
        base = {
            "source_id": "ITU",
            "quote": str(r.get("source", "ITU")),
            "period_start": end,
            "period_end": end,
            "scope": "national",
            "subgroup": np.nan,
            "qualifier": "exact",
            "value_low": np.nan,
            "value_high": np.nan,
        }
        if not pd.isna(r.get("subscriptions")) and r["subscriptions"] > 0:
            rows.append({**base, "obs_id": f"ITU-{y}-subs", "indicator": "mobile_subscriptions",
                         "value": float(r["subscriptions"]), "unit": "subscriptions"})  # fmt: skip
        if not pd.isna(r.get("per100")) and r["per100"] > 0:
            rows.append({**base, "obs_id": f"ITU-{y}-per100", "indicator": "mobile_penetration_pct",
                         "value": float(r["per100"]), "unit": "percent"})  # fmt: skip
    return pd.DataFrame(rows)


def value_interval(row: pd.Series) -> tuple[float, float, float]:
    """(representative value, low, high) of an observation; open ends are ±inf."""
    q, v, lo, hi = row["qualifier"], row["value"], row["value_low"], row["value_high"]
    if q == "range":
        return (lo + hi) / 2, lo, hi
    if q == "at_least":
        x = lo if not pd.isna(lo) else v
        return x, x, math.inf
    if q == "at_most":
        x = hi if not pd.isna(hi) else v
        return x, -math.inf, x
    return v, v, v


def period_text(row: pd.Series) -> str:
    """An observation's period as ``YYYY-MM-DD`` or ``YYYY-MM-DD..YYYY-MM-DD``."""
    s, e = pd.Timestamp(row["period_start"]), pd.Timestamp(row["period_end"])
    return f"{s:%Y-%m-%d}" if s == e else f"{s:%Y-%m-%d}..{e:%Y-%m-%d}"


def scope_text(row: pd.Series) -> str:
    """An observation's scope in words (``national``, ``operator Koryolink only``, ...)."""
    kind, name = scope_parts(row["scope"])
    text = "national" if kind == "national" else f"{kind} {name.title()} only"
    return text + (f", {row['subgroup']}" if not blank(row.get("subgroup")) else "")


def explain_disagreement(a: pd.Series, b: pd.Series) -> str:
    """Plain-words reasons two observations may differ, generated from their fields."""
    reasons = []
    if a["scope"] != b["scope"] or str(a.get("subgroup")) != str(b.get("subgroup")):
        reasons.append(f"different coverage ({scope_text(a)} vs {scope_text(b)})")
    if a["indicator"] != b["indicator"]:
        reasons.append(
            f"different definitions ({_DEFINITIONS.get(a['indicator'], a['indicator'])} vs "
            f"{_DEFINITIONS.get(b['indicator'], b['indicator'])})"
        )
    if (a["period_start"], a["period_end"]) != (b["period_start"], b["period_end"]):
        reasons.append(f"different dates ({period_text(a)} vs {period_text(b)})")
    bounds = [
        f"{r['obs_id']} is {r['qualifier'].replace('_', ' ')}" for r in (a, b) if r["qualifier"] != "exact"
    ]
    if bounds:
        reasons.append("imprecise figures (" + ", ".join(bounds) + ")")
    if "ITU" in (a["source_id"], b["source_id"]):
        reasons.append("the ITU figure is an end-of-year (31 December) value")
    if not reasons:
        reasons.append("same indicator, scope and period: the sources simply disagree")
    return "; ".join(reasons)


def _overlap(a: pd.Series, b: pd.Series, gap: pd.Timedelta) -> bool:
    return (a["period_start"] <= b["period_end"] + gap) and (b["period_start"] <= a["period_end"] + gap)


def overlapping_pairs(start: np.ndarray, end: np.ndarray, gap_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """All pairs ``i < j`` whose periods overlap or lie at most ``gap_ns`` apart, by a sort-and-sweep.

    ``start``/``end`` are int64 nanoseconds (``period_start`` / ``period_end``). The condition is that of
    :func:`_overlap`: ``start[i] <= end[j] + gap`` and ``start[j] <= end[i] + gap``. Sorted by start, the
    candidates of each row are a contiguous run found by binary search, so the cost is O(n log n + pairs)
    instead of n² comparisons. Returns ``(i, j)`` with ``i < j``, in lexicographic order.
    """
    start = np.asarray(start, dtype="int64")
    end = np.asarray(end, dtype="int64")
    n = len(start)
    if n < 2:
        return np.empty(0, dtype="int64"), np.empty(0, dtype="int64")
    order = np.argsort(start, kind="stable")
    s_sorted = start[order]
    hi = np.searchsorted(s_sorted, end[order] + gap_ns, side="right")  # rows starting in reach of each end
    counts = np.maximum(hi - np.arange(n) - 1, 0)
    first = np.repeat(np.arange(n), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    second = first + 1 + offsets
    i, j = order[first], order[second]
    ok = (start[i] <= end[j] + gap_ns) & (start[j] <= end[i] + gap_ns)  # exact even if a start > end
    i, j = i[ok], j[ok]
    i, j = np.minimum(i, j), np.maximum(i, j)
    keep = np.lexsort((j, i))
    return i[keep], j[keep]


def reconcile(
    obs: pd.DataFrame,
    itu: pd.DataFrame | None = None,
    *,
    max_gap_days: int = 120,
    rel_tol: float = 0.05,
    families: Mapping[str, list[str]] | None = None,
) -> pd.DataFrame:
    """Pairs of observations (and ITU values) that disagree about the same period (unfiltered; the notebook
    uses the curated :func:`reconcile_sources`).

    Two observations are compared when their indicators are in the same family (:data:`FAMILIES`),
    they come from different sentences, and their periods overlap or lie at most ``max_gap_days``
    apart.  They *disagree* when their intervals (a point, a bound or a range) do not meet even after
    widening each by ``rel_tol``.  Columns: family, both sides (obs_id, source_id, indicator, scope,
    period, value shown), ``ratio`` (max/min of the representative values), ``abs_diff`` and a
    plain-words ``explanation``.
    """
    fams = dict(families or FAMILIES)
    parts = [obs] + ([itu_as_observations(itu)] if itu is not None and len(itu) else [])
    allobs = pd.concat(parts, ignore_index=True)
    allobs["period_start"] = pd.to_datetime(allobs["period_start"])
    allobs["period_end"] = pd.to_datetime(allobs["period_end"])
    gap = pd.Timedelta(days=max_gap_days)
    rows = []
    for fam, inds in fams.items():
        sub = allobs[allobs["indicator"].isin(inds)].reset_index(drop=True)
        recs = sub.to_dict("records")
        ii, jj = overlapping_pairs(
            sub["period_start"].to_numpy("datetime64[ns]").astype("int64"),
            sub["period_end"].to_numpy("datetime64[ns]").astype("int64"),
            gap.value,
        )
        for i, j in zip(ii.tolist(), jj.tolist(), strict=True):
            a, b = recs[i], recs[j]
            if a["source_id"] == "ITU" and b["source_id"] == "ITU":
                continue
            if a["quote"] == b["quote"]:
                continue
            (va, la, ha), (vb, lb, hb) = value_interval(a), value_interval(b)
            if la * (1 - rel_tol) <= hb * (1 + rel_tol) and lb * (1 - rel_tol) <= ha * (1 + rel_tol):
                continue  # intervals meet: no disagreement
            lo, hi = sorted([va, vb])
            rows.append(
                {
                    "family": fam,
                    "obs_a": a["obs_id"],
                    "source_a": a["source_id"],
                    "indicator_a": a["indicator"],
                    "scope_a": scope_text(a),
                    "period_a": period_text(a),
                    "value_a": va,
                    "qualifier_a": a["qualifier"],
                    "obs_b": b["obs_id"],
                    "source_b": b["source_id"],
                    "indicator_b": b["indicator"],
                    "scope_b": scope_text(b),
                    "period_b": period_text(b),
                    "value_b": vb,
                    "qualifier_b": b["qualifier"],
                    "ratio": hi / lo if lo > 0 else math.inf,
                    "abs_diff": hi - lo,
                    "explanation": explain_disagreement(a, b),
                }
            )
    cols = [
        "family",
        "obs_a",
        "source_a",
        "indicator_a",
        "scope_a",
        "period_a",
        "value_a",
        "qualifier_a",
        "obs_b",
        "source_b",
        "indicator_b",
        "scope_b",
        "period_b",
        "value_b",
        "qualifier_b",
        "ratio",
        "abs_diff",
        "explanation",
    ]
    return pd.DataFrame(rows, columns=cols)
