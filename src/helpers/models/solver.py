"""One batched Levenberg-Marquardt solver for many independent small least-squares problems.

:func:`lm` solves ``B`` problems ``min_x ||r_b(x_b)||^2`` at once.  The caller supplies ``evaluate(X,
*data) -> (J'J, J'r, r'r)``, the normal equations of every problem at ``X``; :func:`normal_equations`
forms them from residuals ``R`` (b, n) and the transposed Jacobian ``JT`` (b, k+1, n) whose row ``k`` is
scratch space, in one batched product.  ``data`` are per-problem arrays (problem axis first, or last with
``batch_last=True``) that the solver compacts together with its working set as problems finish, so late
iterations only cost what is left.

Layout: the working arrays are *batch-last* -- ``X`` (k, b), ``J'J`` (k, k, b), ``J'r`` (k, b) -- so that
every operation (damping, the Cholesky factorisation, the step, the acceptance masks) runs over ``b``
contiguous problems; with problems first, the inner loops would run over ``k <= 4`` elements.  A caller
that passes ``batch_last=True`` evaluates in that layout too (:func:`helpers.models.panel_fit.lm_batch`);
otherwise ``X`` and the normal equations are transposed at the call.

Every problem converges on its own: its own damping ``lambda`` (Marquardt scaling ``lambda diag(J'J)``,
Nielsen's 1999 update: shrink by up to 3 according to the gain ratio, grow by 2, 4, 8, ... after
rejections), its own acceptance (a step is taken when it does not increase the RSS) and its own stop.  The
arithmetic on a row does not depend on the other rows, so a problem gets the same answer whatever it is
batched with.  Box bounds are handled by projection (parameters on a bound whose gradient points outwards
are frozen for that iteration; the step is clipped to the box); unbounded problems pass ``-inf``/``inf``.
The damped ``k x k`` systems are solved by a vectorised Cholesky factorisation (a non-positive pivot gives
a NaN step, which is rejected like any step that does not lower the RSS).

Users: :func:`helpers.models.panel_fit.lm_batch` (panel point fits and bootstrap refits: the model kernels directly,
box bounds) and :func:`transformed_lm` (national bootstrap refits and the fallback of
:func:`helpers.models.growth.fit`: censored/log residuals, bounds by transformation, Bates-Watts check).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from helpers._lazy import lazy

special = lazy("scipy.special")

__all__ = [
    "CONVERGED",
    "MAX_ITER",
    "NON_FINITE",
    "STALLED",
    "LMResult",
    "cholesky_solve",
    "lm",
    "transformed_lm",
]

CONVERGED = 1  #: an accepted step met the step/RSS tolerances (or the RSS is 0)
STALLED = 2  #: no step lowers the RSS even at damping 1e16 (a minimum at machine precision, or a ridge)
MAX_ITER = 0  #: iteration cap reached while still descending
NON_FINITE = -1  #: residuals or Jacobian not finite at the start or at an accepted point


@dataclass
class LMResult:
    """``x`` (B, k), ``rss`` (B,), ``status`` (B,: :data:`CONVERGED`, :data:`STALLED`, :data:`MAX_ITER`,
    :data:`NON_FINITE`) and ``n_iter`` (B,)."""

    x: np.ndarray
    rss: np.ndarray
    status: np.ndarray
    n_iter: np.ndarray


def cholesky_solve(M: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Solve ``M x = g`` for a batch of symmetric positive-definite ``k x k`` matrices ``M`` (B, k, k).

    Column-oriented Cholesky with every operation on length-``B`` vectors (one LAPACK call per matrix costs
    more than the arithmetic for ``k <= 6``).  A non-positive pivot gives NaN in that row only.
    """
    return _cholesky_solve_t(np.ascontiguousarray(M.transpose(1, 2, 0)), np.ascontiguousarray(g.T)).T


