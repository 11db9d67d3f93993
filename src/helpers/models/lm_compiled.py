"""The panel's Levenberg-Marquardt, compiled: one problem at a time in a loop, no array temporaries.

The panel refits 214 countries x 4 models x 1000 bootstrap resamples (about 850,000 problems of 3-4
parameters and 10-40 points). :func:`helpers.models.solver.lm` solves them as NumPy array operations over
many problems at once; there, every operation is a pass over memory, and the arithmetic per problem
(about 10^4 floating-point operations) is far below what those passes cost. Here the same algorithm runs
problem by problem in machine code (numba, ``cache=True``: compiled once per environment into
``__pycache__``), the points of one problem staying in registers and the L1 cache.

Same algorithm as :func:`helpers.models.solver.lm` (its module docstring is the specification): Marquardt
scaling ``lambda diag(J'J)``, Nielsen's damping update, projection on the box (a parameter on a bound whose
gradient points outwards is frozen for the iteration; the step is clipped to the box), a step is taken when
it does not increase the RSS, the same stopping rules and status codes. Results agree with it to rounding
(the sums run in another order and ``exp``/``log`` come from another library); the tests check both against
:func:`scipy.optimize.least_squares` and against each other. One difference, in cost only: a rejected trial
point's Jacobian is not computed.

Models: the four cumulative curves in the solver parametrisation (:data:`MODEL_CODES`); a model without a
compiled kernel (one added with :func:`helpers.models.registry.register`) is solved by
:func:`helpers.models.solver.lm`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# the NumPy solver's status codes (numba freezes them into the compiled code and its cache)
from helpers.models.solver import CONVERGED, MAX_ITER, NON_FINITE, STALLED

__all__ = ["MODEL_CODES", "lm_panel"]

#: Models with a compiled kernel (solver parametrisation, :data:`helpers.models.panel_fit.SOLVER_MODELS`).
MODEL_CODES: dict[str, int] = {"logistic": 0, "gompertz": 1, "richards": 2, "bass": 3}

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}


@njit(**_JIT)
def _trial(code, t, y, n, x, S):
    """``r'r`` at ``x`` over the first ``n`` points (``r = f - y``); what the Jacobian needs per point goes to
    ``S`` (n, 3), so an accepted point's normal equations (:func:`_normal`) cost no further ``exp``/``log``
    and a rejected one's are never computed."""
    rss = 0.0
    if code == 0:  # logistic (K, r, t0): S = (s, F)
        K, r, t0 = x[0], x[1], x[2]
        for p in range(n):
            s = 1.0 / (1.0 + math.exp(-r * (t[p] - t0)))
            F = K * s
            S[p, 0] = s
            S[p, 1] = F
            res = F - y[p]
            rss += res * res
    elif code == 1:  # gompertz (K, b, c): S = (E, G, F)
        K, b, c = x[0], x[1], x[2]
        for p in range(n):
            E = math.exp(-c * t[p])
            G = math.exp(-b * E)
            F = K * G
            S[p, 0] = E
            S[p, 1] = G
            S[p, 2] = F
            res = F - y[p]
            rss += res * res
    elif code == 2:  # richards (K, r, ti, nu), t0 = ti + ln(nu) / r: S = (e, L, G)
        K, r, ti, nu = x[0], x[1], x[2], x[3]
        t0 = ti + math.log(nu) / r
        inv_nu = 1.0 / nu
        for p in range(n):
            z = -r * (t[p] - t0)
            e = math.exp(-abs(z))
            L = max(z, 0.0) + math.log1p(e)  # logaddexp(0, z)
            G = math.exp(-L * inv_nu)
            S[p, 0] = e
            S[p, 1] = L
            S[p, 2] = G
            res = K * G - y[p]
            rss += res * res
    else:  # bass (m, p, q): S = (E, inv, F)
        m, pp, q = x[0], x[1], x[2]
        a = q / pp
        s = pp + q
        for p in range(n):
            E = math.exp(-s * t[p])
            inv = 1.0 / (1.0 + a * E)
            F = m * ((1.0 - E) * inv)
            S[p, 0] = E
            S[p, 1] = inv
            S[p, 2] = F
            res = F - y[p]
            rss += res * res
    return rss


