"""What every renderer shares: resource paths, the notebook clean-up, atomic writes, errors.

:func:`prepare_notebook` drops code, stderr and bare matplotlib reprs, honours the ``remove-cell`` /
``remove-output`` tags and takes title/subtitle/date from the notebook metadata or papermill parameters and
the short front matter before the first heading (e.g. a "Built on ..." line) as the byline.
:func:`atomic_output` renders to a temporary file beside ``out`` and ``os.replace`` it into place only on
success, so a failure never destroys the previous report. The resources (nbconvert template, pandoc
template and Lua filter, fonts, Quarto project) are in ``helpers/render/resources/``.
"""

from __future__ import annotations

import contextlib
import copy
import html as html_lib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat

PACKAGE_DIR = Path(__file__).resolve().parent
#: The renderers' resource folders: nbconvert template, pandoc template and Lua filter, fonts, Quarto project.
RESOURCES = PACKAGE_DIR / "resources"
TEMPLATES = RESOURCES / "templates"
TEMPLATE_NAME = "nkreport"
PANDOC_DIR = RESOURCES / "pandoc"
LUA_FILTER = PANDOC_DIR / "report.lua"
TYPST_TEMPLATE = PANDOC_DIR / "report.typ"
FONTS = RESOURCES / "fonts"

#: cell tags that remove a whole cell / all its outputs from the report (jupyter-book conventions)
REMOVE_CELL_TAGS = frozenset({"remove_cell", "remove-cell"})
REMOVE_OUTPUT_TAGS = frozenset({"remove_output", "remove-output"})

#: pandoc reader: raw HTML blocks stay raw (the Lua filter re-reads them), no "png" implicit figures
PANDOC_FROM = "markdown-markdown_in_html_blocks-implicit_figures+tex_math_dollars"

HEADING_RE = re.compile(r"<h([1-3])(\s[^>]*)?>(.*?)</h\1>", re.S | re.I)
NUM_TD_RE = re.compile(
    r"<td>(\s*[-+\u2212]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?\s*%?\s*)</td>"
)
IMG_SRC_RE = re.compile(r"""(<img\b[^>]*?\bsrc\s*=\s*)(["'])(.*?)\2""", re.S | re.I)
MD_IMG_RE = re.compile(r"(!\[[^\]]*\]\()([^)\s]+)((?:\s+\"[^\"]*\")?\))")
DATA_URI_RE = re.compile(r"data:(image/[\w.+-]+);base64,([A-Za-z0-9+/=\s]+)$", re.S)
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


def read_notebook(notebook: Path) -> nbformat.NotebookNode:
    """Read ``notebook`` or raise :class:`RenderError` naming the read step."""
    notebook = Path(notebook)
    if not notebook.is_file():
        raise RenderError("read notebook", f"no such file: {notebook}")
    try:
        return nbformat.read(notebook, as_version=4)
    except Exception as exc:  # nbformat raises several types for bad JSON/schema
        raise RenderError("read notebook", f"{notebook.name} is not a valid notebook ({exc})") from exc


def strip_tags(fragment: str) -> str:
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


def search_dirs(notebook_dir: Path) -> list[Path]:
    """Where relative image paths are looked up: the notebook's folder, then the project root."""
    from helpers.config import ROOT

    return list(dict.fromkeys([notebook_dir.resolve(), ROOT.resolve()]))
