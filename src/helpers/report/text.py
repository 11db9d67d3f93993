"""The report's prose: Markdown/Jinja templates (``templates/*.md.j2``, one per section) filled from the typed step
summaries and tables.

The words live in the templates, so an editor changes a sentence without touching Python; the code here only
decides *what* is said (which numbers, which case applies) and hands the templates a context of
:class:`Quoted` values. A :class:`Quoted` carries its number, its format and its provenance (label, origin,
detail); writing it in a template (``{{ count }}``) registers it in the :class:`~helpers.report.provenance.Provenance`
at that place in the text and prints it with its reference mark, so every number in the prose stays traceable
and the marks are numbered in reading order.

Templates are strict: a variable or field the context does not have (``StrictUndefined``), or a bare
floating-point number without its provenance, fails the build with :class:`TemplateFillError`, naming the
template, its line and the variable. Lines inside a paragraph may be wrapped freely in a template: the rendered
text is reflowed (a single line break is a space; a blank line separates paragraphs; ``- `` starts a list item).
"""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from helpers.report.provenance import Provenance, esc, finite, model_name
from helpers.steps.contracts import GrowthSummary, Interval

TEMPLATES = Path(__file__).with_name("templates")
SUMMARY_FILE = "data/processed/growth_summary.json"
ITU_ORIGIN = "ITU via World Bank WDI / Gapminder"


class TemplateFillError(ValueError):
    """A template could not be filled: names the template, its line and what is missing or wrong."""


@dataclass(eq=False)
class Quoted:
    """A number quoted in the text with its provenance; ``str()`` (what a template prints) registers it in ``p``
    and returns the formatted text with its reference mark. ``value`` may be text already (``"2019, 2021"``)."""

    p: Provenance
    value: float | str
    fmt: str
    label: str
    origin: str
    detail: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.value, str) and not finite(self.value):
            raise ValueError(
                f"{self.label}: no value to quote ({self.value!r}; {self.origin}, {self.detail})"
            )

    @property
    def plain(self) -> str:
        """The formatted value without a reference mark (and without registering it)."""
        return self.value if isinstance(self.value, str) else self.fmt.format(float(self.value))

    def __str__(self) -> str:
        if isinstance(self.value, str):
            return self.p.text(self.value, label=self.label, origin=self.origin, detail=self.detail)
        return self.p.num(
            float(self.value), self.fmt, label=self.label, origin=self.origin, detail=self.detail
        )

    def __repr__(self) -> str:
        return f"Quoted({self.label!r}: {self.plain})"


def quoter(p: Provenance, origin: str) -> Any:
    """``q(value, fmt, label, detail)`` -> :class:`Quoted` with a fixed origin (e.g. ``"step 02: file"``)."""

    def q(value: float | str, fmt: str, label: str, detail: str = "") -> Quoted:
        return Quoted(p, value, fmt, label, origin, detail)

    return q


def _finalize(value: Any) -> Any:
    """Every ``{{ ... }}``: a bare float (a number without provenance) is refused."""
    if isinstance(value, float):
        raise TypeError(f"bare number {value!r} printed without provenance (pass it as a Quoted value)")
    return "" if value is None else value


def _capfirst(text: object) -> str:
    s = str(text)
    return s[:1].upper() + s[1:]


def _count_word(n: int) -> str:
    words = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
    return words[n] if 0 <= n < len(words) else str(n)


ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    trim_blocks=True,
    lstrip_blocks=True,
    finalize=_finalize,
)
ENV.filters.update(esc=esc, capfirst=_capfirst, model_name=model_name, count_word=_count_word)


