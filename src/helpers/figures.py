"""Figure helpers: one house style and deterministic PNG output."""

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
