"""Executed notebook -> self-contained offline HTML (:func:`render_html`).

nbconvert's ``HTMLExporter`` with the ``nkreport`` template (``helpers/render/resources/templates/nkreport``),
code and prompts excluded, images embedded as data URIs, a generated table of contents, TeX math
converted to MathML at build time (pandoc ``--mathml``; no MathJax, no script needed to read it), and
a WOFF subset of Noto Sans KR holding just the Hangul the page uses: the page loads nothing from
the network and works offline, Korean included. :func:`helpers.report.html.enhance` then links every
reference mark to its row in Appendix A (origin shown on hover and focus), anchors observation rows,
and adds the meta description, an inline favicon and the print rules. Numeric table columns are
right-aligned, leading "Figure N." of captions is set bold. Images are embedded by
:func:`inline_local_images` (not nbconvert's ``embed_images``, which splits inline HTML such as
``<sup>[1]</sup>``); an image output followed by a "**Figure N.**" Markdown output becomes one
``<figure>`` with its ``<figcaption>``, a "**Table N.**" output next to a table becomes its ``<caption>``.
"""

from __future__ import annotations

import base64
import html as html_lib
import mimetypes
import re
from pathlib import Path
from typing import Any

import nbformat

from helpers.render.common import (
    FONTS,
    HEADING_RE,
    IMG_SRC_RE,
    NUM_TD_RE,
    TEMPLATE_NAME,
    TEMPLATES,
    RenderError,
    atomic_output,
    prepare_notebook,
    read_notebook,
    search_dirs,
    strip_tags,
)
from helpers.report import html as report_html


def _data_uri(path: Path) -> str | None:
    """``data:`` URI for an image file, or None when it is not a readable image."""
    mime = mimetypes.guess_type(path.name)[0]
    if not mime or not mime.startswith("image/") or not path.is_file():
        return None
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


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

    return IMG_SRC_RE.sub(repl, body)


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
        alt = html_lib.escape(strip_tags(f"{label}{rest}"), quote=True)
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
        text = strip_tags(inner).rstrip("¶").strip()
        if not text:
            return m.group(0)
        if id_match:
            anchor = id_match.group(1)
        else:
            anchor = _slug(text, used)
            attrs = f'{attrs} id="{anchor}"'
        entries.append((level, anchor, text))
        return f"<h{level}{attrs}>{inner}</h{level}>"

    body = HEADING_RE.sub(repl, body)
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
            return NUM_TD_RE.sub(r'<td class="num">\1</td>', tbl)
        rows = [
            [(c.group(1).lower(), strip_tags(c.group(3))) for c in _CELL_RE.finditer(r.group(1))]
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
            if not _LONG_TOKEN_RE.search(strip_tags(cm.group(3))):
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

    nb, meta = prepare_notebook(read_notebook(notebook))
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
    body = inline_local_images(body, search_dirs(Path(notebook).parent))
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
    text = strip_tags(
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
