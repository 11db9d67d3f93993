"""The counterfactual of step 03: launch years, same-era peers, the median-peer path and its sensitivity.

:func:`counterfactual` (the median peer's path up to a calendar year), :func:`same_era` and
:func:`era_sensitivity` (peers launched within a few years of the focal country), :func:`leave_one_out` (the
sensitivity to any single peer) and :func:`counterfactual_numbers` (its numbers and sentence).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from helpers.models import panel as P
from helpers.models import panel_peers
from helpers.models.registry import MODELS
from helpers.steps.peers_tables import best_rows, usable


def counterfactual(
    fits: pd.DataFrame,
    panel_df: pd.DataFrame,
    iso3: str,
    peers: Sequence[str],
    horizon_year: int,
    model: str = "logistic",
    threshold: float = 1.0,
    band: tuple[float, float] = (0.25, 0.75),
) -> pd.DataFrame:
    """:func:`helpers.models.panel_peers.counterfactual` up to the calendar year ``horizon_year`` (converted to years
    since ``iso3``'s launch), with ``attrs["model"]`` and ``attrs["band"]`` (words for the ``band``
    quantiles across peers: ``(0.25, 0.75)`` the interquartile range, ``(0, 1)`` the range) set. Raises
    :class:`ValueError` if ``horizon_year`` precedes the launch."""
    first, _t, _y = P.country_series(panel_df, iso3, threshold)
    if first is None:
        raise ValueError(f"{iso3} never reaches {threshold} per 100 in the panel")
    if int(horizon_year) < first:
        raise ValueError(f"horizon {horizon_year} precedes {iso3}'s launch in {first}")
    cf = panel_peers.counterfactual(
        fits, panel_df, iso3=iso3, peers=list(peers), horizon=int(horizon_year) - first, model=model,
        threshold=threshold, band=band,
    )  # fmt: skip
    cf.attrs["model"] = model
    cf.attrs["band"] = _band_words(band)
    return cf


def _band_words(band: tuple[float, float]) -> str:
    lo, hi = float(band[0]), float(band[1])
    if (lo, hi) == (0.25, 0.75):
        return "interquartile range across peers"
    if (lo, hi) == (0.0, 1.0):
        return "range across peers"
    return f"{100 * lo:g}-{100 * hi:g} % range across peers"


def launch_years(panel_df: pd.DataFrame, threshold: float = 1.0) -> pd.Series:
    """Each country's launch year (first year at or above ``threshold`` per 100, as
    :func:`helpers.models.panel.country_series`), indexed by ``iso3``; countries that never reach it are absent."""
    out = {}
    groups = P.by_country(panel_df)
    for c in sorted(panel_df["iso3"].dropna().unique()):
        first, _t, _y = P.country_series(groups[str(c)], c, threshold)
        if first is not None:
            out[str(c)] = int(first)
    return pd.Series(out, dtype="int64", name="launch_year")


def same_era(
    launch: Mapping[str, int] | pd.Series, iso3: str, candidates: Sequence[str], years: int
) -> list[str]:
    """The ``candidates`` whose launch year lies within ``years`` of ``iso3``'s (both ends included), in
    the order given; ``iso3`` itself and candidates without a launch year are left out.

    The rule of the same-era counterfactual: peers whose mobile penetration first crossed the threshold
    within +-``years`` of the focal country's launch, so that they diffused with handsets, prices and
    network technology of the same period. Raises :class:`KeyError` if ``iso3`` has no launch year.
    """
    launch = pd.Series(launch) if not isinstance(launch, pd.Series) else launch
    if iso3 not in launch.index:
        raise KeyError(f"{iso3} has no launch year (never reaches the threshold)")
    if int(years) < 0:
        raise ValueError(f"years must be >= 0, got {years}")
    me = int(launch[iso3])
    return [
        c for c in dict.fromkeys(candidates)
        if c != iso3 and c in launch.index and abs(int(launch[c]) - me) <= int(years)
    ]  # fmt: skip


def peer_values(
    fits: pd.DataFrame,
    panel_df: pd.DataFrame,
    peers: Sequence[str],
    years_after_launch: int,
    model: str = "logistic",
    threshold: float = 1.0,
) -> pd.DataFrame:
    """Each peer's fitted ``model`` curve ``years_after_launch`` years after its own launch: ``iso3,
    launch_year, value, last_observed_year, observed`` (``observed``: True when that year lies within the
    peer's own data, False when the curve extrapolates). Peers without a usable fit are skipped (as in
    :func:`helpers.models.panel_peers.counterfactual`)."""
    src = fits[(fits["model"] == model) & usable(fits)] if model != "best" else (
        best_rows(fits).assign(model=lambda d: d["best_model"]).pipe(lambda d: d[usable(d)])
    )  # fmt: skip
    rows = []
    for p in peers:
        r = src[src["iso3"] == p]
        first, t, _y = P.country_series(panel_df, p, threshold)
        if r.empty or first is None:
            continue
        r = r.iloc[0]
        m = MODELS[str(r["model"])]
        theta = [float(r[f"p_{n}"]) for n in m.param_names]
        value = float(m.f(np.array([float(years_after_launch)]), *theta)[0])
        rows.append({"iso3": p, "launch_year": int(first), "value": value, "last_observed_year": int(first + t[-1]),
                     "observed": bool(years_after_launch <= t[-1])})  # fmt: skip
    return pd.DataFrame(rows, columns=["iso3", "launch_year", "value", "last_observed_year", "observed"])


def era_sensitivity(
    fits: pd.DataFrame,
    panel_df: pd.DataFrame,
    iso3: str,
    pools: Mapping[str, Sequence[str]],
    windows: Sequence[int],
    horizon_year: int,
    model: str = "logistic",
    threshold: float = 1.0,
) -> pd.DataFrame:
    """The same-era counterfactual at ``horizon_year`` for every candidate ``pool`` (e.g. the named peers,
    every country) and every window (+-years around ``iso3``'s launch).

    Columns ``pool, window, n_peers, peers, median, min, p25, p75, max``: the median and spread across the
    peers' fitted curves ``horizon_year - launch`` years after their own launch. Windows with no usable
    peer get ``n_peers = 0`` and NaN values.
    """
    launch = launch_years(panel_df, threshold)
    h = int(horizon_year) - int(launch[iso3])
    rows = []
    for pool, cands in pools.items():
        for w in windows:
            peers = same_era(launch, iso3, cands, int(w))
            pv = peer_values(fits, panel_df, peers, h, model, threshold)
            v = pv["value"].to_numpy(dtype=float)
            q = np.quantile(v, [0.0, 0.25, 0.5, 0.75, 1.0]) if v.size else np.full(5, np.nan)
            rows.append({"pool": pool, "window": int(w), "n_peers": int(v.size), "peers": ",".join(pv["iso3"]),
                         "median": q[2], "min": q[0], "p25": q[1], "p75": q[3], "max": q[4]})  # fmt: skip
    return pd.DataFrame(
        rows, columns=["pool", "window", "n_peers", "peers", "median", "min", "p25", "p75", "max"]
    )


def peer_paths(
    fits: pd.DataFrame, peers: Sequence[str], launch_year: int, horizon_year: int, model: str
) -> pd.DataFrame:
    """Each peer's fitted ``model`` curve (``"best"``: its lowest-AICc model) from its own launch, placed at
    ``launch_year``: ``iso3, model, year, value`` for ``launch_year .. horizon_year``. Peers without a usable
    fit are skipped (as in :func:`helpers.models.panel_peers.counterfactual`, whose median these curves reproduce)."""
    t = np.arange(int(horizon_year) - int(launch_year) + 1, dtype=float)
    src = (
        best_rows(fits).assign(model=lambda d: d["best_model"])
        if model == "best"
        else fits[fits["model"] == model]
    )
    src = src[usable(src)]
    frames = []
    for p in peers:
        r = src[src["iso3"] == p]
        if r.empty:
            continue
        r = r.iloc[0]
        m = MODELS[str(r["model"])]
        theta = [float(r[f"p_{n}"]) for n in m.param_names]
        frames.append(pd.DataFrame({"iso3": p, "model": r["model"], "year": (t + launch_year).astype(int),
                                    "value": m.f(t, *theta)}))  # fmt: skip
    cols = ["iso3", "model", "year", "value"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def leave_one_out(
    fits: pd.DataFrame,
    panel_df: pd.DataFrame,
    iso3: str,
    peers: Sequence[str],
    horizon: int,
    model: str = "logistic",
    threshold: float = 1.0,
) -> pd.DataFrame:
    """The counterfactual at ``horizon`` years after launch with each peer left out in turn.

    Columns ``left_out, year, median, lo, hi, n_peers``; a first row ``left_out=""`` holds the full set.
    Peers :func:`helpers.models.panel_peers.counterfactual` would exclude anyway still get a row (identical to the full
    set).
    """
    rows = []
    for drop in ["", *peers]:
        sub = [p for p in peers if p != drop]
        cf = panel_peers.counterfactual(
            fits, panel_df, iso3=iso3, peers=sub, horizon=horizon, model=model, threshold=threshold
        )
        last = cf.iloc[-1]
        rows.append(
            {"left_out": drop, "year": int(last["year"]), "median": float(last["median"]), "lo": float(last["lo"]),
             "hi": float(last["hi"]), "n_peers": int(last["n_peers"])}
        )  # fmt: skip
    return pd.DataFrame(rows)


def counterfactual_numbers(
    cf: pd.DataFrame,
    loo: pd.DataFrame | None = None,
    name: str = "North Korea",
    names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Numbers and an English sentence for a :func:`helpers.models.panel_peers.counterfactual` result.

    Keys: ``model, launch_year, horizon_year, median, lo, hi, band, n_peers, peers, excluded,
    not_s_shaped, last_observed_year, last_observed_per100, median_at_last_observed`` and, with ``loo``
    (:func:`leave_one_out`), ``loo_min, loo_max`` (range of the median when any one peer is left out), then
    ``sentence``. ``names`` maps peer codes to display names.
    """
    names = dict(names or {})
    last = cf.iloc[-1]
    obs = cf.dropna(subset=["actual"])
    model = str(cf.attrs.get("model", ""))
    peers = list(cf.attrs.get("peers", []))
    out: dict[str, Any] = {
        "model": model,
        "launch_year": int(cf["year"].iloc[0]),
        "horizon_year": int(last["year"]),
        "median": float(last["median"]),
        "lo": float(last["lo"]),
        "hi": float(last["hi"]),
        "band": str(cf.attrs.get("band", "interquartile range across peers")),
        "n_peers": int(last["n_peers"]),
        "peers": peers,
        "excluded": list(cf.attrs.get("excluded", [])),
        "not_s_shaped": list(cf.attrs.get("not_s_shaped", [])),
        "last_observed_year": int(obs["year"].iloc[-1]) if len(obs) else None,
        "last_observed_per100": float(obs["actual"].iloc[-1]) if len(obs) else None,
        "median_at_last_observed": float(obs["median"].iloc[-1]) if len(obs) else None,
    }
    loo_txt = ""
    if loo is not None and len(loo) > 1:
        sub = loo[loo["left_out"] != ""]
        out["loo_min"], out["loo_max"] = float(sub["median"].min()), float(sub["median"].max())
        loo_txt = f"; leaving out any one peer moves it between {out['loo_min']:.0f} and {out['loo_max']:.0f}"
    peer_txt = ", ".join(names.get(p, p) for p in peers)
    obs_txt = ""
    if out["last_observed_year"] is not None:
        obs_txt = (
            f" By {out['last_observed_year']}, the last year with data, the median peer path stood at "
            f"{out['median_at_last_observed']:.0f} per 100 against the {out['last_observed_per100']:.0f} "
            f"observed."
        )
    out["sentence"] = (
        f"Had {name} followed the median of its {out['n_peers']} peers ({peer_txt}; {model} curves) from its "
        f"launch in {out['launch_year']}, it would have reached {out['median']:.0f} mobile subscriptions per "
        f"100 people by {out['horizon_year']} ({out['band']} {out['lo']:.0f}-"
        f"{out['hi']:.0f}{loo_txt}).{obs_txt} This describes the peers' paths, not what caused {name}'s."
    )
    return out
