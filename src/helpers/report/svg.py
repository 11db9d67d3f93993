"""Interactive SVG versions of the report's observation and fit figures, for the HTML editions only.

Each plotted source figure is an SVG ``<a>`` that links to its row in the observation table (``#obs-ID``,
anchored by :func:`helpers.report.html.anchor_observation_rows`) and carries its verbatim quote, source,
qualifier and period twice: as the SVG ``<title>`` (the browser's own tooltip, and the link's accessible name)
and as a small drawn box that CSS shows on hover *and* on keyboard focus. No script, nothing loaded.

Why hand-written SVG and not a charting library: the figures are a log-scale scatter with a few lines, which
is a few hundred lines of markup; an inlined charting library (Plotly ~3.5 MB, Vega ~800 kB) would cost more
than the whole page budget. The SVG holds the quotes (the bulk of its size), about 25-45 kB per figure, against
the 30-90 kB of the PNG it replaces. The PDF keeps the static PNG figures drawn by the notebooks.

The figures are drawn from the pipeline's products (``observations_clean.csv``, ``itu_prk.csv``,
``growth_forecast.csv``), the same files the PNG figures were drawn from.
"""

from __future__ import annotations

import html as html_lib
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from helpers.report.html import observation_anchor

#: indicators plotted in the observation and fit figures
COUNT_INDICATORS = ("mobile_subscriptions", "mobile_users")
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
MODEL_COLOURS = {"logistic": "#1f77b4", "gompertz": "#ff7f0e", "richards": "#2ca02c", "bass": "#9467bd"}
QUALIFIER_WORDS = {
    "exact": "exact figure",
    "approx": "approximate figure",
    "at_least": "at least (lower bound)",
    "at_most": "at most (upper bound)",
    "range": "a range",
}


# --------------------------------------------------------------------------------------------------------
# Interactive SVG figures (HTML editions)
# --------------------------------------------------------------------------------------------------------

W, H = 800, 440
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 20, 50


@dataclass
class Axes:
    """A log-y, linear-x plotting area in SVG user units."""

    x0: float
    x1: float
    y0: float
    y1: float

    def x(self, year: float) -> float:
        return LEFT + (year - self.x0) / (self.x1 - self.x0) * (W - LEFT - RIGHT)

    def y(self, value: float) -> float:
        v = max(value, self.y0)
        frac = (math.log10(v) - math.log10(self.y0)) / (math.log10(self.y1) - math.log10(self.y0))
        return H - BOTTOM - frac * (H - TOP - BOTTOM)


