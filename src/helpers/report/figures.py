"""The house style of every PNG figure of the project (the notebooks of all four steps): one matplotlib style and
deterministic PNG output (no timestamps or software tags, so equal figures give equal bytes).

Kept apart from :mod:`helpers.report.svg` (the HTML editions' interactive figures) on purpose: steps 01-03 import
this module, so anything it imports is part of their fingerprint and a change to it reruns them.
"""

from __future__ import annotations

from pathlib import Path

from helpers._lazy import lazy

plt = lazy("matplotlib.pyplot")

STYLE = {
    "figure.figsize": (8, 4.5),
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "font.size": 10,
    "axes.titlesize": 11,
    "legend.frameon": False,
    "svg.hashsalt": "nk-telecom",
}


def use_style() -> None:
    """Apply the house style (call once at the top of a notebook)."""
    plt.rcParams.update(STYLE)


def savefig(fig: plt.Figure, path: Path | str) -> Path:
    """Save ``fig`` as PNG without timestamps or software tags, so equal figures give equal bytes."""
    from helpers import io as hio

    return hio.savefig(fig, path)


def save_and_show(fig: plt.Figure, path: Path | str) -> Path:
    """Save ``fig`` as PNG (:func:`savefig`), show *that file* in the notebook, and close the figure.

    Drawing a figure is the expensive part. The inline backend would draw it a second time at the end of the
    cell to show it; instead the notebook shows the PNG bytes just written (one ``image/png`` output, the very
    figure the report uses), at the size the inline backend would have shown (``figure.dpi``, not the file's
    ``savefig.dpi``). The figure is closed in every case (in a plain script too: nothing else draws it), so
    a cell shows each figure once. Outside a Jupyter kernel nothing is displayed. Returns ``path``.
    """
    path = savefig(fig, path)
    try:
        if _in_kernel():
            from IPython.display import Image, display
            from PIL import Image as PILImage  # already loaded by matplotlib

            data = Path(path).read_bytes()
            with PILImage.open(path) as png:
                width = png.width
            scale = float(fig.get_dpi()) / float(plt.rcParams["savefig.dpi"])
            shown = round(width * scale) if width and scale < 1 else None
            display(Image(data=data, format="png", width=shown))
    finally:
        plt.close(fig)
    return path


def _in_kernel() -> bool:
    """True inside a Jupyter kernel (not a terminal IPython, not plain Python)."""
    import sys

    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and getattr(shell, "kernel", None) is not None
