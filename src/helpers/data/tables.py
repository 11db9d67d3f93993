"""Reading the raw CSV tables: every problem as ``file:line: column: what is wrong``.

:func:`read_csv_rows` reads a CSV into a frame of strings indexed by the physical line where each row
starts (header = line 1), reporting file-level problems (missing or empty file, non-UTF-8 bytes, wrong
delimiter, missing / renamed / unexpected columns, wrong number of fields, quoting errors, over-long
fields) as :class:`Problem` values instead of raising. Used by :mod:`helpers.data.observations` and
:mod:`helpers.data.events`.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from helpers import config
from helpers._lazy import lazy
from helpers.data.quotes import suggest_number

pa = lazy("pandera.pandas")


# --------------------------------------------------------------------------- problems


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a file: ``file:line: column: message``."""

    file: str
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.column}: {self.message}"


def display_path(path: Path | str) -> str:
    """The path as shown in messages: relative to the project root when inside it."""
    return config.rel(path)


# --------------------------------------------------------------------------- reading the CSV


def _read_text(path: Path, shown: str) -> tuple[str | None, list[Problem]]:
    """File content as text (BOM removed), or the file-level problem that prevents reading it."""
    if not path.exists():
        return None, [Problem(shown, 0, "-", "file not found")]
    if not path.is_file():
        return None, [Problem(shown, 0, "-", "not a regular file")]
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
        bom = 3
    else:
        bom = 0
    if not data.strip():
        return None, [Problem(shown, 0, "-", "file is empty (expected a header line and observation rows)")]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        bad = data[exc.start : exc.end].hex(" ")
        msg = (
            f"not valid UTF-8: byte(s) 0x{bad} at byte offset {exc.start + bom} of the file "
            f"(byte {col} of line {line}); save the file as UTF-8"
        )
        return None, [Problem(shown, line, "-", msg)]


_DELIMITER_NAMES = {";": "semicolons (';')", "\t": "tabs", "|": "pipes ('|')"}


def _header_problems(
    header: list[str], first_line: str, shown: str, expected: Sequence[str]
) -> list[Problem]:
    """Problems with the header row: wrong delimiter, missing/unexpected/duplicate/misordered columns."""
    if len(header) == 1 and len(expected) > 1:
        for delim, name in _DELIMITER_NAMES.items():
            if first_line.count(delim) >= len(expected) // 2:
                return [
                    Problem(
                        shown,
                        1,
                        "-",
                        f"wrong delimiter: the header is separated by {name}; "
                        "the file must be comma-separated",
                    )
                ]
    missing = [c for c in expected if c not in header]
    unexpected = [c for c in header if c not in expected]
    dupes = sorted({c for c in header if header.count(c) > 1})
    problems: list[Problem] = []
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if unexpected:
            parts.append(f"found unexpected column(s) {', '.join(repr(c) for c in unexpected)}")
        hint = " (renamed?)" if missing and unexpected else ""
        problems.append(
            Problem(shown, 1, "-", "; ".join(parts) + hint + f"; expected header: {','.join(expected)}")
        )
    if dupes:
        problems.append(Problem(shown, 1, "-", f"duplicate column(s) {', '.join(dupes)}"))
    if not problems and list(header) != list(expected):
        problems.append(
            Problem(shown, 1, "-", f"columns out of order; expected header: {','.join(expected)}")
        )
    return problems


#: Longest plausible cell of a hand-curated table (the longest in the staged tables is under 500
#: characters); a longer one is reported, and the rows after it are still read and checked.
MAX_FIELD_CHARS = 10_000


def _field_problem(field: str, column: str, line: int, shown: str) -> Problem:
    """A field longer than :data:`MAX_FIELD_CHARS`, with the likely cause."""
    n_lines = field.count("\n")
    if n_lines:
        why = (
            f"it spans {n_lines + 1} lines: a double quote opened in this row and never closed swallows the "
            "rows after it (close the quote)"
        )
    else:
        why = "a pasted document or binary data? (a cell holds one figure, its quote or a short note)"
    return Problem(
        shown, line, column, f"field is {len(field):,} characters long (at most {MAX_FIELD_CHARS:,}): {why}"
    )


