"""The curated observations: schema, validation, loading, command line.

Every figure the analysis takes from the five source documents is one row of
``data/raw/observations.csv``.  This module reads that file, checks it and
returns a typed :class:`pandas.DataFrame`.  Problems are never raised as a
traceback: each one is a :class:`Problem` printed as ``file:line: column: what
is wrong``, where *line* is the physical line in the CSV file (header = line 1;
a quoted field spanning several lines is reported at the line where its row
starts).

Checks, in order:

1. file level -- missing or empty file, non-UTF-8 bytes (line and byte offset),
   wrong delimiter, missing / renamed / unexpected columns, rows with the wrong
   number of fields, CSV quoting errors;
2. cell level -- plain decimal numbers only (no ``1,000`` or ``2 million``),
   ISO dates (``YYYY-MM-DD``);
3. a :mod:`pandera` schema validated lazily (every failure at once): required
   values, types, vocabularies (indicator from ``indicators.csv``, qualifier,
   unit, scope pattern), ``obs_id`` format, known ``source_id``;
4. checks across columns that pandera cannot express directly: unique ids,
   id prefix = source number, unit consistent with the indicator, percentages
   in [0, 100], counts >= 0, ``value_low <= value <= value_high``, qualifier
   consistent with the filled value fields, ``period_start <= period_end``,
   source file present, quote found verbatim in its source (whitespace
   normalised; ``...`` marks an elision), every number stated in the quote.

Command line::

    python -m helpers.data.observations check [PATH]
The CSV reading and the ``file:line: column: what is wrong`` problems are in
:mod:`helpers.data.tables`; the reference tables (indicators, sources) in :mod:`helpers.data.sources`; the matching of quotes and numbers against the source texts in
:mod:`helpers.data.quotes`.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from helpers import config
from helpers._lazy import lazy
from helpers.data.quotes import (
    explain_quote_mismatch,
    extract_numbers,
    number_in_text,
    quote_in_source,
)
from helpers.data.sources import DEFAULT_INDICATORS_CSV, load_indicators, load_sources
from helpers.data.tables import (
    Problem,
    display_path,
    pandera_problems,
    parse_date_cell,
    parse_number_cell,
    read_csv_rows,
)

pa = lazy("pandera.pandas")

COLUMNS: tuple[str, ...] = (
    "obs_id",
    "source_id",
    "quote",
    "date_text",
    "period_start",
    "period_end",
    "indicator",
    "scope",
    "subgroup",
    "value",
    "value_low",
    "value_high",
    "qualifier",
    "unit",
    "note",
)
NUMBER_COLUMNS: tuple[str, ...] = ("value", "value_low", "value_high")
DATE_COLUMNS: tuple[str, ...] = ("period_start", "period_end")
TEXT_COLUMNS: tuple[str, ...] = tuple(c for c in COLUMNS if c not in NUMBER_COLUMNS + DATE_COLUMNS)
REQUIRED_TEXT: tuple[str, ...] = ("obs_id", "source_id", "quote", "indicator", "scope", "qualifier", "unit")

QUALIFIERS: tuple[str, ...] = ("exact", "approx", "at_least", "at_most", "range")
UNITS: tuple[str, ...] = ("subscriptions", "people", "percent", "lines", "count", "households")

OBS_ID_RE = r"^\d{3}-\d{3}$"
SCOPE_RE = r"^(national|(operator|city):\S(.*\S)?)$"
CURRENCY_RE = r"^[A-Z]{3}$"


class ObservationsError(ValueError):
    """Raised by :func:`load_observations`; ``str()`` lists every problem, one per line."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def coerce(frame: pd.DataFrame, shown: str) -> tuple[pd.DataFrame, list[Problem]]:
    """Typed copy of a string frame: numbers float, dates datetime64[ns], empty text -> missing."""
    problems: list[Problem] = []
    out = pd.DataFrame(index=frame.index)
    for col in COLUMNS:
        cells = frame[col].astype(str)
        if col in NUMBER_COLUMNS:
            vals = []
            for line, cell in cells.items():
                v, err = parse_number_cell(cell)
                vals.append(v)
                if err:
                    problems.append(Problem(shown, int(line), col, err))
            out[col] = pd.Series(vals, index=frame.index, dtype="float64")
        elif col in DATE_COLUMNS:
            vals = []
            for line, cell in cells.items():
                d, err = parse_date_cell(cell)
                vals.append(d)
                if err:
                    problems.append(Problem(shown, int(line), col, err))
            out[col] = pd.to_datetime(pd.Series(vals, index=frame.index, dtype=object)).astype(
                "datetime64[ns]"
            )
        else:
            stripped = cells.str.strip() if col != "quote" else cells
            out[col] = stripped.where(stripped.str.strip() != "", None).astype("str")
    return out, problems


# --------------------------------------------------------------------------- pandera schema


