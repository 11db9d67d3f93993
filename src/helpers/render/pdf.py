"""Executed notebook -> typeset PDF (:func:`render_pdf`): Markdown -> pandoc -> Typst -> PDF.

The Markdown of :func:`helpers.render.markdown.export_markdown` goes through pandoc (pypandoc-binary) with
the Lua filter ``helpers/render/resources/pandoc/report.lua`` (re-reads raw HTML tables and figures as real
tables/figures, joins image + "Figure N." caption into one figure, ``<sup>`` -> superscript) and the Typst
template ``helpers/render/resources/pandoc/report.typ`` -> Typst source -> the ``typst`` package's compiler -> PDF.
Hangul is set in the vendored Noto Sans KR subset (``helpers/render/resources/fonts``), so Korean words render
without any system font. The write is atomic.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from helpers.render.common import FONTS, LUA_FILTER, PANDOC_FROM, TYPST_TEMPLATE, RenderError, atomic_output
from helpers.render.markdown import export_markdown, yaml_str


def export_typst(notebook: Path, build: Path) -> Path:
    """Write ``report.typ`` (and its images) into ``build`` from ``notebook``; return its path."""
    import pypandoc

    md, meta, widths = export_markdown(notebook, build)
    levels = [len(m.group(1)) for m in re.finditer(r"^(#{1,6})\s", md, re.M)]
    shift = 1 - min(levels) if levels else 0
    lines = ["---", f"title: {yaml_str(meta['title'] or Path(notebook).stem)}"]
    for key in ("subtitle", "date", "byline"):
        if meta.get(key):
            lines.append(f"{key}: {yaml_str(meta[key])}")
    if meta["authors"]:
        lines.append("author:")
        lines.extend(f"  - {yaml_str(a)}" for a in meta["authors"])
    lines.append(f"lang: {yaml_str(meta.get('lang') or 'en')}")
    lines.append(f"toc: {'true' if len(levels) >= 3 else 'false'}")
    if widths:
        lines.append("image-widths:")
        lines.extend(f"  {yaml_str(k)}: {yaml_str(f'{v}%')}" for k, v in sorted(widths.items()))
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