@njit(inline="always", **_JIT)
def _accumulate3(A, g, J0, J1, J2, res):
    """One point's share of ``J'r`` and the lower triangle of ``J'J`` (three parameters)."""
    g[0] += J0 * res
    g[1] += J1 * res
    g[2] += J2 * res
    A[0, 0] += J0 * J0
    A[1, 0] += J1 * J0
    A[1, 1] += J1 * J1
    A[2, 0] += J2 * J0
    A[2, 1] += J2 * J1
    A[2, 2] += J2 * J2


@njit(inline="always", **_JIT)
def _accumulate4(A, g, J0, J1, J2, J3, res):
    """:func:`_accumulate3` and the fourth parameter's terms."""
    _accumulate3(A, g, J0, J1, J2, res)
    g[3] += J3 * res
    A[3, 0] += J3 * J0
    A[3, 1] += J3 * J1
    A[3, 2] += J3 * J2
    A[3, 3] += J3 * J3


@njit(**_JIT)
def _normal(code, t, y, n, x, S, A, g):  # noqa: C901 (one branch per model, hoisted constants)
    """Normal equations ``A = J'J``, ``g = J'r`` at the point :func:`_trial` last evaluated into ``S``."""
    k = x.size
    for i in range(k):
        g[i] = 0.0
        for j in range(k):
            A[i, j] = 0.0
    J0 = J1 = J2 = J3 = 0.0
    if code == 0:
        r, t0 = x[1], x[2]
        for p in range(n):
            d = t[p] - t0
            s = S[p, 0]
            F = S[p, 1]
            ds = F * (1.0 - s)
            J0 = s
            J1 = ds * d
            J2 = -ds * r
            res = F - y[p]
            _accumulate3(A, g, J0, J1, J2, res)
    elif code == 1:
        b = x[1]
        for p in range(n):
            E = S[p, 0]
            F = S[p, 2]
            FE = F * E
            J0 = S[p, 1]
            J1 = -FE
            J2 = FE * t[p] * b
            res = F - y[p]
            _accumulate3(A, g, J0, J1, J2, res)
    elif code == 2:
        K, r, ti, nu = x[0], x[1], x[2], x[3]
        lnu = math.log(nu)
        t0 = ti + lnu / r
        c1 = lnu / (r * r)
        c3 = 1.0 / (r * nu)
        inv_nu = 1.0 / nu
        for p in range(n):
            d = t[p] - t0
            z = -r * d
            e = S[p, 0]
            L = S[p, 1]
            G = S[p, 2]
            F = K * G
            ez = (1.0 if z >= 0.0 else e) / (1.0 + e)  # expit(z), from the same exp
            dz = -ez * F * inv_nu  # dF/dz
            d_t0 = dz * r
            J0 = G
            J1 = -dz * d - d_t0 * c1
            J2 = d_t0
            J3 = F * L * inv_nu * inv_nu + d_t0 * c3
            res = F - y[p]
            _accumulate4(A, g, J0, J1, J2, J3, res)
    else:
        m, pp, q = x[0], x[1], x[2]
        a = q / pp
        c1 = m * (1.0 + a)
        c2 = q / (pp * pp)
        for p in range(n):
            E = S[p, 0]
            inv = S[p, 1]
            F = S[p, 2]
            X1 = t[p] * E * c1 * inv * inv  # dF/dE * dE/ds
            X2 = F * E * inv  # -dF/da
            J0 = (1.0 - E) * inv
            J1 = X2 * c2 + X1
            J2 = X1 - X2 / pp
            res = F - y[p]
            _accumulate3(A, g, J0, J1, J2, res)
    for i in range(k):
        for j in range(i + 1, k):
            A[i, j] = A[j, i]


