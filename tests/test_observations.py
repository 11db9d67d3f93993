"""Tests of helpers.data.observations (and its tables, sources, quotes modules): loading, validation messages, the CLI and the quote/number matcher."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from helpers import config
from helpers.data import observations, quotes
from helpers.data import sources as src

FIX = Path(__file__).parent / "fixtures" / "observations"
GOOD = FIX / "good.csv"
INDICATORS = FIX / "indicators.csv"
HEADER = ",".join(observations.COLUMNS)


def _check(path: Path) -> list[str]:
    return [str(p) for p in observations.check(path, indicators_csv=INDICATORS)]


def _good_rows() -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(GOOD.read_text(encoding="utf-8"))))


def _write(tmp_path: Path, rows: list[dict[str, str]], name: str = "obs.csv") -> Path:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(observations.COLUMNS), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    path = tmp_path / name
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def _mutated(tmp_path: Path, row: int, **changes: str) -> Path:
    """good.csv with the cells of data row ``row`` (0-based, single-line rows only) changed."""
    rows = _good_rows()
    rows[row].update(changes)
    return _write(tmp_path, rows)


def _line_of(row: int) -> int:
    """Physical line of data row ``row`` of good.csv (row 2 spans lines 4-5)."""
    return {0: 2, 1: 3, 2: 4, 3: 6, 4: 7, 5: 8, 6: 9, 7: 10}[row]


def _assert_problem(problems: list[str], prefix: str, contains: str = "") -> None:
    hits = [p for p in problems if p.startswith(prefix) and contains in p]
    assert hits, f"no problem starting {prefix!r} containing {contains!r} in:\n" + "\n".join(problems)


# --------------------------------------------------------------------------- valid input


def test_good_fixture_passes_and_is_typed():
    assert _check(GOOD) == []
    df = observations.load_observations(GOOD, indicators_csv=INDICATORS)
    assert list(df.columns) == list(observations.COLUMNS)
    assert len(df) == 8
    assert df["period_start"].dtype == "datetime64[ns]"
    for c in observations.NUMBER_COLUMNS:
        assert df[c].dtype == "float64"
    assert df.loc[df["obs_id"] == "000-015", "value_low"].item() == 6.5e6
    assert pd.isna(df.loc[df["obs_id"] == "004-001", "subgroup"].item())
    assert df.attrs["lines"] == [2, 3, 4, 6, 7, 8, 9, 10]


def test_bom_and_trailing_blank_lines_accepted():
    assert _check(FIX / "bom_trailing_blank.csv") == []


def test_multiline_quote_maps_rows_to_physical_lines(tmp_path):
    # good.csv row 3 (000-015) starts on line 6 because row 2's quote spans lines 4-5
    path = _mutated(tmp_path, 3, indicator="no_such_indicator")
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[5].startswith("000-015")
    _assert_problem(_check(path), f"{config.rel(path)}:6: indicator:", "unknown indicator")


# --------------------------------------------------------------------------- file-level problems


def test_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    assert _check(path) == [f"{config.rel(path)}:0: -: file not found"]


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"\xef\xbb\xbf\n\n")
    _assert_problem(_check(path), f"{config.rel(path)}:0: -: file is empty")


def test_renamed_column_names_missing_and_found():
    path = FIX / "bad_renamed_column.csv"
    (p,) = _check(path)
    assert p.startswith(
        f"{config.rel(path)}:1: -: missing column(s) value_low; found unexpected column(s) 'low'"
    )


def test_missing_column(tmp_path):
    rows = [{k: v for k, v in r.items() if k != "note"} for r in _good_rows()]
    path = tmp_path / "obs.csv"
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=[c for c in observations.COLUMNS if c != "note"], lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
    (p,) = _check(path)
    assert p.startswith(f"{config.rel(path)}:1: -: missing column(s) note;")


def test_semicolon_delimiter():
    path = FIX / "bad_semicolons.csv"
    assert _check(path) == [
        f"{config.rel(path)}:1: -: wrong delimiter: the header is separated by semicolons (';'); "
        "the file must be comma-separated"
    ]


def test_tab_delimiter(tmp_path):
    path = tmp_path / "tabs.csv"
    path.write_text(HEADER.replace(",", "\t") + "\n", encoding="utf-8")
    _assert_problem(_check(path), f"{config.rel(path)}:1: -: wrong delimiter", "tabs")


def test_non_utf8_bytes_reported_with_line_and_offset():
    path = FIX / "bad_latin1.csv"
    (p,) = _check(path)
    assert p.startswith(f"{config.rel(path)}:3: -: not valid UTF-8: byte(s) 0xe9 at byte offset ")
    offset = path.read_bytes().index(b"\xe9")
    assert f"byte offset {offset} " in p


def test_wrong_number_of_fields(tmp_path):
    path = tmp_path / "short.csv"
    lines = GOOD.read_text(encoding="utf-8").splitlines()
    path.write_text(
        "\n".join([lines[0], lines[1], "004-002,004_ad24e74a79b040d9,x"]) + "\n", encoding="utf-8"
    )
    _assert_problem(_check(path), f"{config.rel(path)}:3: -: row has 3 fields, expected 15")


def test_unclosed_quote_is_a_message_not_a_traceback(tmp_path):
    path = tmp_path / "unclosed.csv"
    path.write_text(HEADER + '\n004-001,004_ad24e74a79b040d9,"no end\n', encoding="utf-8")
    _assert_problem(_check(path), f"{config.rel(path)}:2: -: CSV syntax error")


# --------------------------------------------------------------------------- cell and row problems

CASES = [
    # (row, changes, column, expected text in the message)
    (0, {"period_start": "2013-13-01"}, "period_start", "'2013-13-01' is not a valid ISO date"),
    (0, {"period_end": "13 March 2013"}, "period_end", "is not a valid ISO date"),
    (
        1,
        {"value": "432,000"},
        "value",
        "'432,000' has thousands separators: numbers must be plain decimals (write 432000)",
    ),
    (
        0,
        {"value": "1 million"},
        "value",
        "'1 million' is written with words: numbers must be plain decimals (write 1000000)",
    ),
    (
        4,
        {"value": "28%"},
        "value",
        "'28%' has a percent sign (the unit column says percent): numbers must be plain decimals (write 28)",
    ),
    (0, {"value": "-5"}, "value", "count -5 is negative"),
    (4, {"value": "128"}, "value", "percentage 128 is outside [0, 100]"),
    (
        3,
        {"value_low": "7000000", "value_high": "6500000"},
        "value_low",
        "value_low 7000000 is above value_high 6500000",
    ),
    (0, {"source_id": "009_nosuchsource"}, "source_id", "unknown source_id (not in sources.csv)"),
    (0, {"indicator": "mobile_subscribers"}, "indicator", "unknown indicator (not in indicators.csv)"),
    (0, {"qualifier": "about"}, "qualifier", "qualifier must be one of"),
    (0, {"unit": "sims"}, "unit", "unit must be one of"),
    (0, {"unit": "people"}, "unit", "unit 'people' does not match indicator mobile_subscriptions"),
    (0, {"scope": "Pyongyang"}, "scope", "scope must be national, operator:<name> or city:<name>"),
    (0, {"obs_id": "4-1"}, "obs_id", "obs_id must look like 000-001"),
    (0, {"obs_id": "003-001"}, "obs_id", "does not start with the number of source"),
    (0, {"quote": ""}, "quote", "required value is empty"),
    (
        0,
        {"quote": "only 2 million cellphone subscribers"},
        "quote",
        "quote not found verbatim in 004_ad24e74a79b040d9.txt",
    ),
    (0, {"value": "2000000"}, "value", "value 2000000 is not stated in the quote"),
    (0, {"qualifier": "range"}, "value_low", "qualifier range needs value_low filled"),
    (0, {"value_low": "1000000"}, "value_low", "qualifier exact needs value_low empty"),
    (7, {"value": "900000"}, "value", "qualifier at_least needs value = value_low"),
    (
        0,
        {"period_start": "2013-04-01"},
        "period_start",
        "period_start 2013-04-01 is after period_end 2013-03-13",
    ),
]


@pytest.mark.parametrize(("row", "changes", "column", "text"), CASES, ids=[c[3][:40] for c in CASES])
def test_bad_cell_gives_file_line_column_message(tmp_path, row, changes, column, text):
    path = _mutated(tmp_path, row, **changes)
    _assert_problem(_check(path), f"{config.rel(path)}:{_line_of(row)}: {column}:", text)


def test_duplicate_id_points_to_first_use(tmp_path):
    path = _mutated(tmp_path, 7, obs_id="001-009")
    _assert_problem(
        _check(path), f"{config.rel(path)}:10: obs_id:", "duplicate obs_id '001-009' (first on line 3)"
    )


def test_lazy_validation_reports_every_problem_at_once(tmp_path):
    rows = _good_rows()
    rows[0]["indicator"] = "nonsense"
    rows[1]["value"] = "-1"
    rows[4]["period_end"] = "2025-02-30"
    path = _write(tmp_path, rows)
    problems = _check(path)
    shown = config.rel(path)
    for prefix in (f"{shown}:2: indicator:", f"{shown}:3: value:", f"{shown}:7: period_end:"):
        _assert_problem(problems, prefix)
    with pytest.raises(observations.ObservationsError) as exc:
        observations.load_observations(path, indicators_csv=INDICATORS)
    assert len(exc.value.problems) == len(problems)
    assert str(exc.value).splitlines() == problems


def test_missing_source_file(tmp_path):
    srcdir = tmp_path / "sources"
    srcdir.mkdir()
    problems = [str(p) for p in observations.check(GOOD, indicators_csv=INDICATORS, sources_dir=srcdir)]
    _assert_problem(
        problems, f"{config.rel(GOOD)}:2: source_id:", "source file 004_ad24e74a79b040d9.txt not found"
    )


def test_quote_mismatch_explains_where():
    msg = quotes.explain_quote_mismatch(
        "only 1 million cellphone users", "as only 1 million cellphone subscribers out"
    )
    assert "matches the source for 25 characters" in msg and "'users'" in msg
    assert "apostrophes" in quotes.explain_quote_mismatch("North Korea's", "North Korea’s network")


def test_quote_whitespace_and_elision():
    src = "In May 2010, more than 120,000 North Koreans\n owned   mobile phones; this number had increased"
    assert quotes.quote_in_source("more than 120,000 North Koreans owned mobile phones", src)
    assert quotes.quote_in_source("In May 2010, ... North Koreans owned mobile phones", src)
    assert not quotes.quote_in_source("more than 130,000 North Koreans", src)
    assert not quotes.quote_in_source("owned mobile phones ... In May 2010", src)  # fragments out of order


# --------------------------------------------------------------------------- number extraction


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("roughly 3.9 million users", 3.9e6),
        ("Orascom reported 432,000 North Korean subscribers", 432000),
        ("neared two million", 2e6),
        ("to reach 28% by the beginning of 2025", 28),
        ("an estimated 6.5–7 million North Koreans", 6.5e6),
        ("an estimated 6.5–7 million North Koreans", 7e6),
        ("between 6 and 7 million", 6e6),
        ("costs 1.5 billion won", 1.5e9),
        ("reached a million users", 1e6),
        ("exceeding one million by February 2012", 1e6),
        ("twenty-two lines", 22),
        ("three hundred thousand phones", 300000),
        ("covered 94 percent of the population", 94),
        ("merely 1,024 IP addresses", 1024),
        ("roughly 1,000–5,500 sites", 1000),
        ("about 18–25% of people", 18),
        ("over a quarter of the population", 25),
        ("€150 for just 2 GB", 150),
        ("3.9m subscribers", 3.9e6),
        ("nineteen-inch sets", 19),
    ],
)
def test_number_in_text_finds(text, value):
    assert quotes.number_in_text(value, text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("roughly 3.9 million users", 3900),
        ("432,000 subscribers", 432),
        ("two million", 2000),
        ("28% by 2025", 2.8),
        ("6.5–7 million", 7),
        ("about 18–25% of people", 18e6),
    ],
)
def test_number_in_text_rejects(text, value):
    assert not quotes.number_in_text(value, text)


def test_extract_numbers_reports_written_forms():
    found = quotes.extract_numbers("more than 120,000 in May 2010 and two million later")
    assert ("120,000", 120000.0) in found
    assert ("two million", 2e6) in found
    assert quotes.words_to_number("a hundred and five") == 105
    assert quotes.words_to_number("million dollars") is None
    assert quotes.words_to_number("thousand") is None
    assert 1000 not in [v for _, v in quotes.extract_numbers("a few thousand internal websites")]
    assert quotes.words_to_number("a dozen") == 12


# --------------------------------------------------------------------------- command line


CLI_RUNS = {
    "ok": ("check", str(GOOD), "--indicators-csv", str(INDICATORS)),
    "bad": ("check", str(FIX / "bad_latin1.csv"), "--indicators-csv", str(INDICATORS)),
    "usage": (),
}


@pytest.fixture(scope="module")
def cli() -> dict[str, subprocess.CompletedProcess[str]]:
    """Run each CLI case once (every start imports pandas, ~1.5 s, so cases are few)."""
    return {
        k: subprocess.run(
            [sys.executable, "-m", "helpers.data.observations", *args],
            capture_output=True,
            text=True,
            cwd=config.ROOT,
            timeout=600,  # bounds a hang only: a loaded machine (load 10+) takes ~20 s per start
        )
        for k, args in CLI_RUNS.items()
    }


def test_cli_ok(cli):
    r = cli["ok"]
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"OK: 8 observations in {config.rel(GOOD)} (4 sources)"


def test_cli_problems_exit_1_without_traceback(cli):
    r = cli["bad"]
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[0].startswith(f"{config.rel(FIX / 'bad_latin1.csv')}:3: -: not valid UTF-8")
    assert lines[-1] == f"1 problem in {config.rel(FIX / 'bad_latin1.csv')}"


def test_cli_usage_error_exit_2(cli):
    assert cli["usage"].returncode == 2
    assert "usage:" in cli["usage"].stderr


# --------------------------------------------------------------------------- the real file


@pytest.mark.skipif(not config.OBSERVATIONS_CSV.exists(), reason="data/raw/observations.csv not merged yet")
def test_real_observations_file_validates():
    problems = [str(p) for p in observations.check()]
    assert problems == [], "\n".join(problems)
    df = observations.load_observations()
    assert df["obs_id"].is_unique


def test_sources_csv_matches_source_files():
    sources, problems = src.load_sources(config.SOURCES_CSV)
    assert problems == []
    assert sorted(sources["file"]) == sorted(p.name for p in config.SOURCES.glob("*.txt"))
    assert (sources["file"] == sources["source_id"] + ".txt").all()
    assert (pd.to_datetime(sources["date_start"]) <= pd.to_datetime(sources["date_end"])).all()


# --------------------------------------------------------------------------- inputs checked as data


def test_header_only_file_is_rejected(tmp_path):
    path = _write(tmp_path, [])
    assert path.read_text() == HEADER + "\n"
    problems = _check(path)
    assert problems == [
        f"{config.rel(path)}:1: -: the file has a header but no rows (expected at least one row)"
    ]
    with pytest.raises(observations.ObservationsError):
        observations.load_observations(path, indicators_csv=INDICATORS)


def test_megabyte_field_is_named_and_later_rows_still_checked(tmp_path):
    rows = _good_rows()
    rows[1]["note"] = "x" * 1_048_576
    rows[5]["indicator"] = "no_such_indicator"  # after the long field: must still be reported
    path = _write(tmp_path, rows)
    problems = _check(path)
    shown = config.rel(path)
    _assert_problem(problems, f"{shown}:3: note: field is 1,048,576 characters long", "pasted document")
    _assert_problem(problems, f"{shown}:{_line_of(5)}: indicator:", "unknown indicator")
    assert not any("CSV syntax error" in p or "quote" in p.split(": ", 2)[1] for p in problems)


def test_unclosed_quote_swallowing_rows_is_named_as_such(tmp_path):
    good = GOOD.read_text(encoding="utf-8")
    tail = "".join(f"copy {i} of a pasted table, no quotes here\n" for i in range(400)) * 30
    path = tmp_path / "open.csv"
    path.write_text(good + '999-001,000_x,"an opened quote\n' + tail, encoding="utf-8")
    problems = _check(path)
    line = good.count("\n") + 1
    _assert_problem(
        problems, f"{config.rel(path)}:{line}: ", "double quote opened in this row and never closed"
    )


def test_validation_is_linear_in_rows(tmp_path):
    """Checks per row cost the same for 200 and 2,000 rows (no per-row pass over the whole file): counted
    as calls to the source normaliser, not timed."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bench_scale", config.ROOT / "benchmarks" / "bench_scale.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.make_project(2000, tmp_path)
    quotes._normalized_source.cache_clear()
    df = bench.validate(tmp_path)
    assert len(df) == 2000
    info = quotes._normalized_source.cache_info()
    assert info.misses <= 3  # each source document normalised once, not once per row


def test_edited_source_document_fails_its_checksum(tmp_path, monkeypatch):
    """A source document that differs from data/SHA256SUMS is named, with both digests and the remedy."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(config.SOURCES, data / "sources")
    sums = [
        ln
        for ln in (config.DATA / "SHA256SUMS").read_text().splitlines()
        if ln.split()[1].startswith("sources/")
    ]
    (data / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    monkeypatch.setattr(config, "DATA", data)
    args = {"sources_csv": data / "sources" / "sources.csv", "sources_dir": data / "sources"}
    assert observations.check(config.OBSERVATIONS_CSV, **args) == []
    doc = data / "sources" / "004_ad24e74a79b040d9.txt"
    doc.write_text(doc.read_text(encoding="utf-8") + "\nan added sentence\n", encoding="utf-8")
    problems = [str(p) for p in observations.check(config.OBSERVATIONS_CSV, **args)]
    assert len(problems) == 1
    assert problems[0].startswith(f"{doc.as_posix()}:0: -: content differs from the copy recorded in")
    assert "expected" in problems[0] and "git checkout" in problems[0]
