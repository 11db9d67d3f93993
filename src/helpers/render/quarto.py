"""Quarto edition of the report (:func:`render_quarto`); optional, needs the ``quarto`` CLI >= 1.4.

:func:`render_quarto` writes the same Markdown the PDF is typeset from
(:func:`helpers.render.markdown.export_markdown`; one source of the report text: the executed report
notebook) as ``report.qmd`` into a build folder with ``helpers/render/resources/quarto/_quarto.yml`` and
``report.lua``, and runs ``quarto render`` to HTML and Typst PDF. A failure is reported as Quarto's first
error line and its location (:func:`quarto_error`).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from helpers.render.common import (
    FONTS,
    LUA_FILTER,
    RESOURCES,
    TEMPLATE_NAME,
    TEMPLATES,
    RenderError,
    atomic_output,
    prepare_notebook,
    read_notebook,
)
from helpers.render.html import interactive_figures, page_description
from helpers.render.markdown import export_markdown
from helpers.report import html as report_html

QUARTO_MIN_VERSION = (1, 4)
#: Quarto versions the test suite has rendered both formats with (the offline kit in ../shared/tools/quarto)
QUARTO_TESTED_VERSIONS = ("1.7.34",)
QUARTO_CONFIG = RESOURCES / "quarto" / "_quarto.yml"
QUARTO_DOC = "report.qmd"
QUARTO_OUT = "reports/quarto"
QUARTO_BUILD = ".build/quarto"
REPORT_NOTEBOOK = "reports/executed/04_report.ipynb"


class QuartoUnavailable(RenderError):
    """The ``quarto`` CLI is missing or too old (exit status 2 at the CLI)."""


def quarto_available() -> bool:
    """True when a ``quarto`` executable is on PATH."""
    return shutil.which("quarto") is not None


def quarto_version() -> tuple[int, ...] | None:
    """The installed Quarto version as a tuple, or None when there is none."""
    exe = shutil.which("quarto")
    if exe is None:
        return None
    import subprocess

    try:
        text = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=120).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(g) for g in found.groups() if g is not None) if found else None


_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_ERROR_LINE_RE = re.compile(r"(?:^|[\s.:\]])(?:ERROR\b|[Ee]rror(?:\[\w+\])?:|\(E\))")
_LOCATION_RE = re.compile(r"(?:┌─|-->|\bat\b|:\d+:\d+|\bline \d+)")


def quarto_error(output: str, context: int = 6) -> str:
    """The lines of Quarto's output that say why it failed: the first error line and its location.

    Quarto (and the pandoc, Lua and Typst runs inside it) reports an error as a line starting ``ERROR``,
    ``error:`` or ``(E)``, followed by where it happened (Typst: ``┌─ report.typ:12:28`` and the source
    line with a caret). This returns that line and up to ``context`` following lines (blank lines dropped);
    when no line looks like an error, the last non-empty lines. The last line alone (e.g. ``│ ╰─^``) says
    nothing, which is why this exists.
    """
    lines = [_ANSI_RE.sub("", line).rstrip() for line in output.splitlines()]
    lines = [line for line in lines if line.strip()]
    for index, line in enumerate(lines):
        if _ERROR_LINE_RE.search(line):
            block = [line.strip()]
            for nxt in lines[index + 1 : index + 1 + context]:
                if _ERROR_LINE_RE.search(nxt) and len(block) > 1:
                    break
                block.append(nxt)
            return "\n".join(block)
    return "\n".join(lines[-context:]) or "no message"


_FIGURE_PAIR_RE = re.compile(
    r"^!\[[^\]\n]*\]\(([^)\s]+)\)[ \t]*\n[ \t]*\n(\*\*(?:Figure|Fig\.|Map|Chart|Box)\s+[\w.-]+?[.:]\*\*[^\n]*(?:\n(?![ \t]*\n)[^\n]*)*)",
    re.M,
)
_BARE_IMAGE_RE = re.compile(r"^!\[[^\]\n]*\]\(([^)\s]+)\)[ \t]*$", re.M)


def quarto_markdown(md: str) -> str:
    """Adapt the report Markdown to Quarto's reader, without changing its text.

    Quarto always makes a lone image with alt text a figure, whose caption is the alt text (nbconvert's
    "png"). So an image followed by its "**Figure N.** ..." paragraph becomes one Quarto figure
    ``![**Figure N.** ...](img)`` (the caption is the paragraph, as in the default edition), and any other
    lone image loses its meaningless alt text.
    """

    def pair(m: re.Match[str]) -> str:
        caption = " ".join(m.group(2).split()).replace("[", "\\[").replace("]", "\\]")
        return f"![{caption}]({m.group(1)})"

    md = _FIGURE_PAIR_RE.sub(pair, md)
    return _BARE_IMAGE_RE.sub(lambda m: f"![]({m.group(1)})", md)


def write_quarto_source(notebook: Path, build: Path) -> Path:
    """Write ``report.qmd``, its images, ``_quarto.yml`` and ``report.lua`` into ``build``; return the .qmd.

    The body is the Markdown that :func:`export_markdown` makes from the executed report notebook, the very
    text the default PDF is typeset from (headings, paragraphs with their reference marks, raw HTML tables
    with captions, images followed by their "**Figure N.**" captions, TeX math). Quarto renders it with the
    same Lua filter as the default PDF (``helpers/pandoc/report.lua``: tables re-read, image + caption ->
    figure, ``<sup>`` marks), so both editions show the same report.
    """
    import yaml

    md, meta, widths = export_markdown(notebook, build)
    config = yaml.safe_load(QUARTO_CONFIG.read_text(encoding="utf-8"))
    config["format"]["typst"]["font-paths"] = [str(FONTS)]
    (build / "_quarto.yml").write_text(
        yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    shutil.copyfile(LUA_FILTER, build / "report.lua")
    shutil.copyfile(QUARTO_CONFIG.parent / "style.typ", build / "style.typ")
    md = quarto_markdown(md)
    front: dict[str, Any] = {"title": str(meta["title"] or Path(notebook).stem)}
    for key in ("subtitle", "date"):
        if meta.get(key):
            front[key] = str(meta[key])
    if meta["authors"]:
        front["author"] = list(meta["authors"])
    front["lang"] = str(meta.get("lang") or "en")
    front["description-meta"] = page_description(meta)
    front["pagetitle"] = front["title"]
    if widths:
        front["image-widths"] = {k: f"{v}%" for k, v in sorted(widths.items())}
    levels = [len(m.group(1)) for m in re.finditer(r"^(#{1,6})\s", md, re.M)]
    if levels and min(levels) > 1:  # Typst sets the top sections as level 1, as in the default PDF
        front["format"] = {"typst": {"shift-heading-level-by": 1 - min(levels)}}
    byline = f"::: {{.report-byline}}\n{meta['byline']}\n:::\n\n" if meta.get("byline") else ""
    qmd = build / QUARTO_DOC
    text = "---\n" + yaml.safe_dump(front, sort_keys=False, allow_unicode=True) + "---\n\n" + byline + md
    qmd.write_text(text, encoding="utf-8")
    return qmd


def quarto_page_style(page: str) -> str:
    """Give Quarto's HTML the default edition's stylesheet (the ``<style>`` of the nkreport template, one copy
    of the design) and let wide tables scroll inside their own box instead of widening the page."""
    template = (TEMPLATES / TEMPLATE_NAME / "index.html.j2").read_text(encoding="utf-8")
    css = re.search(r"<style>(.*?)</style>", template, re.S)
    extra = (
        "main.content, #quarto-content { max-width: 52rem; margin: 0 auto; padding: 0 1rem; }\n"
        ".table-scroll { overflow-x: auto; max-width: 100%; }\n"
        "#title-block-header { margin: 2rem auto 1rem; max-width: 52rem; padding: 0 1rem; }\n"
    )
    if css:
        page = page.replace("</head>", f"<style>{css.group(1)}{extra}</style>\n</head>", 1)
    return re.sub(r"(<table\b.*?</table>)", r'<div class="table-scroll">\1</div>', page, flags=re.S)


def render_quarto(
    root: Path | None = None,
    formats: tuple[str, ...] = ("html", "typst"),
    out_dir: Path | None = None,
    notebook: Path | None = None,
) -> list[Path]:
    """Render the Quarto edition of the report (HTML and Typst PDF) from the executed report notebook.

    ``notebook`` defaults to ``root/reports/executed/04_report.ipynb``; the outputs go to ``out_dir``
    (default ``root/reports/quarto``) as ``report.html`` and ``report.pdf``, each moved into place only when
    its render succeeded. The HTML gets the same reader aids as the default edition
    (:func:`helpers.report.html.enhance`). Raises :class:`QuartoUnavailable` when Quarto >= 1.4 is not on
    PATH, and :class:`RenderError` with Quarto's first error and its location when a render fails.
    """
    import subprocess

    from helpers.config import ROOT

    root = Path(root or ROOT)
    version = quarto_version()
    if version is None:
        raise QuartoUnavailable(
            "check quarto", "quarto is not on PATH (install Quarto >= 1.4 for this edition)"
        )
    if version < QUARTO_MIN_VERSION:
        found = ".".join(map(str, version))
        raise QuartoUnavailable("check quarto", f"Quarto {found} is too old (>= 1.4 needed)")
    notebook = Path(notebook or root / REPORT_NOTEBOOK)
    out_dir = Path(out_dir or root / QUARTO_OUT)
    raw_nb = read_notebook(notebook)
    nb_meta = prepare_notebook(raw_nb)[1]
    figures = interactive_figures(raw_nb, root) if "html" in formats else {}
    build_parent = root / ".build"
    build_parent.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix="quarto-", dir=build_parent) as tmp:
        build = Path(tmp)
        qmd = write_quarto_source(notebook, build)
        for fmt in formats:
            env = {**os.environ, "QUARTO_PYTHON": sys.executable}
            proc = subprocess.run(
                ["quarto", "render", qmd.name, "--to", fmt],
                cwd=build,
                capture_output=True,
                text=True,
                env=env,
            )
            suffix = ".html" if fmt == "html" else ".pdf"
            product = build / (qmd.stem + suffix)
            if proc.returncode != 0 or not product.is_file():
                detail = quarto_error(proc.stderr + "\n" + proc.stdout)
                raise RenderError(f"quarto render --to {fmt}", f"{qmd.name}:\n{detail}")
            out = out_dir / ("report" + suffix)
            with atomic_output(out) as target:
                if fmt == "html":
                    page = product.read_text(encoding="utf-8")
                    page = quarto_page_style(page)
                    page = report_html.enhance(page, page_description(nb_meta), figures)
                    target.write_text(page, encoding="utf-8")
                else:
                    shutil.copyfile(product, target)
            written.append(out)
    return written
