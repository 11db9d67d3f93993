"""The growth-model registry: one :class:`Model` entry per model, used by the national fits, the panel,
the report and the tests.

An entry holds everything that is specific to a model: the mean function and its analytic Jacobian, which
parameters are positive, default parameter bounds (national fits and panel fits), the self-starting grid
over the nonlinear parameters, the closed forms of the inflection time, of the time a level is reached and
of the 10 %-90 % "speed", an optional fused kernel (values and Jacobian with shared sub-expressions, for
the batched solver) and an optional reparametrisation the panel solver works in, plus what the report
shows: display name, colour and LaTeX formula.

Adding a model is one :func:`register` call (or one entry in :data:`MODELS`) plus its tests; see
``tests/test_models_registry.py`` for a toy fifth model that is registered, fitted, bootstrapped and
plotted without touching any other module.

Parameter order is part of the API; ``f(t, *params)`` and ``jac(t, *params)`` broadcast over ``t`` and over
the parameters (parameters of shape ``(B, 1)`` at ``t`` of shape ``(n,)`` give ``(B, n)``; ``jac`` adds a
last axis in ``param_names`` order).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from helpers._lazy import lazy

special = lazy("scipy.special")

__all__ = [
    "CUMULATIVE_MODELS",
    "MODELS",
    "Model",
    "aicc",
    "get_model",
    "register",
    "solver_model",
    "start_axes",
    "unregister",
]

ArrayLike = Any


def _stack(parts: Sequence[np.ndarray]) -> np.ndarray:
    shape = np.broadcast_shapes(*(np.shape(p) for p in parts))
    return np.stack([np.broadcast_to(p, shape) for p in parts], axis=-1)


@dataclass(frozen=True)
class Model:
    """A growth model (one registry entry).

    The first seven fields are the historical ``helpers.models.registry.Model`` (positional order kept).  The rest
    have defaults, so a new model needs only what it uses:

    - ``display_name``, ``colour``, ``latex``: how the report and the figures show it;
    - ``grid(tmin, tmax, dense) -> (G, p-1)``: starting candidates for every parameter but the first
      (the scale, profiled out linearly); ``dense=True`` is the national fits' grid, ``False`` the panel's;
    - ``inflection(*params)``: time of the steepest growth (peak for a rate model), before ``epoch``;
    - ``reaching(frac, *params)``: time at which the curve reaches ``frac`` of its first parameter;
    - ``speed(*params)``: years from 10 % to 90 % of the ceiling; ``rate(*params)``: the model's own rate;
    - ``bounds``: default bounds of the national fits beyond positivity (closed);
    - ``panel_bounds``: bounds of every parameter but the ceiling in the panel fits (solver form);
    - ``since_launch``: time is time since launch (``t - epoch >= 0`` required);
    - ``fused(t, XT) -> (F (n, B), JT (k+1, n, B))``: values and Jacobian with shared sub-expressions in
      the *batch-last* layout the panel solver evaluates in (``t`` (n, B) or (n, 1), parameters ``XT``
      (k, B); every array operation then runs over ``B`` contiguous problems instead of ``n`` points),
      row ``k`` of ``JT`` scratch; ``None``: built from ``f``/``jac``;
    - ``solver_form``: the same curve in the parametrisation the panel solver uses (``None``: this one),
      with ``to_natural``/``to_solver`` converting ``(..., k)`` parameter arrays.
    """

    name: str
    param_names: tuple[str, ...]
    f: Callable[..., np.ndarray]
    jac: Callable[..., np.ndarray]
    positive: tuple[bool, ...]
    cumulative: bool
    formula: str
    display_name: str = ""
    colour: str = "#7f7f7f"
    latex: str = ""
    grid: Callable[[float, float, bool], np.ndarray] | None = field(default=None, repr=False)
    inflection: Callable[..., np.ndarray] | None = field(default=None, repr=False)
    reaching: Callable[..., np.ndarray] | None = field(default=None, repr=False)
    speed: Callable[..., np.ndarray] | None = field(default=None, repr=False)
    rate: Callable[..., np.ndarray] | None = field(default=None, repr=False)
    bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict, repr=False)
    panel_bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict, repr=False)
    since_launch: bool = False
    fused: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = field(
        default=None, repr=False
    )
    solver_form: Model | None = field(default=None, repr=False)
    to_natural: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False)
    to_solver: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False)

    @property
    def n_params(self) -> int:
        """Number of parameters ``p``."""
        return len(self.param_names)

    @property
    def label(self) -> str:
        """Display name (the registry name when none is set)."""
        return self.display_name or self.name

    def __call__(self, t: ArrayLike, *params: ArrayLike) -> np.ndarray:
        return self.f(np.asarray(t, dtype=float), *params)

    def fj(self, t: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values ``F (B, n)`` and transposed Jacobian ``JT (B, k+1, n)`` (row ``k`` scratch) at ``X (B, k)``."""
        if self.fused is not None:
            tT = np.asarray(t, dtype=float).T.reshape(np.shape(t)[-1], -1)
            F, JT = self.fused(tT, np.ascontiguousarray(np.asarray(X, dtype=float).T))
            return np.ascontiguousarray(F.T), np.ascontiguousarray(JT.transpose(2, 0, 1))
        return self._fj_generic(t, X)

    def fj_t(self, tT: np.ndarray, XT: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`fj` in the batch-last layout: ``tT`` (n, B) or (n, 1), ``XT`` (k, B) -> ``F (n, B)``,
        ``JT (k+1, n, B)`` (row ``k`` scratch); the fused kernel where there is one."""
        if self.fused is not None:
            return self.fused(tT, XT)
        F, JT = self._fj_generic(tT.T, np.ascontiguousarray(XT.T))
        return np.ascontiguousarray(F.T), np.ascontiguousarray(JT.transpose(1, 2, 0))

    def _fj_generic(self, t: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cols = [X[:, j : j + 1] for j in range(X.shape[1])]
        with np.errstate(all="ignore"):
            F = self.f(t, *cols)
            J = self.jac(t, *cols)
        B, k = X.shape
        JT = np.empty((B, k + 1, F.shape[-1]))
        JT[:, :k] = np.moveaxis(J, -1, -2)
        return F, JT


# --------------------------------------------------------------------------------------------------------
# Start grids: rates and centres scaled to the data span, in two densities
# --------------------------------------------------------------------------------------------------------
def start_axes(tmin: float, tmax: float, dense: bool) -> tuple[np.ndarray, np.ndarray, float]:
    """``(rates, centres, span)`` of the start grid.

    Dense (national fits, ~10 points): 28 rates ``0.3..60 / span``, 37 centres ``tmin - span .. tmax +
    2 span``.  Coarse (panel, 214 countries x 8 starts): 20 rates ``0.3..40 / span``, 24 centres ``tmin -
    0.5 span .. tmin + 3 span`` with ``span >= 1`` year.
    """
    if dense:
        span = max(tmax - tmin, 1e-12)
        return np.geomspace(0.3, 60.0, 28) / span, np.linspace(tmin - span, tmax + 2.0 * span, 37), span
    span = max(tmax - tmin, 1.0)
    return np.geomspace(0.3, 40.0, 20) / span, np.linspace(tmin - 0.5 * span, tmin + 3.0 * span, 24), span


def _rate_centre_grid(tmin: float, tmax: float, dense: bool) -> np.ndarray:
    rates, centres, _ = start_axes(tmin, tmax, dense)
    R, C = np.meshgrid(rates, centres, indexing="ij")
    return np.column_stack([R.ravel(), C.ravel()])


def _richards_grid(tmin: float, tmax: float, dense: bool) -> np.ndarray:
    rates, centres, _ = start_axes(tmin, tmax, dense)
    nus = [0.1, 0.3, 0.6, 1.0, 1.5, 3.0, 6.0] if dense else [0.1, 0.3, 1.0, 3.0]
    R, C, V = np.meshgrid(rates, centres, nus, indexing="ij")
    return np.column_stack([R.ravel(), C.ravel(), V.ravel()])


def _gompertz_grid(tmin: float, tmax: float, dense: bool) -> np.ndarray:
    rates, centres, _ = start_axes(tmin, tmax, dense)
    R, C = np.meshgrid(rates, centres, indexing="ij")
    if not dense:
        b = np.exp(np.clip(R * C, -30, 30))
        return np.column_stack([b.ravel(), R.ravel()])
    with np.errstate(over="ignore"):
        b = np.exp(R * C)
    keep = np.isfinite(b) & (b > 0) & (b < 1e300)
    return np.column_stack([b[keep], R[keep]])


def _bass_grid(tmin: float, tmax: float, dense: bool) -> np.ndarray:
    _, _, span = start_axes(tmin, tmax, dense)
    if dense:
        ps, qs = np.geomspace(1e-4, 10.0, 26), np.geomspace(0.05, 80.0, 30)
    else:
        ps, qs = np.geomspace(1e-4, 3.0, 16), np.geomspace(0.05, 40.0, 20)
    P, Q = np.meshgrid(ps / span, qs / span, indexing="ij")
    return np.column_stack([P.ravel(), Q.ravel()])


# --------------------------------------------------------------------------------------------------------
# Kernels
# --------------------------------------------------------------------------------------------------------
def _logistic(t, K, r, t0):
    return K * special.expit(r * (t - t0))


def _logistic_jac(t, K, r, t0):
    s = special.expit(r * (t - t0))
    ds = s * (1.0 - s)
    return _stack([s, K * ds * (t - t0), -K * ds * r])


def _logistic_fused(t, XT):
    k, B = XT.shape
    JT = np.empty((k + 1, t.shape[0], B))
    with np.errstate(all="ignore"):
        K, r, t0 = XT
        d = t - t0
        s = np.multiply(d, -r, out=JT[0])
        np.exp(s, out=s)  # expit; numpy's SIMD exp is several times faster than scipy's
        s += 1.0
        np.reciprocal(s, out=s)
        F = K * s
        ds = np.subtract(1.0, s)
        ds *= F  # K s (1 - s)
        np.multiply(ds, d, out=JT[1])
        np.multiply(ds, -r, out=JT[2])
    return F, JT


def _gompertz(t, K, b, c):
    return K * np.exp(-b * np.exp(-c * t))


def _gompertz_jac(t, K, b, c):
    e = np.exp(-c * t)
    g = np.exp(-b * e)
    y = K * g
    return _stack([g, -y * e, y * b * t * e])


def _gompertz_fused(t, XT):
    k, B = XT.shape
    JT = np.empty((k + 1, t.shape[0], B))
    with np.errstate(all="ignore"):
        K, b, c = XT
        E = np.multiply(t, -c)
        np.exp(E, out=E)
        G = np.multiply(E, -b, out=JT[0])
        np.exp(G, out=G)
        F = K * G
        FE = np.multiply(F, E, out=JT[1])
        np.multiply(FE, t, out=JT[2])
        JT[2] *= b
        np.negative(FE, out=FE)
    return F, JT


def _richards(t, K, r, t0, nu):
    return K * np.exp(-np.logaddexp(0.0, -r * (t - t0)) / nu)


def _richards_jac(t, K, r, t0, nu):
    z = -r * (t - t0)
    L = np.logaddexp(0.0, z)
    g = np.exp(-L / nu)
    y = K * g
    dy_dz = -y * special.expit(z) / nu
    return _stack([g, dy_dz * -(t - t0), dy_dz * r, y * L / nu**2])


def _richards_ti(t, K, r, ti, nu):
    return _richards(t, K, r, ti + np.log(nu) / r, nu)


def _richards_ti_jac(t, K, r, ti, nu):
    lnu = np.log(nu)
    J = _richards_jac(t, K, r, ti + lnu / r, nu)
    d_t0 = J[..., 2]
    return np.stack([J[..., 0], J[..., 1] - d_t0 * lnu / r**2, d_t0, J[..., 3] + d_t0 / (r * nu)], axis=-1)


def _richards_ti_fused(t, XT):
    k, B = XT.shape
    JT = np.empty((k + 1, t.shape[0], B))
    with np.errstate(all="ignore"):
        K, r, ti, nu = XT
        lnu = np.log(nu)
        t0 = ti + lnu / r
        d = t - t0
        z = np.multiply(d, -r)
        L = np.abs(z)  # logaddexp(0, z) = max(z, 0) + log1p(exp(-|z|)), with SIMD exp/log1p
        np.negative(L, out=L)
        np.exp(L, out=L)
        np.log1p(L, out=L)
        L += np.maximum(z, 0.0)
        G = np.divide(L, -nu, out=JT[0])
        np.exp(G, out=G)
        F = K * G
        z -= L
        dz = np.exp(z, out=z)  # expit(z) = exp(z - logaddexp(0, z))
        dz *= F
        dz /= -nu  # dF/dz
        d_t0 = np.multiply(dz, r, out=JT[2])
        np.multiply(dz, d, out=JT[1])
        np.negative(JT[1], out=JT[1])
        JT[1] -= d_t0 * (lnu / r**2)
        np.multiply(F, L, out=JT[3])
        JT[3] /= nu**2
        JT[3] += d_t0 / (r * nu)
    return F, JT


def _richards_to_natural(x: np.ndarray) -> np.ndarray:
    x = np.array(x, dtype=float, copy=True)
    x[..., 2] = x[..., 2] + np.log(x[..., 3]) / x[..., 1]
    return x


def _richards_to_solver(theta: np.ndarray) -> np.ndarray:
    x = np.array(theta, dtype=float, copy=True)
    x[..., 2] = x[..., 2] - np.log(x[..., 3]) / x[..., 1]
    return x


def _bass(t, m, p, q):
    E = np.exp(-(p + q) * t)
    return m * (1.0 - E) / (1.0 + (q / p) * E)


def _bass_jac(t, m, p, q):
    E = np.exp(-(p + q) * t)
    a = q / p
    den = 1.0 + a * E
    dN_dE = -m * (1.0 + a) / den**2
    dN_da = -m * (1.0 - E) * E / den**2
    dE_ds = -t * E
    return _stack([(1.0 - E) / den, dN_dE * dE_ds + dN_da * (-q / p**2), dN_dE * dE_ds + dN_da / p])


def _bass_fused(t, XT):
    k, B = XT.shape
    JT = np.empty((k + 1, t.shape[0], B))
    with np.errstate(all="ignore"):
        m, p, q = XT
        E = np.multiply(t, -(p + q))
        np.exp(E, out=E)
        a = q / p
        inv = np.multiply(E, a)
        inv += 1.0
        np.reciprocal(inv, out=inv)
        F1 = np.subtract(1.0, E, out=JT[0])
        F1 *= inv
        F = m * F1
        tE = t * E
        X1 = np.multiply(tE, m * (1.0 + a), out=tE)
        X1 *= inv
        X1 *= inv  # dF/dE * dE/ds
        X2 = F * E
        X2 *= inv  # -dF/da
        np.multiply(X2, q / p**2, out=JT[1])
        JT[1] += X1
        np.divide(X2, p, out=JT[2])
        np.subtract(X1, JT[2], out=JT[2])
    return F, JT


def _bass_rate(t, m, p, q):
    s = p + q
    E = np.exp(-s * t)
    return m * s**2 / p * E / (1.0 + (q / p) * E) ** 2


def _bass_rate_jac(t, m, p, q):
    s = p + q
    E = np.exp(-s * t)
    a = q / p
    den = 1.0 + a * E
    n = m * s**2 / p * E / den**2
    dlog_p = 2.0 / s - 1.0 / p - t - 2.0 * (a * (-t * E) + E * (-q / p**2)) / den
    dlog_q = 2.0 / s - t - 2.0 * (a * (-t * E) + E / p) / den
    return _stack([n / m, n * dlog_p, n * dlog_q])


# --------------------------------------------------------------------------------------------------------
# Closed forms: inflection, time reaching a level, speed (years from 10 % to 90 %)
# --------------------------------------------------------------------------------------------------------
_LOG81 = math.log(81.0)  # logistic: ln(0.9/0.1) - ln(0.1/0.9)
_GOMPERTZ_SPEED = math.log(math.log(0.1) / math.log(0.9))


def _bass_inflection(m, p, q):
    # Bass is defined from launch (t >= 0): with q <= p adoption is fastest at launch
    return np.maximum(np.log(q / p) / (p + q), 0.0)


def _bass_reaching(frac, m, p, q):
    x = (1.0 - frac) / (1.0 + frac * q / p)
    return np.maximum(-np.log(x) / (p + q), 0.0)


def _bass_speed(m, p, q):
    a = q / p
    return (np.log((1.0 + 0.9 * a) / 0.1) - np.log((1.0 + 0.1 * a) / 0.9)) / (p + q)


_RICHARDS_SOLVER = Model(
    "richards",
    ("K", "r", "ti", "nu"),
    _richards_ti,
    _richards_ti_jac,
    (True, True, False, True),
    True,
    "K / (1 + nu exp(-r (t - ti)))^(1/nu)",
    fused=_richards_ti_fused,
)

MODELS: dict[str, Model] = {
    "logistic": Model(
        "logistic",
        ("K", "r", "t0"),
        _logistic,
        _logistic_jac,
        (True, True, False),
        True,
        "K / (1 + exp(-r (t - t0)))",
        display_name="Logistic",
        colour="#1f77b4",
        latex=r"K / \left(1 + e^{-r (t - t_0)}\right)",
        grid=_rate_centre_grid,
        inflection=lambda K, r, t0: t0,
        reaching=lambda frac, K, r, t0: t0 - np.log(1.0 / frac - 1.0) / r,
        speed=lambda K, r, t0: _LOG81 / r,
        rate=lambda K, r, t0: r,
        panel_bounds={"r": (1e-4, 10.0), "t0": (-50.0, 150.0)},
        fused=_logistic_fused,
    ),
    "gompertz": Model(
        "gompertz",
        ("K", "b", "c"),
        _gompertz,
        _gompertz_jac,
        (True, True, True),
        True,
        "K exp(-b exp(-c t))",
        display_name="Gompertz",
        colour="#d62728",
        latex=r"K \exp\left(-b\, e^{-c t}\right)",
        grid=_gompertz_grid,
        inflection=lambda K, b, c: np.log(b) / c,
        reaching=lambda frac, K, b, c: -np.log(-np.log(frac) / b) / c,
        speed=lambda K, b, c: _GOMPERTZ_SPEED / c,
        rate=lambda K, b, c: c,
        panel_bounds={"b": (1e-6, 1e8), "c": (1e-4, 10.0)},
        fused=_gompertz_fused,
    ),
    "richards": Model(
        "richards",
        ("K", "r", "t0", "nu"),
        _richards,
        _richards_jac,
        (True, True, False, True),
        True,
        "K / (1 + exp(-r (t - t0)))^(1/nu)",
        display_name="Richards",
        colour="#2ca02c",
        latex=r"K / \left(1 + e^{-r (t - t_0)}\right)^{1/\nu}",
        grid=_richards_grid,
        inflection=lambda K, r, t0, nu: t0 - np.log(nu) / r,
        reaching=lambda frac, K, r, t0, nu: t0 - np.log(frac ** (-nu) - 1.0) / r,
        speed=lambda K, r, t0, nu: (np.log(0.1 ** (-nu) - 1.0) - np.log(0.9 ** (-nu) - 1.0)) / r,
        rate=lambda K, r, t0, nu: r,
        bounds={"nu": (0.01, 100.0)},
        panel_bounds={"r": (1e-4, 10.0), "ti": (-50.0, 150.0), "nu": (0.02, 50.0)},
        solver_form=_RICHARDS_SOLVER,
        to_natural=_richards_to_natural,
        to_solver=_richards_to_solver,
    ),
    "bass": Model(
        "bass",
        ("m", "p", "q"),
        _bass,
        _bass_jac,
        (True, True, True),
        True,
        "m (1 - exp(-(p+q) t)) / (1 + (q/p) exp(-(p+q) t))",
        display_name="Bass",
        colour="#9467bd",
        latex=r"m \frac{1 - e^{-(p+q) t}}{1 + (q/p) e^{-(p+q) t}}",
        grid=_bass_grid,
        inflection=_bass_inflection,
        reaching=_bass_reaching,
        speed=_bass_speed,
        rate=lambda m, p, q: p + q,
        panel_bounds={"p": (1e-7, 1.0), "q": (1e-9, 10.0)},
        since_launch=True,
        fused=_bass_fused,
    ),
    "bass_rate": Model(
        "bass_rate",
        ("m", "p", "q"),
        _bass_rate,
        _bass_rate_jac,
        (True, True, True),
        False,
        "m (p+q)^2/p exp(-(p+q) t) / (1 + (q/p) exp(-(p+q) t))^2",
        display_name="Bass (adoptions per period)",
        colour="#8c564b",
        latex=r"m \frac{(p+q)^2}{p} \frac{e^{-(p+q) t}}{\left(1 + (q/p) e^{-(p+q) t}\right)^2}",
        grid=_bass_grid,
        inflection=_bass_inflection,
        rate=lambda m, p, q: p + q,
        since_launch=True,
    ),
}
"""The registry, by name.  :func:`register` adds an entry."""

CUMULATIVE_MODELS: tuple[str, ...] = ("logistic", "gompertz", "richards", "bass")
"""The cumulative models fitted by default (national comparison and panel)."""


def get_model(model: str | Model) -> Model:
    """Return the :class:`Model` for a name (or the model itself); ``ValueError`` for an unknown name."""
    if isinstance(model, Model):
        return model
    try:
        return MODELS[model]
    except KeyError:
        raise ValueError(f"unknown model {model!r}; known: {sorted(MODELS)}") from None


def register(model: Model, *, replace: bool = False) -> Model:
    """Add ``model`` to :data:`MODELS` (``ValueError`` if the name is taken and ``replace`` is False)."""
    if model.name in MODELS and not replace:
        raise ValueError(f"a model named {model.name!r} is already registered")
    if len(model.positive) != model.n_params:
        raise ValueError(
            f"{model.name}: positive has {len(model.positive)} flags for {model.n_params} params"
        )
    MODELS[model.name] = model
    return model


def unregister(name: str) -> None:
    """Remove a model added with :func:`register` (the built-in ones cannot be removed)."""
    if name in CUMULATIVE_MODELS or name == "bass_rate":
        raise ValueError(f"{name!r} is a built-in model")
    MODELS.pop(name, None)


def solver_model(model: str | Model) -> Model:
    """The parametrisation the batched panel solver works in (the model itself unless it declares one)."""
    m = get_model(model)
    return m.solver_form or m


def aicc(rss: np.ndarray | float, n: int, k: int) -> np.ndarray:
    """Gaussian AICc with sigma counted as a parameter (``k + 1`` parameters in all), vectorised over ``rss``.

    ``n (log(2 pi) + log(rss/n) + 1) + 2 (k+1) + 2 (k+1)(k+2) / (n - k - 2)``; ``inf`` when ``n <= k + 2``;
    ``-inf`` for ``rss <= 0``.  The same convention as :attr:`helpers.models.growth.FitResult.aicc`.
    """
    kk = k + 1
    rss = np.asarray(rss, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        m2ll = n * (math.log(2.0 * math.pi) + np.log(rss / n) + 1.0)
    corr = 2.0 * kk * (kk + 1) / (n - kk - 1) if n - kk - 1 > 0 else math.inf
    return m2ll + 2.0 * kk + corr
