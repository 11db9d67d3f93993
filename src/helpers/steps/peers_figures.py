"""The four figures of step 03: percentile distributions, aligned series, small multiples, counterfactual."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from helpers._lazy import lazy
from helpers.steps.peers_tables import flag_names, usable

plt = lazy("matplotlib.pyplot")


FOCAL_COLOR = "#c0392b"


PEER_COLOR = "#2c6fad"


GREY = "#b0b0b0"


def _ecdf(ax: plt.Axes, vals: np.ndarray, color: str = GREY) -> None:
    v = np.sort(vals[np.isfinite(vals)])
    ax.step(v, np.arange(1, v.size + 1) / v.size, where="post", color=color, lw=1.5)


def fig_distribution(
    fits: pd.DataFrame,
    iso3: str,
    peers: Sequence[str],
    model: str = "logistic",
    names: Mapping[str, str] | None = None,
) -> plt.Figure:
    """The focal country's ceiling and speed against every other usable fit of ``model``: two ECDFs (focal value
    with its 95 % interval shaded, peers marked) and a ceiling-vs-speed scatter (log axes)."""
    names = dict(names or {})
    f = fits[(fits["model"] == model) & usable(fits) & (fits["iso3"] != iso3)]
    me = fits[(fits["model"] == model) & (fits["iso3"] == iso3)].iloc[0]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.3))
    for ax, metric, label in (
        (axes[0], "ceiling", "ceiling (subscriptions per 100)"),
        (axes[1], "speed", "years from 10 % to 90 % of ceiling"),
    ):
        vals = f[metric].astype(float).to_numpy()
        _ecdf(ax, vals)
        v = np.sort(vals[np.isfinite(vals)])
        ax.axvspan(me[f"{metric}_lo"], me[f"{metric}_hi"], color=FOCAL_COLOR, alpha=0.15, lw=0)
        ax.axvline(me[metric], color=FOCAL_COLOR, lw=2)
        for p in peers:
            r = f[f["iso3"] == p]
            if r.empty:
                continue
            x = float(r[metric].iloc[0])
            yv = np.searchsorted(v, x, side="right") / v.size
            ax.plot(x, yv, "o", color=PEER_COLOR, ms=4)
            ax.annotate(p, (x, yv), xytext=(3, -8), textcoords="offset points", fontsize=7, color=PEER_COLOR)
        ax.set_xscale("log")
        ax.set(xlabel=label, ylabel="share of countries at or below", ylim=(0, 1.02))
        ax.set_title(f"{metric}: {names.get(iso3, iso3)} (red) and {v.size} other countries", fontsize=9)
    ax = axes[2]
    ax.scatter(f["ceiling"], f["speed"], s=10, color=GREY, label="all countries")
    pe = f[f["iso3"].isin(peers)]
    ax.scatter(pe["ceiling"], pe["speed"], s=22, color=PEER_COLOR, label="peers")
    for _, r in pe.iterrows():
        ax.annotate(
            r["iso3"], (r["ceiling"], r["speed"]), xytext=(3, 2), textcoords="offset points", fontsize=7
        )
    ax.errorbar(
        me["ceiling"], me["speed"],
        xerr=[[me["ceiling"] - me["ceiling_lo"]], [me["ceiling_hi"] - me["ceiling"]]],
        yerr=[[me["speed"] - me["speed_lo"]], [me["speed_hi"] - me["speed"]]],
        fmt="o", color=FOCAL_COLOR, ms=6, capsize=2, label=f"{names.get(iso3, iso3)} (95 % CI)",
    )  # fmt: skip
    ax.set(xscale="log", yscale="log", xlabel="ceiling (per 100)", ylabel="speed (years, 10 % to 90 %)")
    ax.set_title(f"{model} fits: ceiling vs speed", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def fig_aligned(
    aligned: pd.DataFrame, background: pd.DataFrame, iso3: str, names: Mapping[str, str] | None = None
) -> plt.Figure:
    """Per-100 series on years since launch: every country in grey (``background``), the peers coloured and
    labelled at their last point, the focal country thick red (``aligned``: :func:`helpers.models.panel_peers.align_on_launch`
    output for the focal country and peers)."""
    names = dict(names or {})
    fig, ax = plt.subplots(figsize=(9, 5))
    for _, g in background.groupby("iso3"):
        ax.plot(g["years_since_launch"], g["per100"], color=GREY, lw=0.5, alpha=0.35)
    cmap = plt.get_cmap("tab20")
    others = [c for c in dict.fromkeys(aligned["iso3"]) if c != iso3]
    for i, c in enumerate(others):
        g = aligned[aligned["iso3"] == c]
        ax.plot(g["years_since_launch"], g["per100"], color=cmap(i % 20), lw=1.3)
        ax.annotate(c, (g["years_since_launch"].iloc[-1], g["per100"].iloc[-1]), xytext=(2, 0),
                    textcoords="offset points", fontsize=7, color=cmap(i % 20), va="center")  # fmt: skip
    g = aligned[aligned["iso3"] == iso3]
    ax.plot(
        g["years_since_launch"],
        g["per100"],
        "o-",
        color=FOCAL_COLOR,
        lw=2.5,
        ms=4,
        label=names.get(iso3, iso3),
    )
    ax.set(
        xlabel="years since launch (first year at or above the threshold)",
        ylabel="subscriptions per 100 people",
    )
    top = float(aligned["per100"].max())
    ax.set_ylim(0, top * 1.08)
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def fig_small_multiples(
    panel_df: pd.DataFrame,
    fits: pd.DataFrame,
    bands: pd.DataFrame,
    iso3s: Sequence[str],
    model: str,
    best_curves: pd.DataFrame | None = None,
    threshold: float = 1.0,
    ncols: int = 4,
) -> plt.Figure:
    """One panel per country: observed per-100 points (hollow before launch), the ``model`` fit with its
    pointwise 95 % band (``bands`` from :func:`bootstrap_bands`), the best-AICc fit dashed, the fitted
    ceiling as a dotted line. Shared x axis (calendar years)."""
    n = len(iso3s)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.5 * nrows), sharex=True, squeeze=False)
    for ax, c in zip(axes.flat, iso3s, strict=False):
        s = panel_df[panel_df["iso3"] == c]
        hit = s.loc[s["per100"] >= threshold, "year"]
        first = hit.min() if len(hit) else np.inf
        pre = s[s["year"] < first]
        post = s[s["year"] >= first]
        ax.plot(pre["year"], pre["per100"], "o", mfc="none", color="0.5", ms=2.5)
        ax.plot(post["year"], post["per100"], "o", color="k", ms=2.5)
        b = bands[bands["iso3"] == c]
        col = FOCAL_COLOR if c == iso3s[0] else PEER_COLOR
        if len(b):
            ax.fill_between(b["year"], b["lo"], b["hi"], color=col, alpha=0.2, lw=0)
            ax.plot(b["year"], b["fit"], color=col, lw=1.5)
        if best_curves is not None:
            bb = best_curves[best_curves["iso3"] == c]
            if len(bb) and bb["model"].iloc[0] != model:
                ax.plot(bb["year"], bb["fit"], "--", color="0.3", lw=1, label=f"best: {bb['model'].iloc[0]}")
                ax.legend(fontsize=6, loc="upper left")
        r = fits[(fits["iso3"] == c) & (fits["model"] == model)]
        title = f"{c} · {s['name'].iloc[0]}" if len(s) else c
        if len(r):
            r = r.iloc[0]
            ax.axhline(r["ceiling"], color=col, ls=":", lw=0.8)
            fl = flag_names(r)
            title += f"\nK={r['ceiling']:.0f} [{r['ceiling_lo']:.0f}, {r['ceiling_hi']:.0f}]" + (
                f" · {fl}" if fl else ""
            )
        ax.set_title(title, fontsize=7.5)
        ax.tick_params(labelsize=7)
        ax.set_xlim(1985, None)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("per 100", fontsize=8)
    fig.tight_layout()
    return fig


def fig_counterfactual(
    cf: pd.DataFrame,
    panel_df: pd.DataFrame,
    iso3: str,
    peer_curves: pd.DataFrame | None = None,
    alt: pd.DataFrame | None = None,
    name: str = "North Korea",
    alt_label: str | None = None,
) -> plt.Figure:
    """Observed per-100 series of ``iso3`` against the median-peer path (``cf`` from
    :func:`helpers.models.panel_peers.counterfactual`) with its band; ``peer_curves`` (``iso3, year, value``)
    drawn thin, ``alt`` (another counterfactual, e.g. the same-era peers; legend ``alt_label``) dashed, its
    horizon value and band annotated."""
    fig, ax = plt.subplots(figsize=(8, 4.8))
    if peer_curves is not None:
        for _, g in peer_curves.groupby("iso3"):
            ax.plot(g["year"], g["value"], color=GREY, lw=0.7)
    ax.fill_between(
        cf["year"],
        cf["lo"],
        cf["hi"],
        color=PEER_COLOR,
        alpha=0.2,
        lw=0,
        label=f"peer {cf.attrs.get('band', 'interquartile range across peers').replace(' across peers', '')}",
    )
    ax.plot(
        cf["year"], cf["median"], color=PEER_COLOR, lw=2, label=f"median peer ({cf.attrs.get('model', '')})"
    )
    if alt is not None:
        ax.plot(alt["year"], alt["median"], "--", color="k", lw=1.4,
                label=alt_label or f"median peer ({alt.attrs.get('model', '')})")  # fmt: skip
        end = alt.iloc[-1]
        ax.annotate(f"{end['median']:.0f} [{end['lo']:.0f}-{end['hi']:.0f}]", (end["year"], end["median"]),
                    xytext=(4, -10), textcoords="offset points", fontsize=8, color="k", va="center")  # fmt: skip
    s = panel_df[(panel_df["iso3"] == iso3) & (panel_df["year"] >= cf["year"].min() - 2)]
    ax.plot(s["year"], s["per100"], "o-", color=FOCAL_COLOR, lw=2, ms=4, label=f"{name} (observed)")
    last = cf.iloc[-1]
    ax.annotate(f"{last['median']:.0f} [{last['lo']:.0f}-{last['hi']:.0f}]", (last["year"], last["median"]),
                xytext=(4, 0), textcoords="offset points", fontsize=8, color=PEER_COLOR, va="center")  # fmt: skip
    ax.set(xlabel="year", ylabel="subscriptions per 100 people", ylim=(0, None))
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig
