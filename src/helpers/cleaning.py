"""Cleaning the curated observations (notebook 01): pure functions on DataFrames.

- :func:`add_reference_dates` -- midpoint of each observation's period, as a date and a
  decimal year, and the half-width of the period in years;
- :func:`classify_usability` -- which observations can be used to fit *national mobile
  subscriptions*, and how (as a value or as a lower bound), each exclusion with a written reason;
- :func:`national_series` -- the usable observations as the censored series a curve fit consumes
  (``value`` for points; ``lower`` / ``upper`` for bounds, NaN where open), in subscriptions;
- :func:`penetration` / :func:`population_at` / :func:`percent_to_count` / :func:`count_to_percent`
  -- per 100 inhabitants, with the population denominator named;
- :func:`reconcile` -- where sources disagree about the same period, the spread and a plain-words
  explanation generated from the rows.

Nothing here reads files: the notebook passes the observations
(:func:`helpers.observations.load_observations`), the population and the ITU series
(:mod:`helpers.external`) and the rules (its YAML parameters).

Dates: ``period_end`` is an inclusive day, so a period covers ``[period_start, period_end + 1 day)``;
"2012-01-01 .. 2012-12-31" has midpoint 2012-07-02 = decimal year 2012.5.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

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
}


def _rules(rules: Mapping[str, Any] | None) -> dict[str, Any]:
    """DEFAULT_RULES updated with ``rules``; unknown keys are an error (typos must not pass silently)."""
    rules = dict(rules or {})
    unknown = sorted(set(rules) - set(DEFAULT_RULES))
    if unknown:
        raise KeyError(f"unknown usability rule(s) {unknown}; known: {sorted(DEFAULT_RULES)}")
    return {**DEFAULT_RULES, **rules}


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
    for idx, row in obs[usable & obs["indicator"].isin(list(r["percent_indicators"]))].iterrows():
        same = counts[(counts["source_id"] == row["source_id"]) & (counts["quote"] == row["quote"])]
        if len(same):
            out[idx] = f"restates obs {same['obs_id'].iloc[0]} (same sentence) as a percentage; counted once"
    return out


def classify_usability(obs: pd.DataFrame, rules: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Mark each observation usable (or not) for fitting national mobile subscriptions.

    Adds ``usable_national_subs`` (bool), ``use_as`` (``"value"`` / ``"lower_bound"``, empty when
    excluded), ``exclusion_reason`` (written reason, empty when usable) and ``usability_basis`` (why and
    how a usable row is used).  Rules (first that applies): other indicators; periods ending before
    ``relaunch_date`` (the 2004–2008 ban); household shares; city scope; subgroups; percentages when
    conversion is not allowed; users when ``users_as`` is ``"exclude"``; operator figures (national
    while the operator was alone, else lower bounds); a percentage restating a count from the same
    sentence.  ``rules`` overrides :data:`DEFAULT_RULES` key by key.
    """
    r = _rules(rules)
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
    r = _rules(rules)
    df = obs if "usable_national_subs" in obs else classify_usability(obs, rules)
    df = df if "ref_year" in df else add_reference_dates(df)
    df = df[df["usable_national_subs"]]
    rows = []
    for _, row in df.iterrows():
        v, lo, hi = _bounds(row, float(r["approx_tolerance"]))
        conv, pop, pop_src = "", math.nan, ""
        if row["indicator"] in r["percent_indicators"]:
            p = population_at([row["ref_year"]], population).iloc[0]
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


def reconcile(
    obs: pd.DataFrame,
    itu: pd.DataFrame | None = None,
    *,
    max_gap_days: int = 120,
    rel_tol: float = 0.05,
    families: Mapping[str, list[str]] | None = None,
) -> pd.DataFrame:
    """Pairs of observations (and ITU values) that disagree about the same period.

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
        for i in range(len(sub)):
            for j in range(i + 1, len(sub)):
                a, b = sub.iloc[i], sub.iloc[j]
                if a["source_id"] == "ITU" and b["source_id"] == "ITU":
                    continue
                if a["quote"] == b["quote"] or not _overlap(a, b, gap):
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
