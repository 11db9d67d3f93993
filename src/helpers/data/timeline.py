"""The timeline figures of step 01: every observation on a time axis, by source, with its qualifier.

:func:`timeline_points` is what the figures draw (also used by the report's interactive figure);
:func:`observations_timeline_figure` (counts, log axis) and :func:`shares_timeline_figure` (per cent) draw
them with ITU's year-end series.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd

from helpers._lazy import lazy
from helpers.data.cleaning import add_reference_dates, blank
from helpers.data.pairs import value_interval
from helpers.io import mathtext_escape

plt = lazy("matplotlib.pyplot")
ticker = lazy("matplotlib.ticker")

#: The indicators of each timeline figure: counts (log axis) and shares (per cent).
COUNT_INDICATORS: tuple[str, ...] = ("mobile_subscriptions", "mobile_users")
SHARE_INDICATORS: dict[str, tuple[str, str]] = {  # indicator -> (colour, legend label)
    "mobile_penetration_pct": ("tab:blue", "subscriptions per 100 people"),
    "mobile_ownership_pct": ("tab:green", "% of people with a phone"),
    "households_with_mobile_pct": ("tab:red", "% of households with a phone"),
}

QUALIFIER_MARKERS: dict[str, tuple[str, bool]] = {
    "exact": ("o", True),
    "approx": ("o", False),
    "at_least": ("^", True),
    "at_most": ("v", True),
    "range": ("_", True),
}


def timeline_points(obs: pd.DataFrame, indicators: list[str]) -> pd.DataFrame:
    """What the timeline figures draw for each observation of ``indicators``.

    Columns: ``obs_id, source_id, indicator, scope, subgroup, qualifier, usable`` (when classified), ``x``
    (reference date, decimal year), ``x0`` / ``x1`` (period ends, for the horizontal bar), ``y`` (the value,
    the bound of a one-sided figure, the middle of a range), ``y_lo`` / ``y_hi`` (range ends, else NaN),
    ``marker`` and ``filled`` (:data:`QUALIFIER_MARKERS`). Zero values are kept (a log axis must drop them).
    """
    d = obs[obs["indicator"].isin(indicators)]
    d = d if "ref_year" in d else add_reference_dates(d)
    rows = []
    for _, o in d.iterrows():
        y = value_interval(o)[0]
        rng = o["qualifier"] == "range"
        marker, filled = QUALIFIER_MARKERS[o["qualifier"]]
        rows.append(
            {
                "obs_id": o["obs_id"],
                "source_id": o["source_id"],
                "indicator": o["indicator"],
                "scope": o["scope"],
                "subgroup": "" if blank(o.get("subgroup")) else str(o["subgroup"]),
                "qualifier": o["qualifier"],
                "usable": bool(o["usable_national_subs"]) if "usable_national_subs" in o else True,
                "x": float(o["ref_year"]),
                "x0": float(o["year_start"]),
                "x1": float(o["year_end"]),
                "y": float(y),
                "y_lo": float(o["value_low"]) if rng else math.nan,
                "y_hi": float(o["value_high"]) if rng else math.nan,
                "marker": marker,
                "filled": filled,
            }
        )
    cols = ["obs_id", "source_id", "indicator", "scope", "subgroup", "qualifier", "usable", "x", "x0", "x1",
            "y", "y_lo", "y_hi", "marker", "filled"]  # fmt: skip
    return pd.DataFrame(rows, columns=cols).sort_values(["x", "obs_id"]).reset_index(drop=True)


def source_titles(catalogue: pd.DataFrame) -> dict[str, str]:
    """Legend label of each source of ``sources.csv`` (:func:`helpers.data.sources.load_sources`): its
    number and the first 28 characters of its first author or publisher, escaped for matplotlib."""
    return {
        r.source_id: mathtext_escape(
            f"{r.source_id[:3]} {r.author_publisher.split(';')[0].split('(')[0].strip()[:28]}"
        )
        for r in catalogue.itertuples()
    }


def _millions(x: float, _pos: Any = None) -> str:
    return f"{x / 1e6:g} M" if x >= 1e6 else f"{x / 1e3:g} k"


def _draw(ax: Any, pts: pd.DataFrame, colour_of: Callable[[Any], Any]) -> None:
    """Each point of :func:`timeline_points`: a faint bar over its period, a marker (or a range), faded
    when not usable."""
    for p in pts.itertuples():
        c = colour_of(p)
        alpha = 1.0 if p.usable else 0.45
        ax.plot([p.x0, p.x1], [p.y, p.y], color=c, lw=2.5, alpha=0.35 * alpha, solid_capstyle="butt")
        if p.qualifier == "range":
            ax.plot([p.x, p.x], [p.y_lo, p.y_hi], color=c, lw=2, alpha=alpha)
            ax.plot([p.x, p.x], [p.y_lo, p.y_hi], ls="none", marker="_", ms=9, color=c, alpha=alpha)
        else:
            ax.plot(p.x, p.y, ls="none", marker=p.marker, ms=7, color=c, alpha=alpha,
                    markerfacecolor=c if p.filled else "white")  # fmt: skip


def _itu_year_ends(itu_series: pd.DataFrame) -> pd.DataFrame:
    """ITU's years with subscriptions, placed at 31 December (decimal year of the last day)."""
    pos = itu_series[itu_series["subscriptions"] > 0]
    return pos.assign(x=pos["year"] + 1 - 1 / 730)


