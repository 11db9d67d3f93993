"""The curated reconciliation of sources (step 01): like compared with like, a verdict per pair.

:func:`reconcile_sources` compares like with like (:func:`expected_order`: parts vs wholes, users vs
subscriptions, growth between dates, households vs people flagged as definitional), sets ITU's year-ends
around each figure, checks percentages against the count of the same sentence, gives a verdict per pair
(:data:`VERDICTS`) and keeps only the most informative pairs. The settings are :data:`RECONCILE_DEFAULTS`,
checked by :func:`reconciliation_rules`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from helpers.data.cleaning import add_reference_dates, blank, scope_parts
from helpers.data.national import population_at
from helpers.data.pairs import (
    explain_disagreement,
    itu_as_observations,
    overlapping_pairs,
    period_text,
    scope_text,
    value_interval,
)

# --------------------------------------------------------------------------- curated reconciliation

#: Default rules of :func:`reconcile_sources`; the notebook passes its own (YAML), key by key.
RECONCILE_DEFAULTS: dict[str, Any] = {
    # only the current network: periods ending before this date are not compared
    "from_date": "2008-12-01",
    # two documents' figures are compared when their periods overlap or lie at most this far apart
    "max_gap_days": 120,
    # relative tolerance: figures agree when their intervals meet after widening each by this much
    "rel_tol": 0.05,
    # scope kinds compared (a city figure is never compared with a national one)
    "scopes": ["national", "operator"],
    # figures about a subgroup (an age band, defectors ...) are not compared
    "exclude_subgroups": True,
    # indicator -> [family, measure]; only figures of the same family are compared
    "measures": {
        "mobile_subscriptions": ["count", "subscriptions"],
        "mobile_users": ["count", "users"],
        "mobile_penetration_pct": ["share", "subscriptions"],
        "mobile_ownership_pct": ["share", "users"],
        "households_with_mobile_pct": ["share", "households"],
    },
    # measure -> the measure it cannot exceed (people with a phone <= SIM cards)
    "smaller_measure_of": {"users": "subscriptions"},
    # an operator alone on the market is the national total
    "sole_operator_until": {"koryolink": "2011-12-31"},
    # the market only grew: when one period ends before the other starts, the later figure may be larger
    "assume_growth": True,
    # ITU figures compared with each observation: "bracket" = the ITU year-ends inside its period and the
    # nearest one before and after it; "same_year" = the calendar year of its reference date; "none"
    "itu_match": "bracket",
    # check a percentage against the count stated in the same sentence (through the population)
    "restatements": True,
    # verdicts listed (see VERDICTS)
    "keep": ["conflict", "definitional", "explainable", "agree"],
    # per observation and counterpart kind (another document / ITU / same sentence): pairs kept, most
    # informative first (null = all)
    "max_pairs_per_observation": 1,
}

#: The verdicts, most informative first.
VERDICTS: tuple[str, ...] = ("conflict", "definitional", "explainable", "agree")

RECONCILIATION_COLUMNS: list[str] = [
    "period",
    "family",
    "verdict",
    "expected",
    "obs_a",
    "source_a",
    "indicator_a",
    "scope_a",
    "period_a",
    "qualifier_a",
    "value_a",
    "obs_b",
    "source_b",
    "indicator_b",
    "scope_b",
    "period_b",
    "qualifier_b",
    "value_b",
    "common_unit",
    "compared_a",
    "compared_b",
    "ratio",
    "gap_days",
    "population_source",
    "explanation",
]


def reconciliation_rules(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """RECONCILE_DEFAULTS updated with ``params``; unknown keys, verdicts or ``itu_match`` values are errors."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(RECONCILE_DEFAULTS))
    if unknown:
        raise KeyError(f"unknown reconciliation parameter(s) {unknown}; known: {sorted(RECONCILE_DEFAULTS)}")
    r = {**RECONCILE_DEFAULTS, **params}
    bad = sorted(set(r["keep"]) - set(VERDICTS))
    if bad:
        raise ValueError(f"keep: unknown verdict(s) {bad}; known: {list(VERDICTS)}")
    if r["itu_match"] not in ("bracket", "same_year", "none"):
        raise ValueError(f"itu_match must be 'bracket', 'same_year' or 'none', got {r['itu_match']!r}")
    return r


