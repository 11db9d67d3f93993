"""The national series for the fit and penetration (step 01): usable observations in subscriptions, per 100.

- :func:`national_series` -- the usable observations as the censored series a curve fit consumes
  (``value`` for points; ``lower`` / ``upper`` for bounds, NaN where open), in subscriptions;
- :func:`penetration` / :func:`population_at` / :func:`percent_to_count` / :func:`count_to_percent`
  -- per 100 inhabitants, with the population denominator named;
- products of step 01: :func:`itu_table`, :func:`population_years`, :func:`national_series_table`,
  :func:`penetration_table`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from helpers.data.cleaning import (
    add_reference_dates,
    blank,
    classify_usability,
    iso_day,
    scope_parts,
    usability_rules,
)

# --------------------------------------------------------------------------- population


def population_at(years: Any, population: pd.DataFrame) -> pd.DataFrame:
    """Population at decimal years, linear between mid-year values (``year`` + 0.5).

    ``population`` has columns ``year, population, source`` (:func:`helpers.data.external.population`).
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

#: What a censored observation is to the fit: its half-width in years, the value or the bounds, the censoring,
#: the qualifier, how it is used and any unit conversion (shared by the series and its written table).
FIT_COLUMNS: list[str] = [
    "half_width_years",
    "value",
    "lower",
    "upper",
    "censoring",
    "qualifier",
    "use_as",
    "converted_from",
]
#: Which observation a row is: its id, source, indicator, scope and the rule that made it usable.
ID_COLUMNS: list[str] = [
    "obs_id",
    "source_id",
    "indicator",
    "scope",
    "basis",
]

SERIES_COLUMNS = ["ref_date", "ref_year", *FIT_COLUMNS, "population", "population_source", *ID_COLUMNS]


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


def itu_table(itu: pd.DataFrame) -> pd.DataFrame:
    """The ITU series from the first year with a non-zero value: ``year, subscriptions, per100, source``.

    ``itu`` is :func:`helpers.data.external.itu_mobile`; the zeros published for the years before the service existed
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
    *FIT_COLUMNS,
    *ID_COLUMNS,
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
    s["date"] = s["ref_date"].map(iso_day)
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
        & classified["scope"].map(lambda s: scope_parts(s)[0] in ("national", "operator"))
        & classified["subgroup"].map(blank)
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
