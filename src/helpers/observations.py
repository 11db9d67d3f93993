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

    python -m helpers.observations check [PATH]
"""

from __future__ import annotations

import argparse
import csv
import functools
import io
import math
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from helpers import config
from helpers._lazy import lazy

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

OBS_ID_RE = r"^\d{3}-\d{3}$"
SCOPE_RE = r"^(national|(operator|city):\S(.*\S)?)$"
CURRENCY_RE = r"^[A-Z]{3}$"
PLAIN_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
ISO_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

DEFAULT_INDICATORS_CSV: Path = config.RAW / "indicators.csv"


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


class ObservationsError(ValueError):
    """Raised by :func:`load_observations`; ``str()`` lists every problem, one per line."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def display_path(path: Path | str) -> str:
    """The path as shown in messages: relative to the project root when inside it."""
    return config.rel(path)


# --------------------------------------------------------------------------- numbers in text

_UNITS_WORDS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_SCALE_WORDS = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
_ABBREV_SCALES = {"k": 1e3, "m": 1e6, "mn": 1e6, "mln": 1e6, "bn": 1e9}
_FRACTIONS = {"half": 0.5, "quarter": 0.25}

_WORD = (
    r"(?:"
    + "|".join(sorted([*_UNITS_WORDS, *_SCALE_WORDS, "hundred", "dozen"], key=len, reverse=True))
    + r")"
)
_WORD_SEQ_RE = re.compile(
    r"\b(?:(?:a|an)\s+(?=(?:hundred|thousand|million|billion|trillion|dozen)\b))?"
    + _WORD
    + r"(?:(?:\s+and\s+|\s*-\s*|\s+)"
    + _WORD
    + r")*\b",
    re.IGNORECASE,
)
_SCALE_AFTER = r"(?:\s*-?\s*(?P<{g}>thousand|million|billion|trillion)\b|(?P<{a}>k|m|mn|mln|bn)\b)?"
_DIGITS = r"(?<![\w.,])(?P<{n}>\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
_DIGIT_NUM_RE = re.compile(_DIGITS.format(n="num") + _SCALE_AFTER.format(g="scale", a="abbr"), re.IGNORECASE)
_RANGE_RE = re.compile(
    _DIGITS.format(n="lo")
    + r"\s*(?:-|–|—|to|and)\s*(?:[$€£¥₩])?"
    + _DIGITS.format(n="hi")
    + _SCALE_AFTER.format(g="scale", a="abbr"),
    re.IGNORECASE,
)
_FRACTION_RE = re.compile(r"\b(?:a|one)\s+(half|quarter)\b", re.IGNORECASE)


def _scale_of(match: re.Match[str]) -> float:
    word, abbr = match.group("scale"), match.group("abbr")
    if word:
        return _SCALE_WORDS[word.lower()]
    if abbr:
        return _ABBREV_SCALES[abbr.lower()]
    return 1.0


def _plain(digits: str) -> float:
    return float(digits.replace(",", ""))


def words_to_number(words: str) -> float | None:
    """Value of a spelled-out number ("twenty-two", "a million", "three hundred thousand"), else None."""
    tokens = [t for t in re.split(r"[\s-]+", words.lower().strip()) if t and t != "and"]
    if not tokens:
        return None
    total, current, seen = 0.0, 0.0, False
    for tok in tokens:
        if tok in ("a", "an"):
            current, seen = 1.0, True
        elif tok in _UNITS_WORDS:
            current, seen = current + _UNITS_WORDS[tok], True
        elif tok in ("hundred", "dozen"):
            if not seen:
                return None
            current = (current or 1.0) * (100 if tok == "hundred" else 12)
        elif tok in _SCALE_WORDS:
            if not seen:  # a bare "thousand" / "million" ("a few thousand") is no number
                return None
            total, current = total + (current or 1.0) * _SCALE_WORDS[tok], 0.0
        else:
            return None
    return total + current if seen else None


def extract_numbers(text: str) -> list[tuple[str, float]]:
    """Every number written in ``text`` as ``(as written, value)`` pairs.

    Understands digits with thousands separators ("432,000", "1,024"), decimals
    ("15.5%"), scale words and abbreviations ("3.9 million", "1.5 billion",
    "3.9m"), ranges sharing one scale ("6.5–7 million" gives 6.5 million and 7
    million; the bare 6.5 is kept too), spelled-out numbers ("two million",
    "a million", "twenty-two") and "a quarter"/"half" (0.25 and 25, 0.5 and 50).
    Percent signs need no special handling: "28%" gives 28.
    """
    found: list[tuple[str, float]] = []
    for m in _DIGIT_NUM_RE.finditer(text):
        found.append((m.group(0).strip(), _plain(m.group("num")) * _scale_of(m)))
    for m in _RANGE_RE.finditer(text):
        scale = _scale_of(m)
        if scale != 1.0:
            found.append((m.group(0).strip(), _plain(m.group("lo")) * scale))
    for m in _WORD_SEQ_RE.finditer(text):
        value = words_to_number(m.group(0))
        if value is not None:
            found.append((m.group(0), value))
    for m in _FRACTION_RE.finditer(text):
        share = _FRACTIONS[m.group(1).lower()]
        found.extend([(m.group(0), share), (m.group(0), share * 100)])
    return found


