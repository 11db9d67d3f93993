"""What the HTML editions of the report add to the page so that a reader can follow each number.

Both HTML editions (nbconvert's ``reports/report.html`` and Quarto's ``reports/quarto/report.html``) are
post-processed by :func:`enhance`, so they link the same way:

* **Reference marks** (``<sup>[n]</sup>``, written by :class:`helpers.report.provenance.Provenance`) become links to row
  ``n`` of the register in Appendix A (``#ref-n``); the origin of the number is shown in a tooltip on hover *and*
  on keyboard focus (CSS only, no script), and the row links back to every place the mark appears
  (``#mark-n``, ``#mark-n-2``, ...).
* **Observation rows** (tables whose first columns are ``id`` and ``date in the source``) get ``id="obs-ID"``, so
  figure points and marks can link to them.
* **Math** written as TeX (``$...$``, ``$$...$$``) in Markdown is converted to MathML at build time with pandoc
  (``--mathml``), so the page needs no MathJax (which weighed 2.3 MB) and no script to be read.

Everything here is string processing on the exported HTML; the functions are pure and unit-tested on small pages.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Mapping

#: the reference mark as helpers.report.provenance writes it
MARK_RE = re.compile(r"<sup>\[(\d+)\]</sup>")
PROVENANCE_HEADER = ("ref", "quantity", "value in text", "origin", "how it was obtained")
OBSERVATION_HEADER = ("id", "date in the source")

_TABLE_RE = re.compile(r"<table\b.*?</table>", re.S | re.I)
_TR_RE = re.compile(r"<tr\b([^>]*)>(.*?)</tr>", re.S | re.I)
_CELL_RE = re.compile(r"<(td|th)\b([^>]*)>(.*?)</\1>", re.S | re.I)
_THEAD_RE = re.compile(r"<thead\b.*?</thead>", re.S | re.I)
_TBODY_RE = re.compile(r"<tbody\b.*?</tbody>", re.S | re.I)


def _text(fragment: str) -> str:
    """Plain text of an HTML fragment."""
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", "", fragment)).split())


def _header(table: str) -> tuple[str, ...]:
    head = _THEAD_RE.search(table)
    first = _TR_RE.search(head.group(0) if head else table)
    if first is None:
        return ()
    return tuple(_text(c.group(3)).lower() for c in _CELL_RE.finditer(first.group(2)))


def _body_rows(table: str) -> list[re.Match[str]]:
    body = _TBODY_RE.search(table)
    return list(_TR_RE.finditer(body.group(0))) if body else []


def _set_row_id(table: str, ids: Mapping[int, str]) -> str:
    """Give the body rows of ``table`` listed in ``ids`` (row index -> id) an ``id`` attribute."""
    body = _TBODY_RE.search(table)
    if body is None:
        return table
    counter = iter(range(10**9))

    def row(m: re.Match[str]) -> str:
        index = next(counter)
        if index not in ids or re.search(r"\bid\s*=", m.group(1)):
            return m.group(0)
        return f'<tr{m.group(1)} id="{html_lib.escape(ids[index], quote=True)}">{m.group(2)}</tr>'

    new_body = _TR_RE.sub(row, body.group(0))
    return table[: body.start()] + new_body + table[body.end() :]


def provenance_register(page: str) -> dict[int, str]:
    """``{n: "quantity: value in text (origin; how it was obtained)"}`` from the Appendix A table of ``page``."""
    for m in _TABLE_RE.finditer(page):
        table = m.group(0)
        if _header(table)[: len(PROVENANCE_HEADER)] != PROVENANCE_HEADER:
            continue
        register = {}
        for row in _body_rows(table):
            cells = [_text(c.group(3)) for c in _CELL_RE.finditer(row.group(2))]
            if len(cells) >= 5 and cells[0].isdigit():
                how = f"; {cells[4]}" if cells[4] else ""
                register[int(cells[0])] = f"{cells[1]}: {cells[2]} ({cells[3]}{how})"
        return register
    return {}


def link_reference_marks(page: str) -> str:
    """Turn every ``<sup>[n]</sup>`` into a link to row ``n`` of Appendix A, with the origin as a tooltip.

    The register row gets ``id="ref-n"`` and back links (↩) to each mark. A mark whose number is not in the
    register is left as it is (and so is the page when it has no register).
    """
    register = provenance_register(page)
    if not register:
        return page
    table_match = next(
        m
        for m in _TABLE_RE.finditer(page)
        if _header(m.group(0))[: len(PROVENANCE_HEADER)] == PROVENANCE_HEADER
    )
    before, table, after = page[: table_match.start()], table_match.group(0), page[table_match.end() :]
    seen: dict[int, list[str]] = {}

    def mark(m: re.Match[str]) -> str:
        n = int(m.group(1))
        if n not in register:
            return m.group(0)
        anchors = seen.setdefault(n, [])
        anchor = f"mark-{n}" if not anchors else f"mark-{n}-{len(anchors) + 1}"
        anchors.append(anchor)
        tip = html_lib.escape(register[n], quote=True)
        return (
            f'<a class="ref" id="{anchor}" href="#ref-{n}" aria-describedby="tip-{anchor}">'
            f"<sup>[{n}]</sup>"
            f'<span class="ref-tip" role="tooltip" id="tip-{anchor}">{tip}</span></a>'
        )

    before = MARK_RE.sub(mark, before)
    after = MARK_RE.sub(mark, after)
    rows = _body_rows(table)
    ids = {}
    for index, row in enumerate(rows):
        first = _CELL_RE.search(row.group(2))
        if first and _text(first.group(3)).isdigit():
            ids[index] = f"ref-{int(_text(first.group(3)))}"
    table = _set_row_id(table, ids)

    def back(m: re.Match[str]) -> str:
        row_id = re.search(r'\bid="ref-(\d+)"', m.group(1))
        if not row_id or not seen.get(int(row_id.group(1))):
            return m.group(0)
        n = int(row_id.group(1))
        links = " ".join(
            f'<a class="ref-back" href="#{a}" aria-label="back to mark [{n}] in the text'
            f'{"" if i == 0 else f" (occurrence {i + 1})"}">↩</a>'
            for i, a in enumerate(seen[n])
        )
        cell = _CELL_RE.search(m.group(2))
        assert cell is not None
        new_cell = f"<{cell.group(1)}{cell.group(2)}>{cell.group(3)} {links}</{cell.group(1)}>"
        return f"<tr{m.group(1)}>{m.group(2)[: cell.start()]}{new_cell}{m.group(2)[cell.end() :]}</tr>"

    table = _TR_RE.sub(back, table)
    return before + table + after


def observation_anchor(obs_id: str) -> str:
    """The ``id`` of an observation's row in the observation tables (``obs-000-001``)."""
    return "obs-" + re.sub(r"[^\w-]+", "-", str(obs_id)).strip("-")