def read_csv_rows(
    path: Path, expected: Sequence[str], *, allow_empty: bool = False
) -> tuple[pd.DataFrame | None, list[Problem]]:
    """Read a CSV into a frame of strings indexed by the physical line where each row starts.

    Returns ``(None, problems)`` when the file cannot be read as a table with the
    expected header.  Blank lines (e.g. trailing ones) are skipped; a UTF-8 BOM is accepted.
    A file with a header and no rows is a problem unless ``allow_empty``. A field longer than
    :data:`MAX_FIELD_CHARS` is a problem at its own line and column, and the rows after it are still read.
    """
    shown = display_path(path)
    text, problems = _read_text(path, shown)
    if text is None:
        return None, problems
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(text) + 1))  # a long field is reported below, not a parse error
    try:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        rows: list[list[str]] = []
        lines: list[int] = []
        prev_end = 0
        try:
            for record in reader:
                start, prev_end = prev_end + 1, reader.line_num
                if not record or all(not f.strip() for f in record) and len(record) == 1:
                    continue
                rows.append(record)
                lines.append(start)
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                msg = (
                    "CSV syntax error: a double quote opened in this row and never closed swallows the "
                    "rest of the file (close the quote)"
                )
            else:
                msg = f"CSV syntax error: {exc} (check the double quotes of the row starting on this line)"
            problems.append(Problem(shown, prev_end + 1, "-", msg))
    finally:
        csv.field_size_limit(limit)
    if not rows:
        return None, problems or [Problem(shown, 0, "-", "file is empty (no header line)")]
    header = [h.strip() for h in rows[0]]
    header_problems = _header_problems(header, text.split("\n")[lines[0] - 1], shown, expected)
    if header_problems:
        return None, problems + header_problems
    good: list[list[str]] = []
    good_lines: list[int] = []
    for line, record in zip(lines[1:], rows[1:], strict=True):
        long = [(c, f) for c, f in zip(expected, record, strict=False) if len(f) > MAX_FIELD_CHARS]
        if long:
            problems += [_field_problem(f, c, line, shown) for c, f in long]
            continue
        if len(record) != len(expected):
            problems.append(
                Problem(
                    shown,
                    line,
                    "-",
                    f"row has {len(record)} fields, expected {len(expected)} "
                    "(an unquoted comma in a field, or a field missing?)",
                )
            )
            continue
        good.append(record)
        good_lines.append(line)
    if len(rows) == 1 and not allow_empty and not problems:
        problems.append(
            Problem(shown, 1, "-", "the file has a header but no rows (expected at least one row)")
        )
        return None, problems
    frame = pd.DataFrame(good, columns=list(expected), index=pd.Index(good_lines, name="line"), dtype=object)
    return frame, problems


# --------------------------------------------------------------------------- cell coercion


# --------------------------------------------------------------------------- cells and pandera

PLAIN_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
ISO_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_number_cell(cell: str) -> tuple[float, str | None]:
    """Parse one number cell: plain decimals only. Returns (value, error message or None)."""
    s = cell.strip()
    if not s:
        return math.nan, None
    if PLAIN_NUMBER_RE.match(s):
        return float(s), None
    guess = suggest_number(s)
    hint = f" (write {guess:.15g})" if guess is not None else ""
    if re.search(r"[A-Za-z]", s):
        why = "is written with words"
    elif re.search(r"\d[,\s'_]\d", s):
        why = "has thousands separators"
    elif "%" in s:
        why = "has a percent sign (the unit column says percent)"
    else:
        why = "is not a number"
    return math.nan, f"{s!r} {why}: numbers must be plain decimals{hint}"


def parse_date_cell(cell: str) -> tuple[pd.Timestamp | None, str | None]:
    """Parse one ISO date cell (YYYY-MM-DD). Returns (timestamp or None, error message or None)."""
    s = cell.strip()
    if not s:
        return None, None
    if ISO_DATE_RE.match(s):
        try:
            return pd.Timestamp(s), None
        except ValueError:
            pass
    return None, f"{s!r} is not a valid ISO date (YYYY-MM-DD)"


def pandera_problems(typed: pd.DataFrame, schema: pa.DataFrameSchema, shown: str) -> list[Problem]:
    """Run the schema lazily and turn every failure case into a Problem."""
    try:
        schema.validate(typed, lazy=True)
    except pa.errors.SchemaErrors as exc:
        problems = []
        for _, fc in exc.failure_cases.iterrows():
            col = fc["column"] if isinstance(fc["column"], str) else "-"
            idx = fc["index"]
            line = int(idx) if idx is not None and not pd.isna(idx) else 1
            check = str(fc["check"])
            if check == "not_nullable":
                msg = "required value is empty"
            elif check.startswith("dtype("):
                msg = f"wrong type: {check} expected, found {fc['failure_case']}"
            else:
                msg = f"{check}: {fc['failure_case']!r}"
            problems.append(Problem(shown, line, col, msg))
        return problems
    return []