@njit(**_JIT)
def _evaluate(code, t, y, n, x, A, g, S):
    """``r'r`` at ``x``, and its normal equations into ``A``, ``g`` (``S``: scratch (n, 3))."""
    rss = _trial(code, t, y, n, x, S)
    _normal(code, t, y, n, x, S, A, g)
    return rss


@njit(**_JIT)
def _finite_diag(A):
    for i in range(A.shape[0]):
        if not math.isfinite(A[i, i]):
            return False
    return True


@njit(**_JIT)
def _damped_step(A, g, lam, frozen, M, step):
    """``step = -(A + lam diag(d))^-1 g`` with frozen parameters held (Cholesky; a non-positive pivot gives
    NaN, as in :func:`helpers.models.solver._cholesky_solve_t`)."""
    k = g.size
    dmax = A[0, 0]
    for i in range(1, k):
        if A[i, i] > dmax:
            dmax = A[i, i]
    floor = 1e-12 * dmax + 1e-300
    for i in range(k):
        for j in range(k):
            M[i, j] = A[i, j]
        M[i, i] += lam * max(A[i, i], floor)
    for i in range(k):
        if frozen[i]:
            for j in range(k):
                M[i, j] = 0.0
                M[j, i] = 0.0
            M[i, i] = 1.0
    # factor in place (lower triangle), then forward and back substitution
    for j in range(k):
        s = M[j, j]
        for m in range(j):
            s -= M[j, m] * M[j, m]
        if not s > 0.0:
            s = np.nan
        M[j, j] = math.sqrt(s)
        for i in range(j + 1, k):
            s = M[i, j]
            for m in range(j):
                s -= M[i, m] * M[j, m]
            M[i, j] = s / M[j, j]
    for i in range(k):
        s = 0.0 if frozen[i] else g[i]
        for m in range(i):
            s -= M[i, m] * step[m]
        step[i] = s / M[i, i]
    for i in range(k - 1, -1, -1):
        s = step[i]
        for m in range(i + 1, k):
            s -= M[m, i] * step[m]
        step[i] = s / M[i, i]
    for i in range(k):
        step[i] = -step[i]


@njit(**_JIT)
def _solve_one(
    code, t, y, n, x, lo, hi, xtol, ftol, max_iter, lam0, A, An, M, g, gn, step, xn, tol, frozen, S
):
    """One problem from ``x`` (updated in place; the other arrays are scratch); returns
    ``(rss, status, n_iter)``."""
    k = x.size
    for i in range(k):
        x[i] = min(max(x[i], lo[i]), hi[i])
        span = hi[i] - lo[i]
        tol[i] = 1e-12 * (max(abs(span), 1.0) if math.isfinite(span) else 1.0)
    rss = _evaluate(code, t, y, n, x, A, g, S)
    good = math.isfinite(rss)
    for i in range(k):
        good = good and math.isfinite(x[i])
        for j in range(k):
            good = good and math.isfinite(A[i, j])
    if not good:
        return np.inf, NON_FINITE, 0
    lam = lam0
    nu = 2.0
    for it in range(1, max_iter + 1):
        for i in range(k):
            frozen[i] = (x[i] <= lo[i] + tol[i] and g[i] > 0.0) or (x[i] >= hi[i] - tol[i] and g[i] < 0.0)
        _damped_step(A, g, lam, frozen, M, step)
        for i in range(k):
            v = x[i] + step[i]  # clipped to the box (NaN stays NaN)
            if v < lo[i]:
                v = lo[i]
            if v > hi[i]:
                v = hi[i]
            xn[i] = v
        # predicted RSS decrease of the clipped step under the linear model: -(2 g.dx + dx'A dx)
        small_step = True
        pred = 0.0
        for i in range(k):
            dx = xn[i] - x[i]
            q = 2.0 * g[i]
            for j in range(k):
                q += A[i, j] * (xn[j] - x[j])
            pred -= q * dx
            if not (abs(dx) / (abs(x[i]) + xtol) <= xtol):
                small_step = False
        rssn = _trial(code, t, y, n, xn, S)
        if rssn <= rss:  # accepted (False for NaN)
            _normal(code, t, y, n, xn, S, An, gn)
            drop = rss - rssn
            small_drop = drop <= ftol * rss
            for i in range(k):
                x[i] = xn[i]
            if not _finite_diag(An):
                return np.inf, NON_FINITE, it
            for i in range(k):
                g[i] = gn[i]
                for j in range(k):
                    A[i, j] = An[i, j]
            rss = rssn
            rho = min(max(drop / pred if pred > 0.0 else 0.0, 0.0), 1.0)
            lam = max(lam * max(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3), 1e-15)
            nu = 2.0
            if small_step or small_drop or rss <= 1e-300:
                return rss, CONVERGED, it
        else:
            lam *= nu
            nu *= 2.0
            if small_step and math.isfinite(rssn):
                return rss, CONVERGED, it
            if lam > 1e16:
                return rss, STALLED, it
    return rss, MAX_ITER, max_iter


