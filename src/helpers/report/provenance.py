"""Numbers with provenance: the register of every number quoted in the report, reference marks, figure and table
numbering, escaping of data-derived strings, and the small formatters the text and tables share.

No result in the report is typed by hand: every number is formatted through :class:`Provenance`, which records
where it came from (observation ids and sources, or the computation and the product file), and the appendix
prints that register. Strings that come from data are escaped with :func:`esc` before they go into Markdown, so a
note containing ``<script>`` shows as text.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

#: The reference mark after a number: a superscript ``[n]``. helpers.render keeps inline HTML intact (it
#: embeds images itself rather than through nbconvert's ``embed_images``), and its pandoc filter sets
#: ``<sup>`` as a Typst superscript in the PDF.
MARK = "<sup>[{ref}]</sup>"


def esc(text: object) -> str:
    """Escape a data-derived string for Markdown/HTML (``<``, ``>``, ``&``, quotes, and Markdown emphasis)."""
    if text is None or (isinstance(text, float) and pd.isna(text)):
        return ""
    out = html.escape(str(text), quote=True)
    for ch in ("\\", "*", "_", "`", "[", "]", "|", "$", "#"):
        out = out.replace(ch, "\\" + ch)
    return out


@dataclass
class Entry:
    """One number quoted in the report text."""

    ref: int
    label: str
    text: str
    origin: str
    detail: str


@dataclass
class Provenance:
    """Register of every number quoted in the report.

    ``p.num(6.35e6, "{:,.0f}", label="ITU subscriptions 2022", origin="ITU via Gapminder",
    detail="data/processed/itu_prk.csv, year 2022")`` returns ``"6,353,440<sup>[3]</sup>"`` and records entry
    3; the same label and text again return the same reference. ``mark`` formats the reference (default
    ``<sup>[3]</sup>``).
    """

    entries: list[Entry] = field(default_factory=list)
    mark: str = MARK

    def num(self, value: float, fmt: str = "{:,.0f}", *, label: str, origin: str, detail: str = "") -> str:
        """Format ``value`` with ``fmt``, register it, and return the text with its reference mark."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            raise ValueError(f"{label}: no value to quote (NaN)")
        text = fmt.format(value)
        return text + self.mark.format(ref=self.ref(label, text, origin, detail))

    def ref(self, label: str, text: str, origin: str, detail: str = "") -> int:
        """Register a quoted value given as text (e.g. a year or an interval); return its reference number."""
        for e in self.entries:
            if e.label == label and e.text == text:
                return e.ref
        ref = len(self.entries) + 1
        self.entries.append(Entry(ref, label, text, origin, detail))
        return ref

    def text(self, text: str, *, label: str, origin: str, detail: str = "") -> str:
        """Register a value already formatted as text (``"2019–2021"``); return it with its mark."""
        return text + self.mark.format(ref=self.ref(label, text, origin, detail))

    def table(self, strip: str = "") -> pd.DataFrame:
        """The register as a table (one row per number in the text); ``strip`` is removed from the origins and
        details (e.g. ``"data/processed/"``, so that long paths do not widen the table), and JSON field paths of
        three or more parts are written ``a › b › c``."""
        df = pd.DataFrame(
            [(e.ref, e.label, e.text, e.origin, e.detail) for e in self.entries],
            columns=["ref", "quantity", "value in text", "origin", "how it was obtained"],
        )
        for c in ("origin", "how it was obtained"):
            if strip:
                df[c] = df[c].str.replace(strip, "", regex=False)
            # long JSON field paths (a.b.c.d) become "a › b › c › d", so a browser can wrap them
            df[c] = df[c].str.replace(
                r"\b[A-Za-z_][\w]*(?:\.[A-Za-z_*][\w*]*){2,}\b",
                lambda m: m.group(0).replace(".", " › "),
                regex=True,
            )
        return df


