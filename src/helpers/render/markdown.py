"""The one Markdown export of the report (:func:`export_markdown`), typeset by the PDF and Quarto editions.

nbconvert -> Markdown (code excluded, images extracted into the build folder at a width relative to the
page) with the metadata (title, subtitle, date, byline) as YAML; the text is engine-neutral: raw HTML
tables and "Figure N." captions are left for the Lua filter (``helpers/render/resources/pandoc/report.lua``).
"""

from __future__ import annotations

import base64
import hashlib
import html as html_lib
import mimetypes
import re
import struct
from pathlib import Path
from typing import Any

from helpers.render.common import (
    DATA_URI_RE,
    IMG_SRC_RE,
    MD_IMG_RE,
    RenderError,
    prepare_notebook,
    read_notebook,
    search_dirs,
)


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
        m = DATA_URI_RE.match(src)
        if m:
            ext = mimetypes.guess_extension(m.group(1)) or ".png"
            ext = ".svg" if m.group(1) == "image/svg+xml" else ext
            return self.add_bytes(base64.b64decode("".join(m.group(2).split())), ext)
        if re.match(r"^[a-z][a-z0-9+.-]*://|^//", src, re.I):
            return src
        for base in (self.folder, *search_dirs(self.base_dir)):
            path = (base / src.split("?")[0]).resolve()
            if path.is_file():
                return self.add_bytes(path.read_bytes(), path.suffix.lower())
        return src


def export_markdown(notebook: Path, build: Path) -> tuple[str, dict[str, Any], dict[str, int]]:
    """Export ``notebook`` to Markdown in ``build`` (images as files there); return (md, meta, widths)."""
    from nbconvert import MarkdownExporter

    nb, meta = prepare_notebook(read_notebook(notebook))
    try:
        exporter = MarkdownExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
        md, resources = exporter.from_notebook_node(nb, resources={"output_files_dir": "."})
    except Exception as exc:
        raise RenderError("nbconvert Markdown export", f"{type(exc).__name__}: {exc}") from exc
    for name, data in (resources.get("outputs") or {}).items():
        (build / Path(name).name).write_bytes(data)
    store = _ImageStore(build, Path(notebook).resolve().parent)
    md = IMG_SRC_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}{store.resolve(m.group(3))}{m.group(2)}", md)
    md = MD_IMG_RE.sub(lambda m: f"{m.group(1)}{store.resolve(m.group(2))}{m.group(3)}", md)
    return md, meta, store.widths


def yaml_str(value: object) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    import json

    return json.dumps(str(value), ensure_ascii=False)
