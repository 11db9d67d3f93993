"""Tests of helpers.cleaning on small hand-made tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from helpers import cleaning, config

WB = "World Bank SP.POP.TOTL"
UN = "UN WPP 2024 medium-variant projection (OWID)"
POP = pd.DataFrame(
    {
        "year": [2008, 2009, 2010, 2011, 2012, 2013, 2020, 2021, 2022, 2025, 2026],
        "population": [24e6, 24e6, 25e6, 25e6, 25e6, 25e6, 26e6, 26e6, 26e6, 26e6, 27e6],
        "source": [WB] * 10 + [UN],
    }
)


def _obs(*rows: dict) -> pd.DataFrame:
    """Observation rows with defaults for every column."""
    base = {
        "source_id": "001_x",
        "quote": "q",
        "date_text": "",
        "scope": "national",
        "subgroup": np.nan,
        "value": np.nan,
        "value_low": np.nan,
        "value_high": np.nan,
        "qualifier": "exact",
        "note": "",
    }
    out = []
    for i, r in enumerate(rows):
        row = {**base, "obs_id": f"001-{i + 1:03d}", "quote": f"quote {i}", **r}
        row["period_start"] = pd.Timestamp(row["period_start"])
        row["period_end"] = pd.Timestamp(row["period_end"])
        out.append(row)
    return pd.DataFrame(out)


def _subs(start, end, value, **kw) -> dict:
    return {"period_start": start, "period_end": end, "indicator": "mobile_subscriptions", "unit": "subscriptions",
            "value": value, **kw}  # fmt: skip


# --------------------------------------------------------------------------- reference dates


def test_reference_date_is_midpoint_of_inclusive_period():
    df = cleaning.add_reference_dates(
        _obs(_subs("2012-01-01", "2012-12-31", 1e6), _subs("2010-12-01", "2010-12-31", 1))
    )
    assert df.loc[0, "ref_date"] == pd.Timestamp("2012-07-02")
    assert df.loc[0, "ref_year"] == pytest.approx(2012.5)
    assert df.loc[0, "half_width_years"] == pytest.approx(183 / 365.2425)
    assert df.loc[0, "year_start"] == 2012.0 and df.loc[0, "year_end"] == 2013.0
    assert df.loc[1, "ref_date"] == pd.Timestamp("2010-12-16 12:00")


def test_decimal_year():
    got = cleaning.decimal_year(
        pd.Series(pd.to_datetime(["2020-01-01", "2021-07-02 12:00", "2019-12-31"], format="ISO8601"))
    )
    assert got.tolist() == pytest.approx([2020.0, 2021.5, 2019 + 364 / 365])


# --------------------------------------------------------------------------- usability


def _classified(*rows: dict, **rules) -> pd.DataFrame:
    return cleaning.classify_usability(cleaning.add_reference_dates(_obs(*rows)), rules)


def test_ban_period_excludes_2003_figure_with_reason():
    df = _classified(
        {
            "period_start": "2003-11-01",
            "period_end": "2003-11-30",
            "indicator": "mobile_users",
            "unit": "people",
            "value": 20000,
        },  # fmt: skip
    )
    assert not df.loc[0, "usable_national_subs"]
    assert df.loc[0, "exclusion_reason"] == "precedes the 2004–2008 ban / relaunch"


def test_operator_figure_is_lower_bound_after_exclusivity_and_national_before():
    df = _classified(
        _subs("2010-12-01", "2010-12-31", 432000, scope="operator:koryolink"),
        _subs("2015-01-01", "2015-12-31", 3e6, scope="operator:koryolink"),
    )
    assert df["usable_national_subs"].all()
    assert df.loc[0, "use_as"] == "value" and "only operator" in df.loc[0, "usability_basis"]
    assert df.loc[1, "use_as"] == "lower_bound"
    assert "lower bound of the national total" in df.loc[1, "usability_basis"]


def test_operator_rule_can_exclude():
    df = _classified(
        _subs("2015-01-01", "2015-12-31", 3e6, scope="operator:koryolink"), operator_as_lower_bound=False
    )
    assert not df.loc[0, "usable_national_subs"]
    assert "one operator's figure (Koryolink)" in df.loc[0, "exclusion_reason"]


def test_city_households_subgroup_and_other_indicators_excluded_with_reasons():
    pct = {"period_start": "2017-01-01", "period_end": "2017-12-31", "unit": "percent", "value": 69}
    df = _classified(
        {**pct, "indicator": "mobile_ownership_pct", "scope": "city:pyongyang"},
        {**pct, "indicator": "households_with_mobile_pct"},
        {**pct, "indicator": "mobile_ownership_pct", "subgroup": "ages 20-50"},
        {**pct, "indicator": "network_population_coverage_pct"},
    )
    assert not df["usable_national_subs"].any()
    reasons = df["exclusion_reason"].tolist()
    assert reasons[0] == "a Pyongyang figure is not national (scope city:pyongyang)"
    assert reasons[1].startswith("households are not people")
    assert reasons[2] == "refers to a subgroup (ages 20-50), not the whole population"
    assert "indicator network_population_coverage_pct" in reasons[3]


def test_users_vs_subscriptions_rule():
    users = {"period_start": "2011-08-01", "period_end": "2011-08-31", "indicator": "mobile_users", "unit": "people",
             "value": 660000}  # fmt: skip
    assert _classified(users).loc[0, "use_as"] == "lower_bound"
    excl = _classified(users, users_as="exclude")
    assert not excl.loc[0, "usable_national_subs"]
    assert "users (people), not subscriptions" in excl.loc[0, "exclusion_reason"]


def test_percent_conversion_only_when_allowed_and_restatement_counted_once():
    pct = {"period_start": "2020-01-01", "period_end": "2020-12-31", "indicator": "mobile_penetration_pct",
           "unit": "percent", "value": 18}  # fmt: skip
    df = _classified(
        _subs("2020-01-01", "2020-12-31", 6e6, quote="6 million (about 18%)"),
        {**pct, "quote": "6 million (about 18%)"},
        pct,
    )
    assert df["usable_national_subs"].tolist() == [True, False, True]
    assert (
        df.loc[1, "exclusion_reason"] == "restates obs 001-001 (same sentence) as a percentage; counted once"
    )
    off = _classified(pct, percent_via_population=False)
    assert "do not allow converting" in off.loc[0, "exclusion_reason"]


def test_upper_bound_of_a_part_is_excluded():
    df = _classified(
        _subs(
            "2013-04-01", "2013-04-30", 2e6, scope="operator:koryolink", value_high=2e6, qualifier="at_most"
        )
    )
    assert not df.loc[0, "usable_national_subs"]
    assert "upper bound of a part" in df.loc[0, "exclusion_reason"]


def test_every_exclusion_has_a_reason_and_unknown_rules_fail():
    df = _classified(
        _subs("2003-01-01", "2003-12-31", 1), {**_subs("2020-01-01", "2020-12-31", 5), "indicator": "tv_sets"}
    )
    assert (df.loc[~df["usable_national_subs"], "exclusion_reason"].str.len() > 10).all()
    with pytest.raises(KeyError, match="unknown usability rule"):
        cleaning.classify_usability(_obs(_subs("2020-01-01", "2020-12-31", 5)), {"ban_years": [2004, 2008]})


# --------------------------------------------------------------------------- national series


def test_national_series_bounds_by_qualifier():
    df = _classified(
        _subs("2013-01-01", "2013-03-13", 1e6),
        _subs("2012-02-01", "2012-02-29", 1e6, value_low=1e6, qualifier="at_least"),
        _subs("2020-01-01", "2022-12-31", np.nan, value_low=6e6, value_high=7e6, qualifier="range"),
        _subs("2020-01-01", "2020-12-31", 6e6, qualifier="approx"),
        _subs("2021-01-01", "2021-12-31", 7e6, value_high=7e6, qualifier="at_most"),
    )
    s = cleaning.national_series(df, POP).set_index("obs_id")
    assert list(s.columns) == [c for c in cleaning.SERIES_COLUMNS if c != "obs_id"]
    assert s.loc["001-001", ["value", "censoring"]].tolist() == [1e6, "point"]
    assert math.isnan(s.loc["001-001", "lower"]) and math.isnan(s.loc["001-001", "upper"])
    assert s.loc["001-002", "lower"] == 1e6 and math.isnan(s.loc["001-002", "value"])
    assert s.loc["001-003", ["lower", "upper", "censoring"]].tolist() == [6e6, 7e6, "interval"]
    assert s.loc["001-004", "value"] == 6e6
    assert s.loc["001-005", ["upper", "censoring"]].tolist() == [7e6, "upper_bound"]
    assert s["ref_year"].is_monotonic_increasing


def test_national_series_approx_tolerance_and_lower_bound_use():
    df = _classified(
        _subs("2020-01-01", "2020-12-31", 6e6, qualifier="approx"),
        _subs("2015-01-01", "2015-12-31", 3e6, scope="operator:koryolink"),
        approx_tolerance=0.1,
    )
    s = cleaning.national_series(df, POP, {"approx_tolerance": 0.1}).set_index("obs_id")
    assert s.loc["001-001", ["lower", "upper"]].tolist() == pytest.approx([5.4e6, 6.6e6])
    assert math.isnan(s.loc["001-001", "value"])
    assert s.loc["001-002", ["lower", "censoring", "use_as"]].tolist() == [3e6, "lower_bound", "lower_bound"]
    assert math.isnan(s.loc["001-002", "upper"])


def test_national_series_converts_percentages_through_population():
    pct = {"period_start": "2025-01-01", "period_end": "2025-12-31", "indicator": "mobile_penetration_pct",
           "unit": "percent", "value": 28, "qualifier": "approx"}  # fmt: skip
    s = cleaning.national_series(_classified(pct), POP)
    assert s.loc[0, "value"] == pytest.approx(0.28 * 26e6)
    assert s.loc[0, "converted_from"] == "percent"
    assert s.loc[0, "population_source"] == WB


# --------------------------------------------------------------------------- population and penetration


def test_population_at_interpolates_between_mid_years_and_names_source():
    p = cleaning.population_at([2009.5, 2010.0, 2025.9, 2026.5, 2026.9, 2008.1], POP)
    assert p["population"].tolist() == pytest.approx([24e6, 24.5e6, 26.4e6, 27e6, 27e6, 24e6])
    assert p["population_source"].tolist() == [WB, WB, f"{WB} + {UN}", UN, UN, WB]
    assert p["population_year"].tolist() == [2009, 2010, 2025, 2026, 2026, 2008]
    with pytest.raises(ValueError, match="no population for decimal year"):
        cleaning.population_at([1990.0], POP)


def test_conversions_both_ways_round_trip():
    years = [2010.5, 2020.5]
    counts = cleaning.percent_to_count([10, 20], years, POP)
    assert counts.tolist() == pytest.approx([2.5e6, 5.2e6])
    assert cleaning.count_to_percent(counts, years, POP).tolist() == pytest.approx([10, 20])


def test_penetration_per100_with_denominator():
    series = pd.DataFrame({"ref_year": [2010.5, 2020.5], "value": [2.5e6, np.nan], "lower": [np.nan, 5.2e6]})
    out = cleaning.penetration(series, POP)
    assert out["per100_value"].iloc[0] == pytest.approx(10)
    assert out["per100_lower"].iloc[1] == pytest.approx(20)
    assert out["population_source"].tolist() == [WB, WB]
    itu = pd.DataFrame({"year": [2026], "subscriptions": [2.7e6]})
    got = cleaning.penetration(itu, POP, year_col="year")
    assert got.loc[0, "per100_subscriptions"] == pytest.approx(10)
    assert got.loc[0, "population_source"] == UN


# --------------------------------------------------------------------------- reconciliation


def test_reconcile_finds_2013_disagreement_with_explanation():
    df = _obs(
        _subs("2013-01-01", "2013-03-13", 1e6, source_id="004_x"),
        _subs(
            "2013-01-01", "2013-12-31", 2e6, source_id="000_x", scope="operator:koryolink", qualifier="approx"
        ),
        _subs("2013-01-01", "2013-03-13", 1.02e6, source_id="005_x"),  # agrees within 5 %
        _subs("2018-01-01", "2018-12-31", 9e6, source_id="006_x"),  # another period
    )
    rec = cleaning.reconcile(df)
    assert len(rec) == 2  # 001 vs 002 and 003 vs 002
    row = rec.iloc[0]
    assert (row["obs_a"], row["obs_b"]) == ("001-001", "001-002")
    assert row["ratio"] == pytest.approx(2.0) and row["abs_diff"] == pytest.approx(1e6)
    assert "different coverage (national vs operator Koryolink only)" in row["explanation"]
    assert "different dates (2013-01-01..2013-03-13 vs 2013-01-01..2013-12-31)" in row["explanation"]


def test_reconcile_households_vs_people_and_itu():
    df = _obs(
        {
            "period_start": "2017-01-01",
            "period_end": "2017-12-31",
            "indicator": "households_with_mobile_pct",
            "unit": "percent",
            "value": 69,
        },  # fmt: skip
        {
            "period_start": "2017-05-01",
            "period_end": "2017-08-31",
            "indicator": "mobile_penetration_pct",
            "unit": "percent",
            "value": 18,
            "qualifier": "approx",
        },  # fmt: skip
        _subs("2020-01-01", "2020-12-31", 6e6, qualifier="approx"),
    )
    itu = pd.DataFrame({"year": [2020], "subscriptions": [4.9e6], "per100": [19.0], "source": ["itu file"]})
    rec = cleaning.reconcile(df, itu)
    pct = rec[rec["family"] == "mobile share (%)"].iloc[0]
    assert "share of households with a phone vs subscriptions per 100 people" in pct["explanation"]
    assert pct["ratio"] == pytest.approx(69 / 18)
    vs_itu = rec[rec["obs_b"] == "ITU-2020-subs"].iloc[0]
    assert vs_itu["obs_a"] == "001-003"
    assert "end-of-year" in vs_itu["explanation"]


def test_reconcile_overlapping_intervals_do_not_disagree():
    df = _obs(
        _subs("2020-01-01", "2022-12-31", np.nan, value_low=6e6, value_high=7e6, qualifier="range"),
        _subs("2020-01-01", "2020-12-31", 6e6, qualifier="approx"),
        _subs("2021-01-01", "2021-12-31", 6.2e6, value_low=6.2e6, qualifier="at_least", source_id="002_x"),
    )
    assert cleaning.reconcile(df).empty


def test_explanation_when_nothing_differs():
    a = _obs(_subs("2020-01-01", "2020-12-31", 6e6), _subs("2020-01-01", "2020-12-31", 9e6)).iloc
    assert (
        cleaning.explain_disagreement(a[0], a[1])
        == "same indicator, scope and period: the sources simply disagree"
    )


# --------------------------------------------------------------------------- the real file


@pytest.mark.skipif(not config.OBSERVATIONS_CSV.exists(), reason="data/raw/observations.csv not merged yet")
def test_real_observations_every_exclusion_has_a_reason():
    from helpers.observations import load_observations

    cl = cleaning.classify_usability(cleaning.add_reference_dates(load_observations()))
    excluded = cl[~cl["usable_national_subs"]]
    assert (excluded["exclusion_reason"].str.len() > 0).all()
    assert (cl.loc[cl["usable_national_subs"], "exclusion_reason"] == "").all()
    mobile = cl["indicator"].isin(["mobile_subscriptions", "mobile_users"])
    before = cl[mobile & (cl["period_end"] < pd.Timestamp("2008-12-01"))]
    assert (before["exclusion_reason"] == cleaning.DEFAULT_RULES["ban_reason"]).all()
    assert not cl.loc[cl["scope"].str.startswith("city:"), "usable_national_subs"].any()
    series = cleaning.national_series(cl, _flat_population())
    assert len(series) > 0 and series["obs_id"].is_unique
    has_point_or_bound = series[["value", "lower", "upper"]].notna().any(axis=1)
    assert has_point_or_bound.all()


def _flat_population() -> pd.DataFrame:
    """A flat population table covering every year the real observations need (values irrelevant here)."""
    return pd.DataFrame({"year": range(1990, 2031), "population": 25e6, "source": WB})