def _effective_scope(row: pd.Series, sole: Mapping[str, str]) -> str:
    """``national`` for national figures and for an operator while it was alone, else the scope."""
    kind, name = scope_parts(row["scope"])
    if kind == "operator" and name in sole and pd.Timestamp(row["period_end"]) <= pd.Timestamp(sole[name]):
        return "national"
    return str(row["scope"])


def _what(row: pd.Series, r: Mapping[str, Any]) -> str:
    """Plain words for what a figure measures: 'Koryolink-only subscriptions', 'national users' ..."""
    fam, measure = r["measures"][row["indicator"]]
    scope = _effective_scope(row, r["sole_operator_until"])
    where = "national" if scope == "national" else f"{scope_parts(scope)[1].title()}-only"
    if fam == "share":
        what = {
            "subscriptions": "subscriptions per 100 people",
            "users": "share of people with a phone",
            "households": "share of households with a phone",
        }.get(measure, measure)
    else:
        what = {"users": "users (people)"}.get(measure, measure)
    return f"{where} {what}"


def expected_order(
    a: pd.Series, b: pd.Series, rules: Mapping[str, Any] | None = None
) -> tuple[str, list[str]]:
    """What the definitions say about two figures' values, and why.

    Returns ``(order, reasons)`` with ``order`` one of ``"a = b"`` (the same quantity at the same time),
    ``"a <= b"`` / ``"a >= b"`` (one can only be below the other: a part -- one operator no longer alone
    on the market, or users (people) against subscriptions -- or, with ``assume_growth``, an earlier figure
    when one period ends before the other starts), ``"either"`` (reasons pull both ways, so any two values
    are possible) or ``"not comparable"`` (different quantities with no order between them, e.g. a share of
    households against a share of people: a definitional pair).
    """
    r = reconciliation_rules(rules)
    ma, mb = r["measures"][a["indicator"]][1], r["measures"][b["indicator"]][1]
    sa = _effective_scope(a, r["sole_operator_until"])
    sb = _effective_scope(b, r["sole_operator_until"])
    growth = 0
    if r["assume_growth"]:
        if pd.Timestamp(a["period_end"]) < pd.Timestamp(b["period_start"]):
            growth = -1
        elif pd.Timestamp(b["period_end"]) < pd.Timestamp(a["period_start"]):
            growth = 1
    order, codes = _order_core(ma, mb, sa, sb, growth, r["smaller_measure_of"])
    text = {
        ("measure", "a"): f"{ma} cannot exceed {mb}",
        ("measure", "b"): f"{mb} cannot exceed {ma}",
        ("measures", ""): f"{_what(a, r)} and {_what(b, r)} are different quantities",
        ("part", "a"): f"{scope_parts(sa)[1].title()} is only part of the national total",
        ("part", "b"): f"{scope_parts(sb)[1].title()} is only part of the national total",
        ("coverage", ""): f"different coverage ({sa} vs {sb})",
        ("earlier", "a"): f"{a['obs_id']} is earlier and the market grew",
        ("earlier", "b"): f"{b['obs_id']} is earlier and the market grew",
    }
    return order, [text[c] for c in codes]


def _order_core(
    ma: str, mb: str, sa: str, sb: str, growth: int, small: Mapping[str, str]
) -> tuple[str, list[tuple[str, str]]]:
    """The logic of :func:`expected_order` on the parts it depends on, reasons as ``(kind, side)`` codes.

    ``ma``/``mb`` measures, ``sa``/``sb`` effective scopes, ``growth`` -1 when a's period ends before b's
    starts, 1 when b's ends before a's starts, else 0 (always 0 without ``assume_growth``). Being a function
    of a few labels, it is evaluated once per distinct combination when many pairs are judged at once.
    """
    le: list[tuple[str, str]] = []  # reasons for a <= b
    ge: list[tuple[str, str]] = []  # reasons for a >= b
    if ma != mb:
        if small.get(ma) == mb:
            le.append(("measure", "a"))
        elif small.get(mb) == ma:
            ge.append(("measure", "b"))
        else:
            return "not comparable", [("measures", "")]
    if sa != sb:
        if sa != "national" and sb == "national":
            le.append(("part", "a"))
        elif sb != "national" and sa == "national":
            ge.append(("part", "b"))
        else:
            return "not comparable", [("coverage", "")]
    if growth < 0:
        le.append(("earlier", "a"))
    elif growth > 0:
        ge.append(("earlier", "b"))
    if le and ge:
        return "either", le + ge
    if le:
        return "a <= b", le
    if ge:
        return "a >= b", ge
    return "a = b", []


