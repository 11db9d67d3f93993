"""The observations of step 02 (growth curves of the national mobile series) and per-100 figures.

:func:`load_observations` gives the curated national series (exact points and source bounds) or the ITU counts,
with operator figures kept or dropped and same-date rows merged (``growth.fit`` needs distinct times);
:func:`fit_inputs` turns them into the arrays of :func:`helpers.growth.fit`; :class:`Population` and
:func:`year_reaching_per100` give the population-aware per-100 quantities.

Conventions.  Counts are subscriptions (or users, as lower bounds).  Decimal-year times; the ITU figures
are end-of-year stocks and are placed at ``t = year + 1`` (1 January of the next year).  Per-100 figures
divide by the population of ``population_prk.csv`` linearly interpolated at mid-year (``year + 0.5``) and
held at its last value beyond the table (2030).  The penetration ceiling is the saturation level divided by
the population at the horizon year.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from helpers import growth

ITU_T_OFFSET = 1.0  # ITU counts are end-of-year stocks: year Y is placed at t = Y + 1


OBS_KINDS = ("exact", "lower", "upper", "interval")


def is_operator_figure(df: pd.DataFrame) -> pd.Series:
    """Rows that are one operator's figure used as a lower bound of the national total.

    ``scope`` starts with ``operator:`` *and* ``use_as`` is ``lower_bound``.  Operator rows used as the
    national value (``use_as == "value"``: Koryolink before 2012, when it was the only operator) are
    national totals and are not operator figures in this sense.
    """
    scope = df["scope"].astype(str)
    return scope.str.startswith("operator:") & (df["use_as"].astype(str) == "lower_bound")


def _kind(y: float, lo: float, hi: float) -> str:
    if np.isfinite(y):
        return "exact"
    if np.isfinite(lo) and np.isfinite(hi):
        return "interval"
    return "lower" if np.isfinite(lo) else "upper"


def merge_same_time(obs: pd.DataFrame) -> pd.DataFrame:
    """Merge observations made at the same time ``t`` into one (``growth.fit`` needs distinct times).

    Several exact values: their geometric mean (the sources agree to within rounding in practice);
    bounds: the tightest (largest lower, smallest upper); an exact value together with bounds keeps the
    exact value.  ``obs_id``/``source_id`` are joined with ``+``.  Input and output columns: ``t, y, lower,
    upper, obs_id, source_id`` (extra columns take the first row's value).
    """
    rows = []
    for t, g in obs.sort_values(["t", "obs_id"], kind="stable").groupby("t", sort=True):
        first = g.iloc[0].to_dict()
        ys = g["y"].to_numpy(float)
        ys = ys[np.isfinite(ys)]
        lo = g["lower"].to_numpy(float)
        hi = g["upper"].to_numpy(float)
        if ys.size == 1:
            first["y"] = float(ys[0])  # unchanged (a log/exp round trip would perturb the last digit)
        else:
            first["y"] = float(np.exp(np.mean(np.log(ys)))) if ys.size else math.nan
        first["lower"] = float(np.nanmax(lo)) if np.isfinite(lo).any() else math.nan
        first["upper"] = float(np.nanmin(hi)) if np.isfinite(hi).any() else math.nan
        if np.isfinite(first["y"]):
            first["lower"] = first["upper"] = math.nan
        first["obs_id"] = "+".join(g["obs_id"].astype(str))
        first["source_id"] = "+".join(dict.fromkeys(g["source_id"].astype(str)))
        first["n_merged"] = len(g)
        first["t"] = float(t)
        rows.append(first)
    out = pd.DataFrame(rows)
    out["kind"] = [_kind(a, b, c) for a, b, c in zip(out["y"], out["lower"], out["upper"], strict=True)]
    return out.reset_index(drop=True)


def load_observations(
    national: pd.DataFrame,
    itu: pd.DataFrame,
    *,
    series: str,
    operator_figures: str = "include",
    t_min: float = 2009.0,
    rounded_figures: str = "exact",
    placement: str = "mid",
    drop: Sequence[str] = (),
    population: Population | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The observations to fit, and the rows left out (with the reason).

    ``series="curated"``: the national series of step 01 (``value`` exact, else ``lower``/``upper``),
    operator figures kept or dropped (``operator_figures`` ``include``/``exclude``, see
    :func:`is_operator_figure`), rows at the same time merged.  ``series="itu"``: the ITU counts at
    ``t = year + 1``, all exact.  Rows before ``t_min`` are left out (the log loss needs values > 0 and the
    2009 launch year is the time origin).  Returned columns: ``t, y, lower, upper, kind, obs_id,
    source_id, indicator, scope, n_merged, rounded``.

    Data treatments (the scenario sweep varies them): ``rounded_figures="interval"`` enters each rounded
    exact figure (qualifier ``approx``: "roughly 6 million", "28%") as the range of values that round to it
    (:func:`rounding_interval`; a percentage converted with the row's population), ``"exact"`` as the value;
    ``placement`` puts a figure at the middle (``"mid"``) or the end (``"end"``) of the period its date words
    denote; ``drop`` lists ``obs_id`` values to leave out (e.g. the stale 2013 "1 million", 004-001).
    """
    if rounded_figures not in ("exact", "interval"):
        raise ValueError(f"rounded_figures must be 'exact' or 'interval', not {rounded_figures!r}")
    if placement not in ("mid", "end"):
        raise ValueError(f"placement must be 'mid' or 'end', not {placement!r}")
    if series not in ("curated", "itu"):
        raise ValueError(f"series must be 'curated' or 'itu', not {series!r}")
    if operator_figures not in ("include", "exclude"):
        raise ValueError(f"operator_figures must be 'include' or 'exclude', not {operator_figures!r}")
    cols = ["t", "y", "lower", "upper", "obs_id", "source_id", "indicator", "scope"]
    if series == "itu":
        d = itu.dropna(subset=["subscriptions"])
        obs = pd.DataFrame(
            {
                "t": d["year"].astype(float) + ITU_T_OFFSET,
                "y": d["subscriptions"].astype(float),
                "lower": math.nan,
                "upper": math.nan,
                "obs_id": "itu-" + d["year"].astype(int).astype(str),
                "source_id": "itu",
                "indicator": "mobile_subscriptions",
                "scope": "national",
            }
        )
        left = pd.DataFrame(columns=[*cols, "reason"])
    else:
        d = national.rename(columns={"value": "y"}).copy()
        if placement == "end" and "t_end" in d.columns:
            d["t"] = d["t_end"].astype(float)
        d["rounded"] = False
        if rounded_figures == "interval":
            for i, row in d.iterrows():
                iv = rounding_interval(row)
                if iv is not None:
                    d.loc[i, ["y", "lower", "upper"]] = [math.nan, iv[0], iv[1]]
                    d.loc[i, "rounded"] = True
        op = is_operator_figure(d)
        out_op = op if operator_figures == "exclude" else pd.Series(False, index=d.index)
        dropped = d["obs_id"].astype(str).isin([str(x) for x in drop])
        left = pd.concat(
            [
                d.loc[out_op, cols].assign(reason="operator figure (lower bound from one operator) excluded"),
                d.loc[dropped & ~out_op, cols].assign(reason="left out by the drop setting"),
            ],
            ignore_index=True,
        )
        obs = d.loc[~out_op & ~dropped, [*cols, "rounded"]]
    if "rounded" not in obs.columns:
        obs = obs.assign(rounded=False)
    early = obs["t"] < t_min
    left = pd.concat([left, obs.loc[early].assign(reason=f"before {t_min:g}")], ignore_index=True)
    obs = merge_same_time(obs.loc[~early])
    return obs, left.sort_values("t", kind="stable").reset_index(drop=True)


def fit_inputs(obs: pd.DataFrame, use_bounds: bool) -> dict[str, np.ndarray]:
    """Arrays for :func:`growth.fit`: ``t, y, lower, upper``; with ``use_bounds=False`` the bounds become
    exact points (:func:`growth.naive_points`: the bound, or the midpoint of an interval)."""
    t = obs["t"].to_numpy(float)
    y = obs["y"].to_numpy(float)
    lo = obs["lower"].to_numpy(float)
    hi = obs["upper"].to_numpy(float)
    rounded = obs["rounded"].to_numpy(bool) if "rounded" in obs.columns else np.zeros(t.size, bool)
    if use_bounds:
        return {"t": t, "y": y, "lower": lo, "upper": hi, "rounded": rounded}
    return {"t": t, "y": growth.naive_points(y, lo, hi), "lower": None, "upper": None, "rounded": None}


def _resolution(figure: float) -> float:
    """The rounding unit of a figure as written: ``6000000`` -> 1e6, ``28`` -> 1, ``3.9`` -> 0.1."""
    x = abs(float(figure))
    if x == 0 or not math.isfinite(x):
        return math.nan
    txt = f"{x:.10g}"
    if "." in txt:
        return 10.0 ** -len(txt.split(".")[1])
    digits = txt.rstrip("0")
    return 10.0 ** (len(txt) - len(digits))


def rounding_interval(row: Mapping[str, Any]) -> tuple[float, float] | None:
    """The range of counts that round to an approximate exact figure of the national series, or ``None``.

    Applies to rows with ``qualifier == "approx"`` used as the value (``use_as == "value"``): "roughly 6
    million" is 5.5-6.5 million (half a unit of its last stated digit either side); a percentage ("28%",
    ``converted_from == "percent"``) is 27.5-28.5% of the row's ``population``.
    """
    if str(row.get("qualifier")) != "approx" or str(row.get("use_as")) != "value":
        return None
    y = float(row.get("y", row.get("value", math.nan)))
    if not math.isfinite(y):
        return None
    if str(row.get("converted_from")) == "percent":
        pct = float(row["per100_value"])
        res = _resolution(pct)
        pop = float(row["population"]) / 100.0
        return ((pct - res / 2) * pop, (pct + res / 2) * pop)
    res = _resolution(y)
    return (y - res / 2, y + res / 2)


@dataclass(frozen=True)
class Population:
    """Annual population, interpolated linearly at mid-year and held constant outside the table."""

    years: np.ndarray
    values: np.ndarray

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> Population:
        """From a table with columns ``year, population``."""
        d = df.dropna(subset=["population"]).sort_values("year")
        return cls(d["year"].to_numpy(float) + 0.5, d["population"].to_numpy(float))

    @property
    def last_year(self) -> int:
        """The last calendar year in the table."""
        return int(self.years[-1] - 0.5)

    def at(self, t: Any) -> np.ndarray:
        """Population at decimal time(s) ``t`` (infinite ``t`` gives the last value)."""
        t = np.asarray(t, dtype=float)
        tt = np.clip(
            np.nan_to_num(t, nan=np.nan, posinf=self.years[-1], neginf=self.years[0]),
            self.years[0],
            self.years[-1],
        )
        return np.interp(tt, self.years, self.values)

    def at_year(self, year: float) -> float:
        """Population of a calendar year (its mid-year value)."""
        return float(self.at(year + 0.5))


def year_reaching_per100(
    obj: growth.FitResult | growth.BootstrapResult, per100: float, population: Population, iters: int = 30
) -> float | np.ndarray:
    """Time at which the curve reaches ``per100`` subscriptions per 100 inhabitants of a *changing*
    population: solves ``f(t) = per100/100 * P(t)`` by fixed-point iteration on
    :func:`growth.year_reaching` (a contraction, ``P`` changes by < 1 % a year).  ``inf`` when never
    reached (the saturation is below the level at the population's last value); NaN for failed resamples.
    """
    frac = per100 / 100.0
    t = growth.year_reaching(obj, frac * population.at(population.years[-1]))
    for _ in range(iters):
        t_new = growth.year_reaching(obj, frac * population.at(t))
        if np.allclose(t_new, t, rtol=0, atol=1e-9, equal_nan=True):
            break
        t = t_new
    return t_new
