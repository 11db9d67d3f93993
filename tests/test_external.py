"""Tests for :mod:`helpers.data.external` on the staged files and on tiny hand-written CSVs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers.data import external as ext

AGGREGATES = ["WLD", "EAS", "HIC", "LMY", "EUU", "OED", "ARB"]
KEPT = ["PRK", "KOR", "CHN", "CUB", "TKM", "ERI", "MMR", "AFG"]


# --------------------------------------------------------------------------- real files
def test_country_rule_drops_aggregates_keeps_countries():
    ct = ext.country_table()
    assert list(ct.columns[:4]) == ["iso3", "name", "region", "income_group"]
    assert ct["iso3"].is_unique
    codes = set(ct["iso3"])
    assert not codes & set(AGGREGATES)
    assert set(KEPT) <= codes
    assert "XKX" in codes  # Kosovo, the one documented non-ISO exception
    assert ct.set_index("iso3").loc["PRK", "region"] == "asia"


def test_dropped_world_bank_codes_are_exactly_the_documented_list():
    dropped = ext.wb_dropped_codes()
    assert tuple(dropped["code"]) == ext.WB_DROPPED_CODES
    assert set(AGGREGATES) <= set(dropped["code"])
    assert not set(KEPT) & set(dropped["code"])


def test_mobile_per100_countries_only_and_prk_series():
    allc = ext.itu_mobile_per100()
    assert list(allc.columns) == ["iso3", "year", "per100"]
    assert not set(allc["iso3"]) & set(ext.WB_DROPPED_CODES)
    assert allc["per100"].notna().all()
    prk = ext.itu_mobile_per100("PRK")
    launched = prk[prk["per100"] > 0]
    assert launched["year"].min() == 2009 and launched["year"].max() == 2022
    assert 2018 not in set(prk["year"])  # published gap, not filled
    assert (prk.loc[prk["year"] < 2009, "per100"] == 0).all()  # pre-launch zeros kept
    assert prk.loc[prk["year"] == 2022, "per100"].item() == pytest.approx(24.1311041179361)


def test_itu_mobile_prk_joins_totals_and_names_sources():
    df = ext.itu_mobile("PRK")
    assert list(df.columns[:4]) == ["year", "subscriptions", "per100", "source"]
    row = df[df["year"] == 2022].iloc[0]
    assert row["subscriptions"] == 6_353_440
    assert row["per100"] == pytest.approx(24.1311041179361)
    assert ext.FILES["gm_mobile_total"] in row["source"] and ext.FILES["wb_mobile_per100"] in row["source"]
    assert 2018 not in set(df["year"])
    # subscriptions / population should reproduce per100 within rounding of the inputs
    pop = ext.population("PRK", years=[2022])["population"].item()
    assert 100 * row["subscriptions"] / pop == pytest.approx(row["per100"], rel=1e-3)


def test_population_prk_sources_and_seam():
    df = ext.population("PRK", years=range(2020, 2031))
    assert list(df.columns) == ["year", "population", "source"]
    assert df["year"].tolist() == list(range(2020, 2031))
    wb_years = df.loc[df["source"] == ext.SOURCE_LABELS["wb_population"], "year"]
    un_years = df.loc[df["source"] == ext.SOURCE_LABELS["owid_projection"], "year"]
    assert wb_years.max() == 2025 and un_years.min() == 2026
    assert df.loc[df["year"] == 2022, "population"].item() == 26_328_845
    seam = ext.population_seam("PRK")
    assert seam["year"].max() == 2025
    assert seam.loc[seam["year"] >= 2000, "rel_diff"].abs().max() < 1e-3
    with pytest.raises(KeyError, match="2150"):
        ext.population("PRK", years=[2150])


def test_population_falls_back_to_un_for_countries_world_bank_lacks():
    twn = ext.population("TWN", years=[2010, 2030])
    assert twn["source"].tolist() == [
        ext.SOURCE_LABELS["owid_estimate"],
        ext.SOURCE_LABELS["owid_projection"],
    ]
    assert 2e7 < twn["population"].iloc[0] < 2.5e7


def test_panel_shape_gaps_and_launch():
    p = ext.panel(threshold_per100=1.0)
    assert {"iso3", "name", "year", "per100", "subscriptions", "population"} <= set(p.columns)
    assert not p.duplicated(["iso3", "year"]).any()
    assert p["iso3"].nunique() >= 200
    assert not set(p["iso3"]) & set(ext.WB_DROPPED_CODES)
    prk = p[p["iso3"] == "PRK"]
    assert 2018 not in set(prk["year"])
    assert prk["launch_year"].iloc[0] == 2010  # 0.28 per 100 in 2009, 1.73 in 2010
    assert prk["population"].notna().all()
    p2 = ext.panel(threshold_per100=1.0, min_year=2000)
    assert p2["year"].min() == 2000
    assert p2.loc[p2["iso3"] == "PRK", "launch_year"].iloc[0] == 2010
    with pytest.raises(ValueError):
        ext.panel(threshold_per100=-1)


def test_reads_are_copies():
    a = ext.country_table()
    a.loc[0, "name"] = "changed"
    assert ext.country_table().loc[0, "name"] != "changed"


# --------------------------------------------------------------------------- tiny CSVs
def _write_tiny(d: Path) -> Path:
    (d / ext.FILES["gm_countries"]).write_text(
        "country,iso3166_1_alpha3,name,income_groups,world_4region,un_state\n"
        "aaa,AAA,Alpha,low_income,asia,TRUE\n"
        "bbb,BBB,Beta,high_income,europe,TRUE\n"
        "kos,,Kosovo,upper_middle_income,europe,FALSE\n"
        "abkh,,Abkhazia,,europe,FALSE\n"
    )
    (d / ext.FILES["wb_mobile_per100"]).write_text(
        "Country Name,Country Code,Year,Value\n"
        "Alpha,AAA,2000,0\nAlpha,AAA,2001,0.5\nAlpha,AAA,2002,2\nAlpha,AAA,2004,\nAlpha,AAA,2005,9\n"
        "Beta,BBB,2000,50\nWorld,WLD,2000,12\nKosovo,XKX,2005,30\n"
    )
    (d / ext.FILES["gm_mobile_total"]).write_text(
        "geo,time,cell_phones_total\naaa,2002,200\naaa,2003,500\nbbb,2000,5000\nkos,2005,300\n"
    )
    (d / ext.FILES["gm_mobile_per100"]).write_text(
        "geo,time,cell_phones_per_100_people\naaa,2002,2\naaa,2003,5\n"
    )
    (d / ext.FILES["wb_population"]).write_text(
        "Country Name,Country Code,Year,Value\n"
        + "".join(f"Alpha,AAA,{y},10000\n" for y in range(2000, 2006))
        + "Beta,BBB,2000,10000\nWorld,WLD,2000,99999\nKosovo,XKX,2005,1000\n"
    )
    (d / ext.FILES["owid_population"]).write_text(
        'Entity,Code,Year,"Population, total","Population, medium projection (Projected)"\n'
        "Alpha,AAA,2005,10010,\nAlpha,AAA,2006,,10100\nWorld,OWID_WRL,2006,,8000000000\nKosovo,OWID_KOS,2006,,1001\n"
    )
    return d


def test_tiny_country_rule_and_panel(tmp_path):
    d = _write_tiny(tmp_path)
    ct = ext.country_table(d)
    assert ct["iso3"].tolist() == ["AAA", "BBB", "XKX"]
    mob = ext.itu_mobile_per100(directory=d)
    assert "WLD" not in set(mob["iso3"])
    assert 2004 not in set(mob.loc[mob["iso3"] == "AAA", "year"])  # empty cell dropped
    p = ext.panel(threshold_per100=1.0, directory=d)
    a = p[p["iso3"] == "AAA"]
    assert a["year"].tolist() == [2000, 2001, 2002, 2005]
    assert a["launch_year"].iloc[0] == 2002
    assert a["years_since_launch"].tolist() == [-2, -1, 0, 3]
    assert p.loc[p["iso3"] == "XKX", "subscriptions"].item() == 300


def test_tiny_itu_mobile_fills_per100_from_gapminder_and_says_so(tmp_path):
    d = _write_tiny(tmp_path)
    df = ext.itu_mobile("AAA", directory=d).set_index("year")
    assert df.loc[2003, "per100"] == 5 and df.loc[2003, "per100_source"] == ext.FILES["gm_mobile_per100"]
    assert df.loc[2002, "per100_source"] == ext.FILES["wb_mobile_per100"]
    assert np.isnan(df.loc[2001, "subscriptions"]) and "subscriptions" not in df.loc[2001, "source"]


def test_tiny_population_seam(tmp_path):
    d = _write_tiny(tmp_path)
    pop = ext.population("AAA", directory=d)
    assert pop["year"].tolist() == list(range(2000, 2007))
    assert pop["source"].iloc[-1] == ext.SOURCE_LABELS["owid_projection"]
    assert pop["source"].iloc[-2] == ext.SOURCE_LABELS["wb_population"]  # WB wins where both exist
    seam = ext.population_seam("AAA", directory=d)
    assert seam["rel_diff"].item() == pytest.approx(10000 / 10010 - 1)
    assert ext.population("XKX", years=[2006], directory=d)["population"].item() == 1001


def test_missing_file_and_missing_column_errors_name_them(tmp_path):
    d = _write_tiny(tmp_path)
    (d / ext.FILES["wb_mobile_per100"]).unlink()
    with pytest.raises(FileNotFoundError, match="wb_IT.CEL.SETS.P2"):
        ext.itu_mobile_per100(directory=d)
    (d / ext.FILES["wb_mobile_per100"]).write_text("Country Name,Country Code,Year,Val\nAlpha,AAA,2000,1\n")
    with pytest.raises(ext.ExternalDataError, match=r"wb_IT.CEL.SETS.P2.*'Value'"):
        ext.itu_mobile_per100(directory=d)


def test_non_numeric_value_is_an_error(tmp_path):
    d = _write_tiny(tmp_path)
    (d / ext.FILES["wb_population"]).write_text("Country Name,Country Code,Year,Value\nAlpha,AAA,2000,lots\n")
    with pytest.raises(ext.ExternalDataError, match="non-numeric"):
        ext.population("AAA", directory=d)


def test_duplicate_rows_are_an_error(tmp_path):
    d = _write_tiny(tmp_path)
    (d / ext.FILES["wb_mobile_per100"]).write_text(
        "Country Name,Country Code,Year,Value\nAlpha,AAA,2000,1\nAlpha,AAA,2000,2\n"
    )
    with pytest.raises(ext.ExternalDataError, match="duplicate"):
        ext.itu_mobile_per100(directory=d)


def test_country_table_columns_types():
    ct = ext.country_table()
    assert ct["un_state"].dtype == bool
    assert isinstance(ct, pd.DataFrame) and len(ct) > 200


# --------------------------------------------------------------------------- inputs checked as data
def _copy_real(tmp_path: Path, *keys: str) -> Path:
    """A data/ folder with a copy of some staged external files and their SHA256SUMS lines."""
    from helpers import config

    data = tmp_path / "data"
    (data / "external").mkdir(parents=True)
    lines = []
    for k in keys:
        (data / "external" / ext.FILES[k]).write_bytes((config.EXTERNAL / ext.FILES[k]).read_bytes())
        lines += [ln for ln in (config.DATA / "SHA256SUMS").read_text().splitlines() if ext.FILES[k] in ln]
    (data / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    return data


def _cut_at_prk_2015(path: Path) -> None:
    text = path.read_text()
    at = text.index("PRK,2015,") + len("PRK,2015,2557")
    path.write_text(text[:at])


def test_population_file_cut_mid_row_is_rejected_by_its_checksum(tmp_path, monkeypatch):
    from helpers import config

    data = _copy_real(tmp_path, "wb_population")
    monkeypatch.setattr(config, "DATA", data)
    f = data / "external" / ext.FILES["wb_population"]
    assert len(ext._read("wb_population", data / "external", ext._WB_COLUMNS, ("Year", "Value")))
    _cut_at_prk_2015(f)
    with pytest.raises(ext.ExternalDataError) as err:
        ext._read("wb_population", data / "external", ext._WB_COLUMNS, ("Year", "Value"))
    msg = str(err.value)
    assert ext.FILES["wb_population"] in msg and "expected" in msg and "SHA256SUMS" in msg
    assert "git checkout" in msg


def test_population_file_cut_mid_row_is_rejected_as_implausible_without_checksum(tmp_path):
    data = _copy_real(tmp_path, "wb_population")
    (data / "SHA256SUMS").unlink()
    _cut_at_prk_2015(data / "external" / ext.FILES["wb_population"])
    with pytest.raises(ext.ExternalDataError) as err:
        ext._read("wb_population", data / "external", ext._WB_COLUMNS, ("Year", "Value"))
    msg = str(err.value)
    assert f"{ext.FILES['wb_population']}:" in msg and ": Value: 2557 for PRK 2015" in msg
    assert "not a plausible population" in msg


def test_row_cut_before_its_last_field_is_rejected(tmp_path):
    d = _write_tiny(tmp_path)
    f = d / ext.FILES["wb_population"]
    f.write_text(f.read_text() + "Beta,BBB,2001")
    with pytest.raises(
        ext.ExternalDataError, match=r":11: -: row has 3 fields, expected 4 \(the file looks cut"
    ):
        ext.population("BBB", directory=d)


def test_out_of_range_values_are_listed_with_line_and_column(tmp_path):
    d = _write_tiny(tmp_path)
    f = d / ext.FILES["wb_mobile_per100"]
    f.write_text("Country Name,Country Code,Year,Value\nAlpha,AAA,2000,-1\nAlpha,AAA,1066,5\nBeta,,2000,5\n")
    with pytest.raises(ext.ExternalDataError) as err:
        ext.itu_mobile_per100(directory=d)
    msg = str(err.value)
    assert ":2: Value: -1 is outside the plausible range [0, 1000]" in msg
    assert ":3: Year: 1066" in msg and ":4: Country Code: required value is empty" in msg


def test_html_error_page_instead_of_csv_gets_a_clear_error(tmp_path):
    d = _write_tiny(tmp_path)
    (d / ext.FILES["gm_mobile_total"]).write_text(
        "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body>oops</body></html>\n"
    )
    with pytest.raises(ext.ExternalDataError, match="HTML page, not a CSV"):
        ext.gapminder_mobile_total(directory=d)


def test_staged_files_pass_every_check():
    for key in ext.RANGES:
        assert ext.verify_file(key) is True


def test_binary_or_giant_field_is_a_message_not_a_traceback(tmp_path):
    d = _write_tiny(tmp_path)
    f = d / ext.FILES["gm_mobile_total"]
    f.write_bytes(b"geo,time,cell_phones_total\naaa,2002,200\n\xff\xfe\x00garbage\n")
    with pytest.raises(ext.ExternalDataError, match=r":3: -: not valid UTF-8"):
        ext.gapminder_mobile_total(directory=d)
    f.write_text(
        "geo,time,cell_phones_total\naaa,2002,200\n" + '"' + "x" * 200_000 + '",2003,5\naaa,2004,9\n'
    )
    with pytest.raises(ext.ExternalDataError, match=r":3: "):
        ext.gapminder_mobile_total(directory=d)