def _judge(order: str, ia: tuple[float, float, float], ib: tuple[float, float, float], tol: float) -> str:
    """The verdict for two intervals ``(value, low, high)`` given the expected order."""
    (_, la, ha), (_, lb, hb) = ia, ib
    if la * (1 - tol) <= hb * (1 + tol) and lb * (1 - tol) <= ha * (1 + tol):
        return "agree"
    if order == "not comparable":
        return "definitional"
    if order == "either":
        return "explainable"
    if order == "a <= b":
        return "explainable" if la * (1 - tol) <= hb * (1 + tol) else "conflict"
    if order == "a >= b":
        return "explainable" if lb * (1 - tol) <= ha * (1 + tol) else "conflict"
    return "conflict"


def fmt_value(x: float, pct: bool) -> str:
    """A figure for text: ``18%``, ``432,000``, ``6.35 million``; ``open`` for an infinite bound."""
    if not math.isfinite(x):
        return "open"
    if pct:
        return f"{x:.3g}%"
    return f"{x / 1e6:.3g} million" if x >= 1e6 else f"{x:,.0f}"


def _lead(verdict: str, order: str, why: list[str], a: pd.Series, b: pd.Series, ratio: float, tol: float,
          r: Mapping[str, Any]) -> str:  # fmt: skip
    times = f"{ratio:.2f}×" if math.isfinite(ratio) else "an undefined factor"
    da, db = _what(a, r), _what(b, r)
    if verdict == "agree":
        return f"agree within ±{tol:.0%} ({da} vs {db})"
    if verdict == "definitional":
        return f"definitional: {'; '.join(why)}, so the {times} gap says little about either figure"
    if verdict == "explainable":
        return f"differ by {times}, which the definitions and dates can explain ({'; '.join(why)})"
    if order == "a = b":
        return f"conflict: the same quantity ({da}) about the same period differs by {times}"
    small, big = (a, b) if order == "a <= b" else (b, a)
    return (
        f"conflict: {small['obs_id']} ({_what(small, r)}) should not exceed {big['obs_id']} ({_what(big, r)}) "
        f"because {'; '.join(why)}, yet it is {times} larger"
    )


def _period_distance(a: pd.Series, b: pd.Series) -> int:
    """Days between two periods (0 when they overlap)."""
    sa, ea = pd.Timestamp(a["period_start"]), pd.Timestamp(a["period_end"])
    sb, eb = pd.Timestamp(b["period_start"]), pd.Timestamp(b["period_end"])
    return max(0, (sb - ea).days, (sa - eb).days)


def _pair_row(a: pd.Series, b: pd.Series, r: Mapping[str, Any], unit: str, ia: tuple, ib: tuple, kind: str
              ) -> dict[str, Any]:  # fmt: skip
    tol = float(r["rel_tol"])
    order, why = expected_order(a, b, r)
    verdict = _judge(order, ia, ib, tol)
    lo, hi = sorted([ia[0], ib[0]])
    ratio = hi / lo if lo > 0 and math.isfinite(hi) else math.nan
    return {
        "period": f"{min(pd.Timestamp(x['ref_date']) for x in (a, b) if x['source_id'] != 'ITU'):%Y}",
        "family": r["measures"][a["indicator"]][0],
        "verdict": verdict,
        "expected": order,
        "obs_a": a["obs_id"],
        "source_a": a["source_id"],
        "indicator_a": a["indicator"],
        "scope_a": scope_text(a),
        "period_a": period_text(a),
        "qualifier_a": a["qualifier"],
        "value_a": value_interval(a)[0],
        "obs_b": b["obs_id"],
        "source_b": b["source_id"],
        "indicator_b": b["indicator"],
        "scope_b": scope_text(b),
        "period_b": period_text(b),
        "qualifier_b": b["qualifier"],
        "value_b": value_interval(b)[0],
        "common_unit": unit,
        "compared_a": ia[0],
        "compared_b": ib[0],
        "ratio": ratio,
        "gap_days": _period_distance(a, b),
        "population_source": "",
        "explanation": f"{_lead(verdict, order, why, a, b, ratio, tol, r)}. "
        f"{'Recorded differences' if verdict == 'agree' else 'Why they may differ'}: {explain_disagreement(a, b)}",
        "_kind": kind,
    }


