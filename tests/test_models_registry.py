"""The model registry and the batched solver: every entry's formulas checked numerically, and a toy fifth
model that is registered (one entry, here in the test), fitted, bootstrapped, fitted across a panel and
plotted without touching any other module."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from helpers.models import bootstrap, derived, growth, panel_fit, registry, selection, solver
from helpers.models import panel as P
from helpers.models.registry import MODELS, Model
from helpers.steps import growth_figures

THETA = {
    "logistic": [100.0, 0.4, 8.0],
    "gompertz": [100.0, 6.0, 0.3],
    "richards": [100.0, 0.5, 9.0, 0.4],
    "bass": [100.0, 0.01, 0.5],
    "bass_rate": [100.0, 0.01, 0.5],
}


# --------------------------------------------------------------------------- every registry entry
@pytest.mark.parametrize("name", list(THETA))
def test_jacobian_matches_central_differences(name):
    m = MODELS[name]
    t = np.linspace(0.0, 30.0, 31)
    th = np.array(THETA[name])
    J = m.jac(t, *th)
    for j in range(th.size):
        h = 1e-6 * max(abs(th[j]), 1e-2)
        up, dn = th.copy(), th.copy()
        up[j] += h
        dn[j] -= h
        fd = (m.f(t, *up) - m.f(t, *dn)) / (2 * h)
        np.testing.assert_allclose(J[:, j], fd, rtol=1e-5, atol=1e-7 * np.abs(m.f(t, *th)).max())


@pytest.mark.parametrize("name", list(THETA))
def test_fused_kernel_equals_generic_one(name):
    m = registry.solver_model(name)
    X = np.array([THETA[name]])
    if m.to_natural is None and MODELS[name].to_solver is not None:
        X = MODELS[name].to_solver(X)
    t = np.arange(0.0, 25.0)
    F, JT = m.fj(t, X)
    generic = Model(m.name, m.param_names, m.f, m.jac, m.positive, m.cumulative, m.formula)
    F2, JT2 = generic.fj(t, X)
    np.testing.assert_allclose(F, F2, rtol=1e-12)
    np.testing.assert_allclose(JT[:, :-1], JT2[:, :-1], rtol=1e-10, atol=1e-12 * np.abs(JT2[:, :-1]).max())


@pytest.mark.parametrize("name", ["logistic", "gompertz", "richards", "bass"])
def test_closed_forms_match_the_curve(name):
    m = MODELS[name]
    th = THETA[name]
    t = np.linspace(-40.0, 80.0, 1_200_001)
    y = m.f(t, *th)
    assert float(m.inflection(*th)) == pytest.approx(t[np.argmax(np.gradient(y, t))], abs=1e-3)
    t10, t90 = t[np.searchsorted(y, 0.1 * th[0])], t[np.searchsorted(y, 0.9 * th[0])]
    assert float(m.speed(*th)) == pytest.approx(t90 - t10, abs=1e-3)
    for frac in (0.2, 0.5, 0.8):
        assert float(m.f(m.reaching(frac, *th), *th)) == pytest.approx(frac * th[0], rel=1e-9)


def test_every_entry_is_complete_for_the_report():
    for name, m in MODELS.items():
        assert m.display_name and m.latex and m.colour.startswith("#"), name
        assert m.grid is not None and m.inflection is not None, name
        assert m.grid(0.0, 10.0, True).shape[1] == m.n_params - 1
        assert m.grid(0.0, 10.0, False).shape[1] == m.n_params - 1


def test_register_refuses_a_taken_name_and_builtins_stay():
    with pytest.raises(ValueError, match="already registered"):
        registry.register(MODELS["logistic"])
    with pytest.raises(ValueError, match="built-in"):
        registry.unregister("logistic")
    assert registry.MODELS is registry.MODELS and registry.get_model("bass") is MODELS["bass"]


# --------------------------------------------------------------------------- the solver
def test_cholesky_solve_matches_lapack_and_flags_indefinite_rows():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(50, 4, 4))
    M = A @ A.transpose(0, 2, 1) + 0.1 * np.eye(4)
    g = rng.normal(size=(50, 4))
    np.testing.assert_allclose(
        solver.cholesky_solve(M, g), np.linalg.solve(M, g[..., None])[..., 0], rtol=1e-9
    )
    M[3] = -np.eye(4)
    x = solver.cholesky_solve(M, g)
    assert np.isnan(x[3]).all() and np.isfinite(np.delete(x, 3, axis=0)).all()


def test_problems_in_one_batch_converge_independently():
    """A problem that cannot converge (iteration cap) or has non-finite data does not change the others."""
    t = np.arange(20.0)
    truth = np.array([[80.0, 0.5, 9.0], [40.0, 0.3, 12.0], [60.0, 0.8, 6.0]])
    Y = panel_fit._fj("logistic", t, truth)[0]
    Y[1, 3] = np.nan  # non-finite data in one problem
    X0 = np.array([[60.0, 0.2, 5.0], [70.0, 1.0, 5.0], [20.0, 5.0, 40.0]])
    lo, hi = np.array([1e-6, 1e-4, -50]), np.array([500.0, 10.0, 150.0])
    together = panel_fit.lm_batch("logistic", t, Y, X0, lo, hi, max_iter=60)
    for b in range(3):
        alone = panel_fit.lm_batch("logistic", t, Y[b], X0[b : b + 1], lo, hi, max_iter=60)
        np.testing.assert_array_equal(together.x[b], alone.x[0])
        assert together.converged[b] == alone.converged[0] and together.n_iter[b] == alone.n_iter[0]
    assert together.converged[0] and not together.converged[1]
    np.testing.assert_allclose(together.x[0], truth[0], rtol=1e-8)


# --------------------------------------------------------------------------- a toy fifth model
def _mono(t, K, r):
    return K * -np.expm1(-r * t)


def _mono_jac(t, K, r):
    e = np.exp(-r * t)
    return registry._stack([1.0 - e, K * t * e])


def _mono_grid(tmin, tmax, dense):
    rates, _, _ = registry.start_axes(tmin, tmax, dense)
    return rates[:, None]


TOY = Model(
    "toy_monomolecular",
    ("K", "r"),
    _mono,
    _mono_jac,
    (True, True),
    True,
    "K (1 - exp(-r t))",
    display_name="Monomolecular (toy)",
    colour="#17becf",
    latex=r"K \left(1 - e^{-r t}\right)",
    grid=_mono_grid,
    inflection=lambda K, r: np.zeros_like(np.asarray(r, dtype=float)),
    reaching=lambda frac, K, r: -np.log1p(-frac) / r,
    speed=lambda K, r: math.log(9.0) / r,
    rate=lambda K, r: r,
    panel_bounds={"r": (1e-4, 10.0)},
    since_launch=True,
)


@pytest.fixture
def toy():
    registry.register(TOY)
    try:
        yield TOY.name
    finally:
        registry.unregister(TOY.name)
    assert TOY.name not in MODELS


def test_toy_model_is_fitted_bootstrapped_panelled_and_plotted(toy, tmp_path):
    rng = np.random.default_rng(1)
    t = np.arange(2009.0, 2025.0)
    K, r = 6.5e6, 0.25
    y = _mono(t - 2008.0, K, r) * np.exp(rng.normal(0, 0.03, t.size))
    # national fit: self-starting from the registry's grid, log scale, epoch
    fit = growth.fit(toy, t, y, loss_scale="log", epoch=2008.0)
    assert fit.converged, fit.message
    assert fit.params["K"] == pytest.approx(K, rel=0.1) and fit.params["r"] == pytest.approx(r, rel=0.1)
    assert derived.inflection(fit) == 2008.0
    assert derived.year_reaching(fit, 0.5 * fit.params["K"]) == pytest.approx(
        2008 + math.log(2) / fit.params["r"]
    )
    # bootstrap through the shared batched solver
    boot = bootstrap.bootstrap(fit, n=200, seed=3)
    assert boot.n_failed <= 4
    summ = boot.summary()
    assert summ.loc["K", "lo"] < fit.params["K"] < summ.loc["K", "hi"]
    assert summ.loc["r", "lo"] < r < summ.loc["r", "hi"]
    pi = bootstrap.prediction_interval(boot, horizon=2030)
    assert (pi["mean_lo"] <= pi["fit"]).all() and (pi["fit"] <= pi["mean_hi"]).all()
    # model comparison ranks it with the built-in models
    cmp = selection.compare_models(t, y, [toy, "logistic"], loss_scale="log", epoch=2008.0)
    assert set(cmp.index) == {toy, "logistic"} and np.isfinite(cmp.loc[toy, "aicc"])
    # the panel fits it like any other model (registry bounds, grid, speed, inflection)
    years = np.arange(1995, 2021)
    rows = [("AAA", "Aland", yr, v) for yr, v in zip(years, _mono(years - 1994.0, 90.0, 0.3), strict=True)]
    pan = pd.DataFrame(rows, columns=["iso3", "name", "year", "per100"])
    pan["per100"] += np.random.default_rng(2).normal(0, 0.5, len(pan))
    tab = P.fit_panel(pan, models=[toy, "logistic"], n_bootstrap=30, seed=1, n_jobs=1)
    row = tab[tab["model"] == toy].iloc[0]
    assert row["converged"] and row["n_boot_ok"] >= 28
    assert row["speed"] == pytest.approx(math.log(9.0) / row["p_r"])
    assert row["ceiling_lo"] < row["ceiling"] < row["ceiling_hi"]
    # plotted in its registry colour
    fig = growth_figures.plot_residuals(
        {toy: fit, "logistic": growth.fit("logistic", t, y, loss_scale="log")}
    )
    assert matplotlib.colors.to_hex(fig.axes[0].lines[1].get_color()) == TOY.colour
    fig.savefig(tmp_path / "toy.png")
    assert (tmp_path / "toy.png").stat().st_size > 0