@dataclass
class Numbering:
    """Automatic numbers for figures and tables, in the order they are first asked for.

    ``n.figure("fit", "The fitted curve.")`` returns ``"**Figure 1.** The fitted curve."``; ``n.fig("fit")``
    returns ``"Figure 1"`` for a cross-reference. A forward reference allocates the number early, so
    :meth:`declare` the display order first when the text refers ahead; :meth:`check` (call it at the end)
    raises when captions were shown out of order or a referenced item was never shown.
    """

    figures: dict[str, int] = field(default_factory=dict)
    tables: dict[str, int] = field(default_factory=dict)
    shown: list[tuple[str, int]] = field(default_factory=list)

    @staticmethod
    def _number(book: dict[str, int], key: str) -> int:
        if key not in book:
            book[key] = len(book) + 1
        return book[key]

    def declare(self, *, figures: Iterable[str] = (), tables: Iterable[str] = ()) -> None:
        """Allocate numbers in this order (the order the items will be shown)."""
        for key in figures:
            self._number(self.figures, key)
        for key in tables:
            self._number(self.tables, key)

    def fig(self, key: str) -> str:
        """``"Figure N"`` for ``key``."""
        return f"Figure {self._number(self.figures, key)}"

    def tab(self, key: str) -> str:
        """``"Table N"`` for ``key``."""
        return f"Table {self._number(self.tables, key)}"

    def figure(self, key: str, caption: str) -> str:
        """The Markdown caption shown under a figure: ``**Figure N.** caption``."""
        self.shown.append(("Figure", self._number(self.figures, key)))
        return f"**{self.fig(key)}.** {caption}"

    def table(self, key: str, caption: str) -> str:
        """The Markdown caption shown above a table: ``**Table N.** caption``."""
        self.shown.append(("Table", self._number(self.tables, key)))
        return f"**{self.tab(key)}.** {caption}"

    def check(self) -> None:
        """Raise ``ValueError`` unless figures and tables were each shown once, as 1, 2, 3, ..."""
        for kind, book in (("Figure", self.figures), ("Table", self.tables)):
            seq = [n for k, n in self.shown if k == kind]
            if seq != list(range(1, len(book) + 1)):
                missing = sorted(set(book.values()) - set(seq))
                raise ValueError(
                    f"{kind}s shown as {seq}; expected 1..{len(book)} in order (never shown: {missing})"
                )


def short_source(source_id: object) -> str:
    """``000_6941c283a85f418e`` -> ``000``; other ids (``ITU``) unchanged."""
    s = str(source_id)
    return s[:3] if len(s) > 4 and s[:3].isdigit() and s[3] == "_" else s


def fmt_count(x: float) -> str:
    """``6353440`` -> ``6,353,440``; NaN -> ``""``."""
    return "" if x is None or pd.isna(x) else f"{x:,.0f}"


def fmt_millions(x: float, digits: int = 1) -> str:
    """``6353440`` -> ``6.4 million``."""
    return f"{x / 1e6:.{digits}f} million"


def value_text(row: pd.Series | object) -> str:
    """An observation's value as read: ``1,000,000``, ``≥ 120,000``, ``≤ 2,000,000``, ``6,500,000–7,000,000``.

    Percentages get ``%``; ``approx`` gets ``≈``.
    """
    get = row.get if isinstance(row, pd.Series | dict) else lambda k, d=None: getattr(row, k, d)
    unit = get("unit", "")
    pct = unit == "percent"

    def f(x: float) -> str:
        if pd.isna(x):
            return ""
        s = f"{x:,.0f}" if float(x).is_integer() else f"{x:,.4g}"
        return s + ("%" if pct else "")

    q = get("qualifier", "")
    v, lo, hi = get("value"), get("value_low"), get("value_high")
    if q == "range" or (pd.isna(v) and not pd.isna(lo) and not pd.isna(hi)):
        return f"{f(lo)}–{f(hi)}"
    if q == "at_least":
        return f"≥ {f(v if not pd.isna(v) else lo)}"
    if q == "at_most":
        return f"≤ {f(v if not pd.isna(v) else hi)}"
    if q == "approx":
        return f"≈ {f(v)}"
    return f(v)


MODEL_NAMES = {"logistic": "logistic", "gompertz": "Gompertz", "richards": "Richards", "bass": "Bass"}


def model_name(model: object) -> str:
    """Display name of a growth model (``gompertz`` -> ``Gompertz``)."""
    return MODEL_NAMES.get(str(model), str(model))


def dig(summary: Mapping[str, Any], path: str, default: Any = None) -> Any:
    """``summary["a"]["b"]`` for ``path="a.b"``; ``default`` when a key is missing or the value is null."""
    cur: Any = summary
    for key in path.split("."):
        if not isinstance(cur, Mapping) or key not in cur:
            return default
        cur = cur[key]
    return default if cur is None else cur


def finite(x: Any) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False
