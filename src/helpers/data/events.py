"""Dated events from the source documents (``data/raw/events.csv``): validation and the timeline chart.

Each row is one statement of an event in one source, with its verbatim quote::

    event_id   E01, E02, ... (unique)
    date       the date as precise as the source states it: ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``
    date_end   optional end of a period (same formats; e.g. the 2004–2008 ban), else empty
    date_text  the words of the source that give the date
    event      a short label (drawn on the chart; rows with the same label are one event told by several
               sources: the chart draws it once, at the first row's date)
    source_id  a ``source_id`` of ``data/sources/sources.csv``
    quote      verbatim from the source (whitespace-normalised; checked)
    note       context, itself taken from the sources

A date stated to the year covers the whole year, to the month the whole month: :func:`event_spans` turns
each row into decimal-year start, end and midpoint, and the chart draws an event at its midpoint, or as a
shaded span when it lasts more than a year.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import config
from helpers._lazy import lazy
from helpers.data.quotes import explain_quote_mismatch, quote_in_source
from helpers.io import mathtext_escape

plt = lazy("matplotlib.pyplot")
ticker = lazy("matplotlib.ticker")

EVENTS_CSV = config.RAW / "events.csv"
COLUMNS: tuple[str, ...] = (
    "event_id",
    "date",
    "date_end",
    "date_text",
    "event",
    "source_id",
    "quote",
    "note",
)
_DATE_RE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


class EventsError(ValueError):
    """``events.csv`` failed validation; the message lists every problem, one per line."""


@dataclass(frozen=True)
class Span:
    """The period a partial ISO date covers, in decimal years (``end`` exclusive)."""

    start: float
    end: float


def _decimal(ts: pd.Timestamp) -> float:
    start = pd.Timestamp(year=ts.year, month=1, day=1)
    days = (pd.Timestamp(year=ts.year + 1, month=1, day=1) - start).days
    return ts.year + (ts - start).days / days


def date_span(text: str) -> Span:
    """The period covered by ``YYYY`` (the year), ``YYYY-MM`` (the month) or ``YYYY-MM-DD`` (the day).

    >>> date_span("2013-02")
    Span(start=2013.0849315068492, end=2013.1616438356164)

    Raises ``ValueError`` for anything else.
    """
    m = _DATE_RE.match(str(text).strip())
    if not m:
        raise ValueError(f"not a date YYYY, YYYY-MM or YYYY-MM-DD: {text!r}")
    year, month, day = m.group(1), m.group(2), m.group(3)
    if month is None:
        start = pd.Timestamp(year=int(year), month=1, day=1)
        end = pd.Timestamp(year=int(year) + 1, month=1, day=1)
    elif day is None:
        start = pd.Timestamp(year=int(year), month=int(month), day=1)
        end = start + pd.offsets.MonthBegin(1)
    else:
        start = pd.Timestamp(year=int(year), month=int(month), day=int(day))
        end = start + pd.Timedelta(days=1)
    return Span(_decimal(start), _decimal(end))


def event_spans(events: pd.DataFrame) -> pd.DataFrame:
    """``events`` with ``t_start``, ``t_end`` (exclusive) and ``t_mid`` in decimal years.

    The period runs from the start of ``date`` to the end of ``date_end`` when given, else to the end of
    ``date``.
    """
    out = events.copy()
    starts, ends = [], []
    for r in out.itertuples():
        s = date_span(r.date)
        e = date_span(r.date_end) if isinstance(r.date_end, str) and r.date_end.strip() else s
        starts.append(s.start)
        ends.append(e.end)
    out["t_start"], out["t_end"] = starts, ends
    out["t_mid"] = (out["t_start"] + out["t_end"]) / 2
    return out


def check_events(
    events: pd.DataFrame, sources: pd.DataFrame, sources_dir: Path, where: str | None = None
) -> list[str]:
    """Every problem in ``events`` (empty list when valid).

    Checks: the columns, unique ids, required cells, dates parse and end after they start, the source is in
    the registry and its file exists, and each quote occurs verbatim (whitespace-normalised) in its source.

    With ``where`` (the file as shown) and ``events`` indexed by physical line (as
    :func:`helpers.data.tables.read_csv_rows` returns it), each problem is ``file:line: column: what is
    wrong``; otherwise ``event_id: column: what is wrong``.
    """
    problems: list[str] = []
    missing = [c for c in COLUMNS if c not in events.columns]
    if missing:
        head = f"{where}:1: -" if where else "columns"
        return [f"{head}: missing {missing} (expected {list(COLUMNS)})"]
    lines = list(events.index) if where else [None] * len(events)

    def add(line: object, eid: object, col: str, msg: str) -> None:
        if where:
            problems.append(
                f"{where}:{line}: {col}: {msg}" + (f" (event {eid})" if isinstance(eid, str) else "")
            )
        else:
            problems.append(f"{eid}: {col}: {msg}")

    first: dict[str, object] = {}
    for line, eid in zip(lines, events["event_id"], strict=True):
        if isinstance(eid, str) and eid in first:
            add(line, eid, "event_id", "duplicated" + (f" (first on line {first[eid]})" if where else ""))
        elif isinstance(eid, str):
            first[eid] = line
    files = dict(zip(sources["source_id"], sources["file"], strict=True))
    texts: dict[str, str] = {}
    for line, r in zip(lines, events.itertuples(), strict=True):
        eid = r.event_id
        for col in ("event_id", "date", "date_text", "event", "source_id", "quote"):
            val = getattr(r, col)
            if not isinstance(val, str) or not val.strip():
                add(line, eid, col, "empty")
        try:
            s = date_span(r.date)
            if isinstance(r.date_end, str) and r.date_end.strip():
                if date_span(r.date_end).end <= s.start:
                    add(line, eid, "date_end", f"{r.date_end} is before date {r.date}")
        except ValueError as exc:
            add(line, eid, "date", str(exc))
        if r.source_id not in files:
            add(line, eid, "source_id", f"{r.source_id!r} is not in sources.csv")
            continue
        if r.source_id not in texts:
            path = Path(sources_dir) / files[r.source_id]
            if not path.is_file():
                add(line, eid, "source_id", f"source file {path.name} is missing")
                continue
            texts[r.source_id] = path.read_text(encoding="utf-8")
        if isinstance(r.quote, str) and not quote_in_source(r.quote, texts[r.source_id]):
            add(
                line,
                eid,
                "quote",
                f"not found verbatim in {files[r.source_id]}: "
                f"{explain_quote_mismatch(r.quote, texts[r.source_id])}",
            )
    return problems


def _read_table(path: Path, columns: tuple[str, ...]) -> tuple[pd.DataFrame | None, list[str]]:
    """A raw table as strings indexed by physical line, and its file-level problems (``file:line: ...``)."""
    from helpers.data.tables import read_csv_rows

    frame, problems = read_csv_rows(Path(path), columns)
    return frame, [str(p) for p in problems]


def _read_sources(sources_csv: Path | str) -> tuple[pd.DataFrame | None, list[str]]:
    from helpers.data.sources import load_sources

    frame, problems = load_sources(Path(sources_csv))
    return frame, [str(p) for p in problems]


def load_events(
    path: Path | str = EVENTS_CSV,
    sources_csv: Path | str = config.SOURCES_CSV,
    sources_dir: Path | str | None = None,
) -> pd.DataFrame:
    """Read and validate ``events.csv``; returns it with :func:`event_spans` columns, sorted by date.

    Raises :class:`EventsError` listing every problem as ``file:line: column: what is wrong``.
    """
    where = config.rel(Path(path))
    events, problems = _read_table(Path(path), COLUMNS)
    sources, src_problems = _read_sources(sources_csv)
    problems += src_problems
    if events is not None and sources is not None:
        events = events.replace({"": np.nan})
        problems += check_events(
            events, sources, Path(sources_dir) if sources_dir else Path(sources_csv).parent, where
        )
    if problems or events is None:
        raise EventsError(f"{where}: {len(problems)} problem(s)\n" + "\n".join(problems))
    out = event_spans(events.reset_index(drop=True))
    return out.sort_values(["t_start", "event_id"], kind="stable").reset_index(drop=True)


def check_file(
    path: Path | str = EVENTS_CSV,
    sources_csv: Path | str = config.SOURCES_CSV,
    glossary: Path | str | None = None,
) -> list[str]:
    """Every problem of ``events.csv`` (and of ``glossary.csv`` when given), as ``file:line: column: ...``."""
    problems: list[str] = []
    try:
        load_events(path, sources_csv)
    except EventsError as exc:
        problems += str(exc).splitlines()[1:]
    if glossary is not None:
        try:
            load_glossary(glossary, sources_csv)
        except EventsError as exc:
            problems += str(exc).splitlines()
    return list(dict.fromkeys(problems))


def chart_events(events: pd.DataFrame) -> pd.DataFrame:
    """One row per distinct ``event`` label (the first statement in file order), sorted by time."""
    first = events.sort_values("event_id", kind="stable").drop_duplicates("event", keep="first")
    return first.sort_values("t_start", kind="stable").reset_index(drop=True)


def date_label(date: str, date_end: str | float | None = None, long: bool = False) -> str:
    """A short human date: ``2002-11`` -> ``Nov 2002`` (``November 2002`` with ``long``), ``2004``..``2008``
    -> ``2004–2008``.

    >>> date_label("2023-10", "2023-12")
    'Oct–Dec 2023'
    """

    def one(d: str) -> tuple[str, str]:
        m = _DATE_RE.match(d.strip())
        if not m:
            raise ValueError(f"not a date YYYY, YYYY-MM or YYYY-MM-DD: {d!r}")
        fmt = "%B" if long else "%b"
        month = pd.Timestamp(year=2000, month=int(m.group(2)), day=1).strftime(fmt) if m.group(2) else ""
        day = str(int(m.group(3))) if m.group(3) else ""
        return m.group(1), " ".join(x for x in (day, month) if x)

    y0, md0 = one(date)
    if not isinstance(date_end, str) or not date_end.strip():
        return f"{md0} {y0}".strip()
    y1, md1 = one(date_end)
    if y0 == y1 and md0 and md1:
        return f"{md0}–{md1} {y0}"
    return f"{md0} {y0}".strip() + "–" + f"{md1} {y1}".strip()


def event_dates(events: pd.DataFrame, long: bool = True) -> dict[str, str]:
    """``event_id`` -> its date in words (:func:`date_label`), for text that cites the events."""
    return {r.event_id: date_label(r.date, r.date_end, long) for r in events.itertuples()}


def _millions(x: float, _pos: int) -> str:
    return f"{x / 1e6:g} M" if x >= 1e6 or x == 0 else f"{x / 1e3:g} k"


def plot_timeline(
    events: pd.DataFrame,
    itu: pd.DataFrame,
    series: pd.DataFrame | None = None,
    *,
    start: float = 2002.0,
    end: float | None = None,
    span_min_years: float = 1.5,
) -> plt.Figure:
    """Subscriber counts over time with the events marked.

    ``itu``: ``year, subscriptions`` (plotted at 31 December of each year); ``series``: the national series
    of step 01 (``t, value, lower, upper``; points filled, lower bounds as upward triangles). Events lasting
    longer than ``span_min_years`` (a stated period such as the 2004–2008 ban) are shaded spans; the others vertical lines at their midpoint, numbered
    1, 2, ... along the top with a key underneath (so labels never collide).
    """
    ev = chart_events(events)
    itu = itu.dropna(subset=["subscriptions"])
    itu = itu[itu["subscriptions"] > 0]
    last = max(itu["year"].max() + 1, ev["t_end"].max(), -np.inf if series is None else series["t"].max())
    end = end or float(last) + 0.6
    fig, ax = plt.subplots(figsize=(9, 5.2))
    ax.plot(itu["year"] + 1 - 1 / 730, itu["subscriptions"], color="#1f5f99", lw=1.8, marker="o", ms=4,
            label="ITU, mobile subscriptions (31 December)", zorder=3)  # fmt: skip
    if series is not None and len(series):
        pts = series[series["value"].notna()]
        lb = series[series["value"].isna() & series["lower"].notna()]
        ax.plot(pts["t"], pts["value"], ls="none", marker="D", ms=5, color="#c05a1a",
                label="source documents: figure", zorder=4)  # fmt: skip
        ax.plot(lb["t"], lb["lower"], ls="none", marker="^", ms=6, mfc="white", color="#c05a1a",
                label="source documents: lower bound", zorder=4)  # fmt: skip
    ymax = max(itu["subscriptions"].max(), 0 if series is None else np.nanmax(series[["value", "lower"]]))
    ax.set_ylim(0, ymax * 1.18)
    key = []
    n = 0
    for r in ev.itertuples():
        if r.t_end - r.t_start > span_min_years:
            ax.axvspan(r.t_start, r.t_end, color="0.55", alpha=0.18, lw=0, zorder=1)
            x = r.t_mid
        else:
            x = r.t_mid
            ax.axvline(x, color="0.35", lw=0.9, ls=(0, (3, 2)), zorder=2)
        n += 1
        ax.annotate(str(n), (x, 1.0), xycoords=("data", "axes fraction"), xytext=(0, 3), textcoords="offset points",
                    ha="center", va="bottom", fontsize=8.5, fontweight="bold", color="0.2")  # fmt: skip
        # event labels are data: drawn literally, never as mathtext (a "$" in a label would crash the draw)
        key.append(f"{n}  {mathtext_escape(r.event)} ({date_label(r.date, r.date_end)})")
    ax.set_xlim(start, end)
    ax.xaxis.set_major_locator(ticker.MultipleLocator(2))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(_millions))
    ax.set_ylabel("mobile subscriptions")
    ax.legend(loc="upper left", fontsize=8.5)
    ncol = 2
    rows = -(-len(key) // ncol)
    cols = [key[i * rows : (i + 1) * rows] for i in range(ncol)]
    for i, col in enumerate(cols):
        fig.text(0.02 + 0.5 * i, -0.01, "\n".join(col), ha="left", va="top", fontsize=8.5, linespacing=1.5)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------------------
# Names (glossary): the Korean names the report uses, each tied to a verbatim quote
# --------------------------------------------------------------------------------------------------------

GLOSSARY_CSV = config.RAW / "glossary.csv"
GLOSSARY_COLUMNS = ("term", "hangul", "source_id", "quote")
_HANGUL = re.compile(r"^[\uac00-\ud7a3 ]+$")


def load_glossary(
    path: Path | str = GLOSSARY_CSV,
    sources_csv: Path | str = config.SOURCES_CSV,
    sources_dir: Path | str | None = None,
) -> pd.DataFrame:
    """Read ``glossary.csv`` (term, hangul, source_id, quote) and check every row.

    Each ``hangul`` is Hangul syllables only, each ``term`` appears in its quote, and each quote occurs
    verbatim (whitespace-normalised) in its source document. Raises :class:`EventsError` listing every problem
    as ``file:line: column: reason``.
    """
    path = Path(path)
    where = config.rel(path)
    table, problems = _read_table(path, GLOSSARY_COLUMNS)
    sources, src_problems = _read_sources(sources_csv)
    problems += src_problems
    if table is None or sources is None:
        raise EventsError("\n".join(problems))
    files = dict(zip(sources["source_id"], sources["file"], strict=True))
    directory = Path(sources_dir) if sources_dir else Path(sources_csv).parent
    texts: dict[str, str | None] = {}
    for line, row in zip(table.index, table.itertuples(index=False), strict=True):
        for col in GLOSSARY_COLUMNS:
            if not getattr(row, col).strip():
                problems.append(f"{where}:{line}: {col}: empty")
        if not _HANGUL.match(row.hangul):
            problems.append(f"{where}:{line}: hangul: {row.hangul!r} is not written in Hangul syllables")
        if row.term.strip() and row.term.lower() not in row.quote.lower():
            problems.append(f"{where}:{line}: term: {row.term!r} does not occur in its quote")
        if row.source_id not in files:
            problems.append(f"{where}:{line}: source_id: unknown source {row.source_id!r}")
            continue
        if row.source_id not in texts:
            src = directory / (files[row.source_id] or f"{row.source_id}.txt")
            texts[row.source_id] = src.read_text(encoding="utf-8") if src.is_file() else None
        text = texts[row.source_id]
        if text is None:
            problems.append(f"{where}:{line}: source_id: source file of {row.source_id} is missing")
        elif not quote_in_source(row.quote, text):
            problems.append(f"{where}:{line}: quote: not found verbatim in {files[row.source_id]}")
    if problems:
        raise EventsError("\n".join(problems))
    table = table.reset_index(drop=True)
    return table[list(GLOSSARY_COLUMNS)]


def main(argv: list[str] | None = None) -> int:
    """``python -m helpers.data.events check``: validate events.csv and glossary.csv; 0 valid, 1 problems."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m helpers.data.events", description=main.__doc__)
    parser.add_argument("command", choices=["check"])
    parser.add_argument("--events", default=str(EVENTS_CSV))
    parser.add_argument("--glossary", default=str(GLOSSARY_CSV))
    parser.add_argument("--sources-csv", default=str(config.SOURCES_CSV))
    args = parser.parse_args(argv)
    problems = check_file(args.events, args.sources_csv, args.glossary)
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) in the raw tables", file=sys.stderr)
        return 1
    print(f"OK: {config.rel(args.events)} and {config.rel(args.glossary)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
