"""The censored log-normal log-likelihood of growth-curve data: its terms, gradient and parameter transformation.

One term per figure (exact value, "more than", "at most", range; see :mod:`helpers.models.likelihood` for the
model), the gradient with respect to the parameters and ``log sigma``, and the unconstrained coordinates the
optimisers of :mod:`helpers.models.likelihood` and :mod:`helpers.models.batch_mle` work in.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


# scipy.stats.norm.logcdf / logsf / logpdf are thin wrappers over these ufuncs (``log_ndtr`` is accurate far in
# both tails); calling the ufuncs directly avoids the distribution machinery's overhead in the inner loop.
def _logcdf(z: np.ndarray) -> np.ndarray:
    return special.log_ndtr(z)


def _logsf(z: np.ndarray) -> np.ndarray:
    return special.log_ndtr(-z)


def _logpdf(z: np.ndarray) -> np.ndarray:
    return -0.5 * z * z - _LOG_SQRT_2PI


# --------------------------------------------------------------------------------------------------------
# Log-likelihood and its gradient with respect to mu and log sigma
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Obs:
    """Observations on the loss scale: ``gy`` (NaN for bounds), ``glo`` (-inf), ``ghi`` (+inf), masks."""

    tau: np.ndarray
    gy: np.ndarray
    glo: np.ndarray
    ghi: np.ndarray
    jac_const: float  # -sum log y over exact points on the log scale (density of Y, not of log Y)
    log: bool

    @functools.cached_property
    def exact(self) -> np.ndarray:
        return np.isfinite(self.gy)

    @functools.cached_property
    def masks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(lower only, upper only, both)`` among the non-exact figures (computed once per data set)."""
        ex = self.exact
        has_lo, has_hi = np.isfinite(self.glo), np.isfinite(self.ghi)
        return ~ex & has_lo & ~has_hi, ~ex & has_hi & ~has_lo, ~ex & has_lo & has_hi

    @property
    def n(self) -> int:
        return int(self.tau.size)


def _obs_from(d: Any) -> _Obs:
    """From :class:`helpers.models.growth._Data` (validated input)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if d.log:
            gy = np.where(d.exact, np.log(np.where(d.exact, d.y, 1.0)), np.nan)
            glo = np.where(
                np.isfinite(d.lower), np.log(np.where(np.isfinite(d.lower), d.lower, 1.0)), -np.inf
            )
            ghi = np.where(np.isfinite(d.upper), np.log(np.where(np.isfinite(d.upper), d.upper, 1.0)), np.inf)
            jc = -float(np.sum(gy[d.exact]))
        else:
            gy = np.where(d.exact, d.y, np.nan)
            glo, ghi, jc = d.lower.astype(float), d.upper.astype(float), 0.0
    return _Obs(d.tau, gy, glo, ghi, jc, bool(d.log))


def _log_diff_cdf(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``log(Phi(b) - Phi(a))`` for ``a < b``, computed on the side where the difference does not cancel."""
    upper_side = a > 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        sa, sb = _logsf(a), _logsf(b)
        ca, cb = _logcdf(a), _logcdf(b)
        via_sf = sa + np.log(-np.expm1(sb - sa))
        via_cdf = cb + np.log(-np.expm1(ca - cb))
    return np.where(upper_side, via_sf, via_cdf)


