"""Command line of the renderers.

::

    python -m helpers.render html IN.ipynb OUT.html
    python -m helpers.render pdf IN.ipynb OUT.pdf
    python -m helpers.render typst IN.ipynb OUT_DIR   # the Typst source only
    python -m helpers.render quarto [OUT_DIR]  # Quarto edition (default reports/quarto/); exit 2 without quarto

On failure it prints ``render <kind>: <step> failed: <reason>`` to stderr and exits 1 (for Quarto the
reason is Quarto's first error line and its location, see :func:`helpers.render.quarto.quarto_error`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from helpers.render.common import RenderError
from helpers.render.html import render_html
from helpers.render.pdf import render_pdf, render_typst_source
from helpers.render.quarto import QuartoUnavailable, render_quarto

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