def number_in_text(value: float, text: str, *, rel_tol: float = 1e-9) -> bool:
    """True when ``value`` is stated in ``text`` in some written form (see :func:`extract_numbers`)."""
    return any(math.isclose(value, v, rel_tol=rel_tol, abs_tol=1e-12) for _, v in extract_numbers(text))


def suggest_number(written: str) -> float | None:
    """The plain number a cell like "1,000" or "2 million" most likely means (None when unclear)."""
    nums = extract_numbers(written)
    return nums[0][1] if len(nums) == 1 or (nums and len({v for _, v in nums}) == 1) else None


# --------------------------------------------------------------------------- quotes in sources


def normalize_ws(text: str) -> str:
    """Collapse every run of whitespace to one space and strip the ends."""
    return re.sub(r"\s+", " ", text).strip()


_ELLIPSIS_RE = re.compile(r"\s*(?:\.\.\.|…)\s*")
_LOOKALIKES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-", "\u00a0": " "})


@functools.lru_cache(maxsize=32)
def _normalized_source(source: str) -> str:
    """:func:`normalize_ws` of a whole source document, computed once per document (not once per row)."""
    return normalize_ws(source)


def quote_in_source(quote: str, source: str) -> bool:
    """True when ``quote`` occurs verbatim in ``source`` (whitespace-normalised).

    An elision written ``...`` or ``…`` splits the quote into fragments that
    must occur in order.
    """
    q, s = normalize_ws(quote), _normalized_source(source)
    if q and q in s:
        return True
    fragments = [f for f in _ELLIPSIS_RE.split(q) if f]
    if len(fragments) < 2:
        return False
    pos = 0
    for frag in fragments:
        pos = s.find(frag, pos)
        if pos < 0:
            return False
        pos += len(frag)
    return True


def explain_quote_mismatch(quote: str, source: str) -> str:
    """Why ``quote`` is not in ``source``: the longest matching prefix and the first difference."""
    q, s = normalize_ws(quote), normalize_ws(source)
    if q.translate(_LOOKALIKES) in s.translate(_LOOKALIKES):
        return "differs from the source only in apostrophes, quotation marks or dashes (copy them verbatim)"
    lo, hi = 0, len(q)
    while lo < hi:  # longest prefix of q found in s
        mid = (lo + hi + 1) // 2
        if q[:mid] in s:
            lo = mid
        else:
            hi = mid - 1
    if lo == 0:
        return f"not even its start {q[:30]!r} occurs in the source"
    at = s.find(q[:lo])
    src_next = s[at + lo : at + lo + 20]
    return (
        f"matches the source for {lo} characters, then the quote has {q[lo : lo + 20]!r} "
        f"where the source has {src_next!r}"
    )


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
    path: Path, expected: Sequence[str] = COLUMNS, *, allow_empty: bool = False
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


def _parse_number_cell(cell: str) -> tuple[float, str | None]:
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


def _parse_date_cell(cell: str) -> tuple[pd.Timestamp | None, str | None]:
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


def coerce(frame: pd.DataFrame, shown: str) -> tuple[pd.DataFrame, list[Problem]]:
    """Typed copy of a string frame: numbers float, dates datetime64[ns], empty text -> missing."""
    problems: list[Problem] = []
    out = pd.DataFrame(index=frame.index)
    for col in COLUMNS:
        cells = frame[col].astype(str)
        if col in NUMBER_COLUMNS:
            vals = []
            for line, cell in cells.items():
                v, err = _parse_number_cell(cell)
                vals.append(v)
                if err:
                    problems.append(Problem(shown, int(line), col, err))
            out[col] = pd.Series(vals, index=frame.index, dtype="float64")
        elif col in DATE_COLUMNS:
            vals = []
            for line, cell in cells.items():
                d, err = _parse_date_cell(cell)
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
    problems += _pandera_problems(_blank_to_none(frame), schema, shown)
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
    problems += _pandera_problems(typed, schema, shown)
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
                d, err = _parse_date_cell(row[c])
                if err:
                    problems.append(Problem(shown, int(line), c, err))
                dates[c] = d
        if dates.get("date_start") is not None and dates.get("date_end") is not None:
            if dates["date_start"] > dates["date_end"]:
                problems.append(Problem(shown, int(line), "date_start", "date_start is after date_end"))
    return frame.apply(lambda s: s.str.strip()).reset_index(drop=True), problems


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


def _pandera_problems(typed: pd.DataFrame, schema: pa.DataFrameSchema, shown: str) -> list[Problem]:
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
    frame, read_problems = read_csv_rows(path)
    problems += read_problems
    if frame is None:
        return None, sorted(set(problems)), 0
    typed, cell_problems = coerce(frame, shown)
    problems += cell_problems
    if indicators is not None and sources is not None:
        schema = observation_schema(indicators["indicator"], sources["source_id"])
        problems += _pandera_problems(typed, schema, shown)
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
    """``python -m helpers.observations check [PATH]``: 0 valid, 1 problems, 2 usage error."""
    parser = argparse.ArgumentParser(
        prog="python -m helpers.observations", description=__doc__.splitlines()[0]
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