def _comparable(df: pd.DataFrame, r: Mapping[str, Any]) -> pd.DataFrame:
    """The observations reconciliation looks at, with reference dates."""
    d = df.copy()
    d["period_start"] = pd.to_datetime(d["period_start"])
    d["period_end"] = pd.to_datetime(d["period_end"])
    keep = d["indicator"].isin(list(r["measures"]))
    keep &= d["period_end"] >= pd.Timestamp(r["from_date"])
    keep &= d["scope"].map(lambda s: scope_parts(s)[0]).isin(list(r["scopes"]))
    if r["exclude_subgroups"]:
        keep &= d["subgroup"].map(blank)
    d = d[keep]
    return (add_reference_dates(d) if "ref_date" not in d else d).reset_index(drop=True)


def _itu_matches(a: pd.Series, iobs: pd.DataFrame, mode: str) -> pd.DataFrame:
    """The ITU pseudo-observations an observation is compared with (see ``itu_match``)."""
    if mode == "same_year":
        return iobs[iobs["period_end"].dt.year == int(np.floor(a["ref_year"]))]
    start, end = pd.Timestamp(a["period_start"]), pd.Timestamp(a["period_end"])
    inside = iobs[(iobs["period_end"] >= start) & (iobs["period_end"] <= end)]
    before = iobs[iobs["period_end"] < start].nlargest(1, "period_end")
    after = iobs[iobs["period_end"] > end].nsmallest(1, "period_end")
    return pd.concat([before, inside, after])


def _itu_match_rows(
    start: int, end: int, year: int, ends: np.ndarray, pos: np.ndarray, mode: str
) -> list[int]:
    """:func:`_itu_matches` by binary search: rows (``pos``) of the ITU values whose sorted period ends
    ``ends`` (int64 ns) an observation from ``start`` to ``end`` (``year`` = floor of its reference year) is
    compared with, in the order before, inside, after."""
    if mode == "same_year":
        years = ends.astype("datetime64[ns]").astype("datetime64[Y]").astype("int64") + 1970
        return pos[years == year].tolist()
    lo = int(np.searchsorted(ends, start, side="left"))  # first end >= start
    hi = int(np.searchsorted(ends, end, side="right"))  # first end > end
    rows = pos[lo:hi].tolist()
    before = [int(pos[lo - 1])] if lo > 0 else []
    after = [int(pos[hi])] if hi < len(ends) else []
    return before + rows + after


def _restatement_rows(d: pd.DataFrame, population: pd.DataFrame, r: Mapping[str, Any]) -> list[dict]:
    """A percentage against the count stated in the same sentence, both per 100 people."""
    rows = []
    tol = float(r["rel_tol"])
    fam = d["indicator"].map(lambda i: r["measures"][i][0])
    counts = d[fam == "count"]
    by_sentence = {key: g for key, g in counts.groupby(["quote", "source_id"], sort=False)}
    shares = d[fam == "share"]
    has_count = [(q, s) in by_sentence for q, s in zip(shares["quote"], shares["source_id"], strict=True)]
    for _, pct in shares[has_count].iterrows():
        same = by_sentence[(pct["quote"], pct["source_id"])]
        for _, cnt in same.iterrows():
            p = population_at([cnt["ref_year"]], population).iloc[0]
            pop = float(p["population"])
            v = value_interval(cnt)
            conv = tuple(100.0 * x / pop for x in v)
            ip = value_interval(pct)
            row = _pair_row(pct, cnt, r, "per 100 people", ip, conv, "sentence")
            row["family"] = "count vs its own percentage"
            row["value_b"] = v[0]
            row["population_source"] = f"{p['population_source']} ({p['population_year']})"
            # the two figures restate each other: the same quantity, whatever the indicator names say
            row["expected"] = "a = b"
            row["verdict"] = _judge("a = b", ip, conv, tol)
            said = f"{fmt_value(v[0], False)} is {conv[0]:.3g} per 100 people"
            popt = (
                f"a population of {pop / 1e6:.1f} million ({p['population_source']}, {p['population_year']})"
            )
            if row["verdict"] == "agree":
                lead = f"the percentage agrees (±{tol:.0%}) with the count in the same sentence: {said} with {popt}"
            else:
                implied = 100.0 * v[0] / ip[0] if ip[0] > 0 and math.isfinite(v[0]) else math.nan
                lead = (
                    f"the percentage does not match the count in the same sentence: {said} with {popt}, "
                    f"not {fmt_value(ip[0], True)}; {fmt_value(ip[0], True)} would imply a population of "
                    f"{implied / 1e6:.1f} million"
                )
            row["explanation"] = f"{lead} (same sentence of {pct['source_id']})"
            rows.append(row)
    return rows