def _f(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _esc(text: object) -> str:
    return html_lib.escape(str(text), quote=True)


def _count_text(v: float) -> str:
    return f"{v / 1e6:g} M" if v >= 1e6 else f"{v / 1e3:g} k"


def observation_points(obs: pd.DataFrame) -> pd.DataFrame:
    """The observations the figures plot (counts of subscriptions or users, value > 0), one row each, with
    their plotting position (from :func:`helpers.data.timeline.timeline_points`) and the columns the tooltip needs."""
    from helpers.data import timeline

    pts = timeline.timeline_points(obs, list(COUNT_INDICATORS))
    pts = pts[pts["y"] > 0]
    extra = obs.set_index("obs_id")[["quote", "period_start", "period_end", "date_text", "value"]]
    return pts.join(extra, on="obs_id").reset_index(drop=True)


def _tip_lines(p: pd.Series, source_names: dict[str, str]) -> list[str]:
    source = source_names.get(p["source_id"], p["source_id"])
    period = str(p["period_start"])[:10]
    if str(p["period_end"])[:10] != period:
        period += f" to {str(p['period_end'])[:10]}"
    if p["qualifier"] == "range":
        value = f"{p['y_lo']:,.0f}–{p['y_hi']:,.0f}"
    else:
        value = f"{p['y']:,.0f}"
    what = str(p["indicator"]).replace("_", " ")
    scope = "" if p["scope"] == "national" else f" ({p['scope']})"
    lines = [f"{p['obs_id']}: {what}{scope} {value}, {QUALIFIER_WORDS.get(p['qualifier'], p['qualifier'])}"]
    lines += textwrap.wrap(f"“{p['quote']}”", 66)
    lines += textwrap.wrap(f"Source {str(p['source_id'])[:3]}: {source}", 66)[:2]
    lines.append(
        f"Period: {p['date_text']} ({period})" if isinstance(p["date_text"], str) else f"Period: {period}"
    )
    lines.append("Used in the fit" if p["usable"] else "Not used in the fit")
    return lines


def _marker(p: pd.Series, ax: Axes, colour: str) -> str:
    x, y = ax.x(p["x"]), ax.y(p["y"])
    fill = colour if p["filled"] else "#fff"
    opacity = "" if p["usable"] else ' opacity="0.55"'
    bar = (
        f'<path d="M{_f(ax.x(p["x0"]))} {_f(y)}H{_f(ax.x(p["x1"]))}" stroke="{colour}" stroke-width="3" '
        f'stroke-opacity="0.35"/>'
        if ax.x(p["x1"]) - ax.x(p["x0"]) > 2
        else ""
    )
    q = p["qualifier"]
    if q == "range":
        ylo, yhi = ax.y(p["y_lo"]), ax.y(p["y_hi"])
        shape = (
            f'<path d="M{_f(x)} {_f(ylo)}V{_f(yhi)}M{_f(x - 5)} {_f(ylo)}h10M{_f(x - 5)} {_f(yhi)}h10" '
            f'stroke="{colour}" stroke-width="2.5" fill="none"/>'
        )
    elif q in ("at_least", "at_most"):
        d = -1 if q == "at_least" else 1
        shape = (
            f'<path d="M{_f(x)} {_f(y + 6 * d)}L{_f(x - 5.5)} {_f(y - 4 * d)}H{_f(x + 5.5)}Z" fill="{fill}" '
            f'stroke="{colour}" stroke-width="1.5"/>'
        )
    else:
        shape = (
            f'<circle cx="{_f(x)}" cy="{_f(y)}" r="5" fill="{fill}" stroke="{colour}" stroke-width="1.5"/>'
        )
    # a larger transparent target makes small markers easy to hover and to tap
    target = f'<circle cx="{_f(x)}" cy="{_f(y)}" r="9" fill="transparent"/>'
    return f"<g{opacity}>{bar}{shape}</g>{target}"


def _tip_box(lines: Sequence[str], x: float, y: float) -> str:
    width = 14 + max(6.9 * len(lines[0]), *(6.2 * len(line) for line in lines[1:]))
    height = 8 + 14 * len(lines)
    bx = min(max(LEFT, x - width / 2), W - width - 2)
    by = y - height - 12 if y - height - 12 > 2 else y + 12
    bold = ' font-weight="700"'
    texts = "".join(
        f'<tspan x="{_f(bx + 6)}" dy="{14 if i else 0}"{bold if i == 0 else ""}>{_esc(line)}</tspan>'
        for i, line in enumerate(lines)
    )
    return (
        f'<g class="tip" aria-hidden="true"><rect x="{_f(bx)}" y="{_f(by)}" width="{_f(width)}" '
        f'height="{_f(height)}" rx="3"/><text x="{_f(bx + 6)}" y="{_f(by + 16)}">{texts}</text></g>'
    )


def _axes_markup(ax: Axes, ylabel: str) -> str:
    parts = [f'<rect x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" height="{H - TOP - BOTTOM}" fill="#fff" '
             'stroke="#888"/>']  # fmt: skip
    for year in range(math.ceil(ax.x0), math.floor(ax.x1) + 1):
        if year % 2:
            continue
        x = ax.x(year)
        parts.append(f'<path d="M{_f(x)} {TOP}V{H - BOTTOM}" stroke="#eee"/>')
        parts.append(f'<text x="{_f(x)}" y="{H - BOTTOM + 18}" text-anchor="middle">{year}</text>')
    decade = 10 ** math.ceil(math.log10(ax.y0))
    while decade <= ax.y1:
        for mult in (1, 2, 5):
            v = decade * mult
            if ax.y0 <= v <= ax.y1:
                y = ax.y(v)
                parts.append(f'<path d="M{LEFT} {_f(y)}H{W - RIGHT}" stroke="#eee"/>')
                parts.append(
                    f'<text x="{LEFT - 6}" y="{_f(y + 4)}" text-anchor="end">{_count_text(v)}</text>'
                )
        decade *= 10
    parts.append(
        f'<text x="16" y="{(TOP + H - BOTTOM) / 2}" transform="rotate(-90 16 {(TOP + H - BOTTOM) / 2})" '
        f'text-anchor="middle">{_esc(ylabel)} (log scale)</text>'
    )
    return "".join(parts)


def _line(
    ax: Axes, xs: Sequence[float], ys: Sequence[float], colour: str, style: str = ' stroke-width="2"'
) -> str:
    pts = [(ax.x(x), ax.y(y)) for x, y in zip(xs, ys, strict=True) if y > 0 and ax.x0 <= x <= ax.x1]
    if len(pts) < 2:
        return ""
    d = "M" + "L".join(f"{_f(x)} {_f(y)}" for x, y in pts)
    return f'<path d="{d}" fill="none" stroke="{colour}"{style}/>'


def _legend(items: Sequence[tuple[str, str, str]]) -> str:
    """``items``: (kind "line"/"dot", colour, label), drawn in a row under the axis."""
    parts, x = [], LEFT
    for kind, colour, label in items:
        if kind == "line":
            parts.append(f'<path d="M{x} {H - 12}h18" stroke="{colour}" stroke-width="2.5"/>')
        else:
            parts.append(f'<circle cx="{x + 9}" cy="{H - 12}" r="4.5" fill="{colour}"/>')
        parts.append(f'<text x="{x + 23}" y="{H - 8}">{_esc(label)}</text>')
        x += 32 + 6.2 * len(label)
    return "".join(parts)


_STYLE = (
    "<style>"
    "text{font:11px system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;fill:#1d232b}"
    ".tip{display:none;pointer-events:none}.tip rect{fill:#1d232b;opacity:.94}.tip text{fill:#fff}"
    "a:hover .tip,a:focus .tip{display:inline}"
    "a:focus{outline:none}a:focus>circle:last-of-type,a:hover>circle:last-of-type{stroke:#000;stroke-width:2}"
    "</style>"
)


def svg_figure(
    points: pd.DataFrame,
    sources: pd.DataFrame,
    itu: pd.DataFrame,
    label: str,
    curves: pd.DataFrame | None = None,
    chosen: str | None = None,
) -> str:
    """An inline ``<svg>``: the points (each a link to ``#obs-ID`` with its tooltip), ITU's year-end counts as
    a grey line, and optionally the fitted ``curves`` (``growth_forecast.csv``: model, t, fit, mean_lo,
    mean_hi) with the 95% band of the ``chosen`` model. ``label`` is the figure's accessible name."""
    ys = [v for v in points["y"].tolist() + points["y_hi"].dropna().tolist() if v > 0]
    ys += [v for v in itu["subscriptions"].tolist() if v > 0]
    xs = points["x0"].tolist() + points["x1"].tolist() + itu["year"].tolist()
    if curves is not None and len(curves):
        ys += [v for v in curves["fit"].tolist() if v > 0]
        xs += curves["t"].tolist()
    ax = Axes(
        math.floor(min(xs)) - 0.5,
        math.ceil(max(xs)) + 0.5,
        10 ** math.floor(math.log10(min(ys))),
        10 ** math.ceil(math.log10(max(ys))),
    )
    names = {
        r.source_id: str(r.author_publisher).split(";")[0].split("(")[0].strip()[:60]
        for r in sources.itertuples()
    }
    ids = sorted(points["source_id"].unique())
    colours = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(ids)}
    body = [_axes_markup(ax, "subscriptions or users")]
    legend: list[tuple[str, str, str]] = []
    if curves is not None and len(curves):
        if chosen is not None:
            c = curves[curves["model"] == chosen].sort_values("t")
            upper = [(ax.x(t), ax.y(v)) for t, v in zip(c["t"], c["mean_hi"], strict=True) if v > 0]
            lower = [(ax.x(t), ax.y(v)) for t, v in zip(c["t"], c["mean_lo"], strict=True) if v > 0]
            if upper and lower:
                d = "M" + "L".join(f"{_f(x)} {_f(y)}" for x, y in upper + lower[::-1]) + "Z"
                body.append(f'<path d="{d}" fill="{MODEL_COLOURS.get(chosen, "#888")}" fill-opacity="0.15"/>')
        for model, c in curves.groupby("model", sort=False):
            c = c.sort_values("t")
            colour = MODEL_COLOURS.get(str(model), "#444")
            style = ' stroke-width="3"' if model == chosen else ' stroke-width="2" stroke-dasharray="5 3"'
            body.append(_line(ax, c["t"].tolist(), c["fit"].tolist(), colour, style))
            legend.append(("line", colour, f"{model}{' (chosen)' if model == chosen else ''}"))
    itu_sorted = itu.sort_values("year")
    body.append(_line(ax, (itu_sorted["year"] + 1.0).tolist(), itu_sorted["subscriptions"].tolist(), "#999"))
    legend.append(("line", "#999", "ITU (year end)"))
    if curves is None:
        legend += [("dot", colours[s], f"source {s[:3]}") for s in ids]
    links = []
    for _, p in points.sort_values(["usable", "x"]).iterrows():
        lines = _tip_lines(p, names)
        title = _esc(" — ".join([lines[0], " ".join(lines[1:-2]), *lines[-2:]]))
        links.append(
            f'<a href="#{observation_anchor(p["obs_id"])}"><title>{title}</title>'
            f"{_marker(p, ax, colours[p['source_id']])}{_tip_box(lines, ax.x(p['x']), ax.y(p['y']))}</a>"
        )
    tips_last = "".join(links)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="group" '
        f'aria-label="{_esc(label)}">{_STYLE}{"".join(body)}{_legend(legend)}{tips_last}</svg>'
    )


