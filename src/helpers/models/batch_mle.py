"""Batched censored maximum likelihood: the damped Newton that fits many data sets with one design at once.

Each row has its own damping and stop, and gets :func:`~helpers.models.likelihood.fit_mle`'s convergence
verdict; :func:`fit_mle` and the profile run it on a single data set, :func:`~helpers.models.simulation.refit_batch`
on every simulated set of a bootstrap, holdout refit or coverage study.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from helpers.models.censored import _LOG_SQRT_2PI, _log_diff_cdf, _logcdf, _logpdf, _logsf, _Obs, _Param

# --------------------------------------------------------------------------------------------------------
# Batched maximum likelihood: many data sets with one design (bootstrap and holdout refits, coverage study)
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _BatchObs:
    """``B`` data sets at the same times on the loss scale: ``gy`` (B, n; NaN for bounds), ``glo``
    (-inf where absent), ``ghi`` (+inf), the per-set Jacobian constant and the term masks."""

    tau: np.ndarray
    gy: np.ndarray
    glo: np.ndarray
    ghi: np.ndarray
    jac_const: np.ndarray
    log: bool

    @functools.cached_property
    def masks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(exact, lower only, upper only, both)``, each (B, n)."""
        ex = np.isfinite(self.gy)
        has_lo, has_hi = np.isfinite(self.glo), np.isfinite(self.ghi)
        return ex, ~ex & has_lo & ~has_hi, ~ex & has_hi & ~has_lo, ~ex & has_lo & has_hi

    def take(self, rows: np.ndarray) -> _BatchObs:
        return _BatchObs(
            self.tau, self.gy[rows], self.glo[rows], self.ghi[rows], self.jac_const[rows], self.log
        )


def _batch_obs(tau: np.ndarray, y: np.ndarray, lower: np.ndarray, upper: np.ndarray, log: bool) -> _BatchObs:
    """From data arrays (B, n) with NaN where a value or bound is absent (the layout of :func:`simulate`)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ex = np.isfinite(y)
        if log:
            gy = np.where(ex, np.log(np.where(ex, y, 1.0)), np.nan)
            glo = np.where(np.isfinite(lower), np.log(np.where(np.isfinite(lower), lower, 1.0)), -np.inf)
            ghi = np.where(np.isfinite(upper), np.log(np.where(np.isfinite(upper), upper, 1.0)), np.inf)
            jc = -np.sum(np.where(ex, gy, 0.0), axis=1)
        else:
            gy = np.where(ex, y, np.nan)
            glo = np.where(np.isfinite(lower), lower, -np.inf)
            ghi = np.where(np.isfinite(upper), upper, np.inf)
            jc = np.zeros(y.shape[0])
    return _BatchObs(np.asarray(tau, dtype=float), gy, glo, ghi, jc, bool(log))


def _batch_terms(o: _BatchObs, mu: np.ndarray, ls: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_terms` for (B, n) arrays: per-figure log-likelihood and its derivatives in ``mu`` and
    ``log sigma`` (every kind of term evaluated everywhere, the figure's own kind selected)."""
    ex, lo_only, hi_only, both = o.masks
    s = np.exp(ls)[:, None]
    with np.errstate(all="ignore"):
        z = (o.gy - mu) / s
        zl = (o.glo - mu) / s
        zu = (o.ghi - mu) / s
        ll = np.where(ex, -0.5 * z * z - _LOG_SQRT_2PI - ls[:, None], 0.0)
        dmu = np.where(ex, z / s, 0.0)
        dls = np.where(ex, z * z - 1.0, 0.0)
        if lo_only.any():
            lsf = _logsf(zl)
            h = np.exp(_logpdf(zl) - lsf)
            ll = np.where(lo_only, lsf, ll)
            dmu = np.where(lo_only, h / s, dmu)
            dls = np.where(lo_only, h * zl, dls)
        if hi_only.any():
            lcdf = _logcdf(zu)
            h = np.exp(_logpdf(zu) - lcdf)
            ll = np.where(hi_only, lcdf, ll)
            dmu = np.where(hi_only, -h / s, dmu)
            dls = np.where(hi_only, -h * zu, dls)
        if both.any():
            lp = _log_diff_cdf(zl, zu)
            pl = np.exp(_logpdf(zl) - lp)
            pu = np.exp(_logpdf(zu) - lp)
            ll = np.where(both, lp, ll)
            dmu = np.where(both, (pl - pu) / s, dmu)
            dls = np.where(both, pl * zl - pu * zu, dls)
    return ll, dmu, dls