def _terms(o: _Obs, mu: np.ndarray, log_sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-observation log-likelihood and its derivatives with respect to ``mu_i`` and ``log sigma``
    (the ``-log y`` Jacobian of the log scale is added separately)."""
    s = math.exp(log_sigma)
    ll = np.empty_like(mu)
    dmu = np.empty_like(mu)
    dls = np.empty_like(mu)
    ex = o.exact
    lo_only, hi_only, both = o.masks
    with np.errstate(all="ignore"):
        z = (o.gy[ex] - mu[ex]) / s
        ll[ex] = -0.5 * z * z - 0.5 * math.log(2 * math.pi) - log_sigma
        dmu[ex] = z / s
        dls[ex] = z * z - 1.0
        if lo_only.any():
            zl = (o.glo[lo_only] - mu[lo_only]) / s
            lsf = _logsf(zl)
            h = np.exp(_logpdf(zl) - lsf)
            ll[lo_only], dmu[lo_only], dls[lo_only] = lsf, h / s, h * zl
        if hi_only.any():
            zu = (o.ghi[hi_only] - mu[hi_only]) / s
            lcdf = _logcdf(zu)
            h = np.exp(_logpdf(zu) - lcdf)
            ll[hi_only], dmu[hi_only], dls[hi_only] = lcdf, -h / s, -h * zu
        if both.any():
            zl = (o.glo[both] - mu[both]) / s
            zu = (o.ghi[both] - mu[both]) / s
            lp = _log_diff_cdf(zl, zu)
            pl = np.exp(_logpdf(zl) - lp)
            pu = np.exp(_logpdf(zu) - lp)
            ll[both], dmu[both], dls[both] = lp, (pl - pu) / s, pl * zl - pu * zu
    return ll, dmu, dls


def _mu_and_grad(model: Any, theta: np.ndarray, o: _Obs) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(all="ignore"):
        f = model.f(o.tau, *theta)
        J = model.jac(o.tau, *theta)
        if o.log:
            return np.log(f), J / f[:, None]
        return f, J


def _loglik_and_grad(model: Any, theta: np.ndarray, log_sigma: float, o: _Obs) -> tuple[float, np.ndarray]:
    """Total log-likelihood and its gradient with respect to ``(theta, log sigma)``."""
    mu, dmu_dth = _mu_and_grad(model, theta, o)
    ll, dmu, dls = _terms(o, mu, log_sigma)
    total = float(np.sum(ll)) + o.jac_const
    if not np.isfinite(total):
        return -math.inf, np.full(theta.size + 1, np.nan)
    g = np.concatenate([dmu @ dmu_dth, [np.sum(dls)]])
    return total, g


def loglik(model: Any, theta: Sequence[float], sigma: float, data: Any) -> float:
    """Log-likelihood of the censored log-normal model at ``(theta, sigma)``.

    ``data`` is a :class:`helpers.models.growth.FitResult` (its observations are used) or a validated
    ``helpers.models.growth._Data``.  ``model`` is a :class:`helpers.models.registry.Model`.
    """
    from helpers.models import growth

    d = growth._data_of(data) if isinstance(data, growth.FitResult) else data
    val, _ = _loglik_and_grad(model, np.asarray(theta, dtype=float), math.log(sigma), _obs_from(d))
    return val


# --------------------------------------------------------------------------------------------------------
# Parameter transformation: positive parameters on the log scale, box-bounded ones by L-BFGS-B bounds
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Param:
    """Unconstrained coordinates ``u``: ``theta = lo + exp(u)`` (lower bound only, e.g. positivity),
    ``lo + (hi - lo) expit(u)`` (both bounds, e.g. Richards ``nu``), ``hi - exp(u)`` (upper only), ``u``."""

    lo: np.ndarray
    hi: np.ndarray

    @functools.cached_property
    def kind(self) -> np.ndarray:
        has_lo, has_hi = np.isfinite(self.lo), np.isfinite(self.hi)
        return np.where(has_lo & has_hi, 2, np.where(has_lo, 1, np.where(has_hi, 3, 0)))

    # index arrays of each kind and the finite ends, computed once: to_theta and dtheta_du run in the
    # optimiser's inner loop (same arithmetic as an np.select over all kinds, without the overhead)
    @functools.cached_property
    def _idx(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        k = self.kind
        lo = np.where(np.isfinite(self.lo), self.lo, 0.0)
        hi = np.where(np.isfinite(self.hi), self.hi, 0.0)
        return np.flatnonzero(k == 1), np.flatnonzero(k == 2), np.flatnonzero(k == 3), lo, hi

    def to_theta(self, u: np.ndarray) -> np.ndarray:
        i1, i2, i3, lo, hi = self._idx
        out = np.array(u, dtype=float, copy=True)
        if i1.size:
            out[i1] = lo[i1] + np.exp(np.clip(u[i1], -700, 700))
        if i2.size:
            out[i2] = lo[i2] + (hi[i2] - lo[i2]) * special.expit(u[i2])
        if i3.size:
            out[i3] = hi[i3] - np.exp(np.clip(u[i3], -700, 700))
        return out

    def to_u(self, theta: np.ndarray) -> np.ndarray:
        k = self.kind
        lo = np.where(np.isfinite(self.lo), self.lo, 0.0)
        hi = np.where(np.isfinite(self.hi), self.hi, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.clip((theta - lo) / (hi - lo), 1e-12, 1 - 1e-12)
            return np.select(
                [k == 1, k == 2, k == 3],
                [
                    np.log(np.maximum(theta - lo, 1e-300)),
                    special.logit(frac),
                    np.log(np.maximum(hi - theta, 1e-300)),
                ],
                theta,
            )

    def dtheta_du(self, u: np.ndarray) -> np.ndarray:
        i1, i2, i3, lo, hi = self._idx
        out = np.ones(np.shape(u))
        if i1.size:
            out[i1] = np.exp(np.clip(u[i1], -700, 700))
        if i2.size:
            sg = special.expit(u[i2])
            out[i2] = (hi[i2] - lo[i2]) * sg * (1 - sg)
        if i3.size:
            out[i3] = -np.exp(np.clip(u[i3], -700, 700))
        return out


def _param_space(lo_b: Sequence[float], hi_b: Sequence[float]) -> _Param:
    return _Param(np.asarray(lo_b, dtype=float), np.asarray(hi_b, dtype=float))
