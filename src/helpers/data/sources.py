"""The reference tables of the observations: ``indicators.csv`` and the source catalogue ``sources.csv``.

:func:`load_indicators` and :func:`load_sources` read and check them (pandera, lazily: every problem at
once, as ``file:line: column: what is wrong``); :mod:`helpers.data.observations` checks each observation's
indicator and source against them, and :mod:`helpers.data.events` each event's source.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from helpers import config
from helpers._lazy import lazy
from helpers.data.tables import Problem, display_path, pandera_problems, parse_date_cell, read_csv_rows

pa = lazy("pandera.pandas")


INDICATOR_COLUMNS: tuple[str, ...] = ("indicator", "kind", "unit", "description")
INDICATOR_KINDS: tuple[str, ...] = ("count", "percent", "currency")
SOURCE_COLUMNS: tuple[str, ...] = (
    "source_id",
    "file",
    "title",
    "author_publisher",
    "date_text",
    "date_start",
    "date_end",
    "kind",
    "url_or_origin",
    "notes",
)
DEFAULT_INDICATORS_CSV: Path = config.RAW / "indicators.csv"
# --------------------------------------------------------------------------- reference tables


INDICATOR_RE = r"^[a-z][a-z0-9_]*$"
SOURCE_ID_RE = r"^\d{3}_\S+$"


def _blank_to_none(frame: pd.DataFrame) -> pd.DataFrame:
    """Strings stripped, empty cells as None (so pandera's ``nullable=False`` catches them)."""
    stripped = frame.apply(lambda s: s.str.strip())
    return stripped.where(stripped != "", None)


def load_indicators(path: Path = DEFAULT_INDICATORS_CSV) -> tuple[pd.DataFrame | None, list[Problem]]:
    """The indicator vocabulary (indicator, kind, unit, description) and any problems with it.

    Checked with a pandera schema (lazily, every failure as ``file:line: column: ...``): indicator names
    are lower-case identifiers and unique, ``kind`` one of :data:`INDICATOR_KINDS`, every cell filled.
    """
    frame, problems = read_csv_rows(Path(path), INDICATOR_COLUMNS)
    if frame is None:
        return None, problems
    shown = display_path(path)
    schema = pa.DataFrameSchema(
        {
            "indicator": pa.Column(
                "str", pa.Check.str_matches(INDICATOR_RE, error="indicator must be a lower-case identifier")
            ),
            "kind": pa.Column(
                "str",
                pa.Check.isin(INDICATOR_KINDS, error=f"kind must be one of {', '.join(INDICATOR_KINDS)}"),
            ),
            "unit": pa.Column("str"),
            "description": pa.Column("str"),
        },
        strict=True,
    )
    problems += pandera_problems(_blank_to_none(frame), schema, shown)
    frame = frame.apply(lambda s: s.str.strip())
    dup = frame["indicator"].duplicated()
    for line in frame.index[dup]:
        problems.append(
            Problem(shown, int(line), "indicator", f"duplicate indicator {frame.at[line, 'indicator']!r}")
        )
    return frame.reset_index(drop=True), problems


def load_sources(path: Path = config.SOURCES_CSV) -> tuple[pd.DataFrame | None, list[Problem]]:
    """The source catalogue (``sources.csv``, columns :data:`SOURCE_COLUMNS`) and any problems with it.

    Checked (pandera, lazily, then across columns): ``source_id`` like ``000_name`` and unique, ``file``
    a ``.txt`` present next to ``sources.csv``, title and kind filled, ``date_start`` / ``date_end`` ISO
    dates (or empty) in order.
    """
    path = Path(path)
    frame, problems = read_csv_rows(path, SOURCE_COLUMNS)
    if frame is None:
        return None, problems
    shown = display_path(path)
    optional = ("author_publisher", "date_text", "date_start", "date_end", "url_or_origin", "notes")
    schema = pa.DataFrameSchema(
        {
            "source_id": pa.Column(
                "str", pa.Check.str_matches(SOURCE_ID_RE, error="source_id must look like 000_name")
            ),
            "file": pa.Column(
                "str", pa.Check.str_matches(r"^[^/\\]+\.txt$", error="file must be a .txt name")
            ),
            "title": pa.Column("str"),
            "kind": pa.Column("str"),
            **{c: pa.Column("str", nullable=True) for c in optional},
        },
        strict=True,
    )
    typed = _blank_to_none(frame)
    problems += pandera_problems(typed, schema, shown)
    seen: dict[str, int] = {}
    for line, row in zip(typed.index, typed.to_dict("records"), strict=True):
        sid, name = row["source_id"], row["file"]
        if isinstance(sid, str):
            if sid in seen:
                problems.append(
                    Problem(
                        shown,
                        int(line),
                        "source_id",
                        f"duplicate source_id {sid!r} (first on line {seen[sid]})",
                    )
                )
            seen.setdefault(sid, int(line))
        if isinstance(name, str) and "/" not in name and not (path.parent / name).is_file():
            problems.append(
                Problem(shown, int(line), "file", f"{name} not found in {display_path(path.parent)}")
            )
        dates = {}
        for c in ("date_start", "date_end"):
            if isinstance(row[c], str):
                d, err = parse_date_cell(row[c])
                if err:
                    problems.append(Problem(shown, int(line), c, err))
                dates[c] = d
        if dates.get("date_start") is not None and dates.get("date_end") is not None:
            if dates["date_start"] > dates["date_end"]:
                problems.append(Problem(shown, int(line), "date_start", "date_start is after date_end"))
    return frame.apply(lambda s: s.str.strip()).reset_index(drop=True), problems
