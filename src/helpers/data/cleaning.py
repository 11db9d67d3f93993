"""Step 01's rules: reference dates, usability rules, the observations table (pure functions on DataFrames).

- :func:`usability_rules` -- the rules with defaults filled in, unknown keys rejected;
- :func:`add_reference_dates` -- midpoint of each observation's period, as a date and a
  decimal year, and the half-width of the period in years;
- :func:`classify_usability` -- which observations can be used to fit *national mobile
  subscriptions*, and how (as a value or as a lower bound), each exclusion with a written reason;
- products of step 01: :func:`observations_table`, :func:`usability_summary` and :func:`write_csv`
  (deterministic CSV).

The national series and penetration are in :mod:`helpers.data.national`, the reconciliation of sources in
:mod:`helpers.data.pairs` (raw pairs) and :mod:`helpers.data.reconcile` (curated), the timeline figures in
:mod:`helpers.data.timeline`.

Nothing here reads files: the notebook passes the observations
(:func:`helpers.data.observations.load_observations`), the population and the ITU series
(:mod:`helpers.data.external`) and the rules (its YAML parameters).

Dates: ``period_end`` is an inclusive day, so a period covers ``[period_start, period_end + 1 day)``;
"2012-01-01 .. 2012-12-31" has midpoint 2012-07-02 = decimal year 2012.5.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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


def scope_parts(scope: str) -> tuple[str, str]:
    """("national", "") or ("operator", "koryolink") or ("city", "pyongyang")."""
    kind, _, name = str(scope).partition(":")
    return kind, name


def blank(x: Any) -> bool:
    """True for a missing cell: None, NaN or a string of whitespace."""
    return x is None or (isinstance(x, float) and math.isnan(x)) or (isinstance(x, str) and not x.strip())


def _classify_row(row: pd.Series, r: dict[str, Any]) -> tuple[bool, str, str, str]:
    """(usable, use_as, reason, basis) for one observation; see :func:`classify_usability`."""
    ind, unit = row["indicator"], row["unit"]
    kind, name = scope_parts(row["scope"])
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
    if not blank(row.get("subgroup")):
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


def iso_day(ts: Any) -> str:
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
        out[c] = out[c].map(iso_day)
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


def write_csv(df: pd.DataFrame, path: Any) -> Path:
    """Write a product CSV deterministically: no index, ``%.10g`` floats, ``\\n`` line ends, UTF-8
    (:func:`helpers.io.write_csv`, atomic)."""
    return hio.write_csv(df, path, float_format="%.10g")


#: Marker of each qualifier in the timeline figures (matplotlib marker, filled?).