def figures_from_products(root: Path, params: dict[str, object]) -> dict[str, tuple[bytes, str]]:
    """``{"observations" | "fit": (PNG bytes shown in the notebook, interactive SVG)}`` from the products named
    by the report notebook's papermill ``params`` (``in_observations``, ``in_sources``, ``in_itu_series``,
    ``in_fig_observations``, ``in_fig_fit``, ``in_growth_forecast`` for the fitted curves); figures whose inputs are missing are
    left out (the page keeps the PNG)."""
    out: dict[str, tuple[bytes, str]] = {}

    def path(key: str) -> Path | None:
        value = params.get(key)
        return root / str(value) if isinstance(value, str) and (root / str(value)).is_file() else None

    obs_p, src_p, itu_p = path("in_observations"), path("in_sources"), path("in_itu_series")
    if not (obs_p and src_p and itu_p):
        return out
    obs, sources, itu = pd.read_csv(obs_p), pd.read_csv(src_p), pd.read_csv(itu_p)
    points = observation_points(obs)
    png = path("in_fig_observations")
    if png:
        svg = svg_figure(
            points, sources, itu, "Figures of mobile subscriptions or users in the source documents"
        )
        out["observations"] = (png.read_bytes(), svg)
    fit_png = path("in_fig_fit")
    forecast_p = path("in_growth_forecast")
    if fit_png and forecast_p:
        forecast = pd.read_csv(forecast_p)
        chosen = forecast.loc[forecast["chosen"].astype(bool), "model"]
        chosen_model = str(chosen.iloc[0]) if len(chosen) else None
        usable = points[points["usable"]]
        svg = svg_figure(usable, sources, itu, "Growth curves fitted to the figures", forecast, chosen_model)
        out["fit"] = (fit_png.read_bytes(), svg)
    return out