def _cholesky_solve_t(M: np.ndarray, g: np.ndarray, overwrite: bool = False) -> np.ndarray:
    """:func:`cholesky_solve` in the batch-last layout: ``M`` (k, k, B), ``g`` (k, B) -> ``x`` (k, B)
    (``overwrite``: ``M`` may be overwritten by its factor)."""
    k = g.shape[0]
    L = [[None] * k for _ in range(k)]
    if not overwrite:
        M = M.copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        for j in range(k):  # the factor overwrites the lower triangle of M
            s = M[j, j]
            for m in range(j):
                s -= L[j][m] * L[j][m]
            s[~(s > 0)] = np.nan
            L[j][j] = np.sqrt(s, out=s)
            for i in range(j + 1, k):
                s = M[i, j]
                for m in range(j):
                    s -= L[i][m] * L[j][m]
                s /= L[j][j]
                L[i][j] = s
        x = np.empty_like(g)
        for i in range(k):
            s = x[i]
            s[:] = g[i]
            for m in range(i):
                s -= L[i][m] * x[m]
            s /= L[i][i]
        for i in reversed(range(k)):
            s = x[i]
            for m in range(i + 1, k):
                s -= L[m][i] * x[m]
            s /= L[i][i]
    return x


def normal_equations(JT: np.ndarray, R: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(J'J, J'r, r'r)`` from one batched product of ``[J | r]`` with itself (``JT`` (b, k+1, n): the
    transposed Jacobian with a scratch row ``k``, which receives ``R``)."""
    k = JT.shape[1] - 1
    JT[:, k] = R
    M = np.matmul(JT, JT.transpose(0, 2, 1))
    return M[:, :k, :k], M[:, :k, k], M[:, k, k]


def lm(
    evaluate: Callable[..., tuple[np.ndarray, np.ndarray]],
    X0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    data: Sequence[np.ndarray] = (),
    *,
    xtol: float = 1e-12,
    ftol: float = 1e-15,
    max_iter: int = 400,
    lam0: float = 1e-3,
    both: bool = False,
    step_size: Callable[..., np.ndarray] | None = None,
    batch_last: bool = False,
) -> LMResult:
    """Batched projected Levenberg-Marquardt; see the module docstring.

    ``evaluate(X, *data) -> (J'J (b, k, k), J'r (b, k), r'r (b,))``: the normal equations at ``X`` (b, k)
    (see :func:`normal_equations`; computing them block by block keeps the residuals and Jacobians in
    cache).  ``batch_last=True``: every array has its problem axis last -- ``evaluate`` gets ``X`` (k, b)
    and returns ``J'J`` (k, k, b), ``J'r`` (k, b), ``r'r`` (b,), and the problem axis of ``data`` is its last
    one (e.g. ``(n, B)`` series); the solver works in that layout internally either way.
    ``X0`` (B, k) starts; ``lower``/``upper`` (k,) or (B, k); ``data``: arrays with leading axis ``B`` passed
    to ``evaluate(X, *data)`` (and ``step_size(X, X_new, *data)``, always (b, k)), compacted with the
    working set.
    Stopping, per problem, after an accepted step: the step is small (``step_size`` <= ``xtol``; default
    ``max |dx| / (|x| + xtol)``) or the RSS dropped by at most ``ftol`` relative -- either (default) or,
    with ``both=True``, both; or the RSS is 0.  After a rejected step: damping above 1e16
    (:data:`STALLED`), or (``both=False``) a small step at a finite trial RSS (:data:`CONVERGED`).
    """
    with np.errstate(all="ignore"):  # rows with NaN/inf trial points are rejected, not reported
        return _lm(evaluate, X0, lower, upper, data, xtol, ftol, max_iter, lam0, both, step_size, batch_last)


def _damped_step(A, g, lam, d, frozen):
    """``-(A + lam diag(d))^-1 g`` (batch-last: ``A`` (k, k, b), ``g``/``d`` (k, b)), parameters in
    ``frozen`` (k, b) held (identity rows, zero step)."""
    k = g.shape[0]
    Mx = A.copy()
    for i in range(k):
        Mx[i, i] += lam * d[i]  # damping on the diagonal, in place
    gx = g
    if frozen is not None:
        keep = ~frozen
        Mx *= keep[:, None, :]
        Mx *= keep[None, :, :]
        for i in range(k):
            Mx[i, i] += frozen[i]
        gx = g * keep
    step = _cholesky_solve_t(Mx, gx, overwrite=True)
    np.negative(step, out=step)
    return step


def _lm(
    evaluate, X0, lower, upper, data, xtol, ftol, max_iter, lam0, both, step_size, batch_last
) -> LMResult:
    X_out = np.array(X0, dtype=float, copy=True)
    B, k = X_out.shape
    Lw = np.broadcast_to(np.asarray(lower, dtype=float), (B, k))
    Uw = np.broadcast_to(np.asarray(upper, dtype=float), (B, k))
    X_out = np.clip(X_out, Lw, Uw)
    rss_out = np.full(B, np.inf)
    status_out = np.full(B, NON_FINITE, dtype=np.int8)
    iter_out = np.zeros(B, dtype=np.int64)
    span = Uw - Lw
    Tol = 1e-12 * np.where(np.isfinite(span), np.maximum(np.abs(span), 1.0), 1.0)
    bounded = bool(np.isfinite(Lw).any() or np.isfinite(Uw).any())
    data = [np.asarray(a) for a in data]
    # the working arrays are batch-last: X (k, b), A (k, k, b), g (k, b), so that every operation runs over
    # contiguous problems
    if batch_last:
        ev = evaluate
    else:

        def ev(XT, *d):
            A_, g_, r_ = evaluate(np.ascontiguousarray(XT.T), *d)
            return np.ascontiguousarray(A_.transpose(1, 2, 0)), np.ascontiguousarray(g_.T), r_

    def rows(arrays, sel):
        return [a[..., sel] if batch_last else a[sel] for a in arrays]

    def size(X, Xn, dx, *d):
        if step_size is not None:
            return step_size(X.T, Xn.T, *d)
        den = np.abs(X)
        den += xtol
        return (np.abs(dx) / den).max(axis=0)

    idx = np.arange(B)
    X = np.ascontiguousarray(X_out.T)
    L, U, Tol = (np.ascontiguousarray(a.T) for a in (Lw, Uw, Tol))
    A, g, rss = ev(X, *data)
    good = np.isfinite(rss) & np.all(np.isfinite(A), axis=(0, 1)) & np.all(np.isfinite(X), axis=0)
    rss_out[:] = np.where(good, rss, np.inf)
    if not good.all():  # gathering the data arrays costs a pass over them: only when something is dropped
        idx, rss = idx[good], rss[good]
        X, A, g, L, U, Tol = (a[..., good] for a in (X, A, g, L, U, Tol))
        data = rows(data, good)
    diag = np.arange(k)
    lam = np.full(idx.size, float(lam0))
    nu = np.full(idx.size, 2.0)
    live = np.ones(idx.size, dtype=bool)  # problems of the working arrays still iterating
    it = 0
    for it in range(1, max_iter + 1):
        if not live.any():
            break
        d = A[diag, diag]
        d = np.maximum(d, 1e-12 * d.max(axis=0) + 1e-300)
        # projection: freeze parameters on a bound that the descent direction (-g) would push outside
        frozen = None
        if bounded:
            frozen = ((X <= L + Tol) & (g > 0)) | ((X >= U - Tol) & (g < 0))
            if not frozen.any():
                frozen = None
        step = _damped_step(A, g, lam, d, frozen)
        Xn = X + step
        np.maximum(Xn, L, out=Xn)
        np.minimum(Xn, U, out=Xn)
        dx = Xn - X
        # predicted RSS decrease of the (clipped) step under the linear model: -(2 g.dx + dx'A dx)
        q = 2.0 * g
        for j in range(k):
            q += A[:, j] * dx[j]
        q *= dx
        pred = -q.sum(axis=0)
        An, gn, rssn = ev(Xn, *data)
        ok = (rssn <= rss) & live  # False for NaN
        small_step = size(X, Xn, dx, *data) <= xtol
        drop = rss - rssn
        small_drop = drop <= ftol * rss
        # J'J is finite when its diagonal is (|A_ij| <= sqrt(A_ii A_jj); a NaN or inf in J reaches A_ii)
        bad = ok & ~np.isfinite(An[diag, diag]).all(axis=0)
        np.copyto(X, Xn, where=ok)
        np.copyto(rss, rssn, where=ok)
        np.copyto(A, An, where=ok)
        np.copyto(g, gn, where=ok)
        rho = np.clip(np.where(pred > 0, drop / pred, 0.0), 0.0, 1.0)
        lam = np.where(
            ok, np.maximum(lam * np.maximum(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3), 1e-15), lam * nu
        )
        nu = np.where(ok, 2.0, nu * 2.0)
        lam = np.where(live, lam, 1.0)  # carried (finished) rows stay numerically harmless
        nu = np.where(live, nu, 2.0)
        tol_met = (small_step & small_drop) if both else (small_step | small_drop)
        stalled = ~ok & (lam > 1e16)
        conv = np.where(ok, tol_met | (rss <= 1e-300), False if both else (small_step & np.isfinite(rssn)))
        finished = (conv | stalled | bad) & live
        if finished.any():
            fi = idx[finished]
            X_out[fi] = X[:, finished].T
            rss_out[fi] = np.where(bad[finished], np.inf, rss[finished])
            status_out[fi] = np.where(
                bad[finished], NON_FINITE, np.where(conv[finished], CONVERGED, STALLED)
            ).astype(np.int8)
            iter_out[fi] = it
            live &= ~finished
            # compact lazily: copying the working arrays costs more than carrying a few finished rows
            if int(live.sum()) <= 0.75 * live.size or live.size <= 64:
                idx, rss, lam, nu = idx[live], rss[live], lam[live], nu[live]
                X, A, g, L, U, Tol = (a[..., live] for a in (X, A, g, L, U, Tol))
                data = rows(data, live)
                live = np.ones(idx.size, dtype=bool)
    if live.any():  # max_iter reached
        li = idx[live]
        X_out[li] = X[:, live].T
        rss_out[li] = rss[live]
        status_out[li] = MAX_ITER
        iter_out[li] = it
    status_out[~np.isfinite(rss_out) & (status_out > 0)] = NON_FINITE
    return LMResult(x=X_out, rss=rss_out, status=status_out, n_iter=iter_out)


# --------------------------------------------------------------------------------------------------------
# Censored / log-scale problems with bounds by transformation (the national fits)
# --------------------------------------------------------------------------------------------------------
def residuals(
    model,
    theta: np.ndarray,
    tau: np.ndarray,
    y: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    sw: np.ndarray,
    exact: np.ndarray,
    log: bool,
    want_jac: bool,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Weighted residuals ``sqrt(w) (g(f) - g(target))`` and their Jacobian w.r.t. the parameters.

    ``theta`` has shape ``(p,)`` or ``(B, p)``; data arrays shape ``(n,)`` or ``(B, n)``.  The target is ``y``
    for exact points and ``clip(f, lo, hi)`` for bound points (hinge residual, zero inside the interval);
    ``g`` is the identity or ``log``.
    """
    params = [theta[..., j : j + 1] if theta.ndim > 1 else theta[j] for j in range(theta.shape[-1])]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        f = model.f(tau, *params)
        target = np.where(exact, y, np.clip(f, lo, hi))
        active = exact | (f < lo) | (f > hi)
        if log:
            r = np.log(f) - np.log(target)
        else:
            r = f - target
        r = np.where(active, r, 0.0) * sw
        if not want_jac:
            return r, None
        J = model.jac(tau, *params)
        scale = np.where(active, sw, 0.0)
        if log:
            scale = scale / f
        J = J * scale[..., None]
    return r, J


def transformed_lm(
    m,
    theta0: np.ndarray,
    tau: np.ndarray,
    y: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    sw: np.ndarray,
    exact: np.ndarray,
    log: bool,
    lo_b: np.ndarray,
    hi_b: np.ndarray,
    open_lo: np.ndarray,
    max_iter: int = 1000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`lm` on censored / log-scale problems; returns ``(theta (B, p), converged (B,), hopeless (B,))``.

    Bounds are handled by transformation: ``theta = lo + exp(u)`` (lower bound only), ``hi - exp(u)``
    (upper only), ``lo + (hi - lo) expit(u)`` (both), identity (none); the LM step is taken in ``u``.  A
    row converges when an accepted step changes the cost by < 1e-12 relative *and* every parameter by
    < 1e-8 relative to ``|theta| + 1e-6 |theta0|`` (so a parameter running into a bound converges once it
    is negligible on the scale of the point estimate).  At the final point the Bates-Watts relative offset
    must be < 1e-3 on the parameters not at a bound (within ``1e-6`` of the point-estimate scale), and no
    parameter may sit on an open (implicit positivity) bound.  ``hopeless`` marks failures no restart
    would cure: a parameter ran onto an open bound (a limit outside the model's domain, e.g. Bass
    ``p -> 0, m -> inf``) or the row was still taking downhill steps after ``max_iter`` iterations.
    Data arrays are ``(n,)`` (shared) or ``(B, n)``.
    """
    B, p = theta0.shape
    lo_b = np.asarray(lo_b, dtype=float)
    hi_b = np.asarray(hi_b, dtype=float)
    has_lo, has_hi = np.isfinite(lo_b), np.isfinite(hi_b)
    both = has_lo & has_hi
    only_lo = has_lo & ~has_hi
    only_hi = has_hi & ~has_lo
    width = np.where(both, hi_b - lo_b, 1.0)
    scale = 1e-6 * np.maximum(np.abs(theta0), 1e-300)

    def to_theta(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(over="ignore"):
            ex = np.exp(np.minimum(u, 700.0))
        s = special.expit(u)
        th = np.where(both, lo_b + width * s, np.where(only_lo, lo_b + ex, np.where(only_hi, hi_b - ex, u)))
        dth = np.where(both, width * s * (1.0 - s), np.where(only_lo, ex, np.where(only_hi, -ex, 1.0)))
        return th, dth

    def to_u(th: np.ndarray) -> np.ndarray:
        eps = 1e-9
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.clip((th - lo_b) / width, eps, 1.0 - eps)
            return np.where(
                both,
                special.logit(frac),
                np.where(
                    only_lo,
                    np.log(np.maximum(th - lo_b, eps * np.abs(th) + 1e-300)),
                    np.where(only_hi, np.log(np.maximum(hi_b - th, eps * np.abs(th) + 1e-300)), th),
                ),
            )

    n = np.shape(tau)[-1]
    rows = [np.broadcast_to(a, (B, n)) for a in (tau, y, lo, hi, sw, exact)]

    def evaluate(U, tau_, y_, lo_, hi_, sw_, ex_, scale_):
        th, dth = to_theta(U)
        r, J = residuals(m, th, tau_, y_, lo_, hi_, sw_, ex_, log, want_jac=True)
        JT = np.empty((U.shape[0], p + 1, n))
        JT[:, :p] = (J * dth[:, None, :]).transpose(0, 2, 1)
        np.nan_to_num(JT, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
        return normal_equations(JT, r)

    def step_size(U, Un, *d):
        scale_ = d[-1]
        th, _ = to_theta(U)
        thn, _ = to_theta(Un)
        return np.max(np.abs(thn - th) / (np.abs(th) + scale_), axis=1)

    u0 = to_u(theta0)
    res = lm(
        evaluate,
        u0,
        np.full(p, -np.inf),
        np.full(p, np.inf),
        [*rows, scale],
        xtol=1e-8,
        ftol=1e-12,
        max_iter=max_iter,
        both=True,
        step_size=step_size,
    )
    theta, _ = to_theta(res.x)
    conv = res.status == CONVERGED
    hopeless = res.status == MAX_ITER
    ci = np.flatnonzero(conv)
    if ci.size:
        th = theta[ci]
        sub = [a[ci] for a in rows]
        rr, Jt = residuals(m, th, *sub, log, want_jac=True)
        near_lo = (np.abs(th - lo_b) <= scale[ci]) & has_lo
        near = near_lo | ((np.abs(hi_b - th) <= scale[ci]) & has_hi)
        Jf = np.where(np.isfinite(Jt), Jt, 0.0) * (~near)[:, None, :]
        finite = np.all(np.isfinite(Jt) | near[:, None, :], axis=(1, 2))
        # squared norm of the projection of r on the column space of Jf: r^T Jf (Jf^T Jf)^+ Jf^T r
        g = np.einsum("bni,bn->bi", Jf, rr)
        A = np.einsum("bni,bnj->bij", Jf, Jf)
        pp = np.einsum("bi,bi->b", g, np.einsum("bij,bj->bi", np.linalg.pinv(A, rcond=1e-13), g))
        rss = np.sum(rr**2, axis=1)
        pf = np.maximum((~near).sum(axis=1), 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            off = np.sqrt((pp / pf) / (np.maximum(rss - pp, 0.0) / np.maximum(n - pf, 1)))
            ty, tex, tsw = sub[1], sub[5], sub[4]
            gy = np.log(ty) if log else ty
            tiny = 1e-22 * np.nansum(np.where(tex, tsw**2 * gy**2, 0.0), axis=-1)
        off = np.where(rss <= np.maximum(tiny, 1e-300), 0.0, off)
        degenerate = np.any(near_lo & np.asarray(open_lo, dtype=bool), axis=1)
        conv[ci] = finite & (off < 1e-3) & ~degenerate
        hopeless[ci] = degenerate
    return theta, conv, hopeless