def _batch_loglik_theta(
    model: Any, TH: np.ndarray, ls: np.ndarray, o: _BatchObs
) -> tuple[np.ndarray, np.ndarray]:
    """Log-likelihood (B,) and its gradient (B, p+1) in ``(theta, log sigma)`` at ``TH`` (B, p)."""
    p = TH.shape[1]
    with np.errstate(all="ignore"):
        F, JT = model.fj(o.tau, TH)
        if o.log:
            mu = np.log(F)
            dmu_dth = JT[:, :p] / F[:, None, :]
        else:
            mu = F
            dmu_dth = JT[:, :p]
        ll, dmu, dls = _batch_terms(o, mu, ls)
        total = ll.sum(axis=1) + o.jac_const
        g = np.concatenate([np.einsum("bkn,bn->bk", dmu_dth, dmu), dls.sum(axis=1)[:, None]], axis=1)
    bad = ~np.isfinite(total) | ~np.all(np.isfinite(g), axis=1)
    total = np.where(bad, -math.inf, total)
    g[bad] = np.nan
    return total, g


def _batch_to_theta(P: _Param, U: np.ndarray) -> np.ndarray:
    """:meth:`_Param.to_theta` for (B, p) arrays (and its derivative ``dtheta/du``)."""
    k = P.kind
    lo = np.where(np.isfinite(P.lo), P.lo, 0.0)
    hi = np.where(np.isfinite(P.hi), P.hi, 0.0)
    e = np.exp(np.clip(U, -700, 700))
    sg = special.expit(U)
    th = np.where(k == 1, lo + e, np.where(k == 2, lo + (hi - lo) * sg, np.where(k == 3, hi - e, U)))
    dth = np.where(k == 1, e, np.where(k == 2, (hi - lo) * sg * (1 - sg), np.where(k == 3, -e, 1.0)))
    return th, dth


