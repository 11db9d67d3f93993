"""Render an executed notebook into a self-contained HTML report and a typeset PDF, without root.

HTML: nbconvert's ``HTMLExporter`` with the ``nkreport`` template (``helpers/templates/nkreport``),
code and prompts excluded, images embedded as data URIs, a generated table of contents, TeX math
converted to MathML at build time (pandoc ``--mathml``; no MathJax, no script needed to read it), and
a WOFF subset of Noto Sans KR holding just the Hangul the page uses: the page loads nothing from
the network and works offline, Korean included. :func:`helpers.report_html.enhance` then links every
reference mark to its row in Appendix A (origin shown on hover and focus), anchors observation rows,
and adds the meta description, an inline favicon and the print rules. Numeric table columns are right-aligned, leading
"Figure N." of captions is set bold, stderr and bare matplotlib reprs are dropped. Images are embedded
by :func:`inline_local_images` (not nbconvert's ``embed_images``, which splits inline HTML such as
``<sup>[1]</sup>``); an image output followed by a "**Figure N.**" Markdown output becomes one
``<figure>`` with its ``<figcaption>``, a "**Table N.**" output next to a table becomes its ``<caption>``.
The title block takes title/subtitle/date from the notebook metadata or papermill parameters, and
the short front matter before the first heading (e.g. a "Built on ..." line) as its byline.

PDF: nbconvert -> Markdown (code excluded, images extracted to a temporary folder) -> pandoc
(pypandoc-binary) with the Lua filter ``helpers/pandoc/report.lua`` (re-reads raw HTML tables and
figures as real tables/figures, joins image + "Figure N." caption into one figure, ``<sup>`` -> superscript) and the Typst template ``helpers/pandoc/report.typ`` -> Typst
source -> the ``typst`` package's compiler -> PDF. Hangul is set in the vendored Noto Sans KR subset
(``helpers/fonts``), so Korean words render without any system font.

Both writers are atomic: they render to a temporary file beside ``out`` and ``os.replace`` it into
place only on success, so a failure never destroys the previous report.

CLI::

    python -m helpers.render html IN.ipynb OUT.html
    python -m helpers.render pdf IN.ipynb OUT.pdf
    python -m helpers.render quarto [OUT_DIR]  # Quarto edition (default reports/quarto/); exit 2 without quarto

On failure it prints ``render <kind>: <step> failed: <reason>`` to stderr and exits 1 (for Quarto the
reason is Quarto's first error line and its location, see :func:`quarto_error`).

Quarto edition: :func:`render_quarto` writes the same Markdown the PDF is typeset from (one source of the
report text: the executed report notebook) as ``report.qmd`` into a build folder with
``helpers/quarto/_quarto.yml`` and ``report.lua``, and runs ``quarto render`` to HTML and Typst PDF.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import html as html_lib
import mimetypes
import os
import re
import shutil
import struct
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat

from helpers.report import html as report_html

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES = PACKAGE_DIR / "templates"
TEMPLATE_NAME = "nkreport"
PANDOC_DIR = PACKAGE_DIR / "pandoc"
LUA_FILTER = PANDOC_DIR / "report.lua"
TYPST_TEMPLATE = PANDOC_DIR / "report.typ"
FONTS = PACKAGE_DIR / "fonts"

#: cell tags that remove a whole cell / all its outputs from the report (jupyter-book conventions)
REMOVE_CELL_TAGS = frozenset({"remove_cell", "remove-cell"})
REMOVE_OUTPUT_TAGS = frozenset({"remove_output", "remove-output"})

#: pandoc reader: raw HTML blocks stay raw (the Lua filter re-reads them), no "png" implicit figures
PANDOC_FROM = "markdown-markdown_in_html_blocks-implicit_figures+tex_math_dollars"

_HEADING_RE = re.compile(r"<h([1-3])(\s[^>]*)?>(.*?)</h\1>", re.S | re.I)
_NUM_TD_RE = re.compile(
    r"<td>(\s*[-+\u2212]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?\s*%?\s*)</td>"
)
_IMG_SRC_RE = re.compile(r"""(<img\b[^>]*?\bsrc\s*=\s*)(["'])(.*?)\2""", re.S | re.I)
_MD_IMG_RE = re.compile(r"(!\[[^\]]*\]\()([^)\s]+)((?:\s+\"[^\"]*\")?\))")
_DATA_URI_RE = re.compile(r"data:(image/[\w.+-]+);base64,([A-Za-z0-9+/=\s]+)$", re.S)
_H1_LINE_RE = re.compile(r"^\s{0,3}#\s+(.+?)\s*#*\s*$", re.M)


class RenderError(RuntimeError):
    """A rendering step failed; ``step`` names it (for the one-line CLI message)."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"{step} failed: {reason}")
        self.step = step
        self.reason = reason


# --------------------------------------------------------------------------------------------
# shared helpers
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_output(out: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``out``; move it onto ``out`` only if the block succeeds.

    The temporary file lives in the same directory so ``os.replace`` is atomic; on any exception it
    is removed and ``out`` (if it existed) is left untouched.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if not tmp.is_file() or tmp.stat().st_size == 0:
            raise RenderError("write", f"renderer produced no output for {out.name}")
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _read_notebook(notebook: Path) -> nbformat.NotebookNode:
    """Read ``notebook`` or raise :class:`RenderError` naming the read step."""
    notebook = Path(notebook)
    if not notebook.is_file():
        raise RenderError("read notebook", f"no such file: {notebook}")
    try:
        return nbformat.read(notebook, as_version=4)
    except Exception as exc:  # nbformat raises several types for bad JSON/schema
        raise RenderError("read notebook", f"{notebook.name} is not a valid notebook ({exc})") from exc


def _strip_tags(fragment: str) -> str:
    """Plain text of an HTML fragment (tags removed, entities decoded, whitespace collapsed)."""
    text = re.sub(r"<[^>]+>", "", fragment)
    return " ".join(html_lib.unescape(text).split())


_NOISE_REPR_RE = re.compile(
    r"^\s*\[?\s*(<(Figure size|matplotlib\.|Axes|AxesSubplot|seaborn\.)[^>]*>\s*,?\s*)+\]?\s*$"
    r"|^\s*Text\(-?[\d.e+-]+, -?[\d.e+-]+, .*\)\s*$",
    re.S,
)


def _is_noise(output: nbformat.NotebookNode) -> bool:
    """True for outputs a reader should not see: stderr streams and bare matplotlib object reprs.

    Such reprs (``<Figure size 640x480 with 1 Axes>``, ``[<matplotlib.lines.Line2D at 0x7f...>]``,
    ``Text(0.5, 1.0, 'title')``) are by-products of a plotting call's return value; they also carry
    memory addresses, which would make the report differ between runs.
    """
    if output.get("output_type") == "stream":
        return output.get("name") == "stderr"
    data = output.get("data") or {}
    if output.get("output_type") in {"execute_result", "display_data"} and set(data) == {"text/plain"}:
        text = data["text/plain"]
        text = "".join(text) if isinstance(text, list) else text
        return bool(_NOISE_REPR_RE.match(text))
    return False


def prepare_notebook(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, dict[str, Any]]:
    """Return a cleaned copy of ``nb`` for a report and its document metadata.

    * cells tagged ``remove-cell`` and outputs of cells tagged ``remove-output`` are dropped;
    * ``stderr`` streams (library warnings, progress bars) and bare matplotlib reprs are dropped;
    * the title is ``metadata.title`` or else the first level-1 Markdown heading; that heading is
      removed from the body when it repeats the title (the title block shows it);
    * ``title``, ``subtitle`` and ``date`` missing from the notebook metadata are taken from the
      papermill parameters (``metadata.papermill.parameters``), when the notebook has such parameters;
    * the *front matter*, short Markdown (cells, or code cells whose outputs are all Markdown) between
      the title and the first heading, moves to the title block as ``byline`` (e.g. "Built 21 November
      2026 from commit abc"); a line of it that repeats the subtitle is dropped.

    Metadata keys read: ``title``, ``subtitle``, ``date``, ``authors`` (list of names or of
    ``{"name": ...}``), ``lang``. The returned metadata adds ``byline`` (Markdown, or None).
    """
    nb = copy.deepcopy(nb)
    cells = []
    for cell in nb.cells:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & REMOVE_CELL_TAGS:
            continue
        if cell.cell_type == "code":
            if tags & REMOVE_OUTPUT_TAGS:
                cell.outputs = []
            cell.outputs = [o for o in cell.get("outputs", []) if not _is_noise(o)]
        cells.append(cell)
    nb.cells = cells

    meta = {k: nb.metadata.get(k) for k in ("title", "subtitle", "date", "authors", "lang", "description")}
    params = (nb.metadata.get("papermill") or {}).get("parameters") or {}
    for key in ("title", "subtitle", "date"):
        if not meta[key] and isinstance(params.get(key), (str, int, float)) and str(params[key]).strip():
            meta[key] = str(params[key]).strip()
    meta["authors"] = [a.get("name", "") if isinstance(a, dict) else str(a) for a in (meta["authors"] or [])]
    title_index = None
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        match = _H1_LINE_RE.search(cell.source)
        if match is None:
            continue
        heading = match.group(1).strip()
        if not meta["title"]:
            meta["title"] = heading
        if heading == str(meta["title"]).strip():
            cell.source = (cell.source[: match.start()] + cell.source[match.end() :]).strip("\n")
            title_index = index
        break
    meta["byline"] = (
        _take_front_matter(nb, title_index, meta.get("subtitle")) if title_index is not None else None
    )
    return nb, meta


_HEADING_LINE_RE = re.compile(r"^\s{0,3}#{1,6}\s", re.M)
FRONT_MATTER_MAX_CHARS = 400


def _front_matter_parts(nb: nbformat.NotebookNode, start: int) -> list[tuple[Any, int | None, str]]:
    """(cell, output index or None, Markdown) of the front matter from cell ``start`` on (may be empty)."""
    parts: list[tuple[Any, int | None, str]] = []
    for cell in nb.cells[start:]:
        if cell.cell_type == "markdown":
            if _HEADING_LINE_RE.search(cell.source):
                break
            if cell.source.strip():
                parts.append((cell, None, cell.source))
            continue
        if cell.cell_type != "code":
            break
        outputs = cell.get("outputs", [])
        texts = []
        for output in outputs:
            data = output.get("data") or {}
            text = data.get("text/markdown")
            if output.get("output_type") != "display_data" or text is None:
                return parts
            texts.append("".join(text) if isinstance(text, list) else text)
        if any(_HEADING_LINE_RE.search(t) or "<" in t or "![" in t for t in texts):
            break
        parts.extend((cell, i, t) for i, t in enumerate(texts))
    return parts


def _take_front_matter(nb: nbformat.NotebookNode, title_index: int, subtitle: object) -> str | None:
    """Remove the front matter after the title cell from ``nb`` and return it as Markdown (or None)."""
    title_cell = nb.cells[title_index]
    if title_cell.source.strip():  # the title cell goes on with body text: no separate front matter
        return None
    parts = _front_matter_parts(nb, title_index + 1)
    text = "\n\n".join(t.strip() for _, _, t in parts)
    if not parts or len(text) > FRONT_MATTER_MAX_CHARS:
        return None
    drop_outputs: dict[int, set[int]] = {}
    for cell, out_index, _ in parts:
        if out_index is None:
            cell.source = ""
        else:
            drop_outputs.setdefault(id(cell), set()).add(out_index)
    for cell in nb.cells:
        if id(cell) in drop_outputs:
            cell.outputs = [o for i, o in enumerate(cell.outputs) if i not in drop_outputs[id(cell)]]
    nb.cells = [c for c in nb.cells if not (c.cell_type == "markdown" and not c.source.strip())]
    lines = []
    sub = " ".join(str(subtitle or "").split())
    for line in text.splitlines():
        bare = html_lib.unescape(
            re.sub(r"\\(.)", r"\1", line.strip().rstrip("\\").strip().strip("*_").strip())
        )
        if sub and " ".join(bare.split()) == sub:
            continue
        lines.append(line.rstrip())
    byline = "\n".join(lines).strip()
    return byline or None


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------


def _data_uri(path: Path) -> str | None:
    """``data:`` URI for an image file, or None when it is not a readable image."""
    mime = mimetypes.guess_type(path.name)[0]
    if not mime or not mime.startswith("image/") or not path.is_file():
        return None
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _search_dirs(notebook_dir: Path) -> list[Path]:
    """Where relative image paths are looked up: the notebook's folder, then the project root."""
    from helpers.config import ROOT

    return list(dict.fromkeys([notebook_dir.resolve(), ROOT.resolve()]))


def inline_local_images(body: str, base_dir: Path | list[Path]) -> str:
    """Replace ``<img src="relative/path">`` by data URIs (paths resolved against ``base_dir`` in order)."""
    bases = [base_dir] if isinstance(base_dir, Path) else list(base_dir)

    def repl(m: re.Match[str]) -> str:
        src = html_lib.unescape(m.group(3)).strip()
        if re.match(r"^(data:|[a-z][a-z0-9+.-]*://|//|#)", src, re.I):
            return m.group(0)
        for base in bases:
            uri = _data_uri((base / src.split("?")[0]).resolve())
            if uri is not None:
                return f"{m.group(1)}{m.group(2)}{uri}{m.group(2)}"
        return m.group(0)

    return _IMG_SRC_RE.sub(repl, body)


_CAPTION_WORDS = r"(?:Figure|Fig\.|Table|Map|Chart|Box)\s+[\dA-Z]"
_CAPTIONED_IMG_RE = re.compile(
    r"<p>\s*(<img\b[^>]*?\balt=\"(" + _CAPTION_WORDS + r"[^\"]*)\"[^>]*>)\s*</p>", re.S | re.I
)


def figures_from_captioned_images(body: str) -> str:
    """Turn a paragraph holding only ``![Figure N. caption](img)`` into ``<figure>`` + ``<figcaption>``.

    So a notebook may emit a numbered figure as plain Markdown; the PDF filter does the same.
    """
    return _CAPTIONED_IMG_RE.sub(r"<figure>\1<figcaption>\2</figcaption></figure>", body)


def _markdown_inline_html(meta: dict[str, Any]) -> str:
    """The front matter (``meta["byline"]``, Markdown) as HTML for the header, or ""."""
    if not meta.get("byline"):
        return ""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return markdown2html_mistune(meta["byline"]).strip()


_OUTPUT_CHILD = r'<div class="jp-OutputArea-child">\s*'
_CAPTION_START = r"<strong>((?:Figure|Fig\.|Map|Chart|Box)\s+[\dA-Z][\w.-]*?[.:])</strong>"
_MD_OUTPUT_P = (
    _OUTPUT_CHILD + r'<div class="[^"]*\bjp-RenderedMarkdown\b[^"]*"[^>]*>\s*'
    r"<p>{start}((?:(?!</p>).)*)</p>\s*</div>\s*</div>"
)
_IMAGE_THEN_CAPTION_RE = re.compile(
    _OUTPUT_CHILD
    + r'<div class="jp-RenderedImage jp-OutputArea-output[^"]*">\s*(<img\b[^>]*>)\s*</div>\s*</div>\s*'
    + _MD_OUTPUT_P.format(start=_CAPTION_START),
    re.S,
)


def figures_from_caption_outputs(body: str) -> str:
    """Join an image output and the Markdown output after it that starts "**Figure N.**" into one figure.

    The pair becomes ``<figure><img><figcaption>`` (image and caption can never be split, and the
    image's alt text is the caption); notebooks show a figure with ``display(Image(...))`` followed by
    ``display(Markdown("**Figure 3.** ..."))``. The PDF filter (``report.lua``) does the same.
    """

    def repl(m: re.Match[str]) -> str:
        img, label, rest = m.group(1), m.group(2), m.group(3)
        alt = html_lib.escape(_strip_tags(f"{label}{rest}"), quote=True)
        img = re.sub(r'\salt="[^"]*"', "", img)
        img = re.sub(r'\sclass=""', "", img)
        img = img.replace("<img", f'<img alt="{alt}"', 1)
        return (
            f'<div class="jp-OutputArea-child"><figure class="report-figure">{img}'
            f'<figcaption class="jp-RenderedMarkdown"><span class="caption-label">{label}</span>{rest}'
            "</figcaption></figure></div>"
        )

    return _IMAGE_THEN_CAPTION_RE.sub(repl, body)


_TABLE_CAPTION_START = r"<strong>(Table\s+[\dA-Z][\w.-]*?[.:])</strong>"
_TABLE_OUTPUT = (
    _OUTPUT_CHILD + r'<div class="[^"]*\bjp-RenderedHTML\b[^"]*"[^>]*>\s*'
    r"(?:<div>\s*(?:<style\b.*?</style>\s*)?)?<table\b(?:(?!</table>).)*</table>\s*(?:</div>\s*)?</div>\s*</div>"
)
_CAPTION_THEN_TABLE_RE = re.compile(
    "(" + _MD_OUTPUT_P.format(start=_TABLE_CAPTION_START) + r")\s*(" + _TABLE_OUTPUT + ")", re.S
)
_TABLE_THEN_CAPTION_RE = re.compile(
    "(" + _TABLE_OUTPUT + r")\s*(" + _MD_OUTPUT_P.format(start=_TABLE_CAPTION_START) + ")", re.S
)


def captions_from_table_outputs(body: str) -> str:
    """Move a Markdown output "**Table N.** ..." just before or after a caption-less HTML table into its
    ``<caption>``, so caption and table stay together (the PDF filter does the same)."""

    def put(table_html: str, label: str, rest: str) -> str | None:
        if re.search(r"<caption\b", table_html, re.I):
            return None
        caption = f'<caption><span class="caption-label">{label}</span>{rest}</caption>'
        return re.sub(r"(<table\b[^>]*>)", lambda t: t.group(1) + caption, table_html, count=1)

    def before(m: re.Match[str]) -> str:
        return put(m.group(4), m.group(2), m.group(3)) or m.group(0)

    def after(m: re.Match[str]) -> str:
        return put(m.group(1), m.group(3), m.group(4)) or m.group(0)

    body = _CAPTION_THEN_TABLE_RE.sub(before, body)
    return _TABLE_THEN_CAPTION_RE.sub(after, body)


def _slug(text: str, used: set[str]) -> str:
    base = re.sub(r"[^\w\u3131-\uD7A3-]+", "-", text, flags=re.UNICODE).strip("-") or "section"
    slug, n = base, 1
    while slug in used:
        n += 1
        slug = f"{base}-{n}"
    used.add(slug)
    return slug


def add_toc(body: str) -> tuple[str, str]:
    """Give every h1-h3 heading an id and return ``(body, toc_html)``.

    The table of contents is a nested ``<ol>`` of links; it is empty when there are fewer than two
    headings. The report title (``id="report-title"``) is not listed.
    """
    used = set(re.findall(r'\bid="([^"]+)"', body))
    entries: list[tuple[int, str, str]] = []

    def repl(m: re.Match[str]) -> str:
        level, attrs, inner = int(m.group(1)), m.group(2) or "", m.group(3)
        id_match = re.search(r'\bid\s*=\s*"([^"]*)"', attrs)
        if id_match and id_match.group(1) == "report-title":
            return m.group(0)
        text = _strip_tags(inner).rstrip("¶").strip()
        if not text:
            return m.group(0)
        if id_match:
            anchor = id_match.group(1)
        else:
            anchor = _slug(text, used)
            attrs = f'{attrs} id="{anchor}"'
        entries.append((level, anchor, text))
        return f"<h{level}{attrs}>{inner}</h{level}>"

    body = _HEADING_RE.sub(repl, body)
    if len(entries) < 2:
        return body, ""
    top = min(level for level, _, _ in entries)
    parts = ['<nav class="toc" aria-label="Contents">\n<h2>Contents</h2>\n<ol>']
    depth = top
    first = True
    for level, anchor, text in entries:
        level = max(level, top)
        if first:
            first = False
            while depth < level:
                parts.append('<li class="toc-skip"><ol>')
                depth += 1
        elif level > depth:
            while depth < level:
                parts.append("<ol>")
                depth += 1
        else:
            parts.append("</li>")
            while depth > level:
                parts.append("</ol></li>")
                depth -= 1
        parts.append(f'<li><a href="#{html_lib.escape(anchor, quote=True)}">{html_lib.escape(text)}</a>')
    parts.append("</li>")
    while depth > top:
        parts.append("</ol></li>")
        depth -= 1
    parts.append("</ol>\n</nav>")
    return body, "".join(parts)


_TABLE_RE = re.compile(r"<table\b.*?</table>", re.S | re.I)
_TR_RE = re.compile(r"<tr\b[^>]*>(.*?)</tr>", re.S | re.I)
_CELL_RE = re.compile(r"<(td|th)\b([^>]*)>(.*?)</\1>", re.S | re.I)
_NUMBER_RE = re.compile(r"^[-+\u2212]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][-+]?\d+)?\s*%?$")
_MISSING = {"", "nan", "NaN", "<NA>", "None", "NaT", "\u2014", "\u2013", "-", "n/a", "N/A"}


def _is_number(text: str) -> bool | None:
    """True for a number, None for an empty/missing marker, False otherwise."""
    text = text.strip()
    if text in _MISSING:
        return None
    return bool(re.search(r"\d", text)) and _NUMBER_RE.match(text) is not None


def _add_class(attrs: str, cls: str) -> str:
    if re.search(r"\bclass\s*=", attrs):
        return re.sub(r'\bclass\s*=\s*"([^"]*)"', lambda m: f'class="{m.group(1)} {cls}"', attrs, count=1)
    return f'{attrs} class="{cls}"'


def mark_numeric_cells(body: str) -> str:
    """Add ``class="num"`` to the cells (and header cells) of numeric table columns.

    A column is numeric when every non-missing ``<td>`` in it holds a number; CSS right-aligns
    ``.num``. Tables with ``colspan``/``rowspan`` fall back to marking single numeric ``<td>``.
    """

    def table(m: re.Match[str]) -> str:
        tbl = m.group(0)
        if re.search(r"\b(colspan|rowspan)\s*=", tbl, re.I):
            return _NUM_TD_RE.sub(r'<td class="num">\1</td>', tbl)
        rows = [
            [(c.group(1).lower(), _strip_tags(c.group(3))) for c in _CELL_RE.finditer(r.group(1))]
            for r in _TR_RE.finditer(tbl)
        ]
        ncols = max((len(r) for r in rows), default=0)
        numeric = []
        for col in range(ncols):
            verdicts = [_is_number(r[col][1]) for r in rows if col < len(r) and r[col][0] == "td"]
            numeric.append(any(verdicts) and all(v is not False for v in verdicts))

        def row(rm: re.Match[str]) -> str:
            index = iter(range(ncols))

            def cell(cm: re.Match[str]) -> str:
                col = next(index, ncols)
                if col < ncols and numeric[col]:
                    return f"<{cm.group(1)}{_add_class(cm.group(2), 'num')}>{cm.group(3)}</{cm.group(1)}>"
                return cm.group(0)

            return _CELL_RE.sub(cell, rm.group(0))

        return _TR_RE.sub(row, tbl)

    return _TABLE_RE.sub(table, body)


LONG_WORD = 22  # characters: a cell with a longer unbroken token (path, hash, URL) may break it anywhere
_LONG_TOKEN_RE = re.compile(rf"\S{{{LONG_WORD},}}")


def mark_long_words(body: str) -> str:
    """Add ``class="long-words"`` to table cells holding a token of :data:`LONG_WORD`+ characters.

    CSS lets only those cells break a word anywhere (``overflow-wrap: anywhere``): file names and
    hashes wrap instead of widening the table, while ordinary words are never split (on a phone a
    table too wide for the screen scrolls inside its own box instead of squeezing words letter by letter).
    """

    def table(m: re.Match[str]) -> str:
        def cell(cm: re.Match[str]) -> str:
            if not _LONG_TOKEN_RE.search(_strip_tags(cm.group(3))):
                return cm.group(0)
            return f"<{cm.group(1)}{_add_class(cm.group(2), 'long-words')}>{cm.group(3)}</{cm.group(1)}>"

        return _CELL_RE.sub(cell, m.group(0))

    return _TABLE_RE.sub(table, body)


_CAPTION_LABEL_RE = re.compile(
    r"(<figcaption\b[^>]*>\s*)((?:Figure|Fig\.|Table|Map|Chart|Box)\s+[\dA-Z][\w.-]*?[.:])(?=\s)", re.I
)


def label_captions(body: str) -> str:
    """Wrap the leading ``Figure N.`` of each ``<figcaption>`` in ``<span class="caption-label">``."""
    return _CAPTION_LABEL_RE.sub(r'\1<span class="caption-label">\2</span>', body)


_HANGUL_RE = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]")
HANGUL_FONT = FONTS / "NotoSansKR-Regular-subset.otf"


def hangul_font_face(text: str) -> str:
    """A ``<style>`` with an embedded WOFF subset of Noto Sans KR holding only the Hangul in ``text``.

    Returns "" when ``text`` has no Hangul. The family is ``"Report Hangul"`` (first in the CSS font
    stack, limited by ``unicode-range``), so Korean words render even on a machine without a Korean
    font, offline, at the cost of a few kilobytes.
    """
    chars = sorted(set(_HANGUL_RE.findall(text)))
    if not chars or not HANGUL_FONT.is_file():
        return ""
    import io

    from fontTools import subset
    from fontTools.ttLib import TTFont

    options = subset.Options()
    options.flavor = "woff"
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    font = TTFont(str(HANGUL_FONT), recalcTimestamp=False)
    subsetter = subset.Subsetter(options=options)
    subsetter.populate(unicodes=[ord(c) for c in chars])
    subsetter.subset(font)
    font.flavor = "woff"
    buf = io.BytesIO()
    font.save(buf)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (
        "<!-- Hangul glyphs: subset of Noto Sans KR, (c) 2014-2021 Adobe, SIL Open Font License 1.1. -->\n"
        '<style>@font-face { font-family: "Report Hangul"; font-style: normal; font-weight: 100 900; '
        f'src: url(data:font/woff;base64,{data}) format("woff"); '
        "unicode-range: U+1100-11FF, U+3130-318F, U+AC00-D7A3; }</style>"
    )


def export_html(notebook: Path) -> str:
    """Return the report HTML for ``notebook`` as a string (no file written)."""
    from nbconvert import HTMLExporter
    from nbconvert import __version__ as nbconvert_version

    nb, meta = prepare_notebook(_read_notebook(notebook))
    nb.metadata["title"] = meta["title"] or Path(notebook).stem
    for key in ("subtitle", "date"):
        if meta.get(key):
            nb.metadata[key] = str(meta[key])
    try:
        exporter = HTMLExporter(
            template_name=TEMPLATE_NAME,
            extra_template_basedirs=[str(TEMPLATES)],
            exclude_input=True,
            exclude_input_prompt=True,
            exclude_output_prompt=True,
            embed_images=False,
        )
        body, _ = exporter.from_notebook_node(
            nb,
            resources={
                "metadata": {"name": Path(notebook).stem, "path": str(Path(notebook).parent)},
                "language_code": meta.get("lang") or "en",
                "nkreport": {"nbconvert_version": nbconvert_version, "byline": _markdown_inline_html(meta)},
            },
        )
    except RenderError:
        raise
    except Exception as exc:
        raise RenderError("nbconvert HTML export", f"{type(exc).__name__}: {exc}") from exc
    body = inline_local_images(body, _search_dirs(Path(notebook).parent))
    body = figures_from_captioned_images(body)
    body = figures_from_caption_outputs(body)
    body = captions_from_table_outputs(body)
    body = mark_numeric_cells(body)
    body = mark_long_words(body)
    body = label_captions(body)
    body, toc = add_toc(body)
    body = body.replace("<!--NKREPORT-TOC-->", toc, 1)
    if toc:
        body = body.replace('<div class="layout">', '<div class="layout has-toc">', 1)
    text = _strip_tags(
        re.sub(r"<(style|script)\b.*?</\1>", "", body.split("</head>", 1)[-1], flags=re.S | re.I)
    )
    try:
        font = hangul_font_face(text)
    except Exception as exc:
        raise RenderError("embed Hangul font", f"{type(exc).__name__}: {exc}") from exc
    body = body.replace("<!--NKREPORT-FONT-->", font, 1)
    try:
        body = report_html.math_to_mathml(body)
    except Exception as exc:
        raise RenderError("TeX to MathML (pandoc)", f"{type(exc).__name__}: {exc}") from exc
    body = body.replace("<!--NKREPORT-MATHJAX-->", "", 1)
    return report_html.enhance(body, page_description(meta), interactive_figures(nb))


def interactive_figures(nb: nbformat.NotebookNode, root: Path | None = None) -> dict[str, tuple[bytes, str]]:
    """The interactive SVG versions of the observation and fit figures (see :mod:`helpers.report.svg`),
    drawn from the products the report notebook's papermill parameters name; {} when it has none."""
    from helpers.config import ROOT
    from helpers.report import svg as report_figures

    params = (nb.metadata.get("papermill") or {}).get("parameters") or {}
    try:
        return report_figures.figures_from_products(Path(root or ROOT), dict(params))
    except Exception as exc:
        raise RenderError("draw interactive figures", f"{type(exc).__name__}: {exc}") from exc


def page_description(meta: dict[str, Any]) -> str:
    """The page's ``<meta name="description">``: notebook ``description`` metadata, else title and subtitle."""
    if meta.get("description"):
        return str(meta["description"])
    title = str(meta.get("title") or "Report")
    return f"{title}: {meta['subtitle']}" if meta.get("subtitle") else title


def render_html(notebook: Path, out: Path) -> Path:
    """Render ``notebook`` to a self-contained HTML report at ``out`` (atomically); return ``out``."""
    text = export_html(notebook)
    out = Path(out)
    with atomic_output(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return out


# --------------------------------------------------------------------------------------------
# PDF
# --------------------------------------------------------------------------------------------


def _png_width(data: bytes) -> int | None:
    """Pixel width of a PNG (from its IHDR chunk) or None."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">I", data[16:20])[0]
    return None


def _image_width_pct(data: bytes, suffix: str) -> int:
    """Width for an image in the PDF as a percentage of the text column (40-100)."""
    px = _png_width(data) if suffix == ".png" else None
    if px is None:
        try:
            import io

            from PIL import Image

            with Image.open(io.BytesIO(data)) as im:
                px = im.width
        except Exception:
            return 100
    # at 96 px/inch against a ~6.3 inch text column
    return int(max(40, min(100, round(px / 96 / 6.3 * 100))))


class _ImageStore:
    """Collects the report's images as files in the PDF build folder, under stable names."""

    def __init__(self, folder: Path, base_dir: Path) -> None:
        self.folder = folder
        self.base_dir = base_dir
        self.widths: dict[str, int] = {}

    def add_bytes(self, data: bytes, suffix: str) -> str:
        name = f"img-{hashlib.sha256(data).hexdigest()[:16]}{suffix}"
        (self.folder / name).write_bytes(data)
        self.widths[name] = _image_width_pct(data, suffix)
        return name

    def resolve(self, src: str) -> str:
        """Return a build-folder file name for ``src`` (data URI or local path), or ``src`` unchanged."""
        src = html_lib.unescape(src).strip()
        m = _DATA_URI_RE.match(src)
        if m:
            ext = mimetypes.guess_extension(m.group(1)) or ".png"
            ext = ".svg" if m.group(1) == "image/svg+xml" else ext
            return self.add_bytes(base64.b64decode("".join(m.group(2).split())), ext)
        if re.match(r"^[a-z][a-z0-9+.-]*://|^//", src, re.I):
            return src
        for base in (self.folder, *_search_dirs(self.base_dir)):
            path = (base / src.split("?")[0]).resolve()
            if path.is_file():
                return self.add_bytes(path.read_bytes(), path.suffix.lower())
        return src


def export_markdown(notebook: Path, build: Path) -> tuple[str, dict[str, Any], dict[str, int]]:
    """Export ``notebook`` to Markdown in ``build`` (images as files there); return (md, meta, widths)."""
    from nbconvert import MarkdownExporter

    nb, meta = prepare_notebook(_read_notebook(notebook))
    try:
        exporter = MarkdownExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
        md, resources = exporter.from_notebook_node(nb, resources={"output_files_dir": "."})
    except Exception as exc:
        raise RenderError("nbconvert Markdown export", f"{type(exc).__name__}: {exc}") from exc
    for name, data in (resources.get("outputs") or {}).items():
        (build / Path(name).name).write_bytes(data)
    store = _ImageStore(build, Path(notebook).resolve().parent)
    md = _IMG_SRC_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}{store.resolve(m.group(3))}{m.group(2)}", md)
    md = _MD_IMG_RE.sub(lambda m: f"{m.group(1)}{store.resolve(m.group(2))}{m.group(3)}", md)
    return md, meta, store.widths


def _yaml_str(value: object) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    import json

    return json.dumps(str(value), ensure_ascii=False)


def export_typst(notebook: Path, build: Path) -> Path:
    """Write ``report.typ`` (and its images) into ``build`` from ``notebook``; return its path."""
    import pypandoc

    md, meta, widths = export_markdown(notebook, build)
    levels = [len(m.group(1)) for m in re.finditer(r"^(#{1,6})\s", md, re.M)]
    shift = 1 - min(levels) if levels else 0
    lines = ["---", f"title: {_yaml_str(meta['title'] or Path(notebook).stem)}"]
    for key in ("subtitle", "date", "byline"):
        if meta.get(key):
            lines.append(f"{key}: {_yaml_str(meta[key])}")
    if meta["authors"]:
        lines.append("author:")
        lines.extend(f"  - {_yaml_str(a)}" for a in meta["authors"])
    lines.append(f"lang: {_yaml_str(meta.get('lang') or 'en')}")
    lines.append(f"toc: {'true' if len(levels) >= 3 else 'false'}")
    if widths:
        lines.append("image-widths:")
        lines.extend(f"  {_yaml_str(k)}: {_yaml_str(f'{v}%')}" for k, v in sorted(widths.items()))
    lines.append("...")
    (build / "meta.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (build / "report.md").write_text(md, encoding="utf-8")
    typ = build / "report.typ"
    try:
        pypandoc.convert_file(
            str(build / "report.md"),
            "typst",
            format=PANDOC_FROM,
            outputfile=str(typ),
            extra_args=[
                "--standalone",
                f"--template={TYPST_TEMPLATE}",
                f"--lua-filter={LUA_FILTER}",
                f"--metadata-file={build / 'meta.yaml'}",
                f"--shift-heading-level-by={shift}",
                f"--resource-path={build}",
                "--wrap=preserve",
            ],
            cworkdir=str(build),
        )
    except Exception as exc:
        reason = " ".join(str(exc).split())[:300]
        raise RenderError("pandoc Markdown->Typst", reason) from exc
    return typ


def compile_typst(typ: Path, pdf: Path) -> None:
    """Compile Typst source ``typ`` to ``pdf`` with the vendored fonts (Typst's own + Noto Sans KR)."""
    import typst

    stamp = os.environ.get("SOURCE_DATE_EPOCH")
    try:
        typst.compile(
            str(typ),
            output=str(pdf),
            root=str(typ.parent),
            font_paths=[str(FONTS)],
            ignore_system_fonts=True,
            timestamp=int(stamp) if stamp and stamp.isdigit() else None,
        )
    except Exception as exc:
        reason = " ".join(str(exc).split())[:300]
        raise RenderError("typst compile", reason) from exc


def render_pdf(notebook: Path, out: Path) -> Path:
    """Render ``notebook`` to a typeset PDF at ``out`` (atomically); return ``out``."""
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="nkreport-") as tmp:
        build = Path(tmp)
        typ = export_typst(notebook, build)
        with atomic_output(out) as target:
            compile_typst(typ, target)
    return out


def render_typst_source(notebook: Path, out_dir: Path) -> Path:
    """Debug helper: leave the Markdown, Typst source and images in ``out_dir``; return the .typ path."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    return export_typst(notebook, out_dir)


# --------------------------------------------------------------------------------------------
# Quarto edition (optional: needs the `quarto` CLI >= 1.4, which no Python package can install offline)
# --------------------------------------------------------------------------------------------

QUARTO_MIN_VERSION = (1, 4)
#: Quarto versions the test suite has rendered both formats with (the offline kit in ../shared/tools/quarto)
QUARTO_TESTED_VERSIONS = ("1.7.34",)
QUARTO_CONFIG = PACKAGE_DIR / "quarto" / "_quarto.yml"
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
    (:func:`helpers.report_html.enhance`). Raises :class:`QuartoUnavailable` when Quarto >= 1.4 is not on
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
    raw_nb = _read_notebook(notebook)
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


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------

_USAGE = "usage: python -m helpers.render {html|pdf|typst} IN.ipynb OUT   |   python -m helpers.render quarto [OUT_DIR]"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["quarto"] and len(args) <= 2:
        return quarto_main(Path(args[1]) if len(args) == 2 else None)
    if len(args) != 3 or args[0] not in {"html", "pdf", "typst"}:
        print(_USAGE, file=sys.stderr)
        return 2
    kind, src, dst = args[0], Path(args[1]), Path(args[2])
    func = {"html": render_html, "pdf": render_pdf, "typst": render_typst_source}[kind]
    try:
        result = func(src, dst)
    except RenderError as exc:
        print(f"render {kind}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"render {kind}: write failed: {exc}", file=sys.stderr)
        return 1
    print(result)
    return 0


def quarto_main(out_dir: Path | None = None) -> int:
    """``python -m helpers.render quarto [OUT_DIR]``: exit 2 with one line when Quarto is missing, 1 on failure."""
    try:
        written = render_quarto(out_dir=out_dir)
    except QuartoUnavailable as exc:
        print(
            f"render quarto: {exc.reason}; skipped (the nbconvert report does not need Quarto)",
            file=sys.stderr,
        )
        return 2
    except RenderError as exc:
        print(f"render quarto: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
