"""Copied source documents and external data are unchanged (hashes recorded when they were copied)."""

from __future__ import annotations

import hashlib

import pytest

from tests.conftest import ROOT

DATA = ROOT / "data"
RECORDED = [line.split(maxsplit=1) for line in (DATA / "SHA256SUMS").read_text().splitlines() if line.strip()]


@pytest.mark.parametrize(("digest", "name"), RECORDED, ids=[n for _, n in RECORDED])
def test_copy_is_unchanged(digest: str, name: str) -> None:
    assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest, f"data/{name} was modified"


def test_every_copied_file_is_recorded() -> None:
    recorded = {n for _, n in RECORDED}
    on_disk = {p.relative_to(DATA).as_posix() for p in (DATA / "sources").glob("*.txt")}
    on_disk |= {p.relative_to(DATA).as_posix() for p in (DATA / "external").iterdir() if p.is_file()}
    assert on_disk == recorded


# --------------------------------------------------------------------------- raw tables checked as data
def _copy_raw(tmp_path):
    """The raw tables and the source folder copied, so a test can break one of them."""
    import shutil

    shutil.copytree(DATA / "sources", tmp_path / "sources")
    shutil.copytree(DATA / "raw", tmp_path / "raw")
    return tmp_path


def test_events_problems_are_file_line_column(tmp_path):
    from helpers.data import events

    d = _copy_raw(tmp_path)
    f = d / "raw" / "events.csv"
    lines = f.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[2] = lines[2].replace("2004,2008,", "2004,2001,", 1)  # line 3: ends before it starts
    lines[3] = lines[3].replace("001_8ae12965d10aefd7", "999_nowhere", 1)  # line 4: unknown source
    f.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(events.EventsError) as err:
        events.load_events(f, d / "sources" / "sources.csv")
    msg = str(err.value).splitlines()
    assert any(m.startswith(f"{f.as_posix()}:3: date_end: 2001 is before date 2004") for m in msg), msg
    assert any(
        m.startswith(f"{f.as_posix()}:4: source_id: '999_nowhere' is not in sources.csv") for m in msg
    ), msg


def test_events_megabyte_field_and_rows_after_it_checked(tmp_path):
    from helpers.data import events

    d = _copy_raw(tmp_path)
    f = d / "raw" / "events.csv"
    lines = f.read_text(encoding="utf-8").splitlines(keepends=True)
    import csv
    import io

    row = next(csv.reader(io.StringIO(lines[1])))
    row[-1] = "x" * 1_048_576  # the note of line 2
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(row)
    lines[1] = buf.getvalue()
    lines[5] = lines[5].replace(",", ",not-a-date-", 1)  # line 6: bad date
    f.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(events.EventsError) as err:
        events.load_events(f, d / "sources" / "sources.csv")
    text = str(err.value)
    assert f"{f.as_posix()}:2: note: field is 1,04" in text and "characters long" in text
    assert f"{f.as_posix()}:6: date:" in text


def test_glossary_sources_and_indicators_problems_are_file_line_column(tmp_path):
    from helpers.data import events, sources

    d = _copy_raw(tmp_path)
    g = d / "raw" / "glossary.csv"
    g.write_text(
        g.read_text(encoding="utf-8") + "Star,,000_6941c283a85f418e,no such sentence\n", encoding="utf-8"
    )
    with pytest.raises(events.EventsError) as err:
        events.load_glossary(g, d / "sources" / "sources.csv")
    assert f"{g.as_posix()}:7: hangul: empty" in str(err.value)
    assert f"{g.as_posix()}:7: quote: not found verbatim" in str(err.value)

    s = d / "sources" / "sources.csv"
    rows = s.read_text(encoding="utf-8").splitlines(keepends=True)
    rows[2] = (
        rows[2].replace("001_8ae12965d10aefd7.txt", "missing.txt", 1).replace("2020-11-01", "2020-13-01", 1)
    )
    s.write_text("".join(rows), encoding="utf-8")
    _, problems = sources.load_sources(s)
    shown = [str(p) for p in problems]
    assert f"{s.as_posix()}:3: file: missing.txt not found in {s.parent.as_posix()}" in shown
    assert any(
        p.startswith(f"{s.as_posix()}:3: date_start: '2020-13-01' is not a valid ISO date") for p in shown
    )

    i = d / "raw" / "indicators.csv"
    i.write_text(i.read_text(encoding="utf-8") + "Bad Name,ratio,,x\n", encoding="utf-8")
    _, problems = sources.load_indicators(i)
    shown = [str(p) for p in problems]
    n = len(i.read_text(encoding="utf-8").splitlines())
    assert any(p.startswith(f"{i.as_posix()}:{n}: indicator:") for p in shown), shown
    assert any(p.startswith(f"{i.as_posix()}:{n}: kind:") for p in shown), shown
    assert f"{i.as_posix()}:{n}: unit: required value is empty" in shown


def test_header_only_raw_tables_are_rejected(tmp_path):
    from helpers.data import events

    d = _copy_raw(tmp_path)
    f = d / "raw" / "events.csv"
    f.write_text(f.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    with pytest.raises(events.EventsError, match=r":1: -: the file has a header but no rows"):
        events.load_events(f, d / "sources" / "sources.csv")


def test_the_staged_raw_tables_pass():
    from helpers.data import events, sources

    assert events.check_file(glossary=DATA / "raw" / "glossary.csv") == []
    assert sources.load_indicators(DATA / "raw" / "indicators.csv")[1] == []
    assert sources.load_sources(DATA / "sources" / "sources.csv")[1] == []
