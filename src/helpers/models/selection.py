"""Model selection and backtests of growth fits.

:func:`compare_models` ranks models by information criteria; :func:`backtest` refits on the first years and
scores the forecast of the rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from helpers.models.growth import fit
from helpers.models.inputs import ArrayLike, _as_1d
from helpers.models.registry import CUMULATIVE_MODELS, Model, get_model

# --------------------------------------------------------------------------------------------------------
# Model selection and backtests
# --------------------------------------------------------------------------------------------------------


def compare_models(
    t: ArrayLike,
    y: ArrayLike,
    models: Iterable[str | Model] = CUMULATIVE_MODELS,
    **fit_kwargs: Any,
) -> pd.DataFrame:
    """Fit each model to the same data and rank by AICc.

    ``fit_kwargs`` go to :func:`fit` (``lower``, ``upper``, ``weights``, ``loss_scale``, ``epoch``, ...).
    Returns one row per model (index ``model``), sorted by AICc: ``n_params, n, rss, aic, aicc, bic,
    delta_aicc, akaike_weight, converged, censored, message``.  ``delta_aicc`` and the Akaike weights
    ``exp(-delta/2) / sum exp(-delta/2)`` use only converged fits with finite AICc (others get NaN); a model
    that cannot be fitted at all (e.g. too few points) is listed with the ``ValueError`` message.
    """
    rows = []
    for mod in models:
        m = get_model(mod)
        try:
            r = fit(m, t, y, **fit_kwargs)
            rows.append(
                dict(
                    model=m.name,
                    n_params=m.n_params,
                    n=r.n,
                    rss=r.rss,
                    aic=r.aic,
                    aicc=r.aicc,
                    bic=r.bic,
                    converged=r.converged,
                    censored=r.censored,
                    message=r.message,
                )
            )
        except ValueError as exc:
            rows.append(
                dict(
                    model=m.name,
                    n_params=m.n_params,
                    n=np.nan,
                    rss=np.nan,
                    aic=np.nan,
                    aicc=np.nan,
                    bic=np.nan,
                    converged=False,
                    censored=False,
                    message=f"not fitted: {exc}",
                )
            )
    df = pd.DataFrame(rows).set_index("model")
    usable = df["converged"].astype(bool) & np.isfinite(df["aicc"].astype(float))
    best = df.loc[usable, "aicc"].min() if usable.any() else np.nan
    delta = np.where(usable, df["aicc"] - best, np.nan)
    wts = np.where(usable, np.exp(-0.5 * np.nan_to_num(delta, nan=np.inf)), np.nan)
    df["delta_aicc"] = delta
    df["akaike_weight"] = wts / np.nansum(wts) if usable.any() else np.nan
    cols = [
        "n_params",
        "n",
        "rss",
        "aic",
        "aicc",
        "bic",
        "delta_aicc",
        "akaike_weight",
        "converged",
        "censored",
        "message",
    ]
    return df[cols].sort_values("aicc", na_position="last", kind="stable")


def _score(pred: np.ndarray, y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Absolute error and absolute percentage error of forecasts against exact or bound observations.

    Exact: ``|f - y|`` and ``|f - y| / y``.  Bound-only: the distance outside the interval,
    ``|f - clip(f, lower, upper)|``, relative to the violated bound (0 when inside: a forecast that honours
    "more than 1 million" is not wrong).  APE is NaN where the reference is 0.
    """
    exact = np.isfinite(y)
    lo_ = np.where(np.isnan(lo), -np.inf, lo)
    hi_ = np.where(np.isnan(hi), np.inf, hi)
    ref = np.where(exact, y, np.clip(pred, lo_, hi_))
    err = np.abs(pred - ref)
    with np.errstate(divide="ignore", invalid="ignore"):
        ape = np.where(ref != 0, err / np.abs(ref), np.nan)
    ape = np.where(~exact & (err == 0), 0.0, ape)
    return err, ape


def backtest(
    t: ArrayLike,
    y: ArrayLike,
    models: Iterable[str | Model],
    origins: Iterable[float],
    *,
    lower: ArrayLike | None = None,
    upper: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    detail: bool = False,
    **fit_kwargs: Any,
) -> pd.DataFrame:
    """Rolling-origin backtest: fit on ``t <= origin`` (inclusive), forecast every later observation.

    Returns one row per (model, origin): ``n_train, n_test, n_scored, converged, mae, mape, message``
    (MAPE in percent, on the data's own scale whatever the loss scale).  Scoring is described in
    :func:`_score`: exact later observations by their error, bound observations only by how far the
    forecast falls outside the bounds.  A fit that raises ``ValueError`` (too few training points) gives
    NaN scores with the reason; non-converged fits are scored but flagged.  ``detail=True`` returns the
    per-observation table instead (``model, origin, t, horizon, y, lower, upper, forecast, abs_error,
    ape``).
    """
    t = np.asarray(t, dtype=float).reshape(-1)
    y = np.asarray(y, dtype=float).reshape(-1)
    n = t.size
    lo = _as_1d("lower", lower, n, np.nan)
    hi = _as_1d("upper", upper, n, np.nan)
    w = None if weights is None else _as_1d("weights", weights, n, 1.0)
    rows, details = [], []
    for mod in models:
        m = get_model(mod)
        for origin in origins:
            tr, te = t <= origin, t > origin
            row = dict(
                model=m.name,
                origin=origin,
                n_train=int(tr.sum()),
                n_test=int(te.sum()),
                n_scored=0,
                converged=False,
                mae=np.nan,
                mape=np.nan,
                message="",
            )
            try:
                r = fit(
                    m,
                    t[tr],
                    y[tr],
                    lower=lo[tr],
                    upper=hi[tr],
                    weights=None if w is None else w[tr],
                    **fit_kwargs,
                )
            except ValueError as exc:
                row["message"] = f"not fitted: {exc}"
                rows.append(row)
                continue
            row["converged"], row["message"] = r.converged, r.message
            if te.any():
                pred = r.predict(t[te])
                err, ape = _score(pred, y[te], lo[te], hi[te])
                ok = np.isfinite(err)
                row["n_scored"] = int(ok.sum())
                row["mae"] = float(err[ok].mean()) if ok.any() else np.nan
                okp = np.isfinite(ape)
                row["mape"] = float(100.0 * ape[okp].mean()) if okp.any() else np.nan
                details.append(
                    pd.DataFrame(
                        dict(
                            model=m.name,
                            origin=origin,
                            t=t[te],
                            horizon=t[te] - origin,
                            y=y[te],
                            lower=lo[te],
                            upper=hi[te],
                            forecast=pred,
                            abs_error=err,
                            ape=ape,
                        )
                    )
                )
            rows.append(row)
    if detail:
        cols = ["model", "origin", "t", "horizon", "y", "lower", "upper", "forecast", "abs_error", "ape"]
        return pd.concat(details, ignore_index=True) if details else pd.DataFrame(columns=cols)
    return pd.DataFrame(rows)
