"""Building blocks for the report notebook: numbers with provenance, escaped text, build metadata.

No result in the report is typed by hand: the notebook formats every number through :class:`Provenance`, which
records where it came from (observation ids and sources, or the computation and the product file), and the
appendix prints that register. Strings that come from data are escaped with :func:`esc` before they go into
Markdown, so a note containing ``<script>`` shows as text.
"""

from __future__ import annotations

import hashlib
import html
import importlib.metadata
import math
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers import config, nist
from helpers.contracts import GrowthSummary, Interval
from helpers.contracts_peers import PeerSummary, PercentileInterval

KEY_PACKAGES = (
    "numpy", "pandas", "scipy", "matplotlib", "seaborn", "pandera", "papermill", "nbconvert",
    "jupytext", "pypandoc-binary", "typst", "joblib", "dask",
)  # fmt: skip


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


# --------------------------------------------------------------------------------------------------------
# Formatting helpers
# --------------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------------
# Tables for the report (strings ready to display; pandas escapes HTML in cells)
# --------------------------------------------------------------------------------------------------------


def sources_table(sources: pd.DataFrame) -> pd.DataFrame:
    """The source documents: short id, title, author or publisher, date as stated, kind."""
    out = pd.DataFrame(
        {
            "id": sources["source_id"].map(short_source),
            "title": sources["title"],
            "author / publisher": sources["author_publisher"],
            "date": sources["date_text"],
            "kind": sources["kind"].str.replace("_", " "),
        }
    )
    return out.reset_index(drop=True)


USE_TEXT = {"value": "fit: value", "lower_bound": "fit: lower bound", "upper_bound": "fit: upper bound"}


def observations_table(obs: pd.DataFrame) -> pd.DataFrame:
    """The curated observations as read: id, date words, what (indicator, scope), value, use, quote.

    ``obs`` is ``observations_clean.csv``; the id's prefix is the source (``000-004``: source 000); the value
    carries the qualifier (≈, ≥, ≤, a range); ``use`` says whether and how the fit uses the figure.
    """
    use = [
        USE_TEXT.get(u, f"fit: {u}") if bool(ok) else "not used"
        for ok, u in zip(obs["usable_national_subs"], obs["use_as"], strict=True)
    ]
    date = obs["date_text"].where(obs["date_text"].notna() & (obs["date_text"].astype(str).str.strip() != ""))
    date = date.fillna(
        "undated ("
        + obs["period_start"].astype(str).str[:4]
        + "–"
        + obs["period_end"].astype(str).str[:4]
        + ")"
    )
    what = obs["indicator"].str.replace("_pct", " %").str.replace("_", " ")
    scope = obs["scope"].str.replace("operator:", "operator ").str.replace("city:", "city ")
    what = what.where(scope == "national", what + " (" + scope.str.replace("koryolink", "Koryolink") + ")")
    sub = obs["subgroup"].fillna("") if "subgroup" in obs.columns else pd.Series("", index=obs.index)
    what = what.where(sub == "", what + ", " + sub.astype(str))
    return pd.DataFrame(
        {
            "id": obs["obs_id"],
            "date in the source": date,
            "what": what,
            "value": [value_text(r) for _, r in obs.iterrows()],
            "use": use,
            "quote": obs["quote"],
        }
    ).reset_index(drop=True)


def is_mobile_indicator(indicator: pd.Series) -> pd.Series:
    """True for indicators about mobile phones (subscriptions, users, shares, households with a phone)."""
    return indicator.str.startswith("mobile") | indicator.str.contains("with_mobile")


def exclusion_table(obs: pd.DataFrame) -> pd.DataFrame:
    """Observations by use / exclusion reason: ``status, reason, count, observations`` (ids listed).

    Reasons are grouped as :func:`helpers.cleaning.usability_summary` groups them, except the observations
    excluded by name (rule ``exclude_obs``), whose individual reasons are listed, since no other table shows
    them.
    """
    used = obs["usable_national_subs"].astype(bool)
    key = pd.Series("", index=obs.index)
    key[used] = obs.loc[used, "use_as"].map(lambda u: {"value": "as a value", "lower_bound": "as a lower bound"}
                                            .get(u, f"as {u}"))  # fmt: skip
    exc = _exclusion_key(obs["exclusion_reason"])
    by_name = obs["exclusion_reason"].fillna("").str.startswith("excluded by name: ")
    exc[by_name] = "by name: " + obs.loc[by_name, "exclusion_reason"].str.replace("excluded by name: ", "")
    key[~used] = exc[~used].str.replace("restates another obs", "restates another figure", regex=False)
    rows = []
    for (is_used, reason), g in obs.groupby([used, key], sort=False):
        rows.append(
            {
                "status": "used in the fit" if is_used else "excluded",
                "reason": reason,
                "count": len(g),
                "observations": ", ".join(sorted(g["obs_id"])),
            }
        )
    out = pd.DataFrame(rows)
    out["_u"] = out["status"] == "used in the fit"
    out["_n"] = out["reason"].str.startswith("by name")
    out = out.sort_values(
        ["_u", "_n", "count", "reason"], ascending=[False, True, False, True], kind="stable"
    )
    return out.drop(columns=["_u", "_n"]).reset_index(drop=True)


def _exclusion_key(reasons: pd.Series) -> pd.Series:
    """The grouping :func:`helpers.cleaning.usability_summary` applies to exclusion reasons."""
    exc = reasons.fillna("").str.replace(r"^restates obs \S+", "restates another obs", regex=True)
    exc = exc.str.replace(r"\(indicator \w+\)$", "(other indicators)", regex=True)
    exc = exc.str.replace(r"^a (\w+) figure is not national \(scope .*\)$", r"a city (\1) figure is not national",
                          regex=True)  # fmt: skip
    exc = exc.str.replace(r"^refers to a subgroup \(.*\)", "refers to a subgroup", regex=True)
    return exc.str.replace(r"^excluded by name: .*", "excluded by name (rule exclude_obs; reasons in the table)",
                           regex=True)  # fmt: skip


def period_text(period: str) -> str:
    """``2013-01-01..2013-12-31`` -> ``2013``; ``2013-01-01..2013-03-13`` -> ``1 Jan–13 Mar 2013``;
    ``2012-12-31`` -> ``31 Dec 2012``; ``2010-05-01..2010-05-31`` -> ``May 2010``."""
    parts = str(period).split("..")
    try:
        a = pd.Timestamp(parts[0])
        b = pd.Timestamp(parts[-1])
    except ValueError:
        return str(period)

    def day(t: pd.Timestamp) -> str:
        return f"{t.day} {t:%b}"

    if a == b:
        return f"{day(a)} {a.year}"
    if a == pd.Timestamp(year=a.year, month=1, day=1) and b == pd.Timestamp(year=b.year, month=12, day=31):
        return str(a.year) if a.year == b.year else f"{a.year}–{b.year}"
    if a.day == 1 and b == b + pd.offsets.MonthEnd(0):
        if (a.year, a.month) == (b.year, b.month):
            return f"{a:%b} {a.year}"
        return f"{a:%b}–{b:%b} {a.year}" if a.year == b.year else f"{a:%b} {a.year}–{b:%b} {b.year}"
    return f"{day(a)}–{day(b)} {a.year}" if a.year == b.year else f"{day(a)} {a.year}–{day(b)} {b.year}"


def _fmt_compared(x: float, unit: str) -> str:
    if pd.isna(x):
        return ""
    return f"{x:,.1f} per 100" if unit != "count" else f"{x:,.0f}"


def reconciliation_table(
    rec: pd.DataFrame, verdicts: Iterable[str] = ("conflict", "definitional")
) -> pd.DataFrame:
    """Pairs of figures with the given verdicts: period, verdict, the two figures, ratio, explanation."""
    keep = rec[rec["verdict"].isin(list(verdicts))]
    order = {v: i for i, v in enumerate(verdicts)}
    keep = keep.assign(_o=keep["verdict"].map(order)).sort_values(["_o", "period", "obs_a"], kind="stable")

    def fig(r: pd.Series, side: str) -> str:
        val = _fmt_compared(r[f"compared_{side}"], r["common_unit"])
        return f"{r[f'obs_{side}']}: {val} ({period_text(r[f'period_{side}'])})"

    return pd.DataFrame(
        {
            "period": keep["period"].astype(str),
            "verdict": keep["verdict"],
            "figure A": [fig(r, "a") for _, r in keep.iterrows()],
            "figure B": [fig(r, "b") for _, r in keep.iterrows()],
            "ratio": keep["ratio"].map(lambda x: f"{x:.2f}×"),
            "explanation": keep["explanation"].str.replace(r"^(conflict|definitional): ", "", regex=True),
        }
    ).reset_index(drop=True)


def events_table(events: pd.DataFrame) -> pd.DataFrame:
    """The events as stated: id, date, event, source, quote, note."""
    from helpers.data.events import date_label

    return pd.DataFrame(
        {
            "id": events["event_id"],
            "date": [date_label(d, e) for d, e in zip(events["date"], events["date_end"], strict=True)],
            "event": events["event"],
            "source": events["source_id"].map(short_source),
            "quote": events["quote"],
            "note": events["note"].fillna(""),
        }
    ).reset_index(drop=True)


# --------------------------------------------------------------------------------------------------------
# Validation against NIST StRD
# --------------------------------------------------------------------------------------------------------

NIST_TOLERANCES = {"parameters": 1e-6, "standard errors": 1e-5, "residual sum of squares": 1e-8}
NIST_CASES = (("Rat42", "logistic"), ("Rat43", "richards"))


def nist_comparison(nist_dir: Path | str) -> pd.DataFrame:
    """Fit NIST StRD Rat42 (logistic) and Rat43 (Richards) from both NIST starts and the self-start.

    Returns one row per problem and start: ``problem, model, start, n, converged`` and the largest relative
    deviation from the certified parameters, standard errors and residual sum of squares, with ``pass``
    against :data:`NIST_TOLERANCES` (the bars of ``tests/test_growth_nist.py``).
    """
    import json

    from helpers import growth

    nist_dir = Path(nist_dir)
    cert_all = json.loads((nist_dir / "certified.json").read_text(encoding="utf-8"))
    rows = []
    for problem, model in NIST_CASES:
        cert = cert_all[problem]
        d = pd.read_csv(nist_dir / f"{problem.lower()}.csv")
        for start in ("start1", "start2", None):
            p0 = nist.from_b(cert[start]) if start else None
            res = growth.fit(model, d["x"], d["y"], p0=p0)
            b, se = nist.to_b(res)
            dev_p = max(abs(b[k] / v - 1) for k, v in cert["estimate"].items())
            dev_se = max(abs(se[k] / v - 1) for k, v in cert["stderr"].items())
            dev_rss = abs(res.rss / cert["rss"] - 1)
            ok = (
                res.converged
                and dev_p < NIST_TOLERANCES["parameters"]
                and dev_se < NIST_TOLERANCES["standard errors"]
                and dev_rss < NIST_TOLERANCES["residual sum of squares"]
            )
            rows.append(
                {
                    "problem": problem,
                    "model": model,
                    "start": {"start1": "NIST start 1", "start2": "NIST start 2", None: "self-starting"}[
                        start
                    ],
                    "n": res.n,
                    "converged": bool(res.converged),
                    "max rel. dev. parameters": dev_p,
                    "max rel. dev. std. errors": dev_se,
                    "rel. dev. RSS": dev_rss,
                    "pass": bool(ok),
                }
            )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------------
