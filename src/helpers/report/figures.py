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