def observation_schema(indicators: Iterable[str], source_ids: Iterable[str]) -> pa.DataFrameSchema:
    """Column-wise schema of the typed observations (validated lazily: every failure at once)."""
    indicators, source_ids = sorted(set(indicators)), sorted(set(source_ids))

    def unit_ok(s: pd.Series) -> pd.Series:
        return s.isin(UNITS) | s.str.fullmatch(CURRENCY_RE)

    text = {
        c: pa.Column("str", nullable=c not in REQUIRED_TEXT, coerce=False)
        for c in TEXT_COLUMNS
        if c not in ("obs_id", "source_id", "indicator", "scope", "qualifier", "unit")
    }
    return pa.DataFrameSchema(
        {
            "obs_id": pa.Column(
                "str", pa.Check.str_matches(OBS_ID_RE, error="obs_id must look like 000-001")
            ),
            "source_id": pa.Column(
                "str", pa.Check.isin(source_ids, error="unknown source_id (not in sources.csv)")
            ),
            **text,
            "period_start": pa.Column("datetime64[ns]"),
            "period_end": pa.Column("datetime64[ns]"),
            "indicator": pa.Column(
                "str", pa.Check.isin(indicators, error="unknown indicator (not in indicators.csv)")
            ),
            "scope": pa.Column(
                "str",
                pa.Check.str_matches(
                    SCOPE_RE, error="scope must be national, operator:<name> or city:<name>"
                ),
            ),
            "value": pa.Column("float64", nullable=True),
            "value_low": pa.Column("float64", nullable=True),
            "value_high": pa.Column("float64", nullable=True),
            "qualifier": pa.Column(
                "str", pa.Check.isin(QUALIFIERS, error=f"qualifier must be one of {', '.join(QUALIFIERS)}")
            ),
            "unit": pa.Column(
                "str",
                pa.Check(
                    unit_ok, error=f"unit must be one of {', '.join(UNITS)} or a currency code like USD"
                ),
            ),
        },
        strict=True,
        ordered=False,
    )


# --------------------------------------------------------------------------- cross-column checks


def _fmt(x: float) -> str:
    return f"{x:.15g}"


def _qualifier_problems(row: pd.Series) -> list[tuple[str, str]]:
    """(column, message) pairs where the qualifier disagrees with which value fields are filled."""
    q = row["qualifier"]
    has = {c: not pd.isna(row[c]) for c in NUMBER_COLUMNS}
    need: dict[str, tuple[set[str], set[str]]] = {  # qualifier -> (must be filled, must be empty)
        "exact": ({"value"}, {"value_low", "value_high"}),
        "approx": ({"value"}, {"value_low", "value_high"}),
        "at_least": ({"value", "value_low"}, {"value_high"}),
        "at_most": ({"value", "value_high"}, {"value_low"}),
        "range": ({"value_low", "value_high"}, {"value"}),
    }
    if q not in need:
        return []
    filled, empty = need[q]
    out = [(c, f"qualifier {q} needs {c} filled") for c in NUMBER_COLUMNS if c in filled and not has[c]]
    out += [(c, f"qualifier {q} needs {c} empty") for c in NUMBER_COLUMNS if c in empty and has[c]]
    if q == "at_least" and has["value"] and has["value_low"] and row["value"] != row["value_low"]:
        out.append(("value", "qualifier at_least needs value = value_low"))
    if q == "at_most" and has["value"] and has["value_high"] and row["value"] != row["value_high"]:
        out.append(("value", "qualifier at_most needs value = value_high"))
    return out


def _order_problems(row: pd.Series) -> list[tuple[str, str]]:
    """value_low <= value <= value_high and period_start <= period_end."""
    out: list[tuple[str, str]] = []
    lo, v, hi = row["value_low"], row["value"], row["value_high"]
    if not pd.isna(lo) and not pd.isna(hi) and lo > hi:
        out.append(("value_low", f"value_low {_fmt(lo)} is above value_high {_fmt(hi)}"))
    if not pd.isna(lo) and not pd.isna(v) and v < lo:
        out.append(("value", f"value {_fmt(v)} is below value_low {_fmt(lo)}"))
    if not pd.isna(hi) and not pd.isna(v) and v > hi:
        out.append(("value", f"value {_fmt(v)} is above value_high {_fmt(hi)}"))
    start, end = row["period_start"], row["period_end"]
    if not pd.isna(start) and not pd.isna(end) and start > end:
        out.append(("period_start", f"period_start {start:%Y-%m-%d} is after period_end {end:%Y-%m-%d}"))
    return out