# Generated text
# --------------------------------------------------------------------------------------------------------

ITU_ORIGIN = "ITU via World Bank WDI / Gapminder"


def latest_itu(itu: pd.DataFrame) -> pd.Series:
    """The last ITU year with a subscription count."""
    return itu.dropna(subset=["subscriptions"]).sort_values("year").iloc[-1]


def itu_paragraph(itu: pd.DataFrame, p: Provenance, itu_file: str = "data/processed/itu_prk.csv") -> str:
    """One paragraph on the ITU series: latest count and per 100, first year, missing years."""
    last = latest_itu(itu)
    first = itu.dropna(subset=["subscriptions"]).sort_values("year").iloc[0]
    year = int(last["year"])
    years = set(itu.dropna(subset=["subscriptions"])["year"].astype(int))
    gaps = [y for y in range(int(first["year"]), year + 1) if y not in years]
    y0 = int(first["year"])
    count = p.num(last["subscriptions"], label=f"ITU mobile subscriptions {year}", origin=ITU_ORIGIN,
                  detail=f"{itu_file}, year {year}")  # fmt: skip
    per100 = p.num(last["per100"], "{:.1f}", label=f"ITU subscriptions per 100 people {year}", origin=ITU_ORIGIN,
                   detail=f"{itu_file}, year {year}")  # fmt: skip
    first_count = p.num(first["subscriptions"], label=f"ITU mobile subscriptions {y0}", origin=ITU_ORIGIN,
                        detail=f"{itu_file}, year {y0}")  # fmt: skip
    txt = (
        f"The International Telecommunication Union (ITU) counts {count} mobile subscriptions in North Korea at "
        f"the end of {year}, {per100} per 100 people; its series starts in {y0} with {first_count} subscriptions"
    )
    if gaps:
        txt += f" and has no figure for {', '.join(str(g) for g in gaps)}"
    return txt + "."


def usage_paragraph(
    obs: pd.DataFrame,
    p: Provenance,
    obs_file: str = "data/processed/observations_clean.csv",
    n_documents: int | None = None,
    reasons_ref: str = "the table below",
) -> str:
    """How many observations, from how many sources, were used in the fit (as values / lower bounds).

    ``n_documents``: the number of source documents (to say how many have no figures at all).
    """
    n = len(obs)
    used = obs[obs["usable_national_subs"].astype(bool)]
    n_val = int((used["use_as"] == "value").sum())
    n_lb = int((used["use_as"] == "lower_bound").sum())
    n_other = len(used) - n_val - n_lb
    n_src = int(obs["source_id"].nunique())
    o = "count of rows in " + obs_file
    docs = ""
    if n_documents and n_documents > n_src:
        k = n_documents - n_src
        docs = " (the other document has none)" if k == 1 else f" (the other {k} have none)"
    n_used = p.num(
        len(used), label="observations used in the fit", origin=o, detail="usable_national_subs = True"
    )
    txt = (
        f"The curators recorded {p.num(n, label='observations recorded', origin=o)} figures from "
        f"{p.num(n_src, label='source documents with figures', origin=o)} documents{docs}, each with the "
        f"sentence it comes from. {n_used} of them inform the fit of national mobile subscriptions: "
        f"{p.num(n_val, label='observations used as values', origin=o, detail='use_as = value')} as values and "
        f"{p.num(n_lb, label='observations used as lower bounds', origin=o, detail='use_as = lower_bound')} as "
        f"lower bounds (an operator's own count, or a count of people, cannot exceed the national number of "
        f"subscriptions)"
    )
    if n_other:
        txt += f", {n_other} otherwise"
    return txt + (
        f". The other {p.num(n - len(used), label='observations not used in the fit', origin=o)} are left out, "
        f"each for a written reason ({reasons_ref})."
    )


def reconciliation_paragraph(
    rec: pd.DataFrame, p: Provenance, rec_file: str = "data/processed/reconciliation.csv"
) -> str:
    """Counts of compared pairs by verdict, in words."""
    from helpers.data.reconcile import VERDICTS

    counts = rec["verdict"].value_counts().reindex(list(VERDICTS), fill_value=0)
    o = f"count of rows in {rec_file}"
    total = p.num(len(rec), label="reconciliation pairs", origin=o)
    parts = [
        f"{p.num(int(counts[v]), label=f'reconciliation pairs: {v}', origin=o, detail=f'verdict = {v}')} {v}"
        for v in VERDICTS
    ]
    return (
        f"Figures about the same period were compared like with like (counts with counts, shares with "
        f"shares, each also with ITU's year-end figures around it): of "
        f"{total} pairs, " + ", ".join(parts) + "."
    )


# --------------------------------------------------------------------------------------------------------
# Build metadata
# --------------------------------------------------------------------------------------------------------


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def data_hashes(paths: Iterable[Path | str], split: bool = False) -> pd.DataFrame:
    """File, size and SHA-256 of each input the report was built from (paths relative to the root).

    ``split=True`` writes the hash in four groups of 16 hexadecimal digits separated by spaces, so a narrow
    page can wrap it.
    """
    rows = []
    for p in paths:
        path = config.ROOT / p if not Path(p).is_absolute() else Path(p)
        digest = sha256(path)
        rows.append(
            {
                "file": config.rel(path),
                "bytes": f"{path.stat().st_size:,}",
                "sha256": " ".join(digest[i : i + 16] for i in range(0, 64, 16)) if split else digest,
            }
        )
    return pd.DataFrame(rows)


def package_versions(names: Iterable[str] = KEY_PACKAGES) -> pd.DataFrame:
    """Python and the installed versions of the packages that shape the results."""
    import platform

    rows = [{"package": "python", "version": platform.python_version()}]
    for name in names:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            version = "not installed"
        rows.append({"package": name, "version": version})
    return pd.DataFrame(rows)


def git_commit(root: Path | None = None) -> str:
    """The commit the report was built from, with ``+dirty`` when tracked files differ; ``unknown`` outside git."""
    root = root or config.ROOT
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return commit + ("+dirty" if dirty else "")


# --------------------------------------------------------------------------------------------------------
# Growth results (products of step 02)
# --------------------------------------------------------------------------------------------------------

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


def _finite(x: Any) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


class GrowthText:
    """Sentences about the growth results, every number registered in a :class:`Provenance`.

    ``summary`` is the step-02 contract (:class:`helpers.contracts.GrowthSummary`, or the dict of its JSON
    file ``growth_summary.json``); ``file`` its path (named in the register).  Attributes are read, not
    ``"a.b"`` strings, and the horizon year comes from the summary, never from a hard-coded key.
    """

    def __init__(
        self,
        summary: Mapping[str, Any] | GrowthSummary,
        p: Provenance,
        file: str = "data/processed/growth_summary.json",
    ):
        self.s = GrowthSummary.coerce(summary, file)
        self.p = p
        self.file = file
        self.level = self.s.level
        b = self.s.bootstrap
        self.boot = (
            f"{b.get('kind', 'parametric')} bootstrap, n = {b.get('n', '?')}, seed {b.get('seed', '?')}, "
            "percentile interval"
        )
        self.origin = f"step 02: {file}"

    def num(self, value: Any, fmt: str, label: str, detail: str, scale: float = 1.0) -> str:
        """Register and format one number of the summary (``ValueError`` naming the file when missing)."""
        if not _finite(value):
            raise ValueError(f"{self.file}: {detail} is missing or not finite")
        return self.p.num(float(value) / scale, fmt, label=label, origin=self.origin, detail=detail)

    def interval(
        self, iv: Interval, key: str, fmt: str, label: str, scale: float = 1.0, unit: str = ""
    ) -> str:
        """``8.3 million (95% interval 5.7–15.5 million)``; an end the data do not bound is said to be open."""
        est = self.num(iv.estimate, fmt, f"{label}, estimate", f"{key}.estimate ({iv.method})", scale)
        pct = f"{100 * self.level:.0f}%"
        if _finite(iv.lo) and _finite(iv.hi):
            rng = self.p.text(
                f"{fmt.format(float(iv.lo) / scale)}–{fmt.format(float(iv.hi) / scale)}",
                label=f"{label}, {pct} interval",
                origin=self.origin,
                detail=f"{key}.lo, {key}.hi ({iv.method})",
            )
            return f"{est}{unit} ({pct} interval {rng}{unit})"
        if _finite(iv.lo):
            lo_t = self.p.text(fmt.format(float(iv.lo) / scale), label=f"{label}, {pct} interval lower end",
                               origin=self.origin, detail=f"{key}.lo ({iv.method})")  # fmt: skip
            return f"{est}{unit} ({pct} interval from {lo_t}{unit}, not bounded above by the data)"
        return f"{est}{unit} (no finite interval)"

    def weights_text(self) -> str:
        """``Gompertz 0.36, Bass 0.34, logistic 0.30`` (registered)."""
        parts = []
        for m, w in sorted(self.s.weights.items(), key=lambda kv: -(kv[1] or 0)):
            parts.append(
                f"{model_name(m)} {self.num(w, '{:.2f}', f'Akaike weight of {model_name(m)}', f'weights.{m}')}"
            )
        return ", ".join(parts)

    def model_sentence(self) -> str:
        """What the data say about the choice of curve (Akaike weights; Richards identified or not)."""
        s = self.s
        if s.singled_out:
            txt = (
                f"The likelihood singles out the {model_name(s.best_model)} curve (Akaike weights: "
                f"{self.weights_text()})"
            )
        else:
            txt = (
                f"The data do not single out one curve (Akaike weights: {self.weights_text()}), so the results are "
                "averaged over them with these weights"
            )
        r = s.richards
        if r and not r.get("identified", True):
            txt += (
                "; the Richards curve's extra shape parameter is not identified by these figures ("
                + esc(str(r.get("reason", "")))
                + "), so it is left out of the average"
            )
        return txt + "."

    def saturation_sentence(self) -> str:
        """The saturation level as the likelihood supports it: the model average, the source bound below it
        and, when the upper end is poorly constrained, how far the single curves' profile intervals reach."""
        s = self.s
        sat = s.averaged["saturation"]
        txt = f"averaged over the curves, subscriptions level off at {self.interval(sat, 'averaged.saturation', '{:.1f}', 'saturation (millions)', 1e6, ' million')}"
        his = {m: q["saturation"].hi for m, q in s.profile.items() if m in s.weights and "saturation" in q}
        open_hi = any(v is None for v in his.values())
        max_hi = max((v for v in his.values() if v is not None), default=None)
        lb = s.data.get("max_lower_bound")
        wide = open_hi or (
            max_hi is not None and _finite(sat.estimate) and max_hi > 1.5 * float(sat.estimate)
        )
        if wide:
            txt += ". Read plainly: "
            if _finite(lb) and _finite(sat.lo) and float(sat.lo) < float(lb):
                lb_t = self.num(
                    lb, "{:.1f}", "largest 'more than' figure (millions)", "data.max_lower_bound", 1e6
                )
                txt += f"at least about {lb_t} million (a source already put the count above that), "
            if open_hi:
                txt += "with an upper end the data do not bound"
            else:
                m_hi = max(his, key=lambda m: his[m] or 0)
                hi_t = self.num(max_hi, "{:.0f}", f"saturation, {model_name(m_hi)} profile upper end (millions)",
                                f"profile.{m_hi}.saturation.hi (profile likelihood)", 1e6)  # fmt: skip
                txt += (
                    f"with a poorly constrained upper end (the {model_name(m_hi)} curve's profile-likelihood "
                    f"interval reaches about {hi_t} million)"
                )
        return txt