def observations_timeline_figure(
    classified: pd.DataFrame, itu_series: pd.DataFrame, titles: dict[str, str]
) -> plt.Figure:
    """Every count of subscriptions or users on a log axis, coloured by source, with ITU's year-ends.

    ``classified`` is :func:`helpers.data.cleaning.classify_usability` (unusable figures are faded),
    ``itu_series`` :func:`helpers.data.national.itu_table`, ``titles`` :func:`source_titles`. Zero values
    cannot sit on a log axis: they are named in a note instead.
    """
    src_ids = sorted(classified["source_id"].unique()) + ["ITU"]
    colours = dict(zip(src_ids, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    pts = timeline_points(classified, list(COUNT_INDICATORS))
    zero = pts[pts["y"] <= 0]
    fig, ax = plt.subplots(figsize=(9, 5))
    _draw(ax, pts[pts["y"] > 0], lambda p: colours[p.source_id])
    itu = _itu_year_ends(itu_series)
    ax.plot(itu["x"], itu["subscriptions"], color="0.3", lw=1.2, marker=".", label="ITU (31 December)")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(_millions))
    ax.set_ylabel("subscriptions or users (log scale)")
    ax.xaxis.set_major_locator(ticker.MultipleLocator(2))
    ax.set_title(f"Mobile subscription and user figures for North Korea, by source ({len(pts)} observations)")
    handles = [plt.Line2D([], [], color=colours[s], lw=6, alpha=0.5, label=titles.get(s, s))
               for s in sorted(pts["source_id"].unique())]  # fmt: skip
    handles += [plt.Line2D([], [], color="0.3", marker=".", label="ITU (end of year)")]
    handles += [plt.Line2D([], [], ls="none", color="k", marker=m, markerfacecolor="k" if f else "white", label=q)
                for q, (m, f) in QUALIFIER_MARKERS.items() if q != "range"]  # fmt: skip
    handles += [
        plt.Line2D([], [], color="k", lw=2, label="range"),
        plt.Line2D([], [], color="k", lw=2.5, alpha=0.3, label="period covered"),
        plt.Line2D([], [], ls="none", marker="o", color="k", alpha=0.45, label="faded: not usable"),
    ]
    ax.legend(handles=handles, loc="lower right", fontsize=8, ncol=2)
    if len(zero):
        ax.annotate(f"not shown (zero on a log axis): {', '.join(zero['obs_id'])}", (0.01, 0.97),
                    xycoords="axes fraction", fontsize=8, va="top")  # fmt: skip
    return fig


def shares_timeline_figure(classified: pd.DataFrame, itu_series: pd.DataFrame) -> plt.Figure:
    """Every share (subscriptions per 100 people, people and households with a phone) in per cent, coloured
    by indicator, with ITU's per-100 year-ends; figures that are not national or are about a subgroup are
    labelled with their scope."""
    pts = timeline_points(classified, list(SHARE_INDICATORS))
    fig, ax = plt.subplots(figsize=(9, 5))
    _draw(ax, pts, lambda p: SHARE_INDICATORS[p.indicator][0])
    itu = _itu_year_ends(itu_series)
    ax.plot(itu["x"], itu["per100"], color="0.3", lw=1.2, marker=".")
    for p in pts[(pts["scope"] != "national") | (pts["subgroup"] != "")].itertuples():
        where = p.scope.split(":")[-1].title() + (f", {p.subgroup}" if p.subgroup else "")
        ax.annotate(mathtext_escape(where), (p.x, p.y), xytext=(6, 4), textcoords="offset points", fontsize=7)
    ax.set_ylabel("per cent")
    ax.xaxis.set_major_locator(ticker.MultipleLocator(2))
    ax.set_ylim(0, 100)
    ax.set_title("Mobile shares: subscriptions per 100 people, people and households with a phone")
    handles = [
        plt.Line2D([], [], color=c, lw=6, alpha=0.5, label=label) for c, label in SHARE_INDICATORS.values()
    ]
    handles += [plt.Line2D([], [], color="0.3", marker=".", label="ITU per 100 (end of year)")]
    ax.legend(handles=handles, loc="upper left", fontsize=8)
    return fig
