"""Cleaning the curated observations (notebook 01): pure functions on DataFrames.

- :func:`add_reference_dates` -- midpoint of each observation's period, as a date and a
  decimal year, and the half-width of the period in years;
- :func:`classify_usability` -- which observations can be used to fit *national mobile
  subscriptions*, and how (as a value or as a lower bound), each exclusion with a written reason;
- :func:`national_series` -- the usable observations as the censored series a curve fit consumes
  (``value`` for points; ``lower`` / ``upper`` for bounds, NaN where open), in subscriptions;
- :func:`penetration` / :func:`population_at` / :func:`percent_to_count` / :func:`count_to_percent`
  -- per 100 inhabitants, with the population denominator named;
- :func:`reconcile` -- every pair of figures of one family that disagree about roughly the same period
  (unfiltered), with the spread and a plain-words explanation generated from the rows;
- :func:`reconcile_sources` -- the curated reconciliation: like compared with like (:func:`expected_order`:
  parts vs wholes, users vs subscriptions, growth between dates, households vs people flagged as
  definitional), ITU year-ends around each figure, percentages checked against the count of the same
  sentence, a verdict per pair and only the most informative pairs kept;
- products of step 01: :func:`observations_table`, :func:`usability_summary`, :func:`itu_table`,
  :func:`population_years`, :func:`national_series_table`, :func:`penetration_table`,
  :func:`timeline_points` (what the timeline figures draw) and :func:`write_csv` (deterministic CSV).

Nothing here reads files: the notebook passes the observations
(:func:`helpers.observations.load_observations`), the population and the ITU series
(:mod:`helpers.external`) and the rules (its YAML parameters).

Dates: ``period_end`` is an inclusive day, so a period covers ``[period_start, period_end + 1 day)``;
"2012-01-01 .. 2012-12-31" has midpoint 2012-07-02 = decimal year 2012.5.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers import io as hio

DAY = pd.Timedelta(days=1)
DAYS_PER_YEAR = 365.2425

#: Default usability rules; the notebook passes its own (YAML) and any key it omits falls back here.
DEFAULT_RULES: dict[str, Any] = {
    # what is being fitted
    "target_indicator": "mobile_subscriptions",
    # mobile phones were banned 2004-2008; Koryolink launched the current network in December 2008
    "relaunch_date": "2008-12-01",
    "ban_reason": "precedes the 2004–2008 ban / relaunch",
    # an operator's own figure is a lower bound of the national total ...
    "operator_as_lower_bound": True,
    # ... except while it was the only operator (Koryolink: 4-year exclusivity until 2012)
    "sole_operator_until": {"koryolink": "2011-12-31"},
    # unique users / owners (people) vs subscriptions: "exclude" or "lower_bound"
    # (people with several SIMs count once, so users <= subscriptions)
    "users_as": "lower_bound",
    "user_indicators": ["mobile_users"],
    # percentages of the population converted to counts through the population
    "percent_via_population": True,
    "percent_indicators": {"mobile_penetration_pct": "subscriptions", "mobile_ownership_pct": "users"},
    # household shares are not shares of people
    "household_indicators": ["households_with_mobile_pct"],
    # relative tolerance turning an "approx" value into an interval (0 = keep it as a point)
    "approx_tolerance": 0.0,
    # observations excluded by name, each with its written reason (e.g. a figure restating another one
    # from a different sentence, which the same-sentence rule cannot see)
    "exclude_obs": {},
}


def usability_rules(rules: Mapping[str, Any] | None) -> dict[str, Any]:
    """DEFAULT_RULES updated with ``rules``; unknown keys are an error (typos must not pass silently)."""
    rules = dict(rules or {})
    unknown = sorted(set(rules) - set(DEFAULT_RULES))
    if unknown:
        raise KeyError(f"unknown usability rule(s) {unknown}; known: {sorted(DEFAULT_RULES)}")
    return {**DEFAULT_RULES, **rules}


_rules = usability_rules  # former private name


# --------------------------------------------------------------------------- reference dates


def decimal_year(dates: pd.Series | pd.DatetimeIndex) -> pd.Series:
    """Decimal year of each timestamp: 2012-07-02 00:00 -> 2012.5 (position within its own calendar year)."""
    d = pd.Series(pd.to_datetime(dates)).astype("datetime64[ns]")
    year = d.dt.year
    start = pd.to_datetime(pd.DataFrame({"year": year, "month": 1, "day": 1}))
    nxt = pd.to_datetime(pd.DataFrame({"year": year + 1, "month": 1, "day": 1}))
    return year + (d - start) / (nxt - start)


def add_reference_dates(obs: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``obs`` with the reference date of each observation and its interval.

    Adds ``ref_date`` (midpoint of ``[period_start, period_end + 1 day)``), ``ref_year``,
    ``year_start`` and ``year_end`` (decimal years of the interval ends) and
    ``half_width_years`` (half the period length, in years of 365.2425 days).
    """
    out = obs.copy()
    start = pd.to_datetime(out["period_start"])
    end_excl = pd.to_datetime(out["period_end"]) + DAY
    if (end_excl <= start).any():
        bad = out.loc[end_excl <= start, "obs_id"].tolist() if "obs_id" in out else []
        raise ValueError(f"period_end before period_start in {bad}")
    out["ref_date"] = start + (end_excl - start) / 2
    out["ref_year"] = decimal_year(out["ref_date"]).to_numpy()
    out["year_start"] = decimal_year(start).to_numpy()
    out["year_end"] = decimal_year(end_excl).to_numpy()
    out["half_width_years"] = ((end_excl - start) / 2 / pd.Timedelta(days=DAYS_PER_YEAR)).to_numpy()
    return out