def growth_data_sentence(
    summary: Mapping[str, Any] | GrowthSummary,
    p: Provenance,
    file: str = "data/processed/growth_summary.json",
) -> str:
    """How many figures entered the fit (exact, bounds)."""
    s = GrowthSummary.coerce(summary, file)
    o = f"step 02: {file}"
    n = p.num(s.data["n_obs"], label="figures in the fit", origin=o, detail="data.n_obs")
    ne = p.num(s.data["n_exact"], label="exact figures in the fit", origin=o, detail="data.n_exact")
    nb = p.num(s.data["n_bounds"], label="bounds in the fit", origin=o, detail="data.n_bounds")
    return f"{n} figures ({ne} exact, {nb} bounds or ranges)"


def parameters_table(fits: pd.DataFrame) -> pd.DataFrame:
    """Each model's parameters (``growth_fit.csv``): estimate and standard error, 4 significant digits."""

    def g(x: float) -> str:
        if not _finite(x):
            return ""
        return f"{x:,.0f}" if abs(x) >= 1e4 else f"{x:.4g}"

    at_bound = fits.get("at_bound", pd.Series(False, index=fits.index)).astype(str).str.lower() == "true"
    return pd.DataFrame(
        {
            "model": fits["model"].map(model_name),
            "parameter": fits["param"].map(lambda x: {"t0": "τ₀", "nu": "ν"}.get(x, x)),
            "estimate": fits["estimate"].map(g),
            "standard error": [
                ("— (at a bound)" if b else g(se)) for se, b in zip(fits["stderr"], at_bound, strict=True)
            ],
            "relative s.e.": [
                ("" if b or not _finite(x) else f"{100 * x:.0f}%")
                for x, b in zip(fits["rel_stderr"], at_bound, strict=True)
            ],
        }
    ).reset_index(drop=True)


def selection_table(sel: pd.DataFrame) -> pd.DataFrame:
    """Model selection: parameters, AICc, ΔAICc, Akaike weight, BIC, converged, parameters at a bound."""
    return pd.DataFrame(
        {
            "model": sel["model"].map(model_name),
            "parameters": sel["n_params"].astype(int),
            "AICc": sel["aicc"].map(lambda x: f"{x:.2f}"),
            "ΔAICc": sel["delta_aicc"].map(lambda x: "" if pd.isna(x) else f"{x:.2f}"),
            "Akaike weight": sel["akaike_weight"].map(lambda x: "" if pd.isna(x) else f"{x:.2f}"),
            "BIC": sel["bic"].map(lambda x: f"{x:.2f}"),
            "converged": sel["converged"].map(lambda b: "yes" if bool(b) else "no"),
            "at a bound": sel.get("at_bound", pd.Series([""] * len(sel)))
            .fillna("")
            .astype(str)
            .str.replace("nu", "ν")
            .str.replace("t0", "τ₀"),
        }
    ).reset_index(drop=True)


QUANTITIES = {
    "saturation": ("saturation, millions", 1e6, "{:.1f}"),
    "ceiling_per100": ("ceiling per 100 inhabitants", 1.0, "{:.0f}"),
    "inflection": ("inflection (year of fastest growth)", 1.0, "{:.1f}"),
    "value_2030": ("subscriptions in 2030, millions", 1e6, "{:.1f}"),
    "per100_2030": ("per 100 inhabitants in 2030", 1.0, "{:.0f}"),
}


def quantities_for(horizon: int) -> dict[str, tuple[str, float, str]]:
    """The rows of :func:`intervals_table` for a horizon year (``value_<horizon>``, ``per100_<horizon>``)."""
    return {
        "saturation": ("saturation, millions", 1e6, "{:.1f}"),
        "ceiling_per100": ("ceiling per 100 inhabitants", 1.0, "{:.0f}"),
        "inflection": ("inflection (year of fastest growth)", 1.0, "{:.1f}"),
        f"value_{horizon}": (f"subscriptions in {horizon}, millions", 1e6, "{:.1f}"),
        f"per100_{horizon}": (f"per 100 inhabitants in {horizon}", 1.0, "{:.0f}"),
    }


def intervals_table(
    intervals: pd.DataFrame, quantities: Mapping[str, tuple[str, float, str]] | None = None
) -> pd.DataFrame:
    """Estimate and bootstrap interval of the key quantities: one row per quantity, one column per model
    (``8.33 M (4.99 M–10.11 M)``), models in the order they appear in ``intervals``.  Without
    ``quantities`` the horizon year is read from the ``value_<year>`` rows present."""
    if quantities is None:
        years = [int(q[6:]) for q in intervals["quantity"].astype(str) if re.fullmatch(r"value_\d{4}", q)]
        quantities = quantities_for(years[0]) if years else QUANTITIES
    models = list(dict.fromkeys(intervals["model"]))
    rows = []
    for q, (name, scale, fmt) in quantities.items():
        row: dict[str, str] = {"quantity": name}
        for m in models:
            r = intervals[(intervals["model"] == m) & (intervals["quantity"] == q)]
            if r.empty:
                row[model_name(m)] = ""
                continue
            r = r.iloc[0]

            def f(x: float, fmt: str = fmt, scale: float = scale) -> str:
                return "" if not _finite(x) else fmt.format(float(x) / scale)

            lo, hi = f(r["lo"]), f(r["hi"])
            row[model_name(m)] = f(r["estimate"]) + (f" ({lo}–{hi})" if lo and hi else "")
        rows.append(row)
    return pd.DataFrame(rows)


def backtest_table(bt: pd.DataFrame) -> pd.DataFrame:
    """MAPE of exact later figures (percent) by model (rows) and forecast origin (columns)."""
    col = "mape_exact" if "mape_exact" in bt.columns else "mape"
    wide = bt.pivot_table(index="model", columns="origin", values=col, aggfunc="first")
    wide = wide.map(lambda x: "" if pd.isna(x) else f"{x:.1f}")
    wide.columns = [f"origin {int(c)}" for c in wide.columns]
    wide.index = wide.index.map(model_name)
    return wide.reset_index()


def scenarios_table(sc: pd.DataFrame) -> pd.DataFrame:
    """The sensitivity sweep, one row per scenario: its settings, the chosen model, and the saturation level,
    the ceiling per 100 and the inflection with their intervals."""
    out = pd.DataFrame(index=sc.index)
    for c in scenario_settings(sc):
        out[c.replace("_", " ")] = sc[c].map(
            lambda v: "yes" if v in (True, "True") else "no" if v in (False, "False") else v
        )

    def rng(key: str, scale: float, fmt: str) -> list[str]:
        if f"{key}.estimate" not in sc.columns:
            return [""] * len(sc)
        vals = []
        for _, r in sc.iterrows():
            e, lo, hi = r.get(f"{key}.estimate"), r.get(f"{key}.lo"), r.get(f"{key}.hi")
            txt = fmt.format(e / scale) if _finite(e) else "—"
            if _finite(lo) and _finite(hi):
                txt += f" ({fmt.format(lo / scale)}–{fmt.format(hi / scale)})"
            vals.append(txt)
        return vals

    if "model.chosen" in sc.columns:
        out["chosen curve"] = sc["model.chosen"].map(model_name)
    out["saturation, M (interval)"] = rng("saturation", 1e6, "{:.1f}")
    out["ceiling per 100 (interval)"] = rng("ceiling_per100", 1.0, "{:.0f}")
    out["inflection (interval)"] = rng("inflection", 1.0, "{:.1f}")
    return out.reset_index(drop=True)


def inline_md_to_html(text: str) -> str:
    """Escape ``text`` for HTML, then turn the little Markdown a caption uses (``**bold**``, ``*italic*``,
    ```code```) into tags. The text is trusted prose with data strings already passed through :func:`esc`.
    """
    out = html.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"(?<![\\*])\*(?!\s)(.+?)(?<!\s)\*", r"<em>\1</em>", out)
    return out.replace("\\", "")


def table_html(df: pd.DataFrame, caption: str | None = None, widths: Sequence[float] | None = None) -> str:
    """A DataFrame as an HTML table without the index; cell text is HTML-escaped (``<script>`` stays text).

    ``caption`` (Markdown-lite, see :func:`inline_md_to_html`) becomes the table's ``<caption>``, so it stays
    with the table in the PDF too; ``widths`` (relative, one per column) become a ``<colgroup>`` of
    percentages that both the browser and pandoc honour (long text columns get room, short ones don't wrap).
    """
    body = df.to_html(index=False, escape=True, na_rep="", border=0)
    extra = ""
    if caption:
        extra += f"\n<caption>{inline_md_to_html(caption)}</caption>"
    if widths is not None:
        if len(widths) != df.shape[1]:
            raise ValueError(f"{len(widths)} widths for {df.shape[1]} columns")
        total = float(sum(widths))
        cols = "".join(f'<col style="width: {100 * w / total:.1f}%">' for w in widths)
        extra += f"\n<colgroup>{cols}</colgroup>"
    if not extra:
        return body
    style = ' style="width: 100%"' if widths is not None else ""
    return re.sub(r"^<table([^>]*)>", lambda m: f"<table{m.group(1)}{style}>{extra}", body, count=1)


