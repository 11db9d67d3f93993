"""The figures of step 02: observations and fit, residuals, forecast, backtest, selection, leave-one-out."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from helpers import growth
from helpers._lazy import lazy
from helpers.steps.growth_observations import ITU_T_OFFSET

plt = lazy("matplotlib.pyplot")
ticker = lazy("matplotlib.ticker")


MODEL_COLORS = {**{name: m.colour for name, m in growth.MODELS.items()}, "averaged": "#333333"}


MILLION = 1e6


def _color(m: str) -> str:
    return growth.MODELS[m].colour if m in growth.MODELS else "#7f7f7f"


def plot_observations(
    ax: plt.Axes, obs: pd.DataFrame, left_out: pd.DataFrame | None = None, itu: pd.DataFrame | None = None
) -> None:
    """Exact points as dots, lower bounds as upward triangles with an arrow, intervals as bars; ITU counts
    (end of year) as grey crosses; left-out rows hollow."""
    ex = obs[obs["kind"] == "exact"]
    ax.plot(ex["t"], ex["y"] / MILLION, "o", color="black", ms=5, zorder=5, label="exact figure")
    lo = obs[obs["kind"] == "lower"]
    if len(lo):
        ax.plot(
            lo["t"],
            lo["lower"] / MILLION,
            "^",
            color="black",
            mfc="white",
            ms=6,
            zorder=5,
            label="lower bound (\u2265)",
        )
        for t, v in zip(lo["t"], lo["lower"], strict=True):
            ax.annotate(
                "",
                xy=(t, v / MILLION * 1.12),
                xytext=(t, v / MILLION),
                arrowprops=dict(arrowstyle="->", color="0.3", lw=0.8),
            )
    up = obs[obs["kind"] == "upper"]
    if len(up):
        ax.plot(
            up["t"],
            up["upper"] / MILLION,
            "v",
            color="black",
            mfc="white",
            ms=6,
            label="upper bound (\u2264)",
        )
    iv = obs[obs["kind"] == "interval"]
    for t, a, b in zip(iv["t"], iv["lower"], iv["upper"], strict=True):
        ax.plot([t, t], [a / MILLION, b / MILLION], "-", color="black", lw=2)
    if left_out is not None and len(left_out):
        v = left_out["y"].fillna(left_out["lower"]).fillna(left_out["upper"])
        ax.plot(left_out["t"], v / MILLION, "x", color="0.55", ms=6, label="left out (operator figure)")
    if itu is not None and len(itu):
        ax.plot(
            itu["year"] + ITU_T_OFFSET,
            itu["subscriptions"] / MILLION,
            "+",
            color="0.45",
            ms=7,
            label="ITU count (end of year)",
        )


def plot_fit(
    obs: pd.DataFrame,
    forecast: pd.DataFrame,
    chosen: str,
    *,
    left_out: pd.DataFrame | None = None,
    itu: pd.DataFrame | None = None,
    t_max: float | None = None,
    title: str = "",
) -> plt.Figure:
    """Observations with the fitted curve of every model; 95 % band of the mean for the chosen model."""
    fig, ax = plt.subplots()
    fc = forecast if t_max is None else forecast[forecast["t"] <= t_max]
    for m, g in fc.groupby("model", sort=False):
        lw = 2.2 if m == chosen else 1.0
        ax.plot(
            g["t"],
            g["fit"] / MILLION,
            "-",
            color=_color(m),
            lw=lw,
            label=f"{m}{' (chosen)' if m == chosen and m != 'averaged' else ''}",
        )
        if m == chosen:
            ax.fill_between(
                g["t"],
                g["mean_lo"] / MILLION,
                g["mean_hi"] / MILLION,
                color=_color(m),
                alpha=0.18,
                lw=0,
                label=f"95% band of the mean ({'model average' if chosen == 'averaged' else 'chosen'})",
            )
    plot_observations(ax, obs, left_out, itu)
    ax.set(xlabel="year", ylabel="subscriptions (millions)", title=title)
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    ax.legend(ncol=2, fontsize=8, loc="upper left")
    return fig


def plot_residuals(fits: Mapping[str, growth.FitResult]) -> plt.Figure:
    """Residuals on the loss scale per model: exact points (dots) and bound violations (triangles; 0 when
    the curve honours the bound)."""
    n = len(fits)
    ncol = 2 if n > 1 else 1
    nrow = math.ceil(n / ncol)
    fig, axes = plt.subplots(
        nrow, ncol, sharex=True, sharey=True, figsize=(8, 2.4 * nrow + 0.6), squeeze=False
    )
    for ax, (m, r) in zip(axes.ravel(), fits.items(), strict=False):
        res = -r.residuals  # observed - fitted
        ex = np.isfinite(r.y)
        ax.axhline(0, color="0.5", lw=0.8)
        ax.plot(r.t[ex], res[ex], "o", color=_color(m), ms=4, label="exact")
        if (~ex).any():
            ax.plot(r.t[~ex], res[~ex], "^", color=_color(m), mfc="white", ms=5, label="bound (0 = honoured)")
        ax.set_title(f"{m}{'' if r.converged else ' (not converged)'}", fontsize=9)
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    scale = (
        "log(observed) - log(fitted)"
        if next(iter(fits.values())).loss_scale == "log"
        else "observed - fitted"
    )
    fig.supylabel(scale, fontsize=9)
    fig.supxlabel("year", fontsize=9)
    axes.ravel()[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_forecast(
    obs: pd.DataFrame, forecast: pd.DataFrame, chosen: str, level: float, title: str = ""
) -> plt.Figure:
    """Fan chart of the chosen model to the horizon (prediction interval and band of the mean), other
    models as thin lines, observations on top; right axis per 100 inhabitants at the horizon population."""
    fig, ax = plt.subplots()
    g = forecast[forecast["model"] == chosen]
    ax.fill_between(
        g["t"],
        g["pred_lo"] / MILLION,
        g["pred_hi"] / MILLION,
        color=_color(chosen),
        alpha=0.12,
        lw=0,
        label=f"{level:.0%} prediction interval",
    )
    ax.fill_between(
        g["t"],
        g["mean_lo"] / MILLION,
        g["mean_hi"] / MILLION,
        color=_color(chosen),
        alpha=0.3,
        lw=0,
        label=f"{level:.0%} band of the mean",
    )
    ax.plot(g["t"], g["fit"] / MILLION, "-", color=_color(chosen), lw=2.2,
            label="Akaike-weighted average" if chosen == "averaged" else f"{chosen} (chosen)")  # fmt: skip
    for m, h in forecast[forecast["model"] != chosen].groupby("model", sort=False):
        ax.plot(h["t"], h["fit"] / MILLION, "-", color=_color(m), lw=0.9, alpha=0.8, label=m)
    plot_observations(ax, obs)
    ax.set(xlabel="year", ylabel="subscriptions (millions)", title=title)
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    ax.legend(fontsize=8, loc="upper left", ncol=2)
    return fig


def plot_backtest(backtest: pd.DataFrame) -> plt.Figure:
    """MAPE of the exact later observations by forecast origin and model (log scale)."""
    fig, ax = plt.subplots()
    for m, g in backtest.groupby("model", sort=False):
        ax.plot(g["origin"], g["mape_exact"], "o-", color=_color(m), label=m)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ticker.ScalarFormatter())
    ax.yaxis.set_minor_formatter(ticker.ScalarFormatter())
    ax.set(
        xlabel="forecast origin (fit on data up to this year)",
        ylabel="MAPE of later exact figures (%)",
        title="Rolling-origin backtest",
    )
    ax.set_xticks(sorted(backtest["origin"].unique()))
    ax.legend(fontsize=8)
    return fig


def plot_selection(selection: pd.DataFrame) -> plt.Figure:
    """Delta AICc and Akaike weight per model (converged models; others marked)."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3.2))
    s = selection.iloc[::-1]
    colors = [_color(m) for m in s["model"]]
    a1.barh(s["model"], s["delta_aicc"].fillna(0), color=colors)
    a1.axvline(2, color="0.4", ls="--", lw=0.8)
    a1.set(xlabel="\u0394AICc (dashed: 2)", title="Distance from the best model")
    a2.barh(s["model"], s["akaike_weight"].fillna(0), color=colors)
    a2.set(xlabel="Akaike weight", xlim=(0, 1), title="Akaike weights")
    for ax in (a1, a2):
        for i, ok in enumerate(s["converged"]):
            if not ok:
                ax.text(0, i, "  not converged", va="center", fontsize=8)
    fig.tight_layout()
    return fig


def plot_loo(loo: pd.DataFrame, horizon: int) -> plt.Figure:
    """Leave-one-out: saturation (left) and horizon-year level (right), Akaike-averaged, with the full fit."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3.4), sharey=False)
    full = loo.iloc[0]
    sub = loo.iloc[1:]
    labels = [f"{r.left_out}\n({r.t:.1f})" for r in sub.itertuples()]
    x = np.arange(len(sub))
    for ax, col, title in (
        (a1, "saturation_averaged", "saturation (millions)"),
        (a2, f"value_{horizon}_averaged", f"subscriptions in {horizon} (millions)"),
    ):
        ax.axhline(full[col] / MILLION, color="0.4", ls="--", lw=0.9, label="all figures")
        ax.plot(x, sub[col] / MILLION, "o", color="#d62728", label="figure left out")
        ax.set_xticks(x, labels, fontsize=7, rotation=0)
        ax.set_title(title, fontsize=9)
    a1.legend(fontsize=7)
    fig.supxlabel("exact figure left out (obs id, year)", fontsize=9)
    fig.tight_layout()
    return fig