@njit(**_JIT)
def _lm_rows(code, T, Y, used, X, L, U, row, xtol, ftol, max_iter, lam0, rss_out, status_out, iter_out):
    """:func:`_solve_one` for every problem ``b`` (times and bounds: row ``row[b]`` of ``T``, ``L``, ``U``):
    ``X[b]`` updated in place, results into the ``*_out`` arrays."""
    k = X.shape[1]
    A, An, M = np.empty((k, k)), np.empty((k, k)), np.empty((k, k))
    g, gn, step, xn, tol = np.empty(k), np.empty(k), np.empty(k), np.empty(k), np.empty(k)
    frozen = np.zeros(k, dtype=np.bool_)
    S = np.empty((Y.shape[1], 3))
    for b in range(X.shape[0]):
        r = row[b]
        rss, status, its = _solve_one(
            code, T[r], Y[b], used[b], X[b], L[r], U[r], xtol, ftol, max_iter, lam0,
            A, An, M, g, gn, step, xn, tol, frozen, S,
        )  # fmt: skip
        rss_out[b] = rss
        status_out[b] = status
        iter_out[b] = its


def lm_panel(
    model: str,
    T: np.ndarray,
    Y: np.ndarray,
    used: np.ndarray,
    X0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    row: np.ndarray,
    *,
    xtol: float,
    ftol: float,
    max_iter: int,
    lam0: float = 1e-3,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Solve ``B`` bounded problems ``min ||f(T_r; x_b) - Y_b||^2`` over the first ``used[b]`` points,
    ``r = row[b]``.

    ``model``: a name in :data:`MODEL_CODES` (solver parametrisation); ``Y``: (B, n); ``used``, ``row``: (B,); ``X0``: (B, k);
    ``T`` (G, n), ``lower``/``upper`` (G, k): one row per group of problems that share their times and
    bounds (e.g. a country's resamples), so they are not copied per problem. Returns ``(x, rss, status,
    n_iter)`` with the status codes of :mod:`helpers.models.solver`.
    """
    B, k = X0.shape
    X = np.array(X0, dtype=np.float64, order="C", copy=True)
    rss = np.empty(B)
    status = np.empty(B, dtype=np.int8)
    n_iter = np.empty(B, dtype=np.int64)
    f64 = lambda a: np.ascontiguousarray(a, dtype=np.float64)  # noqa: E731
    i64 = lambda a: np.ascontiguousarray(a, dtype=np.int64)  # noqa: E731
    row = i64(row)
    G = T.shape[0]
    if row.shape != (B,) or (B and (row.min() < 0 or row.max() >= G)) or np.shape(lower) != (G, k):
        raise ValueError("lm_panel: row must map every problem to a row of T, lower and upper")
    _lm_rows(
        MODEL_CODES[model], f64(T), f64(Y), i64(used), X, f64(lower), f64(upper), row,
        float(xtol), float(ftol), int(max_iter), float(lam0), rss, status, n_iter,
    )  # fmt: skip
    return X, rss, status, n_iter