# --------------------------------------------------------------------------------------------------------
# Sections of generated text
# --------------------------------------------------------------------------------------------------------

SUMMARY_FILE = "data/processed/growth_summary.json"


def latest_document_figure(series: pd.DataFrame, obs: pd.DataFrame) -> pd.Series:
    """The latest stated (exact) figure of the national series, joined to its observation row.

    Returns the observation row plus ``count`` (the figure in subscriptions, converted from a percentage
    through the population when needed), ``count_population`` and ``t``.
    """
    exact = series[series["value"].notna()].sort_values("t")
    if exact.empty:
        raise ValueError("the national series has no exact figure")
    last = exact.iloc[-1]
    row = obs.set_index("obs_id").loc[last["obs_id"]].copy()
    row["obs_id"] = last["obs_id"]
    row["count"] = float(last["value"])
    row["t"] = float(last["t"])
    row["population_source"] = last.get("population_source", "")
    return row


def abstract(
    itu: pd.DataFrame,
    series: pd.DataFrame,
    obs: pd.DataFrame,
    sources: pd.DataFrame,
    summary: Mapping[str, Any],
    p: Provenance,
    *,
    itu_file: str = "data/processed/itu_prk.csv",
    summary_file: str = SUMMARY_FILE,
) -> str:
    """The abstract: latest counts and penetration with year and source, the fitted ceiling, the model and why."""
    last = latest_itu(itu)
    year = int(last["year"])
    d = f"{itu_file}, year {year}"
    count = p.num(last["subscriptions"] / 1e6, "{:.2f}", label=f"ITU mobile subscriptions {year} (millions)",
                  origin=ITU_ORIGIN, detail=d)  # fmt: skip
    per100 = p.num(last["per100"], "{:.1f}", label=f"ITU subscriptions per 100 people {year}", origin=ITU_ORIGIN,
                   detail=d)  # fmt: skip
    doc = latest_document_figure(series, obs)
    src = sources.set_index("source_id").loc[doc["source_id"]]
    publisher = str(src["author_publisher"]).split(";")[0].strip()
    o = f"observation {doc['obs_id']} (source {short_source(doc['source_id'])}, {publisher})"
    stated = value_text(doc).lstrip("≈≥≤ ")
    stated_ref = p.text(
        stated, label=f"figure stated by {publisher}", origin=o, detail=f"quote: “{doc['quote']}”"
    )
    kind = {"approx": "estimate of ", "at_least": "figure of at least ", "at_most": "figure of at most "}
    what = "mobile penetration" if doc.get("unit") == "percent" else "mobile subscriptions"
    txt = (
        f"At the end of {year}, the International Telecommunication Union (ITU) counted {count} million mobile "
        f"subscriptions in North Korea, {per100} per 100 people. The most recent figure in the documents "
        f"reviewed here is {esc(publisher)}'s {kind.get(doc.get('qualifier'), '')}{stated_ref} {what} "
        f"“{esc(doc['date_text'])}”"
    )
    if doc.get("unit") == "percent":
        conv = p.num(doc["count"] / 1e6, "{:.1f}", label=f"{doc['obs_id']} as subscriptions (millions)",
                     origin=f"{o}; step 01: data/processed/national_series.csv",
                     detail=f"percentage × population ({doc['population_source']})")  # fmt: skip
        txt += f", about {conv} million subscriptions"
    txt += ".\n\n"
    g = GrowthText(summary, p, summary_file)
    gs = g.s
    models = [x for x in str(gs.settings.get("models", "")).split(",") if x]
    av = gs.averaged
    txt += (
        f"{_count_word(len(models)).capitalize()} growth curves ({', '.join(model_name(x) for x in models)}) were fitted "
        f"by censored maximum likelihood to {growth_data_sentence(gs, p, summary_file)} from the documents, with "
        f"bounds (“more than …”, one operator's subscribers) entering as bounds rather than as values. "
        f"{g.model_sentence()} {g.saturation_sentence()[0].upper()}{g.saturation_sentence()[1:]}; a ceiling of "
        f"{g.interval(av['ceiling_per100'], 'averaged.ceiling_per100', '{:.0f}', 'ceiling per 100 inhabitants')} "
        f"subscriptions per 100 inhabitants of the {gs.horizon} population; growth was fastest around "
        f"{g.interval(av['inflection'], 'averaged.inflection', '{:.0f}', 'inflection year')}. "
    )
    txt += (
        "The intervals are wide because the record is thin: few figures, mostly second-hand and rounded, "
        "several of them in conflict (Section 2.3)."
    )
    return txt


def _count_word(n: int) -> str:
    words = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
    return words[n] if 0 <= n < len(words) else str(n)


def methods_models(summary: Mapping[str, Any]) -> str:
    """The model formulas (LaTeX), with the time origin of step 02."""
    e = GrowthSummary.coerce(summary).settings.get("epoch", 2008)
    e = int(e) if float(e).is_integer() else e
    return (
        "The number of subscriptions $N(t)$ at time $t$ (decimal years) is modelled by four S-shaped curves "
        "that rise towards a ceiling, the saturation level $K$ (for Bass, $m$). With $\\tau = t - "
        f"{e}$, the time since the launch of Koryolink:\n\n"
        "$$N_{\\text{logistic}}(t) = \\frac{K}{1 + e^{-r (\\tau - \\tau_0)}}$$\n\n"
        "$$N_{\\text{Gompertz}}(t) = K \\exp\\left(-b\\, e^{-c \\tau}\\right)$$\n\n"
        "$$N_{\\text{Richards}}(t) = \\frac{K}{\\left(1 + e^{-r (\\tau - \\tau_0)}\\right)^{1/\\nu}}$$\n\n"
        "$$N_{\\text{Bass}}(t) = m\\, \\frac{1 - e^{-(p+q)\\tau}}{1 + \\frac{q}{p}\\, e^{-(p+q)\\tau}}$$\n\n"
        "The logistic curve is symmetric about its inflection $\\tau_0$, the time of fastest growth, reached at "
        "half the ceiling; the Gompertz curve reaches its inflection earlier, at $K/e \\approx 0.37\\,K$, "
        "and approaches the ceiling more slowly; the Richards curve adds a shape parameter $\\nu$ "
        "($\\nu = 1$ is the logistic curve, $\\nu \\to 0$ the Gompertz curve); the Bass diffusion model "
        "separates adoption by innovators ($p$) from imitation of earlier adopters ($q$) and starts from zero "
        f"at $\\tau = 0$. Every time is reported in calendar years."
    )


def nist_paragraph(nist: pd.DataFrame, p: Provenance) -> str:
    """One sentence: how many NIST fits pass and the worst deviations."""
    o = "computed in this report: helpers.report.nist_comparison on tests/data/nist"
    n_pass = int(nist["pass"].sum())
    worst_p = p.num(nist["max rel. dev. parameters"].max(), "{:.0e}", label="NIST worst parameter deviation",
                    origin=o, detail="max over problems and starts")  # fmt: skip
    worst_se = p.num(nist["max rel. dev. std. errors"].max(), "{:.0e}", label="NIST worst standard-error deviation",
                     origin=o, detail="max over problems and starts")  # fmt: skip
    return (
        f"{n_pass} of {len(nist)} fits match the certified values within the tolerances; the largest relative "
        f"deviation is {worst_p} for a parameter and {worst_se} for a standard error."
    )


def nist_table(nist: pd.DataFrame) -> pd.DataFrame:
    """The NIST comparison formatted for the report."""
    out = nist.copy()
    for c in ("max rel. dev. parameters", "max rel. dev. std. errors", "rel. dev. RSS"):
        out[c] = out[c].map(lambda x: f"{x:.1e}")
    out["model"] = out["model"].map(model_name)
    out["converged"] = out["converged"].map({True: "yes", False: "no"})
    out["pass"] = out["pass"].map({True: "yes", False: "NO"})
    return out.rename(
        columns={
            "max rel. dev. parameters": "parameters",
            "max rel. dev. std. errors": "standard errors",
            "rel. dev. RSS": "RSS",
            "pass": "passes",
        }
    )