# --------------------------------------------------------------------------- usability


def _scope_parts(scope: str) -> tuple[str, str]:
    """("national", "") or ("operator", "koryolink") or ("city", "pyongyang")."""
    kind, _, name = str(scope).partition(":")
    return kind, name


def _blank(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x)) or (isinstance(x, str) and not x.strip())


def _classify_row(row: pd.Series, r: dict[str, Any]) -> tuple[bool, str, str, str]:
    """(usable, use_as, reason, basis) for one observation; see :func:`classify_usability`."""
    ind, unit = row["indicator"], row["unit"]
    kind, name = _scope_parts(row["scope"])
    pct = r["percent_indicators"]
    relevant = {r["target_indicator"], *r["user_indicators"], *pct, *r["household_indicators"]}
    if ind not in relevant:
        return False, "", f"not a count or share of mobile subscriptions or users (indicator {ind})", ""
    if row["obs_id"] in r["exclude_obs"]:
        return False, "", f"excluded by name: {r['exclude_obs'][row['obs_id']]}", ""
    if pd.Timestamp(row["period_end"]) < pd.Timestamp(r["relaunch_date"]):
        return False, "", r["ban_reason"], ""
    if ind in r["household_indicators"] or unit == "households":
        return (
            False,
            "",
            "households are not people: a share of households with a phone is not a share of people",
            "",
        )
    if kind == "city":
        return False, "", f"a {name.title()} figure is not national (scope {row['scope']})", ""
    if not _blank(row.get("subgroup")):
        return False, "", f"refers to a subgroup ({row['subgroup']}), not the whole population", ""
    if ind in pct and not r["percent_via_population"]:
        return (
            False,
            "",
            "a percentage; the rules do not allow converting it to a count through the population",
            "",
        )
    is_users = ind in r["user_indicators"] or pct.get(ind) == "users"
    if is_users and r["users_as"] != "lower_bound":
        return False, "", "counts users (people), not subscriptions; the rules exclude users", ""
    notes: list[str] = []
    use_as = "value"
    if kind == "operator":
        until = r["sole_operator_until"].get(name)
        if until is not None and pd.Timestamp(row["period_end"]) <= pd.Timestamp(until):
            notes.append(
                f"{name.title()} was the only operator until {until}: its figure is the national total"
            )
        elif r["operator_as_lower_bound"]:
            use_as = "lower_bound"
            notes.append(f"an operator's figure ({name.title()}) is a lower bound of the national total")
        else:
            return False, "", f"one operator's figure ({name.title()}), not the national total", ""
    if is_users:
        use_as = "lower_bound"
        notes.append("unique users (people with several SIMs count once) are a lower bound of subscriptions")
    if use_as == "lower_bound" and row["qualifier"] == "at_most":
        return (
            False,
            "",
            "an upper bound of a part (one operator, or users) gives no bound on national subscriptions",
            "",
        )
    if ind in pct:
        notes.append("percentage of the population converted to a count through the population")
    return True, use_as, "", "; ".join(notes) or "national subscriptions"


