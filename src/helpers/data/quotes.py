"""Numbers in text and quotes in their sources: what makes a quote verbatim and a figure stated.

:func:`extract_numbers` / :func:`number_in_text` find the numbers a sentence states (digits, words,
"6.5 million", ranges, "a quarter"); :func:`quote_in_source` checks that a quote appears verbatim in its
source (whitespace and typographic look-alikes normalised, ``...`` marks an elision) and
:func:`explain_quote_mismatch` says where it stops matching.
"""

from __future__ import annotations

import functools
import math
import re

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