def anchor_observation_rows(page: str) -> str:
    """Give each row of the observation tables ``id="obs-<id>"`` (first column ``id``, second ``date in the
    source``), so figure points can link to the row of the figure they plot."""

    def table(m: re.Match[str]) -> str:
        tbl = m.group(0)
        if _header(tbl)[: len(OBSERVATION_HEADER)] != OBSERVATION_HEADER:
            return tbl
        ids = {}
        for index, row in enumerate(_body_rows(tbl)):
            first = _CELL_RE.search(row.group(2))
            if first and _text(first.group(3)):
                ids[index] = observation_anchor(_text(first.group(3)))
        return _set_row_id(tbl, ids)

    return _TABLE_RE.sub(table, page)


# --------------------------------------------------------------------------------------------------------
# Math: TeX -> MathML at build time
# --------------------------------------------------------------------------------------------------------

_MD_BLOCK_RE = re.compile(
    r'(<(?:div|figcaption) class="[^"]*\bjp-RenderedMarkdown\b[^"]*"[^>]*>)(.*?)'
    r'(?=<div class="jp-OutputArea-child|<div class="jp-Cell|</figcaption>|</main>|\Z)',
    re.S,
)
_DISPLAY_MATH_RE = re.compile(r"\$\$(.+?)\$\$", re.S)
_INLINE_MATH_RE = re.compile(r"(?<![\\$\w])\$(?=[^\s$])([^$\n]*?[^\s\\$])\$(?![\d$])")