def methods_uncertainty(
    summary: Mapping[str, Any] | GrowthSummary, p: Provenance, file: str = SUMMARY_FILE
) -> str:
    """The likelihood, why it replaced hinge least squares, intervals, averaging, the measured coverage,
    backtests and the holdout, in words (numbers from the step-02 summary)."""
    g = GrowthText(summary, p, file)
    s = g.s
    o = g.origin
    n = p.num(s.bootstrap.get("n"), label="bootstrap resamples per model", origin=o, detail="bootstrap.n")
    seed = p.text(str(s.bootstrap.get("seed")), label="bootstrap seed", origin=o, detail="bootstrap.seed")
    pct = f"{100 * s.level:.0f}%"
    from helpers.likelihood import profile_threshold

    n_obs = int(s.data.get("n_obs") or 0)
    n_fig = p.num(n_obs, label="figures in the likelihood", origin=o, detail="data.n_obs")
    p_par = 4
    chi2_c = f"{profile_threshold(s.level, n_obs, p_par, 'chi2'):.2f}"
    f_c = p.num(profile_threshold(s.level, n_obs, p_par, "f"), "{:.2f}", label="profile deviance threshold",
                origin="computation: helpers.likelihood.profile_threshold", detail=f"level {s.level}, n = {n_obs}, p = 4")  # fmt: skip
    txt = (
        "**Estimation: censored maximum likelihood.** Each figure is the curve times a log-normal error, "
        "$\\log Y_i = \\log N(t_i) + \\sigma \\varepsilon_i$ with independent standard normal "
        "$\\varepsilon_i$, and $\\sigma$ is estimated together with the curve. With "
        "$z_i(v) = (\\log v - \\log N(t_i))/\\sigma$, the log-likelihood adds one term per figure:\n\n"
        "$$\\ell = \\sum_{\\text{exact}} \\left[\\log \\varphi(z_i(y_i)) - \\log \\sigma - \\log y_i\\right] "
        "+ \\sum_{\\text{more than } L_i} \\log\\left(1 - \\Phi(z_i(L_i))\\right) "
        "+ \\sum_{\\text{at most } U_i} \\log \\Phi(z_i(U_i)) "
        "+ \\sum_{\\text{between } L_i, U_i} \\log\\left(\\Phi(z_i(U_i)) - \\Phi(z_i(L_i))\\right)$$\n\n"
        "($\\varphi$, $\\Phi$: the standard normal density and distribution function, evaluated on the log "
        "scale so that far tails stay exact). "
    )
    if s.settings.get("rounded_figures") == "interval":
        txt += (
            "Rounded figures (“roughly 6 million”, “28%”) enter as the range of values that round to them "
            "(5.5–6.5 million; 27.5–28.5%); their half-widths are small next to the estimated error scale, and "
            "the sensitivity runs show the results with them taken as exact. "
        )
    txt += (
        "An earlier version of this analysis used least squares in which a satisfied “more than” figure cost "
        "nothing and a violated one counted like an exact figure; that criterion is not a likelihood, it "
        "counted every bound as an observation in its residual variance, and a simulation showed its nominal "
        "95% intervals covering the truth in only about three cases in four. It was replaced for that "
        "reason.\n\n"
        f"**Intervals.** For each curve the {pct} interval of the saturation level, the ceiling per 100 "
        "inhabitants and the year of fastest growth is a profile-likelihood interval: the values $q$ with "
        "$2\\,(\\ell_{\\max} - \\ell_p(q)) \\le c$. With this few figures the asymptotic threshold "
        f"$c = \\chi^2_{{1}}$ quantile ({chi2_c}) is too small (its intervals covered about 0.89 in the "
        "simulation below), so $c$ is the small-sample calibration of nonlinear-regression profiles (Bates and "
        "Watts 1988; what R's `confint` of an `nls` fit uses), "
        "$c = n \\log\\left(1 + F_{1,\\,n-p}(0.95)/(n-p)\\right)$, with $n$ the number of figures (each "
        f"exact value, bound or range adds one likelihood term; here {n_fig}) and $p$ the parameters including "
        f"$\\sigma$ ({p_par} for the three-parameter curves): $c$ = {f_c}. Forecast bands and "
        f"the model-averaged intervals come from a parametric bootstrap of the censored model ({n} simulated "
        f"data sets per curve, seed {seed}): new values at the same dates, each “more than” figure kept as a "
        "bound when the new value exceeds it (and reported as a value otherwise), rounded figures rounded "
        "again, and the curve refitted by maximum likelihood. "
    )
    cov = s.coverage
    if cov:
        cov_o = f"computation (make coverage): {cov.get('source')}"
        cov_d = f"{cov.get('n_used')} of {cov.get('n_sets')} data sets, {cov.get('model')}, seed {cov.get('seed')}, commit {cov.get('commit')}, {cov.get('date')}"
        c = p.num(cov["coverage"], "{:.3f}", label="coverage of the 95% saturation interval", origin=cov_o,
                  detail=f"coverage ({cov_d})")  # fmt: skip
        se = p.num(cov.get("mc_se"), "{:.3f}", label="Monte Carlo SE of the coverage", origin=cov_o,
                   detail=f"mc_se ({cov_d})")  # fmt: skip
        txt += (
            f"In {cov.get('n_sets')} data sets simulated from the fitted {model_name(cov.get('model'))} curve with "
            f"this report's design, the {pct} profile interval of the saturation contained the true value in a "
            f"share of {c} of them (nominal {s.level:.2f}; Monte Carlo standard error {se})"
            + (
                ": with this few figures the profile interval is somewhat too narrow, so read its ends as "
                "approximate.\n\n"
                if float(cov["coverage"]) + 2 * float(cov.get("mc_se") or 0) < s.level
                else ", consistent with its nominal level.\n\n"
            )
        )
    else:
        txt += (
            "The coverage of these intervals is measured by `make coverage` (simulated data sets with this "
            "design, written to benchmarks/results/coverage_saturation.json); it was not measured for this "
            "build.\n\n"
        )
    txt += (
        "**Model averaging.** Curves are compared by the small-sample Akaike criterion computed from the "
        "log-likelihood, $\\mathrm{AICc} = -2\\ell + 2k + \\frac{2k(k+1)}{n-k-1}$, where $k$ counts the "
        "curve's parameters and $\\sigma$. Akaike weights $w_i \\propto e^{-\\Delta_i/2}$ average the "
        "logistic, Gompertz and Bass curves: an averaged estimate is the weighted mean of the curves' "
        "estimates, its interval the percentiles of the weighted mixture of their bootstrap draws, so model "
        "uncertainty is part of it.\n\n"
    )
    origins = [x for x in str(s.backtest.get("origins", "")).split(",") if x]
    if origins:
        txt += (
            "**Backtests.** Each curve is fitted only to the figures up to an origin year ("
            + p.text(", ".join(origins), label="backtest origins", origin=o, detail="backtest.origins")
            + ") and scored on every later stated figure (mean absolute percentage error); origins that see "
            "the same figures would repeat one fit and are merged. "
        )
    h = s.holdout
    if h.get("origin"):
        txt += (
            f"**Holdout.** The curves are also fitted to the figures dated up to {h['origin']} only and their "
            f"forecast distributions scored on ITU's counts for {', '.join(str(y) for y in h.get('years', []))}, "
            "which no fit uses: the share of counts inside the 95% prediction interval, the interval score "
            "(width plus a penalty of $2/\\alpha$ times any miss) and the continuous ranked probability score "
            "(CRPS), beside two simple benchmarks: a log-linear (exponential) trend fitted like the curves (the "
            "same censored likelihood on every figure up to the origin, parametric-bootstrap predictive) and a "
            "random walk with drift on the log scale of the exact figures."
        )
    return txt


def results_fit(summary: Mapping[str, Any] | GrowthSummary, p: Provenance, file: str = SUMMARY_FILE) -> str:
    """What was fitted: the data, the time span and what the data say about the choice of curve."""
    g = GrowthText(summary, p, file)
    first = g.num(g.s.data["first_t"], "{:.1f}", "first figure in the fit (decimal year)", "data.first_t")
    last = g.num(g.s.data["last_t"], "{:.1f}", "last figure in the fit (decimal year)", "data.last_t")
    return (
        f"The curves were fitted to {growth_data_sentence(g.s, p, file)} dated from {first} to {last}, by "
        f"censored maximum likelihood on the log scale; figures stated for the same date were merged. "
        f"{g.model_sentence()}"
    )


def results_saturation(
    summary: Mapping[str, Any] | GrowthSummary, p: Provenance, file: str = SUMMARY_FILE
) -> str:
    """Model-averaged saturation, ceiling, inflection, the horizon value and years reaching penetration levels."""
    g = GrowthText(summary, p, file)
    s = g.s
    h = s.horizon
    av = s.averaged
    txt = g.saturation_sentence()[0].upper() + g.saturation_sentence()[1:] + ". "
    txt += (
        f"Divided by the population of {h}, that is a ceiling of "
        f"{g.interval(av['ceiling_per100'], 'averaged.ceiling_per100', '{:.0f}', 'ceiling per 100 inhabitants')} "
        f"subscriptions per 100 inhabitants. The averaged curve gives "
        f"{g.interval(av['value_horizon'], 'averaged.value_horizon', '{:.1f}', f'subscriptions in {h} (millions)', 1e6, ' million')} "
        f"subscriptions in {h}, and growth was fastest around "
        f"{g.interval(av['inflection'], 'averaged.inflection', '{:.1f}', 'inflection (decimal year)')}."
    )
    for key in sorted((k for k in av if k.startswith("year_reaching_")), key=lambda k: float(k[14:-6])):
        lvl = key[len("year_reaching_") : -len("per100")]
        r = av[key]
        if _finite(r.estimate):
            est = g.num(r.estimate, "{:.0f}", f"year reaching {lvl} per 100", f"averaged.{key}.estimate")
            txt += f" It reaches {lvl} subscriptions per 100 inhabitants in {est}"
            if _finite(r.share_finite) and float(r.share_finite) < 1:
                sh = g.num(100 * float(r.share_finite), "{:.0f}", f"bootstrap curves reaching {lvl} per 100 (%)",
                           f"averaged.{key}.share_finite × 100")  # fmt: skip
                txt += f", but only {sh}% of the bootstrap curves ever do, so the interval is open-ended"
            txt += "."
        elif _finite(r.share_finite):
            sh = g.num(100 * float(r.share_finite), "{:.0f}", f"bootstrap curves reaching {lvl} per 100 (%)",
                       f"averaged.{key}.share_finite × 100")  # fmt: skip
            txt += f" It never reaches {lvl} per 100 inhabitants ({sh}% of the bootstrap curves do)."
    loo = s.loo
    if _finite(loo.get("saturation_min")) and _finite(loo.get("saturation_max")):
        lo = g.num(
            loo["saturation_min"],
            "{:.1f}",
            "leave-one-out saturation, lowest (millions)",
            "loo.saturation_min",
            1e6,
        )
        hi = g.num(
            loo["saturation_max"],
            "{:.1f}",
            "leave-one-out saturation, highest (millions)",
            "loo.saturation_max",
            1e6,
        )
        txt += (
            f"\n\nLeaving out one stated figure at a time moves the averaged saturation level between {lo} million "
            f"(without {esc(loo.get('saturation_min_left_out'))}) and {hi} million (without "
            f"{esc(loo.get('saturation_max_left_out'))}): single figures move the level by more than the "
            "curves' disagreement with each other."
        )
    return txt


def profile_table(summary: Mapping[str, Any] | GrowthSummary) -> pd.DataFrame:
    """Per curve: Akaike weight, σ, and the profile-likelihood intervals of saturation, ceiling and inflection."""
    s = GrowthSummary.coerce(summary)

    def f(iv: Interval, scale: float, fmt: str) -> str:
        if not _finite(iv.estimate):
            return ""
        lo = "open" if iv.lo is None else fmt.format(iv.lo / scale)
        hi = "open" if iv.hi is None else fmt.format(iv.hi / scale)
        return f"{fmt.format(iv.estimate / scale)} ({lo}–{hi})"

    rows = []
    for m, q in s.profile.items():
        rows.append(
            {
                "curve": model_name(m),
                "Akaike weight": "" if s.weights.get(m) is None else f"{s.weights[m]:.2f}",
                "σ (log scale)": "" if s.sigma.get(m) is None else f"{s.sigma[m]:.3f}",
                "saturation, M": f(q["saturation"], 1e6, "{:.1f}"),
                "ceiling per 100": f(q["ceiling_per100"], 1.0, "{:.0f}"),
                "fastest growth": f(q["inflection"], 1.0, "{:.1f}"),
            }
        )
    return pd.DataFrame(rows)