def reflow(text: str) -> str:
    """Join the wrapped lines of each paragraph with spaces; keep blank lines between paragraphs, one line per
    ``- `` list item, and a line break after a line that ends in two spaces (Markdown's hard break)."""
    out = []
    for para in re.split(r"\n[ \t]*\n", text):
        lines = [ln.strip() for ln in para.splitlines() if ln.strip()]
        if not lines:
            continue
        if lines[0].startswith("- "):
            items: list[str] = []
            for ln in lines:
                if ln.startswith("- ") or not items:
                    items.append(ln)
                else:
                    items[-1] += " " + ln
            out.append("\n".join(items))
        else:
            # a line that ends in two spaces is a Markdown hard line break: kept
            raw = [ln for ln in para.splitlines() if ln.strip()]
            out.append(
                "".join(
                    ln + ("  \n" if r.endswith("  ") else " ") for ln, r in zip(lines, raw, strict=True)
                ).rstrip()
            )
    return "\n\n".join(out)


def render(name: str, /, **context: Any) -> str:
    """Fill ``templates/<name>.md.j2`` with ``context`` and reflow it; :class:`TemplateFillError` names the
    template, the line and the problem (an undefined variable or field, a bare number)."""
    file = f"{name}.md.j2"
    try:
        return reflow(ENV.get_template(file).render(**context))
    except (jinja2.TemplateError, TypeError, ValueError, KeyError, AttributeError) as exc:
        where = file
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            if frame.filename.endswith(".md.j2"):
                where = f"{Path(frame.filename).name}, line {frame.lineno}"
                break
        raise TemplateFillError(f"src/helpers/report/templates/{where}: {type(exc).__name__}: {exc}") from exc


def snippet(name: str, /, **values: Any) -> str:
    """One of the short texts of notebook 04 (a caption, the lines under the title): the macro ``name`` of
    ``templates/notebook.md.j2`` called with ``values``; a missing macro or value raises :class:`TemplateFillError`."""
    file = "notebook.md.j2"
    try:
        macro = getattr(ENV.get_template(file).module, name, None)
        if macro is None:
            raise KeyError(f"no macro {name!r}")
        return reflow(str(macro(**values)))
    except (jinja2.TemplateError, TypeError, ValueError, KeyError, AttributeError) as exc:
        raise TemplateFillError(
            f"src/helpers/report/templates/{file}: {name}: {type(exc).__name__}: {exc}"
        ) from exc


# --------------------------------------------------------------------------------------------------------
# Growth results (step 02): the quoted values the growth templates share
# --------------------------------------------------------------------------------------------------------