def _restatements(obs: pd.DataFrame, usable: pd.Series, r: dict[str, Any]) -> dict[Any, str]:
    """Usable percentage rows whose sentence already gave a usable count: index -> reason."""
    out: dict[Any, str] = {}
    counts = obs[usable & ~obs["indicator"].isin(list(r["percent_indicators"]))]
    first: dict[tuple[Any, Any], Any] = {}  # (source_id, quote) -> first count's obs_id, in row order
    for sid, quote, oid in zip(counts["source_id"], counts["quote"], counts["obs_id"], strict=True):
        first.setdefault((sid, quote), oid)
    pcts = obs[usable & obs["indicator"].isin(list(r["percent_indicators"]))]
    for idx, sid, quote in zip(pcts.index, pcts["source_id"], pcts["quote"], strict=True):
        if (sid, quote) in first:
            out[idx] = f"restates obs {first[(sid, quote)]} (same sentence) as a percentage; counted once"
    return out


def classify_usability(obs: pd.DataFrame, rules: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Mark each observation usable (or not) for fitting national mobile subscriptions.

    Adds ``usable_national_subs`` (bool), ``use_as`` (``"value"`` / ``"lower_bound"``, empty when
    excluded), ``exclusion_reason`` (written reason, empty when usable) and ``usability_basis`` (why and
    how a usable row is used).  Rules (first that applies): other indicators; observations listed in
    ``exclude_obs`` (with their reason); periods ending before
    ``relaunch_date`` (the 2004–2008 ban); household shares; city scope; subgroups; percentages when
    conversion is not allowed; users when ``users_as`` is ``"exclude"``; operator figures (national
    while the operator was alone, else lower bounds); a percentage restating a count from the same
    sentence.  ``rules`` overrides :data:`DEFAULT_RULES` key by key.
    """
    r = usability_rules(rules)
    out = obs.copy()
    res = [_classify_row(row, r) for _, row in out.iterrows()]
    out["usable_national_subs"] = pd.Series([x[0] for x in res], index=out.index, dtype=bool)
    out["use_as"] = pd.Series([x[1] for x in res], index=out.index, dtype=str)
    out["exclusion_reason"] = pd.Series([x[2] for x in res], index=out.index, dtype=str)
    out["usability_basis"] = pd.Series([x[3] for x in res], index=out.index, dtype=str)
    for idx, reason in _restatements(out, out["usable_national_subs"], r).items():
        out.loc[idx, ["usable_national_subs", "use_as", "exclusion_reason", "usability_basis"]] = [
            False,
            "",
            reason,
            "",
        ]
    assert (out["usable_national_subs"] | (out["exclusion_reason"] != "")).all()
    return out


# --------------------------------------------------------------------------- population


def population_at(years: Any, population: pd.DataFrame) -> pd.DataFrame:
    """Population at decimal years, linear between mid-year values (``year`` + 0.5).

    ``population`` has columns ``year, population, source`` (:func:`helpers.external.population`).
    Returns ``population``, ``population_year`` (calendar year of the request) and
    ``population_source`` (the source of the two mid-year values interpolated between, joined with
    " + " when they differ, e.g. at the World Bank / UN WPP seam) per requested year; a year outside
    the table raises ValueError naming it.
    """
    t = np.atleast_1d(np.asarray(years, dtype=float))
    pop = population.sort_values("year")
    mid = pop["year"].to_numpy(dtype=float) + 0.5
    vals = pop["population"].to_numpy(dtype=float)
    outside = (t < mid[0] - 0.5) | (t > mid[-1] + 0.5) | np.isnan(t)
    if outside.any():
        raise ValueError(
            f"no population for decimal year(s) {t[outside].round(3).tolist()} "
            f"(population table covers {int(pop['year'].min())}-{int(pop['year'].max())})"
        )
    pos = np.searchsorted(mid, t, side="left")  # mid[pos - 1] < t <= mid[pos]
    idx_hi = np.clip(pos, 0, len(mid) - 1)
    idx_lo = np.clip(pos - 1, 0, len(mid) - 1)
    on_or_outside = (pos == len(mid)) | (mid[idx_hi] == t) | (pos == 0)  # a single mid-year is used
    idx_lo = np.where(on_or_outside, idx_hi, idx_lo)
    src = pop["source"].astype(str).to_numpy()
    sources = [
        src[a] if src[a] == src[b] else f"{src[a]} + {src[b]}" for a, b in zip(idx_lo, idx_hi, strict=True)
    ]
    return pd.DataFrame(
        {
            "population": np.interp(t, mid, vals),
            "population_year": np.floor(t).astype(int),
            "population_source": sources,
        }
    )


def percent_to_count(percent: Any, years: Any, population: pd.DataFrame) -> np.ndarray:
    """Counts from percentages of the population: ``percent / 100 * population(year)``."""
    return (
        np.asarray(percent, dtype=float) / 100.0 * population_at(years, population)["population"].to_numpy()
    )


def count_to_percent(count: Any, years: Any, population: pd.DataFrame) -> np.ndarray:
    """Per 100 inhabitants: ``100 * count / population(year)``."""
    return 100.0 * np.asarray(count, dtype=float) / population_at(years, population)["population"].to_numpy()


# --------------------------------------------------------------------------- national series

SERIES_COLUMNS = [
    "ref_date",
    "ref_year",
    "half_width_years",
    "value",
    "lower",
    "upper",
    "censoring",
    "qualifier",
    "use_as",
    "converted_from",
    "population",
    "population_source",
    "obs_id",
    "source_id",
    "indicator",
    "scope",
    "basis",
]


def _bounds(row: pd.Series, tol: float) -> tuple[float, float, float]:
    """(value, lower, upper) of one observation in its own unit, NaN where open."""
    q, v, lo, hi = row["qualifier"], row["value"], row["value_low"], row["value_high"]
    nan = math.nan
    if q == "exact":
        return v, nan, nan
    if q == "approx":
        return (v, nan, nan) if tol <= 0 else (nan, v * (1 - tol), v * (1 + tol))
    if q == "at_least":
        return nan, (lo if not pd.isna(lo) else v), nan
    if q == "at_most":
        return nan, nan, (hi if not pd.isna(hi) else v)
    if q == "range":
        return nan, lo, hi
    raise ValueError(f"obs {row.get('obs_id')}: unknown qualifier {q!r}")


def _censoring(value: float, lower: float, upper: float) -> str:
    if not math.isnan(value):
        return "point"
    if not math.isnan(lower) and not math.isnan(upper):
        return "interval"
    return "lower_bound" if not math.isnan(lower) else "upper_bound"


def national_series(
    obs: pd.DataFrame, population: pd.DataFrame, rules: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """The national mobile-subscription series a censored curve fit consumes, one row per usable observation.

    ``obs`` is classified (:func:`classify_usability`; done here with ``rules`` if the columns are
    missing).  Columns (:data:`SERIES_COLUMNS`): ``value`` for points, ``lower`` / ``upper`` for bounds
    (NaN where open), ``censoring`` (point / lower_bound / upper_bound / interval), in subscriptions.
    ``at_least`` -> lower; ``at_most`` -> upper; ``range`` -> both; ``approx`` -> value, or
    ``value × (1 ± approx_tolerance)`` when that rule is > 0.  A lower-bound use (operator, users) keeps
    only the lower end: an upper bound of a part says nothing about the whole, so an ``at_most``
    operator figure is dropped there.  Percentages become counts through the population at the
    reference date (denominator named in ``population_source``).  Sorted by ``ref_year``.
    """
    r = usability_rules(rules)
    df = obs if "usable_national_subs" in obs else classify_usability(obs, rules)
    df = df if "ref_year" in df else add_reference_dates(df)
    df = df[df["usable_national_subs"]]
    # the population of every percentage row at once (one lookup per row made step 01 slow at scale)
    is_pct = df["indicator"].isin(list(r["percent_indicators"]))
    pops = dict(
        zip(
            df.index[is_pct],
            population_at(df.loc[is_pct, "ref_year"], population).to_dict("records"),
            strict=True,
        )
    )
    rows = []
    for idx, row in df.iterrows():
        v, lo, hi = _bounds(row, float(r["approx_tolerance"]))
        conv, pop, pop_src = "", math.nan, ""
        if row["indicator"] in r["percent_indicators"]:
            p = pops[idx]
            pop, pop_src, conv = float(p["population"]), str(p["population_source"]), "percent"
            v, lo, hi = (x / 100.0 * pop for x in (v, lo, hi))
        if row["use_as"] == "lower_bound":
            lo = v if not math.isnan(v) else lo
            v, hi = math.nan, math.nan
            if math.isnan(lo):  # excluded by classify_usability; defensive for hand-edited frames
                continue
        rows.append(
            {
                "ref_date": row["ref_date"],
                "ref_year": row["ref_year"],
                "half_width_years": row["half_width_years"],
                "value": v,
                "lower": lo,
                "upper": hi,
                "censoring": _censoring(v, lo, hi),
                "qualifier": row["qualifier"],
                "use_as": row["use_as"],
                "converted_from": conv,
                "population": pop,
                "population_source": pop_src,
                "obs_id": row["obs_id"],
                "source_id": row["source_id"],
                "indicator": row["indicator"],
                "scope": row["scope"],
                "basis": row["usability_basis"],
            }
        )
    out = pd.DataFrame(rows, columns=SERIES_COLUMNS)
    for c in ("ref_year", "half_width_years", "value", "lower", "upper", "population"):
        out[c] = out[c].astype(float)
    return out.sort_values(["ref_year", "obs_id"]).reset_index(drop=True)


def penetration(series: pd.DataFrame, population: pd.DataFrame, year_col: str = "ref_year") -> pd.DataFrame:
    """Per 100 inhabitants for every count column of ``series`` (``value``, ``lower``, ``upper``,
    ``subscriptions`` where present), with the denominator named.

    Adds ``per100_<col>`` columns and ``population``, ``population_year``, ``population_source``
    (World Bank SP.POP.TOTL where it has the year, UN WPP 2024 medium-variant projection beyond, as the
    ``population`` table says).  Integer years (e.g. the ITU series) are taken at mid-year (+0.5).
    """
    out = series.copy()
    t = out[year_col].astype(float).to_numpy()
    if np.all(np.mod(t, 1) == 0):
        t = t + 0.5
    pop = population_at(t, population)
    for c in ("population", "population_year", "population_source"):
        out[c] = pop[c].to_numpy()
    for c in ("value", "lower", "upper", "subscriptions"):
        if c in out:
            out[f"per100_{c}"] = 100.0 * out[c].astype(float).to_numpy() / pop["population"].to_numpy()
    return out


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


def _interval(row: pd.Series) -> tuple[float, float, float]:
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


def _period_text(row: pd.Series) -> str:
    s, e = pd.Timestamp(row["period_start"]), pd.Timestamp(row["period_end"])
    return f"{s:%Y-%m-%d}" if s == e else f"{s:%Y-%m-%d}..{e:%Y-%m-%d}"


def _scope_text(row: pd.Series) -> str:
    kind, name = _scope_parts(row["scope"])
    text = "national" if kind == "national" else f"{kind} {name.title()} only"
    return text + (f", {row['subgroup']}" if not _blank(row.get("subgroup")) else "")


def explain_disagreement(a: pd.Series, b: pd.Series) -> str:
    """Plain-words reasons two observations may differ, generated from their fields."""
    reasons = []
    if a["scope"] != b["scope"] or str(a.get("subgroup")) != str(b.get("subgroup")):
        reasons.append(f"different coverage ({_scope_text(a)} vs {_scope_text(b)})")
    if a["indicator"] != b["indicator"]:
        reasons.append(
            f"different definitions ({_DEFINITIONS.get(a['indicator'], a['indicator'])} vs "
            f"{_DEFINITIONS.get(b['indicator'], b['indicator'])})"
        )
    if (a["period_start"], a["period_end"]) != (b["period_start"], b["period_end"]):
        reasons.append(f"different dates ({_period_text(a)} vs {_period_text(b)})")
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
            (va, la, ha), (vb, lb, hb) = _interval(a), _interval(b)
            if la * (1 - rel_tol) <= hb * (1 + rel_tol) and lb * (1 - rel_tol) <= ha * (1 + rel_tol):
                continue  # intervals meet: no disagreement
            lo, hi = sorted([va, vb])
            rows.append(
                {
                    "family": fam,
                    "obs_a": a["obs_id"],
                    "source_a": a["source_id"],
                    "indicator_a": a["indicator"],
                    "scope_a": _scope_text(a),
                    "period_a": _period_text(a),
                    "value_a": va,
                    "qualifier_a": a["qualifier"],
                    "obs_b": b["obs_id"],
                    "source_b": b["source_id"],
                    "indicator_b": b["indicator"],
                    "scope_b": _scope_text(b),
                    "period_b": _period_text(b),
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


_reconcile_rules = reconciliation_rules  # former private name


def _effective_scope(row: pd.Series, sole: Mapping[str, str]) -> str:
    """``national`` for national figures and for an operator while it was alone, else the scope."""
    kind, name = _scope_parts(row["scope"])
    if kind == "operator" and name in sole and pd.Timestamp(row["period_end"]) <= pd.Timestamp(sole[name]):
        return "national"
    return str(row["scope"])


def _what(row: pd.Series, r: Mapping[str, Any]) -> str:
    """Plain words for what a figure measures: 'Koryolink-only subscriptions', 'national users' ..."""
    fam, measure = r["measures"][row["indicator"]]
    scope = _effective_scope(row, r["sole_operator_until"])
    where = "national" if scope == "national" else f"{_scope_parts(scope)[1].title()}-only"
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
        ("part", "a"): f"{_scope_parts(sa)[1].title()} is only part of the national total",
        ("part", "b"): f"{_scope_parts(sb)[1].title()} is only part of the national total",
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
        "scope_a": _scope_text(a),
        "period_a": _period_text(a),
        "qualifier_a": a["qualifier"],
        "value_a": _interval(a)[0],
        "obs_b": b["obs_id"],
        "source_b": b["source_id"],
        "indicator_b": b["indicator"],
        "scope_b": _scope_text(b),
        "period_b": _period_text(b),
        "qualifier_b": b["qualifier"],
        "value_b": _interval(b)[0],
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
    keep &= d["scope"].map(lambda s: _scope_parts(s)[0]).isin(list(r["scopes"]))
    if r["exclude_subgroups"]:
        keep &= d["subgroup"].map(_blank)
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
            v = _interval(cnt)
            conv = tuple(100.0 * x / pop for x in v)
            ip = _interval(pct)
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
        rows.append(_pair_row(a, b, r, unit, _interval(a), _interval(b), str(c["_kind"])))
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
        [_interval(x) for x in both[["qualifier", "value", "value_low", "value_high"]].to_dict("records")]
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


# --------------------------------------------------------------------------- products of step 01

#: Column order of ``observations_clean.csv``.
OBSERVATION_COLUMNS: list[str] = [
    "obs_id",
    "source_id",
    "indicator",
    "scope",
    "subgroup",
    "qualifier",
    "value",
    "value_low",
    "value_high",
    "unit",
    "date_text",
    "period_start",
    "period_end",
    "ref_date",
    "ref_year",
    "year_start",
    "year_end",
    "half_width_years",
    "usable_national_subs",
    "use_as",
    "usability_basis",
    "exclusion_reason",
    "quote",
    "note",
]


def _day(ts: Any) -> str:
    """A timestamp as ``YYYY-MM-DD``, or ``YYYY-MM-DDTHH:MM`` when it is not midnight (period midpoints)."""
    t = pd.Timestamp(ts)
    return f"{t:%Y-%m-%d}" if t == t.normalize() else f"{t:%Y-%m-%dT%H:%M}"


def observations_table(classified: pd.DataFrame) -> pd.DataFrame:
    """Every observation with its reference date, interval and usability, in :data:`OBSERVATION_COLUMNS` order.

    ``classified`` is the output of :func:`classify_usability` on :func:`add_reference_dates`. Dates are written
    as ISO text; rows are sorted by ``obs_id``.
    """
    out = classified.copy()
    for c in ("period_start", "period_end", "ref_date"):
        out[c] = out[c].map(_day)
    return out[OBSERVATION_COLUMNS].sort_values("obs_id").reset_index(drop=True)


def usability_summary(classified: pd.DataFrame) -> pd.DataFrame:
    """Counts of usable observations by use and of excluded ones by reason: ``status, reason, n``.

    Restatement reasons ("restates obs 000-009 ...") are grouped as one reason.
    """
    use = classified.loc[classified["usable_national_subs"], "use_as"].map(lambda u: f"used as {u}")
    exc = classified.loc[~classified["usable_national_subs"], "exclusion_reason"].str.replace(
        r"^restates obs \S+", "restates another obs", regex=True
    )
    exc = exc.str.replace(r"\(indicator \w+\)$", "(other indicators)", regex=True)
    exc = exc.str.replace(r"^a (\w+) figure is not national \(scope .*\)$", r"a city (\1) figure is not national",
                          regex=True)  # fmt: skip
    exc = exc.str.replace(r"^refers to a subgroup \(.*\)", "refers to a subgroup", regex=True)
    exc = exc.str.replace(r"^excluded by name: .*", "excluded by name (rule exclude_obs; reasons in the table)",
                          regex=True)  # fmt: skip
    rows = [("usable", k, v) for k, v in use.value_counts().items()]
    rows += [("excluded", k, v) for k, v in exc.value_counts().items()]
    out = pd.DataFrame(rows, columns=["status", "reason", "n"])
    return out.sort_values(["status", "n", "reason"], ascending=[False, False, True]).reset_index(drop=True)


def itu_table(itu: pd.DataFrame) -> pd.DataFrame:
    """The ITU series from the first year with a non-zero value: ``year, subscriptions, per100, source``.

    ``itu`` is :func:`helpers.external.itu_mobile`; the zeros published for the years before the service existed
    are dropped (the product keeps the years a fit can use); gaps stay gaps (e.g. no 2018).
    """
    pos = itu["subscriptions"].fillna(0).gt(0) | itu["per100"].fillna(0).gt(0)
    out = itu.loc[pos, ["year", "subscriptions", "per100", "source"]].copy()
    out["year"] = out["year"].astype(int)
    return out.sort_values("year").reset_index(drop=True)


def population_years(population: pd.DataFrame, start: int, horizon: int) -> pd.DataFrame:
    """``year, population, source`` for every year ``start..horizon``; a missing year raises ValueError."""
    want = list(range(int(start), int(horizon) + 1))
    tab = population.set_index("year")
    missing = [y for y in want if y not in tab.index]
    if missing:
        raise ValueError(f"no population for year(s) {missing}")
    out = tab.loc[want, ["population", "source"]].reset_index()
    out["year"] = out["year"].astype(int)
    return out


NATIONAL_SERIES_COLUMNS: list[str] = [
    "date",
    "t",
    "t_start",
    "t_end",
    "half_width_years",
    "value",
    "lower",
    "upper",
    "censoring",
    "qualifier",
    "use_as",
    "converted_from",
    "obs_id",
    "source_id",
    "indicator",
    "scope",
    "basis",
    "population",
    "population_source",
    "per100_value",
    "per100_lower",
    "per100_upper",
    "itu_year",
    "itu_subscriptions",
    "itu_per100",
]


def national_series_table(classified: pd.DataFrame, itu: pd.DataFrame, population: pd.DataFrame,
                          rules: Mapping[str, Any] | None = None) -> pd.DataFrame:  # fmt: skip
    """The national series (:func:`national_series`) as written for the fit, with penetration and ITU beside it.

    Columns :data:`NATIONAL_SERIES_COLUMNS`: ``date`` (reference date, ISO), ``t`` / ``t_start`` / ``t_end``
    (decimal years of the reference date and the period ends), ``value`` / ``lower`` / ``upper`` in
    subscriptions (NaN where open), per 100 inhabitants (``per100_*``) with ``population`` at ``t`` and
    ``population_source``, and ITU's end-of-year figure for the calendar year of ``t`` (``itu_year``; NaN
    where ITU has no value for it).
    """
    s = national_series(classified, population, rules)
    s = penetration(s, population)
    ends = classified.set_index("obs_id")[["year_start", "year_end"]]
    s["t_start"] = s["obs_id"].map(ends["year_start"]).astype(float)
    s["t_end"] = s["obs_id"].map(ends["year_end"]).astype(float)
    s["t"] = s["ref_year"]
    s["date"] = s["ref_date"].map(_day)
    s["itu_year"] = np.floor(s["t"]).astype(int)
    it = itu.set_index(itu["year"].astype(int))
    s["itu_subscriptions"] = s["itu_year"].map(it["subscriptions"]).astype(float)
    s["itu_per100"] = s["itu_year"].map(it["per100"]).astype(float)
    return s[NATIONAL_SERIES_COLUMNS].reset_index(drop=True)


PENETRATION_COLUMNS: list[str] = [
    "obs_id",
    "source_id",
    "indicator",
    "scope",
    "qualifier",
    "t",
    "given_unit",
    "given_value",
    "given_low",
    "given_high",
    "conversion",
    "count",
    "count_low",
    "count_high",
    "per100",
    "per100_low",
    "per100_high",
    "population",
    "population_source",
    "itu_published_per100",
]


def penetration_table(classified: pd.DataFrame, itu: pd.DataFrame, population: pd.DataFrame,
                      rules: Mapping[str, Any] | None = None) -> pd.DataFrame:  # fmt: skip
    """Mobile counts as per 100 inhabitants and percentages of people as counts, denominator stated.

    One row per national or operator observation (no subgroup, after ``relaunch_date``) of a count of
    subscriptions or users (``count_*`` as given, ``per100_*`` computed) or of a percentage of the population
    (``per100_*`` as given, ``count_*`` computed), and one per ITU year (subscriptions -> per 100, with ITU's
    own published per-100 figure beside it as a check of the denominator). Shares of households are not
    shares of people and are left out. The population is taken at ``t`` (:func:`population_at`).
    """
    r = usability_rules(rules)
    pct_inds = list(r["percent_indicators"])
    count_inds = [r["target_indicator"], *r["user_indicators"]]
    d = classified[
        classified["indicator"].isin(pct_inds + count_inds)
        & classified["scope"].map(lambda s: _scope_parts(s)[0] in ("national", "operator"))
        & classified["subgroup"].map(_blank)
        & (pd.to_datetime(classified["period_end"]) >= pd.Timestamp(r["relaunch_date"]))
    ]
    rows = []
    pops = population_at(d["ref_year"], population).to_dict("records")  # one lookup for every row
    for (_, o), pop in zip(d.iterrows(), pops, strict=True):
        n = float(pop["population"])
        lo = o["value_low"] if o["qualifier"] in ("range", "at_least") else math.nan
        hi = o["value_high"] if o["qualifier"] in ("range", "at_most") else math.nan
        given = (o["value"], lo, hi)
        if o["indicator"] in pct_inds:
            conv, per100, count = "percent of people -> count", given, tuple(x / 100.0 * n for x in given)
        else:
            conv, count, per100 = "count -> per 100 people", given, tuple(100.0 * x / n for x in given)
        rows.append([o["obs_id"], o["source_id"], o["indicator"], o["scope"], o["qualifier"], o["ref_year"],
                     o["unit"], *given, conv, *count, *per100, n, pop["population_source"], math.nan])  # fmt: skip
    for _, y in itu_table(itu).iterrows():
        if pd.isna(y["subscriptions"]):
            continue
        t = int(y["year"]) + 0.5
        pop = population_at([t], population).iloc[0]
        n = float(pop["population"])
        v = float(y["subscriptions"])
        rows.append([f"ITU-{int(y['year'])}", "ITU", "mobile_subscriptions", "national", "exact", t,
                     "subscriptions", v, math.nan, math.nan, "count -> per 100 people", v, math.nan, math.nan,
                     100.0 * v / n, math.nan, math.nan, n, pop["population_source"], y["per100"]])  # fmt: skip
    out = pd.DataFrame(rows, columns=PENETRATION_COLUMNS)
    return out.sort_values(["t", "obs_id"]).reset_index(drop=True)


def write_csv(df: pd.DataFrame, path: Any) -> Path:
    """Write a product CSV deterministically: no index, ``%.10g`` floats, ``\\n`` line ends, UTF-8
    (:func:`helpers.io.write_csv`, atomic)."""
    return hio.write_csv(df, path, float_format="%.10g")


#: Marker of each qualifier in the timeline figures (matplotlib marker, filled?).
QUALIFIER_MARKERS: dict[str, tuple[str, bool]] = {
    "exact": ("o", True),
    "approx": ("o", False),
    "at_least": ("^", True),
    "at_most": ("v", True),
    "range": ("_", True),
}


def timeline_points(obs: pd.DataFrame, indicators: list[str]) -> pd.DataFrame:
    """What the timeline figures draw for each observation of ``indicators``.

    Columns: ``obs_id, source_id, indicator, scope, subgroup, qualifier, usable`` (when classified), ``x``
    (reference date, decimal year), ``x0`` / ``x1`` (period ends, for the horizontal bar), ``y`` (the value,
    the bound of a one-sided figure, the middle of a range), ``y_lo`` / ``y_hi`` (range ends, else NaN),
    ``marker`` and ``filled`` (:data:`QUALIFIER_MARKERS`). Zero values are kept (a log axis must drop them).
    """
    d = obs[obs["indicator"].isin(indicators)]
    d = d if "ref_year" in d else add_reference_dates(d)
    rows = []
    for _, o in d.iterrows():
        y = _interval(o)[0]
        rng = o["qualifier"] == "range"
        marker, filled = QUALIFIER_MARKERS[o["qualifier"]]
        rows.append(
            {
                "obs_id": o["obs_id"],
                "source_id": o["source_id"],
                "indicator": o["indicator"],
                "scope": o["scope"],
                "subgroup": "" if _blank(o.get("subgroup")) else str(o["subgroup"]),
                "qualifier": o["qualifier"],
                "usable": bool(o["usable_national_subs"]) if "usable_national_subs" in o else True,
                "x": float(o["ref_year"]),
                "x0": float(o["year_start"]),
                "x1": float(o["year_end"]),
                "y": float(y),
                "y_lo": float(o["value_low"]) if rng else math.nan,
                "y_hi": float(o["value_high"]) if rng else math.nan,
                "marker": marker,
                "filled": filled,
            }
        )
    cols = ["obs_id", "source_id", "indicator", "scope", "subgroup", "qualifier", "usable", "x", "x0", "x1",
            "y", "y_lo", "y_hi", "marker", "filled"]  # fmt: skip
    return pd.DataFrame(rows, columns=cols).sort_values(["x", "obs_id"]).reset_index(drop=True)