def _most_informative(out: pd.DataFrame, n: int | None) -> pd.DataFrame:
    """Most informative first: conflicts and definitional pairs, then the closest periods, then verdict order,
    then the larger ratio; at most ``n`` pairs per observation and counterpart kind (None = all)."""
    v = out["verdict"].map(VERDICTS.index)
    out = out.assign(_f=(v > 1).astype(int), _v=v, _r=out["ratio"].fillna(np.inf))
    out = out.sort_values(
        ["_f", "gap_days", "_v", "_r", "obs_a", "obs_b"], ascending=[True, True, True, False, True, True]
    )
    if n is None:
        return out
    taken: dict[tuple[str, str], int] = {}
    keep = []
    limit = int(n)
    # one pass in priority order over plain lists (a Series per candidate would dominate the run time)
    for idx, oa, ob, kind in zip(
        out.index.tolist(), out["obs_a"].tolist(), out["obs_b"].tolist(), out["_kind"].tolist(), strict=True
    ):
        keys = [(o, kind) for o in (oa, ob) if not str(o).startswith("ITU-")]
        if all(taken.get(k, 0) < limit for k in keys):
            keep.append(idx)
            for k in keys:
                taken[k] = taken.get(k, 0) + 1
    return out.loc[keep]


def reconcile_sources(
    obs: pd.DataFrame,
    itu: pd.DataFrame | None = None,
    population: pd.DataFrame | None = None,
    params: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Where sources disagree about the same period, comparing like with like (the curated :func:`reconcile`).

    Rules (``params`` overrides :data:`RECONCILE_DEFAULTS` key by key; unknown keys are an error):

    * only mobile counts and shares (``measures``) of national or operator scope (``scopes``), no subgroups,
      periods ending on or after ``from_date``; counts are compared with counts, shares with shares;
    * two documents' figures are compared when they do not come from the same sentence and their periods
      overlap or lie at most ``max_gap_days`` apart; each figure is also compared with ITU (``itu_match``:
      end-of-year subscriptions for counts, per 100 people for shares);
    * with ``restatements`` (needs ``population``), a percentage is checked against the count stated in the
      same sentence, both per 100 people;
    * :func:`expected_order` says what the definitions allow, and the verdict is ``agree`` (the intervals
      meet within ``rel_tol``), ``explainable`` (they differ in a direction the definitions or growth
      between the dates allow), ``conflict`` (the same quantity differs, or a part exceeds its whole) or
      ``definitional`` (different quantities, e.g. households vs people: flagged, not judged);
    * only verdicts in ``keep`` are listed, at most ``max_pairs_per_observation`` per observation and
      counterpart kind (another document, ITU, the same sentence), the most informative first.

    Columns :data:`RECONCILIATION_COLUMNS`: ``value_a``/``value_b`` in the figures' own units (one-sided
    figures at their bound, ranges at their middle), ``compared_a``/``compared_b`` in ``common_unit``,
    ``ratio`` = larger / smaller compared value (NaN when one is 0), ``gap_days`` between the two periods
    (0 when they overlap); ``period`` is the calendar year of the earlier (non-ITU) reference date.
    Sorted by period, family, verdict and ids.
    """
    r = reconciliation_rules(params)
    d = _comparable(obs, r)
    fam = d["indicator"].map(lambda i: r["measures"][i][0])
    iobs = None
    if itu is not None and len(itu) and r["itu_match"] != "none":
        iobs = add_reference_dates(itu_as_observations(itu)).reset_index(drop=True)
    cand = _candidate_pairs(d, fam, iobs, r)
    rest = _restatement_rows(d, population, r) if r["restatements"] and population is not None else []
    keep = list(r["keep"])
    cand = cand[cand["verdict"].isin(keep)]
    rest_frame = pd.DataFrame(rest, columns=[*RECONCILIATION_COLUMNS, "_kind"])
    rest_frame = rest_frame[rest_frame["verdict"].isin(keep)]
    keys = ["verdict", "gap_days", "ratio", "obs_a", "obs_b", "_kind"]
    both = pd.concat(
        [
            cand[keys].assign(_src=0, _pos=cand["_pos"]),
            rest_frame[keys].assign(_src=1, _pos=range(len(rest_frame))),
        ],
        ignore_index=True,
    )
    chosen = _most_informative(both, r["max_pairs_per_observation"])
    recs = d.to_dict("records")
    irecs = iobs.to_dict("records") if iobs is not None else []
    rows: list[dict[str, Any]] = []
    picked = cand.set_index("_pos")
    for src, pos in zip(chosen["_src"].tolist(), chosen["_pos"].tolist(), strict=True):
        if src == 1:
            rows.append(rest_frame.iloc[int(pos)].to_dict())
            continue
        c = picked.loc[int(pos)]
        a = recs[int(c["_a"])]
        b = irecs[int(c["_b"])] if c["_kind"] == "itu" else recs[int(c["_b"])]
        unit = "per 100 people" if c["_family"] == "share" else "count"
        rows.append(_pair_row(a, b, r, unit, value_interval(a), value_interval(b), str(c["_kind"])))
    out = pd.DataFrame(rows, columns=[*RECONCILIATION_COLUMNS, "_kind"])
    out = out.assign(_v=out["verdict"].map(VERDICTS.index)).sort_values(
        ["period", "family", "_v", "obs_a", "obs_b"]
    )
    return out[RECONCILIATION_COLUMNS].reset_index(drop=True)


def _candidate_pairs(
    d: pd.DataFrame, fam: pd.Series, iobs: pd.DataFrame | None, r: Mapping[str, Any]
) -> pd.DataFrame:
    """Every document pair and observation-ITU pair :func:`reconcile_sources` compares, with the fields that
    rank them (verdict, gap_days, ratio, ids), computed on arrays; the full rows (:func:`_pair_row`, with
    their text) are built afterwards, only for the pairs kept.

    Document pairs: same family, different sentence, periods within ``max_gap_days``
    (:func:`overlapping_pairs`), ordered so that ``a`` has the earlier (reference date, obs_id). ITU pairs:
    each observation against the ITU values :func:`_itu_matches` selects. Columns: ``_a``, ``_b`` (row
    numbers in ``d``, or in ``iobs`` for ``b`` of an ITU pair), ``_kind``, ``_family``, ``verdict``,
    ``gap_days``, ``ratio``, ``obs_a``, ``obs_b`` and ``_pos`` (a row id).
    """
    cols = ["_a", "_b", "_kind", "_family", "verdict", "gap_days", "ratio", "obs_a", "obs_b", "_pos"]
    n = len(d)
    if n == 0:
        return pd.DataFrame(columns=cols)
    gap_ns = pd.Timedelta(days=int(r["max_gap_days"])).value
    day_ns = pd.Timedelta(days=1).value
    fam_arr = fam.to_numpy(dtype=object)
    quote_code = pd.factorize(d["quote"])[0]
    start = d["period_start"].to_numpy("datetime64[ns]").astype("int64")
    end = d["period_end"].to_numpy("datetime64[ns]").astype("int64")
    parts_a, parts_b = [], []
    for f in pd.unique(fam_arr):
        idx = np.flatnonzero(fam_arr == f)
        i, j = overlapping_pairs(start[idx], end[idx], gap_ns)
        i, j = idx[i], idx[j]
        ok = quote_code[i] != quote_code[j]
        parts_a.append(i[ok])
        parts_b.append(j[ok])
    ia = np.concatenate(parts_a) if parts_a else np.empty(0, dtype="int64")
    ib = np.concatenate(parts_b) if parts_b else np.empty(0, dtype="int64")
    # a is the earlier (ref_date, obs_id): the same swap as comparing the two tuples
    ref = d["ref_date"].to_numpy("datetime64[ns]").astype("int64")
    oid = d["obs_id"].astype(str).to_numpy()
    swap = (ref[ia] > ref[ib]) | ((ref[ia] == ref[ib]) & (oid[ia] > oid[ib]))
    ia, ib = np.where(swap, ib, ia), np.where(swap, ia, ib)

    # the same arrays for the ITU pseudo-observations, appended after d's rows
    itu_a = np.empty(0, dtype="int64")
    itu_b = np.empty(0, dtype="int64")
    both = d
    if iobs is not None and len(iobs):
        want = np.where(fam_arr == "count", "mobile_subscriptions", "mobile_penetration_pct")
        ta, tb = [], []
        ref_year = np.floor(d["ref_year"].to_numpy(float)).astype("int64")
        for w in ("mobile_subscriptions", "mobile_penetration_pct"):
            sub = iobs[iobs["indicator"] == w].sort_values("period_end", kind="stable")
            ends = sub["period_end"].to_numpy("datetime64[ns]").astype("int64")
            pos = sub.index.to_numpy()
            for k in np.flatnonzero(want == w).tolist():
                tb_k = _itu_match_rows(start[k], end[k], int(ref_year[k]), ends, pos, r["itu_match"])
                ta.extend([k] * len(tb_k))
                tb.extend(tb_k)
        itu_a = np.asarray(ta, dtype="int64")
        itu_b = np.asarray(tb, dtype="int64")
        both = pd.concat([d, iobs], ignore_index=True)
    vals = np.array(
        [
            value_interval(x)
            for x in both[["qualifier", "value", "value_low", "value_high"]].to_dict("records")
        ]
    )
    vals = vals.reshape(-1, 3)
    sole = r["sole_operator_until"]
    eff = np.array(
        [_effective_scope(x, sole) for x in both[["scope", "period_end"]].to_dict("records")], dtype=object
    )
    measure = both["indicator"].map(lambda i: r["measures"][i][1]).to_numpy(dtype=object)
    b_start = both["period_start"].to_numpy("datetime64[ns]").astype("int64")
    b_end = both["period_end"].to_numpy("datetime64[ns]").astype("int64")
    b_oid = both["obs_id"].astype(str).to_numpy()

    A = np.concatenate([ia, itu_a])
    B = np.concatenate([ib, itu_b + n])
    kind = np.array(["document"] * len(ia) + ["itu"] * len(itu_a), dtype=object)
    growth = np.zeros(len(A), dtype="int64")
    if r["assume_growth"]:
        growth = np.where(b_end[A] < b_start[B], -1, np.where(b_end[B] < b_start[A], 1, 0))
    small = r["smaller_measure_of"]
    cache: dict[tuple, str] = {}
    order = np.empty(len(A), dtype=object)
    for k, key in enumerate(zip(measure[A], measure[B], eff[A], eff[B], growth.tolist(), strict=True)):
        o = cache.get(key)
        if o is None:
            o = cache[key] = _order_core(*key, small)[0]
        order[k] = o
    tol = float(r["rel_tol"])
    va, la, ha = vals[A, 0], vals[A, 1], vals[A, 2]
    vb, lb, hb = vals[B, 0], vals[B, 1], vals[B, 2]
    with np.errstate(invalid="ignore"):
        a_le = la * (1 - tol) <= hb * (1 + tol)
        b_le = lb * (1 - tol) <= ha * (1 + tol)
    verdict = np.where(
        a_le & b_le,
        "agree",
        np.where(
            order == "not comparable",
            "definitional",
            np.where(
                order == "either",
                "explainable",
                np.where(
                    order == "a <= b",
                    np.where(a_le, "explainable", "conflict"),
                    np.where(order == "a >= b", np.where(b_le, "explainable", "conflict"), "conflict"),
                ),
            ),
        ),
    )
    gap_days = np.maximum(0, np.maximum((b_start[B] - b_end[A]) // day_ns, (b_start[A] - b_end[B]) // day_ns))
    lo, hi = np.minimum(va, vb), np.maximum(va, vb)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where((lo > 0) & np.isfinite(hi), hi / lo, np.nan)
    fam_both = np.concatenate([fam_arr, np.array(["count"] * (len(both) - n), dtype=object)])
    return pd.DataFrame(
        {
            "_a": A,
            "_b": np.concatenate([ib, itu_b]),
            "_kind": kind,
            "_family": fam_both[A],
            "verdict": verdict,
            "gap_days": gap_days.astype("int64"),
            "ratio": ratio,
            "obs_a": b_oid[A],
            "obs_b": b_oid[B],
            "_pos": np.arange(len(A)),
        },
        columns=cols,
    )
