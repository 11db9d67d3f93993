"""Quantities derived from fitted parameters: saturation, inflection time, year reaching a level, percentiles.

Vectorised over parameter arrays, so each applies to a :class:`~helpers.models.growth.FitResult` and to the
draws of a :class:`~helpers.models.bootstrap.BootstrapResult` alike.
"""

from __future__ import annotations

import math

import numpy as np

from helpers.models.bootstrap import BootstrapResult
from helpers.models.growth import FitResult
from helpers.models.inputs import ArrayLike
from helpers.models.registry import Model

# --------------------------------------------------------------------------------------------------------
# Derived quantities (vectorised over parameter arrays of shape (..., p))
# --------------------------------------------------------------------------------------------------------


def _split(theta: np.ndarray) -> list[np.ndarray]:
    theta = np.asarray(theta, dtype=float)
    return [theta[..., j] for j in range(theta.shape[-1])]


def _inflection_tau(model: Model, theta: np.ndarray) -> np.ndarray:
    """Time of the inflection (cumulative models) or of the peak (``bass_rate``), before adding ``epoch``.

    logistic ``t0``; gompertz ``ln(b)/c``; richards ``t0 - ln(nu)/r`` (where ``exp(-r(t - t0)) = nu``,
    i.e. ``y = K (1 + nu)^(-1/nu)``); bass and bass_rate ``ln(q/p)/(p+q)`` when ``q > p``, else 0 (adoptions
    are highest at launch and decline).
    """
    if model.inflection is None:
        raise ValueError(f"model {model.name!r} has no inflection formula in the registry")
    with np.errstate(all="ignore"):
        return model.inflection(*_split(theta))


def _reaching_tau(model: Model, theta: np.ndarray, level: np.ndarray) -> np.ndarray:
    """Time at which a cumulative model reaches ``level`` (inf when ``level >= saturation``, -inf if <= 0)."""
    if not model.cumulative or model.reaching is None:
        raise ValueError(f"year_reaching needs a cumulative model, not {model.name!r}")
    P = _split(theta)
    frac = level / P[0]
    with np.errstate(all="ignore"):
        out = model.reaching(frac, *P)
    out = np.where(frac >= 1.0, np.inf, out)
    return np.where(frac <= 0.0, -np.inf, out)


def _theta_of(obj: FitResult | BootstrapResult) -> tuple[Model, np.ndarray, float]:
    if isinstance(obj, FitResult):
        return obj.model, obj.theta, obj.epoch
    if isinstance(obj, BootstrapResult):
        return obj.fit.model, obj.params.to_numpy(dtype=float), obj.fit.epoch
    raise TypeError(f"expected FitResult or BootstrapResult, got {type(obj).__name__}")


def saturation(obj: FitResult | BootstrapResult) -> float | np.ndarray:
    """Saturation level (``K`` or ``m``): a float for a fit, one value per resample for a bootstrap."""
    _, theta, _ = _theta_of(obj)
    out = np.asarray(theta)[..., 0]
    return float(out) if out.ndim == 0 else out


def inflection(obj: FitResult | BootstrapResult) -> float | np.ndarray:
    """Inflection time in the data's time scale (``epoch`` added); see :func:`_inflection_tau`."""
    model, theta, epoch = _theta_of(obj)
    out = _inflection_tau(model, theta) + epoch
    return float(out) if np.ndim(out) == 0 else out


def year_reaching(
    obj: FitResult | BootstrapResult, level: float, *, population: float | None = None
) -> float | np.ndarray:
    """Time at which the fitted curve reaches ``level``.

    ``level`` is an absolute count, or with ``population`` a fraction of it (``level=0.5,
    population=26e6`` = half of 26 million).  Returns ``inf`` when the saturation is at or below the level
    (never reached); cumulative models only.  Analytic inverses: logistic ``t0 - ln(K/L - 1)/r``;
    gompertz ``-ln(-ln(L/K)/b)/c``; richards ``t0 - ln((K/L)^nu - 1)/r``; bass
    ``-ln((1 - L/m)/(1 + (L/m) q/p))/(p+q)``.
    """
    if population is not None:
        if not 0 < level <= 1:
            raise ValueError("with population given, level is a fraction in (0, 1]")
        level = level * population
    model, theta, epoch = _theta_of(obj)
    out = _reaching_tau(model, theta, np.asarray(level, dtype=float)) + epoch
    return float(out) if np.ndim(out) == 0 else out


def percentile_interval(values: ArrayLike, level: float = 0.95) -> tuple[float, float]:
    """Equal-tailed percentile interval of ``values`` ignoring NaN (failed resamples).

    Infinite values (e.g. "never reaches the level") are kept; the quantile then uses the ``inverted_cdf``
    rule so an interval end can be ``inf`` without producing NaN.
    """
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return math.nan, math.nan
    a = (1.0 - level) / 2.0
    method = "linear" if np.all(np.isfinite(v)) else "inverted_cdf"
    lo, hi = np.quantile(v, [a, 1.0 - a], method=method)
    return float(lo), float(hi)