class GrowthText:
    """The step-02 summary as quoted values for the templates (``summary``: :class:`GrowthSummary` or its JSON
    dict; ``file`` its path, named in the register). Attributes are read, not ``"a.b"`` strings, and the
    horizon year comes from the summary, never from a hard-coded key."""

    def __init__(self, summary: Any, p: Provenance, file: str = SUMMARY_FILE):
        self.s = GrowthSummary.coerce(summary, file)
        self.p = p
        self.file = file
        self.level = self.s.level
        self.pct = f"{100 * self.level:.0f}%"
        b = self.s.bootstrap
        #: "parametric bootstrap, n = 1000, seed 7" (captions add what the interval or band is)
        self.boot = (
            f"{b.get('kind', 'parametric')} bootstrap, n = {b.get('n', '?')}, seed {b.get('seed', '?')}"
        )
        self.origin = f"step 02: {file}"

    def q(self, value: Any, fmt: str, label: str, detail: str, scale: float = 1.0) -> Quoted:
        """One number of the summary (``ValueError`` naming the file when it is missing)."""
        if not finite(value):
            raise ValueError(f"{self.file}: {detail} is missing or not finite")
        return Quoted(self.p, float(value) / scale, fmt, label, self.origin, detail)

    def interval(self, iv: Interval, key: str, fmt: str, label: str, scale: float = 1.0) -> dict[str, Any]:
        """Estimate and interval (``range`` "lo–hi" when both ends are finite, else ``lo`` alone, else neither),
        for the ``interval`` macro of ``_growth.md.j2``."""
        est = self.q(iv.estimate, fmt, f"{label}, estimate", f"{key}.estimate ({iv.method})", scale)
        out: dict[str, Any] = {"estimate": est, "pct": self.pct, "range": None, "lo": None}
        if finite(iv.lo) and finite(iv.hi):
            txt = f"{fmt.format(float(iv.lo) / scale)}–{fmt.format(float(iv.hi) / scale)}"
            out["range"] = Quoted(self.p, txt, fmt, f"{label}, {self.pct} interval", self.origin,
                                  f"{key}.lo, {key}.hi ({iv.method})")  # fmt: skip
        elif finite(iv.lo):
            out["lo"] = Quoted(self.p, fmt.format(float(iv.lo) / scale), fmt, f"{label}, {self.pct} interval lower end",
                               self.origin, f"{key}.lo ({iv.method})")  # fmt: skip
        return out

    def models(self) -> dict[str, Any]:
        """What the data say about the choice of curve (for the ``model_sentence`` macro)."""
        s = self.s
        weights = [
            (model_name(m), self.q(w, "{:.2f}", f"Akaike weight of {model_name(m)}", f"weights.{m}"))
            for m, w in sorted(s.weights.items(), key=lambda kv: -(kv[1] or 0))
        ]
        r = s.richards
        unidentified = bool(r) and not r.get("identified", True)
        return {
            "singled_out": bool(s.singled_out),
            "best": model_name(s.best_model),
            "weights": weights,
            "richards_reason": esc(str(r.get("reason", ""))) if unidentified else None,
        }

    def data(self) -> dict[str, Quoted]:
        """How many figures entered the fit (exact, bounds)."""
        d = self.s.data
        return {
            "n": Quoted(self.p, d["n_obs"], "{:,.0f}", "figures in the fit", self.origin, "data.n_obs"),
            "n_exact": Quoted(self.p, d["n_exact"], "{:,.0f}", "exact figures in the fit", self.origin, "data.n_exact"),
            "n_bounds": Quoted(self.p, d["n_bounds"], "{:,.0f}", "bounds in the fit", self.origin, "data.n_bounds"),
        }  # fmt: skip

    def saturation(self) -> dict[str, Any]:
        """The saturation level as the likelihood supports it (for the ``saturation_sentence`` macro): the model
        average, the source bound below it and, when the upper end is poorly constrained, how far the single
        curves' profile intervals reach."""
        s = self.s
        sat = s.averaged["saturation"]
        out: dict[str, Any] = {
            "interval": self.interval(sat, "averaged.saturation", "{:.1f}", "saturation (millions)", 1e6),
            "wide": False, "lower_bound": None, "open_hi": False, "hi": None, "hi_model": None,
        }  # fmt: skip
        his = {m: q["saturation"].hi for m, q in s.profile.items() if m in s.weights and "saturation" in q}
        open_hi = any(v is None for v in his.values())
        max_hi = max((v for v in his.values() if v is not None), default=None)
        lb = s.data.get("max_lower_bound")
        out["wide"] = open_hi or (
            max_hi is not None and finite(sat.estimate) and max_hi > 1.5 * float(sat.estimate)
        )
        out["open_hi"] = open_hi
        if out["wide"]:
            if finite(lb) and finite(sat.lo) and float(sat.lo) < float(lb):
                out["lower_bound"] = self.q(
                    lb, "{:.1f}", "largest 'more than' figure (millions)", "data.max_lower_bound", 1e6
                )
            if not open_hi:
                m_hi = max(his, key=lambda m: his[m] or 0)
                out["hi_model"] = model_name(m_hi)
                out["hi"] = self.q(max_hi, "{:.0f}", f"saturation, {model_name(m_hi)} profile upper end (millions)",
                                   f"profile.{m_hi}.saturation.hi (profile likelihood)", 1e6)  # fmt: skip
        return out

    def context(self) -> dict[str, Any]:
        """The shared growth context: ``data``, ``models``, ``saturation``, ``horizon``, ``pct``."""
        return {
            "data": self.data(),
            "models": self.models(),
            "saturation": self.saturation(),
            "horizon": self.s.horizon,
            "pct": self.pct,
        }


def model_sentence(summary: Any, p: Provenance, file: str = SUMMARY_FILE) -> str:
    """What the data say about the choice of curve (Akaike weights; Richards identified or not)."""
    return render("model_sentence", models=GrowthText(summary, p, file).models())