def loo_table(summary: Mapping[str, Any] | GrowthSummary) -> pd.DataFrame:
    """Leave-one-out rows: figure left out, its date and value, averaged saturation and horizon-year level."""
    s = GrowthSummary.coerce(summary)
    rows = s.loo.get("rows", [])
    return pd.DataFrame(
        {
            "figure left out": [
                ("none (all figures)" if r["left_out"] == "none" else r["left_out"]) for r in rows
            ],
            "date": ["" if not _finite(r.get("t")) else f"{r['t']:.1f}" for r in rows],
            "figure, M": ["" if not _finite(r.get("figure")) else f"{r['figure'] / 1e6:.2f}" for r in rows],
            "saturation, M": [
                f"{r['saturation'] / 1e6:.1f}" if _finite(r.get("saturation")) else "" for r in rows
            ],
            f"level in {s.horizon}, M": [
                f"{r['value_horizon'] / 1e6:.1f}" if _finite(r.get("value_horizon")) else "" for r in rows
            ],
        }
    )


HOLDOUT_NAMES = {
    "averaged": "curves, averaged",
    "loglinear": "log-linear trend",
    "rw_drift": "random walk with drift",
}


def holdout_table(summary: Mapping[str, Any] | GrowthSummary) -> pd.DataFrame:
    """Holdout scores per method: coverage of ITU's counts, interval score, CRPS (millions), MAPE."""
    s = GrowthSummary.coerce(summary)
    rows = []
    for m, r in s.holdout.get("by_method", {}).items():
        rows.append(
            {
                "forecast": HOLDOUT_NAMES.get(m, model_name(m)),
                "ITU counts inside 95% interval": ""
                if r["coverage"] is None
                else f"{100 * r['coverage']:.0f}%",
                "interval score, M": "" if r["interval_score_m"] is None else f"{r['interval_score_m']:.3g}",
                "CRPS, M": "" if r["crps_m"] is None else f"{r['crps_m']:.3g}",
                "MAPE of median": "" if r["mape"] is None else f"{r['mape']:.0f}%",
            }
        )
    return pd.DataFrame(rows)


def results_holdout(
    summary: Mapping[str, Any] | GrowthSummary, p: Provenance, file: str = SUMMARY_FILE
) -> str:
    """The holdout against ITU in words: the averaged curves against the best benchmark."""
    g = GrowthText(summary, p, file)
    h = g.s.holdout
    by = h.get("by_method", {})
    if "averaged" not in by:
        return ""
    cov = g.num(100 * by["averaged"]["coverage"], "{:.0f}", "holdout: ITU counts inside the averaged curves' 95% interval (%)",
                "holdout.by_method.averaged.coverage × 100")  # fmt: skip
    crps = g.num(
        by["averaged"]["crps_m"],
        "{:.3g}",
        "holdout CRPS, averaged curves (millions)",
        "holdout.by_method.averaged.crps_m",
    )
    txt = (
        f"Fitted to the figures dated up to {h['origin']} ({h.get('n_train')} figures, {h.get('n_train_exact')} of "
        f"them exact), the averaged curves' 95% prediction intervals contain {cov}% of ITU's counts for "
        f"{', '.join(str(y) for y in h.get('years', []))} (CRPS {crps} million"
    )
    width = by["averaged"].get("interval_score_m")
    if _finite(width):
        w_t = g.num(width, "{:.3g}", "holdout interval score, averaged curves (millions)",
                    "holdout.by_method.averaged.interval_score_m")  # fmt: skip
        txt += f", interval score {w_t} million"
    txt += ")"
    if _finite(width) and float(width) > 20:
        txt += (
            ": with the few exact figures before the origin the curves do not bound the later level, so the "
            "intervals are very wide and containing the counts says little"
        )
    bench = {k: v for k, v in by.items() if k in ("loglinear", "rw_drift") and v.get("crps_m") is not None}
    if bench:
        parts = []
        for k, v in bench.items():
            c = g.num(
                v["crps_m"],
                "{:.3g}",
                f"holdout CRPS, {HOLDOUT_NAMES[k]} (millions)",
                f"holdout.by_method.{k}.crps_m",
            )
            cv = g.num(
                100 * v["coverage"],
                "{:.0f}",
                f"holdout coverage, {HOLDOUT_NAMES[k]} (%)",
                f"holdout.by_method.{k}.coverage × 100",
            )
            parts.append(f"{HOLDOUT_NAMES[k]} {c} million ({cv}% inside)")
        txt += "; the benchmarks score " + ", ".join(parts)
        best = min(bench, key=lambda k: bench[k]["crps_m"])
        n_years = len(h.get("years", []))
        av_is = by["averaged"].get("interval_score_m")
        clean = all(
            by["averaged"]["crps_m"] < v["crps_m"]
            and _finite(av_is)
            and _finite(v.get("interval_score_m"))
            and float(av_is) < float(v["interval_score_m"])
            for v in bench.values()
        )
        if clean:
            txt += (
                f". On these {n_years} counts the averaged curves have a lower CRPS and a lower interval score "
                "than both benchmarks; that says the benchmarks extrapolate worse, not that the curves forecast "
                "well (see their interval width)"
            )
        elif by["averaged"]["crps_m"] > bench[best]["crps_m"]:
            txt += (
                f". On this holdout the {HOLDOUT_NAMES[best]} forecasts better than the curves (lower CRPS): {n_years} counts "
                "are a small test, but the curves earn no credit as forecasters from it"
            )
        else:
            txt += (
                f". The scores do not rank the curves cleanly against the benchmarks on these {n_years} counts "
                "(CRPS and interval score disagree), so the holdout gives the curves no credit as forecasters"
            )
    return txt + "."


def results_backtest(
    summary: Mapping[str, Any] | GrowthSummary, p: Provenance, file: str = SUMMARY_FILE
) -> str:
    """Backtest errors by origin (mean over the curves), in words; merged origins are named."""
    g = GrowthText(summary, p, file)
    by = g.s.backtest.get("mape_exact_by_origin", {})
    if not by:
        return "No backtest results are available."
    parts = [
        f"{g.num(v, '{:.0f}', f'backtest MAPE from {k} (mean over curves)', f'backtest.mape_exact_by_origin.{k}')}% from {k}"
        for k, v in by.items()
        if _finite(v)
    ]
    txt = (
        "Fitted only to the figures available at the time, the curves miss the later stated figures by "
        f"{', '.join(parts)} on average (mean absolute percentage error, mean over the curves)."
    )
    vals = [float(v) for v in by.values() if _finite(v)]
    if len(vals) >= 2 and vals[0] > 2 * vals[-1]:
        txt += (
            " Forecasts made from the early years are far worse than later ones: before the growth slows, the "
            "data say little about where it will stop."
        )
    same = g.s.backtest.get("same_data", {})
    if same:
        txt += (
            " "
            + "; ".join(
                f"origin {k} stands also for {v}, which sees the same figures (one fit, not two)"
                for k, v in same.items()
            )
            + "."
        )
    return txt