def tex_to_mathml(snippets: list[tuple[str, bool]]) -> list[str]:
    """MathML for each ``(tex, display)`` snippet, in one pandoc call (``--mathml``)."""
    if not snippets:
        return []
    import pypandoc

    sep = "NKREPORTMATHSEP"
    parts = [f"$${tex}$$" if display else f"${tex}$" for tex, display in snippets]
    doc = f"\n\n{sep}\n\n".join(parts)
    out = pypandoc.convert_text(doc, "html", format="markdown", extra_args=["--mathml", "--wrap=none"])
    chunks = re.split(rf"<p>{sep}</p>", out)
    if len(chunks) != len(snippets):
        raise ValueError(f"pandoc returned {len(chunks)} math chunks for {len(snippets)} formulas")
    result = []
    for (tex, _), chunk in zip(snippets, chunks, strict=True):
        found = re.search(r"<math\b.*?</math>", chunk, re.S)
        if found is None:
            raise ValueError(f"pandoc produced no MathML for {tex!r}")
        result.append(found.group(0))
    return result


def math_to_mathml(page: str) -> str:
    """Replace the TeX math of Markdown blocks (``$$..$$``, ``$..$``) by MathML (no script needed to read it).

    Only the text of ``jp-RenderedMarkdown`` blocks is searched, so a price like "$5" in a data table is never
    taken for math.
    """
    found: list[tuple[str, bool]] = []

    def collect(block: str) -> None:
        for m in _DISPLAY_MATH_RE.finditer(block):
            found.append((html_lib.unescape(m.group(1)), True))
        rest = _DISPLAY_MATH_RE.sub(" ", block)
        for piece in re.split(r"(<[^>]+>)", rest):
            if piece.startswith("<"):
                continue
            for m in _INLINE_MATH_RE.finditer(piece):
                found.append((html_lib.unescape(m.group(1)), False))

    for m in _MD_BLOCK_RE.finditer(page):
        collect(m.group(2))
    if not found:
        return page
    mathml = iter(tex_to_mathml(found))

    def convert(m: re.Match[str]) -> str:
        block = _DISPLAY_MATH_RE.sub(lambda _: next(mathml), m.group(2))
        pieces = re.split(r"(<math\b.*?</math>|<[^>]+>)", block, flags=re.S)
        out = [p if p.startswith("<") else _INLINE_MATH_RE.sub(lambda _: next(mathml), p) for p in pieces]
        return m.group(1) + "".join(out)

    return _MD_BLOCK_RE.sub(convert, page)


# --------------------------------------------------------------------------------------------------------
# Page furniture
# --------------------------------------------------------------------------------------------------------

#: an inline favicon (a small blue square with a white bar chart), so the browser requests no /favicon.ico
FAVICON = (
    "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E"
    "%3Crect width='16' height='16' rx='3' fill='%231f5f99'/%3E"
    "%3Cpath d='M4 12V9M8 12V6M12 12V3' stroke='white' stroke-width='2'/%3E%3C/svg%3E"
)

#: CSS for marks, tooltips, back links, linked rows and interactive figures (shared by both HTML editions)
CSS = """
a.ref { position: relative; text-decoration: underline; text-decoration-thickness: 1px; text-underline-offset: .1em; }
a.ref sup { color: var(--accent, #1f5f99); }
a.ref .ref-tip {
  display: none; position: absolute; left: 50%; bottom: 1.6em; transform: translateX(-50%); z-index: 10;
  width: max-content; max-width: min(22rem, 80vw); padding: .45rem .6rem; border-radius: 4px;
  background: #1d232b; color: #fff; font-size: .8rem; line-height: 1.35; font-weight: 400; text-align: left;
  white-space: normal; box-shadow: 0 2px 8px rgba(0,0,0,.25);
}
a.ref:hover .ref-tip, a.ref:focus .ref-tip, a.ref:focus-visible .ref-tip { display: block; }
a.ref:focus-visible { outline: 2px solid var(--accent, #1f5f99); outline-offset: 1px; }
a.ref-back { margin-left: .2em; }
tr:target, a.ref:target sup { background: #fff3bf; }
tr[id] { scroll-margin-top: 1rem; }
.interactive-figure svg { display: block; width: 100%; height: auto; max-width: 52rem; margin: 0 auto; }
.interactive-figure .figure-hint { font-size: .8rem; color: var(--muted, #5b6573); margin: .3rem 0 0; text-align: center; }
@media print {
  a.ref .ref-tip, a.ref-back, .figure-hint { display: none !important; }
  a.ref sup { color: inherit; }
  nav.toc, #quarto-margin-sidebar, #TOC, .sidebar { display: none !important; }
  a { color: inherit !important; text-decoration: none !important; }
}
"""