def _batch_negll(model: Any, P: _Param, o: _BatchObs, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Negative log-likelihood (B,) and gradient (B, p+1) in the optimiser's coordinates ``(u, log sigma)``
    (``inf``/NaN where not finite, like :func:`_neg`)."""
    TH, dth = _batch_to_theta(P, V[:, :-1])
    ll, g = _batch_loglik_theta(model, TH, V[:, -1], o)
    G = -np.concatenate([g[:, :-1] * dth, g[:, -1:]], axis=1)
    bad = ~np.isfinite(ll) | ~np.all(np.isfinite(G), axis=1)
    return np.where(bad, math.inf, -ll), np.where(bad[:, None], np.nan, G)


def _batch_fd_jac(grad: Callable[[np.ndarray], np.ndarray], X: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Symmetrised central-difference Jacobian of a batched gradient: (B, k, k), steps ``h`` (B, k); all
    ``2 k`` shifted points in one call."""
    B, k = X.shape
    E = np.eye(k)[:, None, :] * h[None, :, :]  # (k, B, k)
    pts = np.concatenate([X[None] + E, X[None] - E]).reshape(2 * k * B, k)
    Gs = grad(pts).reshape(2, k, B, k)
    H = np.transpose((Gs[0] - Gs[1]) / (2 * h.T[:, :, None]), (1, 2, 0))  # H[b, i, j] = dg_i / dx_j
    return 0.5 * (H + np.transpose(H, (0, 2, 1)))


def _batch_fg(
    model: Any, P: _Param, o: _BatchObs, fixed: Mapping[int, float] | None = None
) -> Callable[[np.ndarray, np.ndarray | None], tuple[np.ndarray, np.ndarray]]:
    """``fg(V, rows) -> (-log L, gradient)`` for :func:`_batch_newton`: row ``b`` of ``V`` belongs to data set
    ``rows[b]`` of ``o`` (all of them when ``rows`` is None; a one-row ``o`` serves every row); ``fixed`` holds some ``u`` at given values
    (profile likelihood), ``V`` then has the free ones and ``log sigma``."""
    p = P.lo.size
    fixed = dict(fixed or {})
    free = np.array([j for j in range(p) if j not in fixed] + [p], dtype=int)

    def fg(V: np.ndarray, rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        oo = o if rows is None or o.gy.shape[0] == 1 else o.take(rows)
        if not fixed:
            return _batch_negll(model, P, oo, V)
        full = np.empty((V.shape[0], p + 1))
        for j, val in fixed.items():
            full[:, j] = val
        full[:, free] = V
        f, g = _batch_negll(model, P, oo, full)
        return f, g[:, free]

    fg.free = free  # type: ignore[attr-defined]
    return fg


def _single(o: _Obs) -> _BatchObs:
    """One data set as a batch of one row, which broadcasts against any number of parameter rows (several
    starts, or the shifted points of a finite-difference Hessian) without copying or re-deriving masks."""
    return _BatchObs(o.tau, o.gy[None, :], o.glo[None, :], o.ghi[None, :], np.array([o.jac_const]), o.log)


def _newton_minimise(
    model: Any,
    P: _Param,
    o: _Obs,
    V0: np.ndarray,
    fixed: Mapping[int, float] | None = None,
    max_iter: int = 60,
) -> tuple[np.ndarray, float, np.ndarray]:
    """Minimise ``-log L`` of one data set from each row of ``V0`` (several starts at once, damped Newton:
    :func:`_batch_newton`, at most ``max_iter`` steps: the callers fall back on BFGS when it has not
    finished); returns the best row's ``V``, ``-log L`` and gradient (``inf`` if none is
    finite)."""
    fg = _batch_fg(model, P, _single(o), fixed)
    kind = P.kind[fg.free[:-1]]
    pos = np.concatenate([(kind == 1) | (kind == 3), [False]])
    V, f, g, _ = _batch_newton(fg, V0, pos, max_iter=max_iter)
    f = np.where(np.isfinite(f), f, math.inf)
    b = int(np.argmin(f))
    return V[b], float(f[b]), g[b]


def _batch_newton(
    fg: Callable[[np.ndarray, np.ndarray | None], tuple[np.ndarray, np.ndarray]],
    V0: np.ndarray,
    pos: np.ndarray,
    *,
    max_iter: int = 500,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Damped Newton on ``-log L`` for ``B`` problems at once, each on its own (its own damping,
    acceptance and stop), from ``V0`` (B, k) in the optimiser's coordinates (``fg`` from :func:`_batch_fg`;
    ``pos`` (k,) marks log-transformed positive parameters, watched for a runaway).

    The Hessian is the central difference of the analytic gradient (as in :func:`_minimise`'s polish); a
    step solves ``(H + lambda diag|H|) d = -g`` and is taken when it does not raise ``-log L`` by more than
    rounding (``lambda`` shrinks 10x after an accepted step, grows 10x after a rejected one or a
    non-positive-definite system); after 20 iterations an accepted step is extended by doubling while
    ``-log L`` keeps falling (rows still descending by then follow a ridge off to infinity).  A row stops
    when its gradient is below 1e-9, when a positive parameter ran past ``exp(50)`` or below ``exp(-25)``
    (the runaway of :func:`fit_mle`: no optimum inside the domain), or when no step lowers ``-log L`` even
    at ``lambda = 1e12`` or the gradient is below 1e-6 when a step is refused.  Returns ``V``, ``-log L``,
    the gradient and a runaway flag.
    """
    from helpers.models.solver import cholesky_solve

    B, K = V0.shape
    V = V0.copy()
    f, g = fg(V, None)
    lam = np.full(B, 1e-6)
    live = np.isfinite(f)
    runaway = np.zeros(B, dtype=bool)
    H = np.full((B, K, K), np.nan)

    def hess(rows: np.ndarray) -> np.ndarray:
        Vr = V[rows]
        h = 1e-5 * np.maximum(1.0, np.abs(Vr))
        orows = np.tile(rows, 2 * K)
        return _batch_fd_jac(lambda X: fg(X, orows)[1], Vr, h)

    need_h = live.copy()
    for it in range(max_iter):
        live &= ~(np.max(np.abs(np.nan_to_num(g, nan=np.inf)), axis=1) < 1e-9)
        rows = np.flatnonzero(live)
        if rows.size == 0:
            break
        hr = rows[need_h[rows]]
        if hr.size:
            H[hr] = hess(hr)
            need_h[hr] = False
        Hr, gr = H[rows], g[rows]
        d = np.abs(np.diagonal(Hr, axis1=1, axis2=2))
        d = np.maximum(d, 1e-12 * d.max(axis=1, keepdims=True) + 1e-300)
        step = np.full_like(gr, np.nan)
        todo = np.ones(rows.size, dtype=bool)
        for _ in range(20):  # a damping that makes the system positive definite (no evaluation needed)
            M = Hr[todo].copy()
            M.reshape(-1, K * K)[:, :: K + 1] += lam[rows[todo], None] * d[todo]
            with np.errstate(all="ignore"):
                step[todo] = -cholesky_solve(M, gr[todo])
            todo &= ~np.all(np.isfinite(step), axis=1)
            if not todo.any() or np.all(lam[rows[todo]] > 1e12):
                break
            lam[rows[todo]] *= 10.0
        Vn = V[rows] + step
        ok_step = np.all(np.isfinite(step), axis=1)
        fn, gn = fg(np.where(ok_step[:, None], Vn, V[rows]), rows)
        acc = ok_step & np.isfinite(fn) & (fn <= f[rows] + 1e-12 * np.abs(f[rows]))
        a = rows[acc]
        V[a], f[a], g[a] = Vn[acc], fn[acc], gn[acc]
        need_h[a] = True
        lam[a] = np.maximum(lam[a] / 10.0, 1e-12)
        if it >= 20 and a.size:
            # still descending after 20 Newton steps: a curved ridge towards a runaway (K -> inf); extend the
            # accepted step by doubling while -log L keeps falling, so such rows reach the runaway test
            ext, dstep = a, step[acc]
            for _ in range(12):
                Vx = V[ext] + dstep
                fx, gx = fg(Vx, ext)
                better = np.isfinite(fx) & (fx < f[ext])
                if not better.any():
                    break
                ext, dstep, Vx, fx, gx = ext[better], 2.0 * dstep[better], Vx[better], fx[better], gx[better]
                V[ext], f[ext], g[ext] = Vx, fx, gx
        r = rows[~acc]
        lam[r] *= 10.0
        # no step lowers -log L even at lambda = 1e12, or a step is refused with the gradient already at
        # rounding level (< 1e-6; where _minimise's Newton polish stops on a failed line search)
        stalled = r[(lam[r] > 1e12) | (np.max(np.abs(g[r]), axis=1) < 1e-6)]
        live[stalled] = False
        ran = a[np.any(pos & ((V[a] > 50) | (V[a] < -25)), axis=1)]
        runaway[ran] = True
        live[ran] = False
    return V, f, g, runaway


def _batch_verdict(
    model: Any, P: _Param, o: _BatchObs, V: np.ndarray, f: np.ndarray, g: np.ndarray, runaway: np.ndarray
) -> np.ndarray:
    """:func:`fit_mle`'s convergence verdict for every row: a finite optimum, gradient < 1e-4 in the
    optimiser's coordinates (parameters on a box bound excluded), no runaway, ``sigma`` not run to 0, and a
    positive-definite observed information in ``(theta, sigma)`` (the test of :func:`_observed_cov`)."""
    B, K = V.shape
    kind = P.kind
    U = V[:, :-1]
    frac = np.where(kind == 2, special.expit(U), 0.5)
    on_box = (kind == 2) & ((frac < 1e-6) | (frac > 1 - 1e-6))
    free = np.concatenate([~on_box, np.ones((B, 1), bool)], axis=1)
    gnorm = np.max(np.where(free, np.abs(np.nan_to_num(g, nan=np.inf)), 0.0), axis=1)
    run = runaway | np.any(((kind == 1) | (kind == 3)) & ((U < -25) | (U > 50)), axis=1)
    ok = np.isfinite(f) & (gnorm < 1e-4) & ~run & (V[:, -1] >= -20)
    rows = np.flatnonzero(ok)
    if rows.size:
        TH, _ = _batch_to_theta(P, U[rows])
        X = np.concatenate([TH, np.exp(V[rows, -1:])], axis=1)
        sub = o.take(np.tile(rows, 2 * K))

        def grad(Xs: np.ndarray) -> np.ndarray:
            _, gg = _batch_loglik_theta(model, Xs[:, :-1], np.log(np.maximum(Xs[:, -1], 1e-300)), sub)
            gg[:, -1] = gg[:, -1] / Xs[:, -1]
            gg[Xs[:, -1] <= 0] = np.nan
            return -gg

        with np.errstate(all="ignore"):
            H = _batch_fd_jac(grad, X, 1e-5 * np.maximum(np.abs(X), 1e-8))
            dsc = np.sqrt(np.abs(np.diagonal(H, axis1=1, axis2=2)))
            fin = np.all(np.isfinite(H), axis=(1, 2)) & np.all(dsc > 0, axis=1)
            Hs = np.where(fin[:, None, None], H / (dsc[:, :, None] * dsc[:, None, :]), np.eye(K))
            w = np.linalg.eigvalsh(Hs)
        ok[rows] = fin & (w[:, 0] > 1e-12 * np.maximum(w[:, -1], 1e-300))
    return ok