def _indicator_lookup(indicators: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """indicator -> (kind, unit), from the first row of each indicator."""
    first = indicators.drop_duplicates("indicator")
    return dict(zip(first["indicator"], zip(first["kind"], first["unit"], strict=True), strict=True))


def _kind_problems(
    row: pd.Series, indicators: pd.DataFrame | dict[str, tuple[str, str]]
) -> list[tuple[str, str]]:
    """Unit consistent with the indicator; percentages in [0, 100]; counts and prices >= 0."""
    lookup = indicators if isinstance(indicators, dict) else _indicator_lookup(indicators)
    found = lookup.get(row["indicator"])
    if found is None:
        return []
    kind, unit = found
    out: list[tuple[str, str]] = []
    if kind == "currency":
        if not (isinstance(row["unit"], str) and re.fullmatch(CURRENCY_RE, row["unit"])):
            out.append(
                ("unit", f"indicator {row['indicator']} is a price: unit must be a currency code like USD")
            )
    elif isinstance(row["unit"], str) and row["unit"] != unit:
        out.append(
            ("unit", f"unit {row['unit']!r} does not match indicator {row['indicator']} (unit {unit!r})")
        )
    for c in NUMBER_COLUMNS:
        x = row[c]
        if pd.isna(x):
            continue
        if kind == "percent" and not 0 <= x <= 100:
            out.append((c, f"percentage {_fmt(x)} is outside [0, 100]"))
        elif kind in ("count", "currency") and x < 0:
            out.append((c, f"{kind} {_fmt(x)} is negative"))
    return out


def _quote_problems(
    row: pd.Series, texts: dict[str, str | None], source_file: dict[str, str]
) -> list[tuple[str, str]]:
    """The quote occurs in its source, and every filled number is stated in the quote."""
    sid, quote = row["source_id"], row["quote"]
    if not isinstance(quote, str) or sid not in texts:
        return []
    out: list[tuple[str, str]] = []
    text = texts[sid]
    if text is None:
        return [("source_id", f"source file {source_file[sid]} not found in {display_path(config.SOURCES)}")]
    if not quote_in_source(quote, text):
        out.append(
            (
                "quote",
                f"quote not found verbatim in {source_file[sid]}: {explain_quote_mismatch(quote, text)}",
            )
        )
    for c in NUMBER_COLUMNS:
        x = row[c]
        if not pd.isna(x) and not number_in_text(x, quote):
            seen = ", ".join(sorted({w for w, _ in extract_numbers(quote)})) or "none"
            out.append((c, f"{c} {_fmt(x)} is not stated in the quote (numbers in the quote: {seen})"))
    return out


def _id_problems(typed: pd.DataFrame, shown: str) -> list[Problem]:
    """obs_id unique, and its 3-digit prefix equal to the source number."""
    problems: list[Problem] = []
    first: dict[str, int] = {}
    for line, row in zip(typed.index, typed.to_dict("records"), strict=True):
        oid, sid = row["obs_id"], row["source_id"]
        if not isinstance(oid, str):
            continue
        if oid in first:
            problems.append(
                Problem(shown, int(line), "obs_id", f"duplicate obs_id {oid!r} (first on line {first[oid]})")
            )
        else:
            first[oid] = int(line)
        if re.fullmatch(OBS_ID_RE, oid) and isinstance(sid, str) and not sid.startswith(oid[:3] + "_"):
            problems.append(
                Problem(
                    shown,
                    int(line),
                    "obs_id",
                    f"obs_id {oid!r} does not start with the number of source {sid}",
                )
            )
    return problems


def _source_texts(sources: pd.DataFrame, sources_dir: Path) -> tuple[dict[str, str | None], dict[str, str]]:
    """Text of each catalogued source file (None when missing), and its file name."""
    texts: dict[str, str | None] = {}
    files: dict[str, str] = {}
    for _, s in sources.iterrows():
        name = s["file"] or f"{s['source_id']}.txt"
        files[s["source_id"]] = name
        p = Path(sources_dir) / name
        texts[s["source_id"]] = p.read_text(encoding="utf-8", errors="replace") if p.is_file() else None
    return texts, files


def _checksum_problems(files: dict[str, str], sources_dir: Path) -> list[Problem]:
    """Source documents that differ from their digest in ``data/SHA256SUMS`` (quotes are checked against
    them, so an edited copy would let an edited quote pass)."""
    from helpers import io as hio

    problems = []
    for name in sorted(set(files.values())):
        path = Path(sources_dir) / name
        if not path.is_file():
            continue
        try:
            hio.verify_sha256(path)
        except hio.ChecksumError as exc:
            problems.append(Problem(display_path(path), 0, "-", str(exc).split(": ", 1)[1]))
    return problems


def _row_problems(
    typed: pd.DataFrame, indicators: pd.DataFrame, sources: pd.DataFrame, sources_dir: Path, shown: str
) -> list[Problem]:
    """All cross-column checks, one Problem per failure."""
    texts, files = _source_texts(sources, sources_dir)
    problems = _checksum_problems(files, sources_dir) + _id_problems(typed, shown)
    lookup = _indicator_lookup(indicators)
    # plain dicts, not iterrows(): a Series per row costs more than all the checks together
    for line, row in zip(typed.index, typed.to_dict("records"), strict=True):
        pairs = _qualifier_problems(row) + _order_problems(row) + _kind_problems(row, lookup)
        pairs += _quote_problems(row, texts, files)
        problems += [Problem(shown, int(line), col, msg) for col, msg in pairs]
    return problems


# --------------------------------------------------------------------------- public API


def _check_typed(
    path: Path, sources_csv: Path, sources_dir: Path, indicators_csv: Path
) -> tuple[pd.DataFrame | None, list[Problem], int]:
    """Validate; return (typed frame or None, problems sorted by line, number of sources)."""
    path = Path(path)
    shown = display_path(path)
    indicators, problems = load_indicators(Path(indicators_csv))
    sources, src_problems = load_sources(Path(sources_csv))
    problems += src_problems
    frame, read_problems = read_csv_rows(path, COLUMNS)
    problems += read_problems
    if frame is None:
        return None, sorted(set(problems)), 0
    typed, cell_problems = coerce(frame, shown)
    problems += cell_problems
    if indicators is not None and sources is not None:
        schema = observation_schema(indicators["indicator"], sources["source_id"])
        problems += pandera_problems(typed, schema, shown)
        problems += _row_problems(typed, indicators, sources, Path(sources_dir), shown)
    n_sources = 0 if sources is None else int(typed["source_id"].dropna().nunique())
    return (
        typed,
        sorted(
            set(problems), key=lambda p: (p.file != shown, p.file, p.line, _col_rank(p.column), p.message)
        ),
        n_sources,
    )


def _col_rank(column: str) -> int:
    return COLUMNS.index(column) if column in COLUMNS else -1


class LineNumbers(list):
    """The physical line of each row, kept in ``DataFrame.attrs``; read-only by convention.

    pandas deep-copies ``attrs`` after every operation on a frame; a plain list of 10,000 numbers made each
    of them O(n), and step 01 quadratic. This list is shared instead of copied.
    """

    def __deepcopy__(self, memo: dict) -> LineNumbers:
        return self

    def __copy__(self) -> LineNumbers:
        return self


def check(
    path: Path | str = config.OBSERVATIONS_CSV,
    *,
    sources_csv: Path | str = config.SOURCES_CSV,
    sources_dir: Path | str = config.SOURCES,
    indicators_csv: Path | str = DEFAULT_INDICATORS_CSV,
) -> list[Problem]:
    """Every problem with the observations file (empty list when it is valid)."""
    _, problems, _ = _check_typed(Path(path), Path(sources_csv), Path(sources_dir), Path(indicators_csv))
    return problems


def load_observations(
    path: Path | str = config.OBSERVATIONS_CSV,
    *,
    sources_csv: Path | str = config.SOURCES_CSV,
    sources_dir: Path | str = config.SOURCES,
    indicators_csv: Path | str = DEFAULT_INDICATORS_CSV,
) -> pd.DataFrame:
    """The validated observations, typed (dates datetime64[ns], numbers float64, text str).

    Raises :class:`ObservationsError` listing every problem when the file is not valid.
    ``df.attrs["lines"]`` holds the physical line of each row (for messages downstream).
    """
    typed, problems, _ = _check_typed(Path(path), Path(sources_csv), Path(sources_dir), Path(indicators_csv))
    if problems or typed is None:
        raise ObservationsError(problems)
    lines = LineNumbers(int(i) for i in typed.index)
    out = typed.reset_index(drop=True)
    out.attrs["lines"] = lines
    out.attrs["file"] = display_path(path)
    return out


# --------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m helpers.data.observations check [PATH]``: 0 valid, 1 problems, 2 usage error."""
    parser = argparse.ArgumentParser(
        prog="python -m helpers.data.observations", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    chk = sub.add_parser("check", help="validate an observations CSV and list every problem")
    chk.add_argument("path", nargs="?", default=str(config.OBSERVATIONS_CSV))
    chk.add_argument("--sources-csv", default=str(config.SOURCES_CSV))
    chk.add_argument("--sources-dir", default=str(config.SOURCES))
    chk.add_argument("--indicators-csv", default=str(DEFAULT_INDICATORS_CSV))
    args = parser.parse_args(argv)  # exits 2 on usage errors
    typed, problems, n_sources = _check_typed(
        Path(args.path), Path(args.sources_csv), Path(args.sources_dir), Path(args.indicators_csv)
    )
    shown = display_path(args.path)
    if problems:
        for p in problems:
            print(p, file=sys.stderr)
        print(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {shown}", file=sys.stderr)
        return 1
    n = 0 if typed is None else len(typed)
    print(f"OK: {n} observations in {shown} ({n_sources} sources)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
