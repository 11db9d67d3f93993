"""Tests of helpers.data.cleaning, national, pairs, reconcile and timeline on small hand-made tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from helpers import config
from helpers.data import cleaning, national, pairs, reconcile, timeline

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
    s = national.national_series(df, POP).set_index("obs_id")
    assert list(s.columns) == [c for c in national.SERIES_COLUMNS if c != "obs_id"]
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
    s = national.national_series(df, POP, {"approx_tolerance": 0.1}).set_index("obs_id")
    assert s.loc["001-001", ["lower", "upper"]].tolist() == pytest.approx([5.4e6, 6.6e6])
    assert math.isnan(s.loc["001-001", "value"])
    assert s.loc["001-002", ["lower", "censoring", "use_as"]].tolist() == [3e6, "lower_bound", "lower_bound"]
    assert math.isnan(s.loc["001-002", "upper"])


def test_national_series_converts_percentages_through_population():
    pct = {"period_start": "2025-01-01", "period_end": "2025-12-31", "indicator": "mobile_penetration_pct",
           "unit": "percent", "value": 28, "qualifier": "approx"}  # fmt: skip
    s = national.national_series(_classified(pct), POP)
    assert s.loc[0, "value"] == pytest.approx(0.28 * 26e6)
    assert s.loc[0, "converted_from"] == "percent"
    assert s.loc[0, "population_source"] == WB


# --------------------------------------------------------------------------- population and penetration


def test_population_at_interpolates_between_mid_years_and_names_source():
    p = national.population_at([2009.5, 2010.0, 2025.9, 2026.5, 2026.9, 2008.1], POP)
    assert p["population"].tolist() == pytest.approx([24e6, 24.5e6, 26.4e6, 27e6, 27e6, 24e6])
    assert p["population_source"].tolist() == [WB, WB, f"{WB} + {UN}", UN, UN, WB]
    assert p["population_year"].tolist() == [2009, 2010, 2025, 2026, 2026, 2008]
    with pytest.raises(ValueError, match="no population for decimal year"):
        national.population_at([1990.0], POP)


def test_conversions_both_ways_round_trip():
    years = [2010.5, 2020.5]
    counts = national.percent_to_count([10, 20], years, POP)
    assert counts.tolist() == pytest.approx([2.5e6, 5.2e6])
    assert national.count_to_percent(counts, years, POP).tolist() == pytest.approx([10, 20])


def test_penetration_per100_with_denominator():
    series = pd.DataFrame({"ref_year": [2010.5, 2020.5], "value": [2.5e6, np.nan], "lower": [np.nan, 5.2e6]})
    out = national.penetration(series, POP)
    assert out["per100_value"].iloc[0] == pytest.approx(10)
    assert out["per100_lower"].iloc[1] == pytest.approx(20)
    assert out["population_source"].tolist() == [WB, WB]
    itu = pd.DataFrame({"year": [2026], "subscriptions": [2.7e6]})
    got = national.penetration(itu, POP, year_col="year")
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
    rec = pairs.reconcile(df)
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
    rec = pairs.reconcile(df, itu)
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
    assert pairs.reconcile(df).empty


def test_explanation_when_nothing_differs():
    a = _obs(_subs("2020-01-01", "2020-12-31", 6e6), _subs("2020-01-01", "2020-12-31", 9e6)).iloc
    assert (
        pairs.explain_disagreement(a[0], a[1])
        == "same indicator, scope and period: the sources simply disagree"
    )


# --------------------------------------------------------------------------- the real file


@pytest.mark.skipif(not config.OBSERVATIONS_CSV.exists(), reason="data/raw/observations.csv not merged yet")
def test_real_observations_every_exclusion_has_a_reason():
    from helpers.data.observations import load_observations

    cl = cleaning.classify_usability(cleaning.add_reference_dates(load_observations()))
    excluded = cl[~cl["usable_national_subs"]]
    assert (excluded["exclusion_reason"].str.len() > 0).all()
    assert (cl.loc[cl["usable_national_subs"], "exclusion_reason"] == "").all()
    mobile = cl["indicator"].isin(["mobile_subscriptions", "mobile_users"])
    before = cl[mobile & (cl["period_end"] < pd.Timestamp("2008-12-01"))]
    assert (before["exclusion_reason"] == cleaning.DEFAULT_RULES["ban_reason"]).all()
    assert not cl.loc[cl["scope"].str.startswith("city:"), "usable_national_subs"].any()
    series = national.national_series(cl, _flat_population())
    assert len(series) > 0 and series["obs_id"].is_unique
    has_point_or_bound = series[["value", "lower", "upper"]].notna().any(axis=1)
    assert has_point_or_bound.all()


def _flat_population() -> pd.DataFrame:
    """A flat population table covering every year the real observations need (values irrelevant here)."""
    return pd.DataFrame({"year": range(1990, 2031), "population": 25e6, "source": WB})


# --------------------------------------------------------------------------- curated reconciliation


def _pct(start, end, value, indicator="mobile_penetration_pct", **kw) -> dict:
    return {"period_start": start, "period_end": end, "indicator": indicator, "unit": "percent", "value": value,
            **kw}  # fmt: skip


def _users(start, end, value, **kw) -> dict:
    return {"period_start": start, "period_end": end, "indicator": "mobile_users", "unit": "people",
            "value": value, **kw}  # fmt: skip


ALL = {"keep": list(reconcile.VERDICTS), "max_pairs_per_observation": None}


def test_expected_order_parts_growth_and_definitions():
    o = _obs(
        _subs("2013-01-01", "2013-03-13", 1e6),  # national
        _subs("2013-01-01", "2013-12-31", 2e6, scope="operator:koryolink"),  # a part after 2011
        _subs("2010-12-01", "2010-12-31", 432000, scope="operator:koryolink"),  # alone: national
        _users("2010-09-01", "2010-09-30", 301000),
        _pct("2017-01-01", "2017-12-31", 69, indicator="households_with_mobile_pct"),
        _pct("2017-05-01", "2017-08-31", 15.5),
    )
    o = cleaning.add_reference_dates(o).iloc
    assert reconcile.expected_order(o[0], o[1])[0] == "a >= b"
    order, why = reconcile.expected_order(o[3], o[2])  # users earlier than subscriptions of the sole operator
    assert order == "a <= b" and why == [
        "users cannot exceed subscriptions",
        "001-004 is earlier and the market grew",
    ]
    assert reconcile.expected_order(o[4], o[5])[0] == "not comparable"
    assert reconcile.expected_order(o[2], o[0])[0] == "a <= b"  # growth only
    assert reconcile.expected_order(o[0], o[0])[0] == "a = b"
    assert reconcile.expected_order(o[3], o[2], {"assume_growth": False})[0] == "a <= b"


def test_reconcile_sources_verdicts():
    df = _obs(
        _subs("2013-01-01", "2013-03-13", 1e6, source_id="004_x"),
        _subs(
            "2013-01-01", "2013-12-31", 2e6, source_id="000_x", scope="operator:koryolink", qualifier="approx"
        ),
        _users("2010-09-01", "2010-09-30", 301000),
        _subs("2010-12-01", "2010-12-31", 432000, scope="operator:koryolink", source_id="002_x"),
        _subs("2015-01-01", "2015-12-31", 3e6, scope="operator:koryolink", source_id="000_x"),
        _subs("2015-01-01", "2015-12-31", 3.1e6, scope="operator:koryolink", source_id="002_x"),
    )
    rec = reconcile.reconcile_sources(df, params=ALL).set_index(["obs_a", "obs_b"])
    part = rec.loc[("001-001", "001-002")]
    assert part["verdict"] == "conflict" and part["expected"] == "a >= b"
    assert (
        "should not exceed" in part["explanation"]
        and "only part of the national total" in part["explanation"]
    )
    users = rec.loc[("001-003", "001-004")]
    assert users["verdict"] == "explainable" and users["ratio"] == pytest.approx(432 / 301)
    assert "users cannot exceed subscriptions" in users["explanation"]
    assert rec.loc[("001-005", "001-006"), "verdict"] == "agree"
    assert list(reconcile.reconcile_sources(df).columns) == reconcile.RECONCILIATION_COLUMNS
    only = reconcile.reconcile_sources(df, params={"keep": ["conflict"]})
    assert only["verdict"].tolist() == ["conflict"]


def test_reconcile_sources_households_are_definitional_and_cities_left_out():
    df = _obs(
        _pct("2017-01-01", "2017-12-31", 69, indicator="households_with_mobile_pct"),
        _pct("2017-05-01", "2017-08-31", 15.5, qualifier="approx"),
        _pct("2017-01-01", "2017-12-31", 70, indicator="mobile_ownership_pct", scope="city:pyongyang"),
        _pct("2017-01-01", "2017-12-31", 60, indicator="mobile_ownership_pct", subgroup="ages 20-50"),
    )
    rec = reconcile.reconcile_sources(df, params=ALL)
    assert len(rec) == 1
    row = rec.iloc[0]
    assert row["verdict"] == "definitional" and row["common_unit"] == "per 100 people"
    assert "share of households with a phone" in row["explanation"]


def test_reconcile_sources_itu_bracket_and_same_year():
    df = _obs(_subs("2013-01-01", "2013-03-13", 1e6))
    itu = pd.DataFrame({"year": [2012, 2013], "subscriptions": [1.7e6, 2.42e6], "per100": [6.7, 9.6],
                        "source": ["f", "f"]})  # fmt: skip
    rec = reconcile.reconcile_sources(df, itu, params=ALL).set_index("obs_b")
    assert rec.loc["ITU-2012-subs", "verdict"] == "conflict"  # end-2012 is earlier and already larger
    assert rec.loc["ITU-2013-subs", "verdict"] == "explainable"  # growth during 2013
    assert "end-of-year" in rec.loc["ITU-2012-subs", "explanation"]
    same = reconcile.reconcile_sources(df, itu, params={**ALL, "itu_match": "same_year"})
    assert same["obs_b"].tolist() == ["ITU-2013-subs"]
    best = reconcile.reconcile_sources(df, itu)  # one ITU pair per observation: the conflict
    assert best["obs_b"].tolist() == ["ITU-2012-subs"]
    assert reconcile.reconcile_sources(df, itu, params={"itu_match": "none"}).empty


def test_reconcile_sources_restatement_through_population():
    quote = "roughly 6 million (about 18% of the population)"
    df = _obs(
        _subs("2020-01-01", "2020-12-31", 6e6, qualifier="approx", quote=quote),
        _pct("2020-01-01", "2020-12-31", 18, qualifier="approx", quote=quote),
    )
    rec = reconcile.reconcile_sources(df, population=POP, params=ALL)
    assert len(rec) == 1
    row = rec.iloc[0]
    assert row["family"] == "count vs its own percentage" and row["verdict"] == "conflict"
    assert row["compared_b"] == pytest.approx(100 * 6e6 / 26e6)
    assert row["population_source"] == f"{WB} (2020)"
    assert "would imply a population of 33.3 million" in row["explanation"]
    assert reconcile.reconcile_sources(df, params=ALL).empty  # no population: no restatement check


def test_reconcile_sources_parameters_are_checked():
    df = _obs(_subs("2020-01-01", "2020-12-31", 6e6))
    with pytest.raises(KeyError, match="unknown reconciliation parameter"):
        reconcile.reconcile_sources(df, params={"max_gap": 3})
    with pytest.raises(ValueError, match="unknown verdict"):
        reconcile.reconcile_sources(df, params={"keep": ["disagree"]})
    with pytest.raises(ValueError, match="itu_match"):
        reconcile.reconcile_sources(df, params={"itu_match": "nearest"})


def test_reconcile_sources_before_from_date_ignored_and_zero_ratio_is_nan():
    df = _obs(
        _users("2000-01-01", "2003-12-31", 0, qualifier="approx"),
        _users("2003-11-01", "2003-11-30", 20000, source_id="002_x"),
    )
    assert reconcile.reconcile_sources(df, params=ALL).empty
    rec = reconcile.reconcile_sources(df, params={**ALL, "from_date": "1990-01-01"})
    assert len(rec) == 1 and math.isnan(rec.loc[0, "ratio"])


# --------------------------------------------------------------------------- products


def test_observations_table_columns_and_dates():
    cl = _classified(_subs("2010-12-01", "2010-12-31", 432000), _subs("2012-01-01", "2012-12-31", 1e6))
    t = cleaning.observations_table(cl)
    assert list(t.columns) == cleaning.OBSERVATION_COLUMNS
    assert t["ref_date"].tolist() == ["2010-12-16T12:00", "2012-07-02"]
    assert t["period_start"].tolist() == ["2010-12-01", "2012-01-01"]


def test_usability_summary_groups_reasons():
    cl = _classified(
        _subs("2003-01-01", "2003-12-31", 1),
        {**_subs("2020-01-01", "2020-12-31", 5), "indicator": "tv_sets"},
        {**_subs("2020-01-01", "2020-12-31", 5), "indicator": "radio_sets"},
        _subs("2020-01-01", "2020-12-31", 6e6),
    )
    s = cleaning.usability_summary(cl)
    assert s.to_dict("records") == [
        {"status": "usable", "reason": "used as value", "n": 1},
        {"status": "excluded", "reason": "not a count or share of mobile subscriptions or users (other indicators)",
         "n": 2},
        {"status": "excluded", "reason": cleaning.DEFAULT_RULES["ban_reason"], "n": 1},
    ]  # fmt: skip


def test_itu_table_and_population_years():
    itu = pd.DataFrame({"year": [2007, 2008, 2009, 2010], "subscriptions": [0.0, 0.0, 69261.0, np.nan],
                        "per100": [0.0, 0.0, 0.28, 1.7], "source": ["s"] * 4})  # fmt: skip
    t = national.itu_table(itu)
    assert t["year"].tolist() == [2009, 2010] and list(t.columns) == [
        "year",
        "subscriptions",
        "per100",
        "source",
    ]
    p = national.population_years(POP, 2020, 2022)
    assert p["year"].tolist() == [2020, 2021, 2022] and list(p.columns) == ["year", "population", "source"]
    with pytest.raises(ValueError, match=r"no population for year\(s\) \[2023, 2024\]"):
        national.population_years(POP, 2022, 2025)


def test_national_series_table_adds_penetration_and_itu():
    cl = _classified(
        _subs("2020-01-01", "2020-12-31", 5.2e6),
        _pct("2025-01-01", "2025-12-31", 28, qualifier="approx"),
    )
    itu = pd.DataFrame({"year": [2020], "subscriptions": [6e6], "per100": [23.0], "source": ["f"]})
    s = national.national_series_table(cl, itu, POP)
    assert list(s.columns) == national.NATIONAL_SERIES_COLUMNS
    assert s.loc[0, "per100_value"] == pytest.approx(20.0)
    assert s.loc[0, ["itu_year", "itu_subscriptions", "itu_per100"]].tolist() == [2020, 6e6, 23.0]
    assert math.isnan(s.loc[1, "itu_subscriptions"])
    assert s.loc[1, "per100_value"] == pytest.approx(28.0) and s.loc[1, "value"] == pytest.approx(0.28 * 26e6)
    assert (s["t_start"] < s["t"]).all() and (s["t"] < s["t_end"]).all()
    assert s.loc[0, "date"] == "2020-07-02"


def test_penetration_table_both_ways_and_itu_check():
    cl = _classified(
        _subs("2020-01-01", "2020-12-31", 5.2e6),
        _pct("2020-01-01", "2020-12-31", 18, qualifier="approx"),
        _pct("2017-01-01", "2017-12-31", 69, indicator="households_with_mobile_pct"),
        _subs("2003-01-01", "2003-12-31", 20000),
    )
    itu = pd.DataFrame({"year": [2020], "subscriptions": [5.2e6], "per100": [20.0], "source": ["f"]})
    pen = national.penetration_table(cl, itu, POP).set_index("obs_id")
    assert list(pen.reset_index().columns) == national.PENETRATION_COLUMNS
    assert sorted(pen.index) == ["001-001", "001-002", "ITU-2020"]  # households and pre-ban rows left out
    assert pen.loc["001-001", "per100"] == pytest.approx(20.0)
    assert pen.loc["001-002", "count"] == pytest.approx(0.18 * 26e6)
    assert pen.loc["001-002", "conversion"] == "percent of people -> count"
    assert pen.loc["ITU-2020", "per100"] == pytest.approx(pen.loc["ITU-2020", "itu_published_per100"])
    assert (pen["population_source"] == WB).all()


def test_write_csv_is_deterministic(tmp_path):
    df = pd.DataFrame({"a": [1.0, np.nan, 26232400.0], "b": ["x", "y", "z"]})
    cleaning.write_csv(df, tmp_path / "one.csv")
    cleaning.write_csv(df, tmp_path / "two.csv")
    text = (tmp_path / "one.csv").read_bytes()
    assert text == (tmp_path / "two.csv").read_bytes()
    assert text == b"a,b\n1,x\n,y\n26232400,z\n"


def test_timeline_points_markers():
    cl = _classified(
        _subs("2012-02-01", "2012-02-29", 1e6, value_low=1e6, qualifier="at_least"),
        _subs("2020-01-01", "2022-12-31", np.nan, value_low=6e6, value_high=7e6, qualifier="range"),
        _subs("2020-01-01", "2020-12-31", 6e6, qualifier="approx"),
        {**_subs("2020-01-01", "2020-12-31", 5), "indicator": "tv_sets"},
    )
    pts = timeline.timeline_points(cl, ["mobile_subscriptions"]).set_index("obs_id")
    assert len(pts) == 3
    assert pts.loc["001-001", ["marker", "filled", "y"]].tolist() == ["^", True, 1e6]
    assert pts.loc["001-002", ["y", "y_lo", "y_hi"]].tolist() == [6.5e6, 6e6, 7e6]
    assert pts.loc["001-003", ["marker", "filled"]].tolist() == ["o", False]
    assert pts.loc["001-002", "x0"] == 2020.0 and pts.loc["001-002", "x1"] == 2023.0


@pytest.mark.skipif(not config.OBSERVATIONS_CSV.exists(), reason="data/raw/observations.csv not merged yet")
def test_real_reconciliation_shows_the_known_disagreements():
    from helpers.data import external
    from helpers.data.observations import load_observations

    obs = load_observations()
    rec = reconcile.reconcile_sources(obs, external.itu_mobile("PRK"), external.population("PRK"))
    pairs = {(a, b): v for a, b, v in rec[["obs_a", "obs_b", "verdict"]].itertuples(index=False)}
    assert pairs[("004-001", "000-005")] == "conflict"  # 2013: 1 million national vs ~2 million Koryolink
    assert pairs[("004-001", "ITU-2012-subs")] == "conflict"  # ... and ITU already 1.7 million at end-2012
    assert pairs[("000-010", "000-009")] == "conflict"  # 2020: "6 million (about 18%)" is 23 per 100
    assert pairs[("000-009", "ITU-2020-subs")] == "agree"
    assert pairs[("000-010", "ITU-2020-per100")] == "conflict"
    assert pairs[("000-028", "ITU-2017-per100")] == "definitional"  # 69% of households vs per 100 people
    assert pairs[("001-006", "001-009")] == "explainable"  # 301,000 users (Sep) vs Orascom 432,000 (Dec)
    assert pairs[("001-009", "ITU-2010-subs")] == "agree"
    assert not rec["obs_a"].isin(["000-014", "000-030", "001-014", "000-027", "001-004"]).any()


def test_exclude_obs_by_name_with_reason():
    df = _classified(
        _subs("2020-01-01", "2020-12-31", 6e6),
        _subs("2020-01-01", "2022-12-31", np.nan, value_low=6e6, value_high=7e6, qualifier="range"),
        exclude_obs={"001-002": "restates 001-001"},
    )
    assert df["usable_national_subs"].tolist() == [True, False]
    assert df.loc[1, "exclusion_reason"] == "excluded by name: restates 001-001"
    summary = cleaning.usability_summary(df)
    assert summary.loc[summary["status"] == "excluded", "reason"].tolist() == [
        "excluded by name (rule exclude_obs; reasons in the table)"
    ]


# --------------------------------------------------------------------------- scale: sweep == pairwise
def _reconcile_sources_pairwise(obs, itu=None, population=None, params=None) -> pd.DataFrame:
    """The former O(n²) implementation of :func:`reconcile.reconcile_sources`, kept as the reference."""
    r = reconcile.reconciliation_rules(params)
    d = reconcile._comparable(obs, r)
    fam = d["indicator"].map(lambda i: r["measures"][i][0])
    gap = pd.Timedelta(days=int(r["max_gap_days"]))
    rows = []
    for i in range(len(d)):
        for j in range(i + 1, len(d)):
            a, b = d.iloc[i], d.iloc[j]
            if fam.iloc[i] != fam.iloc[j] or a["quote"] == b["quote"] or not pairs._overlap(a, b, gap):
                continue
            if (a["ref_date"], a["obs_id"]) > (b["ref_date"], b["obs_id"]):
                a, b = b, a
            unit = "per 100 people" if fam.iloc[i] == "share" else "count"
            rows.append(
                reconcile._pair_row(
                    a, b, r, unit, pairs.value_interval(a), pairs.value_interval(b), "document"
                )
            )
    if itu is not None and len(itu) and r["itu_match"] != "none":
        iobs = cleaning.add_reference_dates(pairs.itu_as_observations(itu))
        for i, a in d.iterrows():
            want = "mobile_subscriptions" if fam.iloc[i] == "count" else "mobile_penetration_pct"
            for _, b in reconcile._itu_matches(a, iobs[iobs["indicator"] == want], r["itu_match"]).iterrows():
                unit = "per 100 people" if fam.iloc[i] == "share" else "count"
                rows.append(
                    reconcile._pair_row(
                        a, b, r, unit, pairs.value_interval(a), pairs.value_interval(b), "itu"
                    )
                )
    if r["restatements"] and population is not None:
        rows += reconcile._restatement_rows(d, population, r)
    out = pd.DataFrame(rows, columns=[*reconcile.RECONCILIATION_COLUMNS, "_kind"])
    out = out[out["verdict"].isin(list(r["keep"]))]
    out = reconcile._most_informative(out, r["max_pairs_per_observation"])
    out = out.assign(_v=out["verdict"].map(reconcile.VERDICTS.index)).sort_values(
        ["period", "family", "_v", "obs_a", "obs_b"]
    )
    return out[reconcile.RECONCILIATION_COLUMNS].reset_index(drop=True)


def _real_inputs():
    import yaml

    from helpers.data import external
    from helpers.data.observations import load_observations

    params = yaml.safe_load((config.PARAMS / "01_clean.yaml").read_text())["reconciliation"]
    return load_observations(), external.itu_mobile("PRK"), external.population("PRK"), params


def _csv(df: pd.DataFrame) -> str:
    return df.to_csv(index=False, float_format="%.10g", lineterminator="\n")


@pytest.mark.parametrize(
    "override",
    [{}, {"max_pairs_per_observation": None}, {"itu_match": "same_year", "max_gap_days": 400}],
    ids=["pipeline", "all-pairs", "same-year"],
)
def test_fast_reconciliation_equals_pairwise_on_the_real_data(override):
    obs, itu, pop, params = _real_inputs()
    params = {**params, **override}
    fast = reconcile.reconcile_sources(obs, itu, pop, params)
    slow = _reconcile_sources_pairwise(obs, itu, pop, params)
    assert len(fast) > 10
    pd.testing.assert_frame_equal(fast, slow)
    assert _csv(fast) == _csv(slow)  # byte-identical product


@pytest.mark.slow  # multi-second all-pairs reference on synthetic rows (make test runs it; the quick tier does not)
def test_fast_reconciliation_equals_pairwise_on_synthetic_rows(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bench_scale", config.ROOT / "benchmarks" / "bench_scale.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.make_project(90, tmp_path, seed=7)
    obs = bench.validate(tmp_path)
    _, itu, pop, params = _real_inputs()
    for override in ({}, {"max_pairs_per_observation": 2}):
        fast = reconcile.reconcile_sources(obs, itu, pop, {**params, **override})
        slow = _reconcile_sources_pairwise(obs, itu, pop, {**params, **override})
        assert len(fast) > 40
        assert _csv(fast) == _csv(slow)


def test_overlapping_pairs_is_the_pairwise_condition():
    rng = np.random.default_rng(3)
    start = rng.integers(0, 1000, 300)
    end = start + rng.integers(0, 60, 300)
    end[:5] = start[:5] - 3  # even a period that ends before it starts is handled exactly
    i, j = pairs.overlapping_pairs(start, end, 20)
    want = [
        (a, b)
        for a in range(300)
        for b in range(a + 1, 300)
        if start[a] <= end[b] + 20 and start[b] <= end[a] + 20
    ]
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == want


def test_unfiltered_reconcile_on_real_data_matches_pairwise_condition():
    obs, itu, _, _ = _real_inputs()
    rec = pairs.reconcile(obs, itu)
    assert len(rec) > 0
    gap = pd.Timedelta(days=120)
    allobs = pd.concat([obs, pairs.itu_as_observations(itu)], ignore_index=True).set_index("obs_id")
    for a, b in rec[["obs_a", "obs_b"]].itertuples(index=False):
        assert pairs._overlap(allobs.loc[a], allobs.loc[b], gap)