def head_extras(description: str) -> str:
    """``<meta name="description">``, the inline favicon and :data:`CSS`, for the page's ``<head>``."""
    desc = html_lib.escape(" ".join(description.split()), quote=True)
    return (
        f'<meta name="description" content="{desc}">\n'
        f'<link rel="icon" href="{FAVICON}">\n'
        f"<style>{CSS}</style>\n"
    )


def add_head_extras(page: str, description: str) -> str:
    """Insert :func:`head_extras` before ``</head>``; drop a description or favicon already there."""
    page = re.sub(r'<meta name="description"[^>]*>\s*', "", page)
    page = re.sub(r'<link rel="(?:shortcut )?icon"[^>]*>\s*', "", page)
    return page.replace("</head>", head_extras(description) + "</head>", 1)


_PNG_IMG_RE = re.compile(r'<img\b[^>]*?\bsrc="data:image/png;base64,([A-Za-z0-9+/=\s]+)"[^>]*>', re.S)


def compact_images(page: str) -> str:
    """Re-encode embedded PNG images as lossless WebP when that is smaller, and give every one its
    ``width``/``height`` (so the layout does not shift while the page loads).

    Lossless: every pixel is kept (the PDF keeps its PNGs). Plots shrink to about half (the largest figure,
    500 kB as PNG, to 240 kB), which keeps the self-contained page under 1.5 MB.
    """
    import base64
    import io

    from PIL import Image

    def repl(m: re.Match[str]) -> str:
        tag = m.group(0)
        data = base64.b64decode("".join(m.group(1).split()))
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                width, height = im.size
                buf = io.BytesIO()
                im.save(buf, "WEBP", lossless=True, quality=100, method=4, exact=True)
        except Exception:  # not a PNG Pillow can read: leave it as it is
            return tag
        webp = buf.getvalue()
        if len(webp) < len(data):
            encoded = base64.b64encode(webp).decode("ascii")
            tag = re.sub(
                r'src="data:image/png;base64,[^"]*"', f'src="data:image/webp;base64,{encoded}"', tag, count=1
            )
        if not re.search(r"\swidth=", tag):
            tag = tag.replace("<img", f'<img width="{width}" height="{height}"', 1)
        return tag

    return _PNG_IMG_RE.sub(repl, page)


FIGURE_HINT = "Hover over or tab to a point to read its source; select it to go to its row in the table."


def interactive_figures(page: str, figures: Mapping[str, tuple[bytes, str]]) -> str:
    """Replace each embedded PNG whose bytes are those of a figure in ``figures`` (name -> (PNG bytes, SVG))
    by the interactive SVG, with a one-line hint; images that match none are left as they are."""
    import base64

    by_bytes = {png: svg for png, svg in figures.values()}

    def repl(m: re.Match[str]) -> str:
        data = base64.b64decode("".join(m.group(1).split()))
        svg = by_bytes.get(data)
        if svg is None:
            return m.group(0)
        return f'<div class="interactive-figure">{svg}<p class="figure-hint">{FIGURE_HINT}</p></div>'

    return _PNG_IMG_RE.sub(repl, page) if by_bytes else page


_FIGURE_RE = re.compile(r"<figure\b.*?</figure>", re.S | re.I)


def ensure_alt_text(page: str) -> str:
    """Give every ``<img>`` an ``alt``: inside a ``<figure>``, its caption's text; elsewhere ``alt=""``
    (Quarto writes figure images without one)."""

    def figure(m: re.Match[str]) -> str:
        fig = m.group(0)
        cap = re.search(r"<figcaption\b[^>]*>(.*?)</figcaption>", fig, re.S | re.I)
        alt = html_lib.escape(_text(cap.group(1)), quote=True) if cap else ""
        return re.sub(r"<img\b(?![^>]*\balt=)", f'<img alt="{alt}"', fig)

    page = _FIGURE_RE.sub(figure, page)
    return re.sub(r"<img\b(?![^>]*\balt=)", '<img alt=""', page)


def enhance(page: str, description: str, figures: Mapping[str, tuple[bytes, str]] | None = None) -> str:
    """All of the above, in order: head extras, interactive figures, compact images, observation anchors,
    linked reference marks."""
    page = add_head_extras(page, description)
    page = interactive_figures(page, figures or {})
    page = ensure_alt_text(page)
    page = compact_images(page)
    page = anchor_observation_rows(page)
    return link_reference_marks(page)
