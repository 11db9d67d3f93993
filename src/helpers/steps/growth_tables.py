"""Fits and model selection of step 02: parameter and selection tables, the model choice by AICc.

Also the number formats of step 02: :data:`FLOAT_FORMAT` of its CSV products (written with
:func:`helpers.io.write_csv`), :func:`display_float` for notebook tables and :func:`json_number` for JSON.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from helpers import growth

FLOAT_FORMAT = "%.6g"


def fit_models(
    models: Sequence[str], inputs: Mapping[str, Any], *, loss_scale: str, epoch: float, method: str = "lsq"
) -> tuple[dict[str, growth.FitResult], dict[str, str]]:
    """Fit every model (``method`` "mle": censored maximum likelihood; "lsq": hinge least squares); returns
    the fits and, for models that cannot be fitted, the reason."""
    fits, errors = {}, {}
    for m in models:
        try:
            fits[m] = growth.fit(
                m,
                inputs["t"],
                inputs["y"],
                lower=inputs.get("lower"),
                upper=inputs.get("upper"),
                loss_scale=loss_scale,
                epoch=epoch,
                method=method,
                rounded=inputs.get("rounded") if method == "mle" else None,
            )
        except ValueError as exc:
            errors[m] = str(exc)
    return fits, errors


def fits_table(fits: Mapping[str, growth.FitResult]) -> pd.DataFrame:
    """One row per model x parameter: estimate, stderr, and the model's rss, dof, n, AICc, BIC, flags."""
    rows = []
    for name, r in fits.items():
        for p in r.model.param_names:
            est, se = r.params[p], r.stderr[p]
            rows.append(
                dict(
                    model=name,
                    param=p,
                    estimate=est,
                    stderr=se,
                    rel_stderr=abs(se / est) if est != 0 and np.isfinite(se) else math.nan,
                    at_bound=p in r.at_bound,
                    n=r.n,
                    n_exact=int(np.isfinite(r.y).sum()),
                    dof=r.dof,
                    rss=r.rss,
                    aicc=r.aicc,
                    bic=r.bic,
                    converged=r.converged,
                    censored=r.censored,
                    loss_scale=r.loss_scale,
                    epoch=r.epoch,
                    method=r.method,
                    loglik=r.loglik,
                    sigma=r.sigma,
                    sigma_stderr=r.sigma_stderr,
                    message=r.message,
                )
            )
    return pd.DataFrame(rows)


def selection_table(
    fits: Mapping[str, growth.FitResult], errors: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """AICc and BIC of every model, with differences to the best converged model and Akaike / BIC weights.

    Same rules as :func:`growth.compare_models` (without refitting): only converged fits with finite
    criteria are ranked; others get NaN.  Sorted by AICc, then model name.
    """
    rows = []
    for name, r in fits.items():
        rows.append(
            dict(
                model=name,
                n_params=r.model.n_params,
                n=r.n,
                n_bounds=int((~np.isfinite(r.y)).sum()),
                rss=r.rss,
                loglik=r.loglik,
                sigma=r.sigma,
                aicc=r.aicc,
                bic=r.bic,
                converged=r.converged,
                censored=r.censored,
                at_bound=";".join(r.at_bound),
                message=r.message,
            )
        )
    for name, msg in (errors or {}).items():
        rows.append(
            dict(
                model=name,
                n_params=growth.get_model(name).n_params,
                converged=False,
                censored=False,
                at_bound="",
                message=f"not fitted: {msg}",
            )
        )
    df = pd.DataFrame(rows)
    usable = df["converged"].astype(bool) & np.isfinite(df["aicc"].astype(float))
    for crit in ("aicc", "bic"):
        vals = df[crit].astype(float)
        best = vals[usable].min() if usable.any() else math.nan
        delta = np.where(usable, vals - best, np.nan)
        w = np.where(usable, np.exp(-0.5 * np.nan_to_num(delta, nan=np.inf)), np.nan)
        df[f"delta_{crit}"] = delta
        df[f"{'akaike' if crit == 'aicc' else 'bic'}_weight"] = w / np.nansum(w) if usable.any() else np.nan
    df["rank"] = df["aicc"].where(usable).rank(method="first")
    df = df.sort_values(["aicc", "model"], na_position="last", kind="stable").reset_index(drop=True)
    cols = [
        "model",
        "rank",
        "n_params",
        "n",
        "n_bounds",
        "rss",
        "loglik",
        "sigma",
        "aicc",
        "delta_aicc",
        "akaike_weight",
        "bic",
        "delta_bic",
        "bic_weight",
        "converged",
        "censored",
        "at_bound",
        "message",
    ]
    return df[cols]


def choose_model(selection: pd.DataFrame, support: float = 2.0) -> dict[str, Any]:
    """The converged model with the lowest AICc, and how robust that choice is.

    ``supported`` lists the models within ``support`` AICc units of the best (the usual "substantial
    support" rule); the choice is called robust when the best is alone there and BIC agrees.
    """
    ranked = selection[selection["converged"].astype(bool) & np.isfinite(selection["aicc"].astype(float))]
    if ranked.empty:
        raise ValueError("no model converged: nothing to choose from")
    best = ranked.iloc[0]
    supported = ranked.loc[ranked["delta_aicc"] < support, "model"].tolist()
    bic_best = ranked.sort_values(["bic", "model"], kind="stable").iloc[0]["model"]
    runner = ranked.iloc[1] if len(ranked) > 1 else None
    robust = len(supported) == 1 and bic_best == best["model"]
    why = f"lowest AICc among {len(ranked)} converged models (Akaike weight {best['akaike_weight']:.2f}"
    why += f"; next: {runner['model']}, dAICc {runner['delta_aicc']:.2f})" if runner is not None else ")"
    return dict(
        model=str(best["model"]),
        akaike_weight=float(best["akaike_weight"]),
        runner_up=None if runner is None else str(runner["model"]),
        runner_up_delta_aicc=None if runner is None else float(runner["delta_aicc"]),
        supported=supported,
        bic_choice=str(bic_best),
        robust=bool(robust),
        reason=why,
    )


def residual_table(fit: growth.FitResult, obs: pd.DataFrame) -> pd.DataFrame:
    """Residuals of a fit, observed minus fitted on the loss scale, one row per observation of ``obs`` (the
    table the fit was made from, same order): ``t, obs_id, kind, y_used, residual, exact``.  ``exact`` marks
    the points fitted as exact values (every point in a naive fit); for bounds the residual is the hinge
    (0 when the curve honours the bound)."""
    if len(obs) != fit.n or not np.allclose(obs["t"].to_numpy(float), fit.t):
        raise ValueError("obs does not match the fitted observations")
    return pd.DataFrame(
        {
            "t": fit.t,
            "obs_id": obs["obs_id"].to_numpy(),
            "kind": obs["kind"].to_numpy(),
            "y_used": fit.y,
            "residual": -fit.residuals,
            "exact": np.isfinite(fit.y),
        }
    )


def display_float(v: float) -> str:
    """Float format for notebook tables: counts with thousands separators, years with 2 decimals."""
    if not math.isfinite(v):
        return str(v)
    if abs(v) >= 1e5:
        return f"{v:,.0f}"
    if 1900 <= abs(v) <= 2200:
        return f"{v:.2f}"
    return f"{v:.4g}"


def json_number(x: Any, digits: int = 6) -> float | None:
    """A JSON-safe rounded number (``None`` for NaN and infinities: "not reached" / not available)."""
    if x is None:
        return None
    x = float(x)
    if not math.isfinite(x):
        return None
    return float(f"{x:.{digits}g}")