def results_naive(
    summary: Mapping[str, Any],
    intervals: pd.DataFrame,
    p: Provenance,
    file: str = SUMMARY_FILE,
    itu: pd.DataFrame | None = None,
    itu_file: str = "data/processed/itu_prk.csv",
) -> str:
    """The censored fit against the naive fit (bounds as values) and the fit to ITU's counts.

    With ``itu`` (``itu_prk.csv``), a saturation level of the ITU fit below ITU's own latest count is pointed
    out, with the largest year-on-year jump of the series (which a levelling curve cannot follow).

    The closing sentence compares the spread of the saturation level across these data treatments with its
    spread across the equally supported models (``intervals``: ``growth_intervals.csv``).
    """
    o = f"step 02: {file}"
    gs = GrowthSummary.coerce(summary, file)
    nvc = gs.naive_vs_censored
    m = model_name(nvc.get("model", gs.best_model))
    vals = {k: nvc.get(f"{k}_saturation") for k in ("censored", "naive", "itu")}
    if not all(_finite(v) for v in vals.values()):
        return ""
    f = {
        k: p.num(
            v / 1e6,
            "{:.1f}",
            label=f"saturation, {k} fit (millions)",
            origin=o,
            detail=f"naive_vs_censored.{k}_saturation ({m})",
        )  # fmt: skip
        for k, v in vals.items()
    }
    move = "lowers" if vals["naive"] < vals["censored"] else "raises"
    txt = (
        f"Treating the bounds as if they were exact figures (the naive fit) {move} the {m} saturation level "
        f"from {f['censored']} to {f['naive']} million"
    )
    if vals["naive"] < vals["censored"]:
        txt += ": a figure such as “more than 1 million” then pulls the curve down to 1 million"
    txt += f". Fitted to ITU's year-end counts alone, the same curve levels off at {f['itu']} million"
    if itu is not None:
        last = latest_itu(itu)
        if vals["itu"] < float(last["subscriptions"]):
            yr = int(last["year"])
            cnt = p.num(last["subscriptions"] / 1e6, "{:.2f}", label=f"ITU mobile subscriptions {yr} (millions)",
                        origin=ITU_ORIGIN, detail=f"{itu_file}, year {yr}")  # fmt: skip
            txt += f", below ITU's own count for {yr} ({cnt} million)"
            s_ = itu.dropna(subset=["subscriptions"]).sort_values("year")
            ratio = s_["subscriptions"].to_numpy()[1:] / s_["subscriptions"].to_numpy()[:-1]
            late = s_["year"].to_numpy()[1:] >= s_["year"].iloc[len(s_) // 2]
            if late.any():
                i = int(np.argmax(np.where(late, ratio, 0)))
                y0, y1 = int(s_["year"].iloc[i]), int(s_["year"].iloc[i + 1])
                a = p.num(s_["subscriptions"].iloc[i] / 1e6, "{:.2f}", label=f"ITU mobile subscriptions {y0} (millions)",
                          origin=ITU_ORIGIN, detail=f"{itu_file}, year {y0}")  # fmt: skip
                b = p.num(s_["subscriptions"].iloc[i + 1] / 1e6, "{:.2f}",
                          label=f"ITU mobile subscriptions {y1} (millions)", origin=ITU_ORIGIN,
                          detail=f"{itu_file}, year {y1}")  # fmt: skip
                txt += (
                    f": the series jumps from {a} million in {y0} to {b} million in {y1}, late in its growth; a "
                    f"curve that levels off fits such a jump poorly and settles below the last counts"
                )
    txt += "."
    supported = [m_ for m_, w in gs.weights.items() if w is not None and w >= 0.1]
    sat = intervals[(intervals["quantity"] == "saturation") & intervals["model"].isin(supported)]["estimate"]
    if len(sat) >= 2:
        data_ratio = max(vals.values()) / min(vals.values())
        model_ratio = float(sat.max() / sat.min())
        dr = p.num(data_ratio, "{:.2f}", label="saturation spread across data treatments (max/min)", origin=o,
                   detail="naive_vs_censored.*_saturation")  # fmt: skip
        mr = p.num(model_ratio, "{:.2f}", label="saturation spread across the averaged curves (max/min)",
                   origin="step 02: data/processed/growth_intervals.csv",
                   detail=f"quantity = saturation, models {', '.join(supported)}")  # fmt: skip
        which = "the choice of data matters more than the choice of curve" if data_ratio > model_ratio else (
            "the choice of curve matters more than the choice of data"
        )  # fmt: skip
        txt += (
            f" The highest of these saturation levels is {dr} times the lowest; across the averaged curves "
            f"the ratio is {mr}: {which}."
        )
    return txt


def limitations(summary: Mapping[str, Any], obs: pd.DataFrame, rec: pd.DataFrame, itu: pd.DataFrame,
                p: Provenance) -> str:  # fmt: skip
    """Plain-words limitations, with the numbers they depend on."""
    gs = GrowthSummary.coerce(summary, SUMMARY_FILE)
    n_exact = gs.data["n_exact"]
    n_conf = int((rec["verdict"] == "conflict").sum())
    last = latest_itu(itu)
    years = set(itu.dropna(subset=["subscriptions"])["year"].astype(int))
    gaps = [y for y in range(min(years), max(years) + 1) if y not in years]
    items = [
        (
            f"**Few, second-hand figures.** Only {p.num(n_exact, label='exact figures in the fit', origin=f'step 02: {SUMMARY_FILE}', detail='data.n_exact')} "
            "stated figures of national subscriptions enter the fit; the rest are bounds. Most figures in the "
            "documents are rounded (“about 6 million”) and relayed from other publications, which the documents "
            "name but which were not checked for this report."
        ),
        (
            f"**Conflicting figures.** {p.num(n_conf, label='reconciliation pairs: conflict', origin='count of rows in data/processed/reconciliation.csv', detail='verdict = conflict')} "
            "pairs of figures conflict (Section 2.3). They are kept in the fit; the sensitivity runs show how the results "
            "move when the data are chosen differently."
        ),
        (
            f"**ITU.** ITU's series ends in {int(last['year'])}"
            + (f" and has no figure for {', '.join(str(g) for g in gaps)}" if gaps else "")
            + (
                ". The fit does not use ITU's counts; they are shown for comparison, and Section 4.4 fits them "
                "separately."
                if gs.settings.get("series", "curated") == "curated"
                else ". The fit uses ITU's counts, not the figures from the documents."
            )
        ),
        (
            "**Subscriptions are not people.** A person with two SIM cards counts twice; counts of people "
            "(users) are used only as lower bounds. The ceiling per 100 inhabitants is a ceiling of "
            "subscriptions, not a share of people with a phone."
        ),
        (
            "**A curve is an assumption.** The S-curves assume growth slows towards a fixed ceiling. A change "
            "of policy, price or technology (4G from late 2023) could lift the ceiling; the models cannot "
            "foresee it. The ceiling is what the record so far implies."
        ),
        (
            "**An error model is an assumption too.** The likelihood treats each figure as the curve times an "
            "independent log-normal error with one scale for all figures, and a “more than” figure as a value "
            "known only to lie above its threshold. Figures that copy each other, or errors that differ between "
            "kinds of source, would make the intervals too narrow; the coverage check holds only under this model."
        ),
    ]
    failed = sum((gs.bootstrap.get("n_failed_all_models") or {}).values())
    if _finite(failed) and float(failed) > 0:
        items.append(
            f"**Failed resamples.** {p.num(failed, label='failed bootstrap refits (all averaged curves)', origin=f'step 02: {SUMMARY_FILE}', detail='sum of bootstrap.n_failed_all_models')} "
            "bootstrap refits failed and are excluded from the intervals."
        )
    return "\n".join(f"- {x}" for x in items) + "\n"


# --------------------------------------------------------------------------------------------------------
# Peers (products of step 03) and the sensitivity sweep
# --------------------------------------------------------------------------------------------------------

PEER_FILE = "data/processed/peer_summary.json"


def _share_text(pct: float) -> str:
    return f"{pct:.0f}"


def load_peer_summary(summary: PeerSummary | Mapping[str, Any], file: str = PEER_FILE) -> PeerSummary:
    """``summary`` as a validated :class:`~helpers.contracts_peers.PeerSummary` (a parsed JSON mapping is
    checked against the contract; errors name ``file`` and the field)."""
    return summary if isinstance(summary, PeerSummary) else PeerSummary.from_dict(summary, source=file)


def _share_range(pi: PercentileInterval, metric: str) -> str:
    """``"94–99.5"``: share of countries above (ceiling) or below (speed) the focal country, over its interval.

    The end near 100 gets one decimal when it would otherwise round to 100."""
    if metric == "ceiling":
        lo, hi = 100 - pi.percentile_hi, 100 - pi.percentile_lo
    else:
        lo, hi = pi.percentile_lo, pi.percentile_hi
    hi_t = f"{hi:.0f}" if round(hi) < 100 or hi >= 100 else f"{hi:.1f}"
    return f"{lo:.0f}–{hi_t}"


def peers_paragraphs(summary: PeerSummary | Mapping[str, Any], comparison: pd.DataFrame, p: Provenance,
                     file: str = PEER_FILE) -> str:  # fmt: skip
    """North Korea against every country and its peers, and the counterfactuals, every number registered.

    The percentiles are quoted as intervals (the focal country's bootstrap draws ranked against the other
    countries, :func:`helpers.peers_report.percentile_intervals`); the headline counterfactual uses the
    same-era peers and says it describes peers, not a cause.
    """
    s = load_peer_summary(summary, file)
    o = f"step 03: {file}"
    model = s.comparison_model
    name = s.focal_name
    pc = s.percentiles[model]["ceiling"]
    ps = s.percentiles[model]["speed"]
    ints = s.percentile_intervals[model]
    base, ibase = f"percentiles.{model}", f"percentile_intervals.{model}"

    def n(value: float, path: str, fmt: str, label: str) -> str:
        return p.num(float(value), fmt, label=label, origin=o, detail=path)

    def rng(lo: float, hi: float, path: str, fmt: str, label: str) -> str:
        return p.text(
            f"{fmt.format(lo)}–{fmt.format(hi)}", label=label, origin=o, detail=f"{path}.lo, {path}.hi"
        )

    ic = ints["ceiling"]
    share_c = p.text(_share_range(ic, "ceiling"), label=f"countries with a higher {model} ceiling (%), interval",
                     origin=o, detail=f"100 − {ibase}.ceiling.percentile_hi, 100 − {ibase}.ceiling.percentile_lo")  # fmt: skip
    point_c = p.num(100 - pc.percentile, "{:.0f}", label=f"countries with a higher {model} ceiling (%), point estimates",
                    origin=o, detail=f"100 − {base}.ceiling.percentile")  # fmt: skip
    txt = (
        f"Step 03 fits the same curves to ITU's subscriptions per 100 people of each of the "
        f"{n(s.panel.n_countries, 'panel.n_countries', '{:.0f}', 'countries in the ITU panel')} countries in the "
        f"panel, {name} included (for {name}, ITU's series, not the figures from the documents). Under the "
        f"{model_name(model)} curve, {name}'s ceiling is "
        f"{n(pc.value, f'{base}.ceiling.value', '{:.0f}', f'{name} {model} ceiling per 100')} subscriptions per "
        f"100 people (95% interval {rng(pc.lo, pc.hi, f'{base}.ceiling', '{:.0f}', f'{name} {model} ceiling per 100, interval')}), "
        f"against a median of {n(pc.median, f'{base}.ceiling.median', '{:.0f}', f'median {model} ceiling per 100')} "
        f"among the {n(pc.n_countries, f'{base}.ceiling.n_countries', '{:.0f}', 'countries with a usable fit')} "
        f"countries with a usable fit. Counting the uncertainty of the fits, {name}'s ceiling is lower than that "
        f"of {share_c}% of these countries (the {100 * ic.level:.0f}% interval of its percentile over "
        f"{n(ic.n_draws, f'{ibase}.ceiling.n_draws', '{:.0f}', 'bootstrap draws of the focal ceiling')} "
        f"bootstrap draws of its ceiling, each ranked against the other countries; the "
        f"{n(ic.n_uncertain, f'{ibase}.ceiling.n_uncertain', '{:.0f}', 'countries entering with their own draws')} "
        f"countries whose own interval overlaps enter with their own draws; residual-bootstrap intervals tend "
        f"to be too narrow, so this range is a lower bound on the uncertainty); at the point estimates alone, "
        f"{point_c}%. "
    )
    best = s.fits.focal_best_model
    if best != model and best in s.percentile_intervals and "ceiling" in s.percentile_intervals[best]:
        ib = s.percentile_intervals[best]["ceiling"]
        share_b = p.text(_share_range(ib, "ceiling"), label=f"countries with a higher {best} ceiling (%), interval",
                         origin=o, detail=f"100 − percentile_intervals.{best}.ceiling.percentile_hi, 100 − …percentile_lo")  # fmt: skip
        txt += (
            f"Under the {model_name(best)} curve, which fits {name}'s series best, the ceiling is less well "
            f"determined (95% interval "
            f"{rng(ib.lo, ib.hi, f'percentile_intervals.{best}.ceiling', '{:.0f}', f'{name} {best} ceiling per 100, interval')}) "
            f"and the share is {share_b}%: the ceiling is low under either curve, but how low relative to other "
            f"countries depends on its poorly constrained upper end. "
        )
    txt += (
        f"{name}'s fitted curve takes "
        f"{n(ps.value, f'{base}.speed.value', '{:.0f}', f'{name} years from 10% to 90% of ceiling')} years "
        f"(interval {rng(ps.lo, ps.hi, f'{base}.speed', '{:.0f}', f'{name} years from 10% to 90%, interval')}) to "
        f"rise from 10% to 90% of its ceiling, against a median of "
        f"{n(ps.median, f'{base}.speed.median', '{:.0f}', 'median years from 10% to 90% of ceiling')}"
    )
    if "speed" in ints:
        share_s = p.text(_share_range(ints["speed"], "speed"), label=f"countries faster than {name} (%), interval",
                         origin=o, detail=f"{ibase}.speed.percentile_lo, {ibase}.speed.percentile_hi")  # fmt: skip
        txt += f": {share_s}% of countries rose faster (same construction).\n\n"
    else:
        faster = n(ps.percentile, f"{base}.speed.percentile", "{:.0f}", f"countries faster than {name} (%)")
        txt += f": {faster}% of countries rose faster at the point estimates.\n\n"
    return txt + _counterfactual_paragraph(s, comparison, p, file)


def _counterfactual_paragraph(s: PeerSummary, comparison: pd.DataFrame, p: Provenance, file: str) -> str:
    o = f"step 03: {file}"
    name = s.focal_name
    era, c_all = s.counterfactual_same_era, s.counterfactual
    ce, ca = "counterfactual_same_era", "counterfactual"

    def n(value: float, path: str, fmt: str, label: str) -> str:
        return p.num(float(value), fmt, label=label, origin=o, detail=path)

    names = dict(zip(comparison["iso3"], comparison["name"], strict=False)) if "iso3" in comparison else {}
    era_list = ", ".join(
        f"{esc(str(names.get(c, c)))} ({s.same_era.peer_launch_years.get(c, '?')})" for c in era.peers
    )
    w = s.same_era.window_years
    txt = (
        f"**Counterfactual: a description of peers, not a cause.** Of the "
        f"{n(len(s.same_era.peer_launch_years), 'number of same_era.peer_launch_years', '{:.0f}', 'named peers')} named peers, "
        f"{n(era.n_peers, f'{ce}.n_peers', '{:.0f}', 'same-era peers')} first reached 1 subscription per 100 people "
        f"within {w} years of {name}'s launch in {s.same_era.focal_launch_year} ({era_list}). Had {name} followed "
        f"the median path of these same-era peers from its launch, it would have "
        f"{n(era.median, f'{ce}.median', '{:.0f}', 'same-era counterfactual per 100 at the horizon')} subscriptions "
        f"per 100 people in {era.horizon_year} ({era.band} "
        + p.text(
            f"{era.lo:.0f}–{era.hi:.0f}",
            label="same-era counterfactual per 100, range across peers",
            origin=o,
            detail=f"{ce}.lo, {ce}.hi",
        )  # fmt: skip
    )
    if era.loo_min is not None and era.loo_max is not None:
        txt += "; leaving out any one of them moves the median within " + p.text(
            f"{era.loo_min:.0f}–{era.loo_max:.0f}", label="same-era counterfactual, leaving out one peer", origin=o,
            detail=f"{ce}.loo_min, {ce}.loo_max",
        )  # fmt: skip
    txt += ")"
    if era.extrapolated:
        k = len(era.extrapolated)
        txt += (
            f"; for {n(k, f'number of {ce}.extrapolated', '{:.0f}', 'same-era peers extrapolated to the horizon')} of the "
            f"{era.n_peers} peers that year lies beyond their own data, so their value extends their fitted curve"
        )
    if era.last_observed_year is not None and era.median_at_last_observed is not None:
        txt += (
            f"; in {era.last_observed_year}, {name}'s last year in ITU's series, that path stood at "
            f"{n(era.median_at_last_observed, f'{ce}.median_at_last_observed', '{:.0f}', 'same-era path per 100 in the last observed year')} "
            f"per 100 against the "
            f"{n(era.last_observed_per100, f'{ce}.last_observed_per100', '{:.0f}', f'{name} per 100, last observed year')} "
            f"observed"
        )
    sens = [
        r
        for r in s.same_era.sensitivity
        if r.pool == s.same_era.pool and r.window != w and r.median is not None
    ]
    if sens:
        parts = ", ".join(
            f"±{r.window} years: " + p.num(r.median, "{:.0f}", label=f"same-era counterfactual, window ±{r.window}",
                                            origin=o, detail=f"same_era.sensitivity (window {r.window}).median")
            + f" ({r.n_peers} peer{'' if r.n_peers == 1 else 's'})"
            for r in sens
        )  # fmt: skip
        txt += f". With other windows the median is {parts}"
    wide = [
        r
        for r in s.same_era.sensitivity
        if r.pool != s.same_era.pool and r.window == w and r.median is not None
    ]
    for r in wide:
        txt += (
            f"; taking {r.pool} in the panel launched in the same window instead ("
            + p.num(r.n_peers, "{:.0f}", label=f"countries launched within ±{w} years ({r.pool})", origin=o,
                    detail=f"same_era.sensitivity ({r.pool}, window {w}).n_peers")
            + " countries), "
            + p.num(r.median, "{:.0f}", label=f"same-era counterfactual, {r.pool}", origin=o,
                    detail=f"same_era.sensitivity ({r.pool}, window {w}).median")
        )  # fmt: skip
    txt += (
        f". Taking all {n(c_all.n_peers, f'{ca}.n_peers', '{:.0f}', 'peers in the all-peer counterfactual')} named "
        f"peers whatever their launch year, which mixes 1990s and 2000s diffusion, gives "
        f"{n(c_all.median, f'{ca}.median', '{:.0f}', 'all-peer counterfactual per 100 at the horizon')} (interquartile "
        f"range "
        + p.text(
            f"{c_all.lo:.0f}–{c_all.hi:.0f}",
            label="all-peer counterfactual, interquartile range",
            origin=o,
            detail=f"{ca}.lo, {ca}.hi",
        )  # fmt: skip
        + f"). These paths describe what the peers did; the peers differ from {name} in income, geography and "
        f"policy, so the gap is not an estimate of what any one cause cost {name}."
    )
    return txt


def abstract_peers(summary: PeerSummary | Mapping[str, Any], p: Provenance, file: str = PEER_FILE) -> str:
    """One abstract paragraph on the peer comparison (same registered numbers as :func:`peers_paragraphs`)."""
    s = load_peer_summary(summary, file)
    o = f"step 03: {file}"
    model = s.comparison_model
    name = s.focal_name
    pc = s.percentiles[model]["ceiling"]
    ic = s.percentile_intervals[model]["ceiling"]
    era = s.counterfactual_same_era
    base, ibase = f"percentiles.{model}", f"percentile_intervals.{model}"
    n_countries = p.num(pc.n_countries, "{:.0f}", label="countries with a usable fit", origin=o,
                        detail=f"{base}.ceiling.n_countries")  # fmt: skip
    ceiling = p.num(
        pc.value, "{:.0f}", label=f"{name} {model} ceiling per 100", origin=o, detail=f"{base}.ceiling.value"
    )
    share = p.text(_share_range(ic, "ceiling"), label=f"countries with a higher {model} ceiling (%), interval",
                   origin=o, detail=f"100 − {ibase}.ceiling.percentile_hi, 100 − {ibase}.ceiling.percentile_lo")  # fmt: skip
    n_peers = p.num(
        era.n_peers, "{:.0f}", label="same-era peers", origin=o, detail="counterfactual_same_era.n_peers"
    )
    median = p.num(era.median, "{:.0f}", label="same-era counterfactual per 100 at the horizon", origin=o,
                   detail="counterfactual_same_era.median")  # fmt: skip
    return (
        f"Compared with the {n_countries} countries whose ITU series a growth curve fits, {name}'s ceiling on "
        f"ITU's own series ({ceiling} per 100 people) is lower than that of {share}% of them once the uncertainty "
        f"of the fits is counted. The median path of the {n_peers} named peers that launched in the same era "
        f"(within {s.same_era.window_years} years) would have reached about {median} subscriptions per 100 people "
        f"by {era.horizon_year}; this describes those peers, not what held {name} back."
    )


def peers_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """North Korea and its peers: launch, last figure, ceiling and 10–90% time with intervals, best curve."""

    def rng(v: float, lo: float, hi: float, fmt: str = "{:.0f}") -> str:
        return (
            ""
            if not _finite(v)
            else fmt.format(v) + (f" ({fmt.format(lo)}–{fmt.format(hi)})" if _finite(lo) else "")
        )

    return pd.DataFrame(
        {
            "country": comparison["name"],
            "launch": comparison["launch_year"].astype("Int64").astype(str),
            "last year": comparison["last_year"].astype("Int64").astype(str),
            "per 100, last year": comparison["last_per100"].map(lambda x: f"{x:.0f}"),
            "ceiling per 100 (interval)": [
                rng(r.ceiling, r.ceiling_lo, r.ceiling_hi) for r in comparison.itertuples()
            ],
            "years 10–90% (interval)": [
                rng(r.speed, r.speed_lo, r.speed_hi) for r in comparison.itertuples()
            ],
            "best curve": comparison["best_model"].map(model_name),
        }
    ).reset_index(drop=True)


SETTING_WORDS = {
    "use_bounds": "whether bounds enter the fit as bounds (yes) or as exact figures (no)",
    "operator_figures": "whether one operator's counts are used as lower bounds (include) or left out (exclude)",
    "loss_scale": "relative (log) or absolute (linear) errors",
    "series": "the figures from the documents (curated) or ITU's counts (itu)",
    "ceiling_population_year": "the population year the ceiling per 100 divides by",
}


def scenarios_caption(sc: pd.DataFrame) -> str:
    """What the sweep varied, in words, for the table caption."""
    parts = [
        f"{c.replace('_', ' ')}: {SETTING_WORDS.get(c, c.replace('_', ' '))}" for c in scenario_settings(sc)
    ]
    return "; ".join(parts)


def scenario_settings(sc: pd.DataFrame) -> list[str]:
    """The grid's columns of ``scenarios.csv``: those the summary also records under ``settings.``."""
    return [c for c in sc.columns if "." not in c and f"settings.{c}" in sc.columns]


def scenarios_paragraph(
    sc: pd.DataFrame,
    p: Provenance,
    file: str = "data/processed/scenarios.csv",
    table_ref: str = "the table below",
) -> str:
    """The range of the saturation level and the chosen models over the sensitivity sweep."""
    o = f"make scenarios: {file}"
    settings = scenario_settings(sc)
    sat = sc["saturation.estimate"].astype(float)
    lo = p.num(sat.min() / 1e6, "{:.1f}", label="saturation, lowest over scenarios (millions)", origin=o,
               detail="min of saturation.estimate")  # fmt: skip
    hi = p.num(sat.max() / 1e6, "{:.1f}", label="saturation, highest over scenarios (millions)", origin=o,
               detail="max of saturation.estimate")  # fmt: skip
    return (
        f"The fit (step 02) was recomputed for every combination of the {len(settings)} data treatments in "
        f"{table_ref}: {p.num(len(sc), label='scenarios in the sensitivity sweep', origin=o, detail='rows')} runs "
        "(censored maximum likelihood, curves averaged with their Akaike weights; the interval is the envelope of "
        f"the averaged curves' profile-likelihood intervals). The averaged saturation level ranges from {lo} to "
        f"{hi} million subscriptions across them."
    )
