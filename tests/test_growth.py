"""Tests of the least-squares fits (helpers.models: growth, inputs, derived, bootstrap, selection) and of the
helpers.growth facade: models, fitting, censored data, bootstrap, model selection, backtests, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.models import bootstrap, derived, growth, inputs, registry, selection
from helpers.models.registry import MODELS

TRUE = {
    "logistic": (5e6, 0.6, 6.0),
    "gompertz": (1000.0, 5.0, 0.4),
    "richards": (700.0, 0.8, 7.0, 1.5),
    "bass": (5e6, 0.01, 0.6),
    "bass_rate": (1000.0, 0.03, 0.4),
}
T = np.arange(0.0, 16.0)


# ---------------------------------------------------------------------------------------------- models


def test_facade_reexports_the_public_api() -> None:
    # `import helpers.growth; helpers.growth.fit(...)` is the public entry point: every name it promises is
    # the models layer's own object, and it fits like helpers.models.growth.fit
    import helpers.growth

    for name in helpers.growth.__all__:
        obj = getattr(helpers.growth, name)
        assert getattr(obj, "__module__", "helpers.models").startswith("helpers.models"), name
    assert helpers.growth.fit is growth.fit
    assert helpers.growth.FitResult is growth.FitResult
    assert helpers.growth.bootstrap is bootstrap.bootstrap
    res = helpers.growth.fit("logistic", T, MODELS["logistic"].f(T, *TRUE["logistic"]))
    assert res.converged and helpers.growth.saturation(res) == pytest.approx(TRUE["logistic"][0], rel=1e-9)


def test_registry() -> None:
    assert registry.CUMULATIVE_MODELS == ("logistic", "gompertz", "richards", "bass")
    assert MODELS["logistic"].param_names == ("K", "r", "t0")
    assert MODELS["gompertz"].param_names == ("K", "b", "c")
    assert MODELS["richards"].param_names == ("K", "r", "t0", "nu")
    assert MODELS["bass"].param_names == ("m", "p", "q")
    assert MODELS["bass_rate"].param_names == ("m", "p", "q")
    with pytest.raises(ValueError, match="unknown model"):
        registry.get_model("weibull")


def test_formulas() -> None:
    t = np.array([0.5, 3.0, 9.0])
    K, r, t0 = 10.0, 0.7, 4.0
    np.testing.assert_allclose(MODELS["logistic"].f(t, K, r, t0), K / (1 + np.exp(-r * (t - t0))))
    np.testing.assert_allclose(MODELS["gompertz"].f(t, K, 3.0, 0.5), K * np.exp(-3.0 * np.exp(-0.5 * t)))
    np.testing.assert_allclose(
        MODELS["richards"].f(t, K, r, t0, 2.0), K / (1 + np.exp(-r * (t - t0))) ** 0.5, rtol=1e-14
    )
    m, p, q = 100.0, 0.02, 0.5
    E = np.exp(-(p + q) * t)
    np.testing.assert_allclose(MODELS["bass"].f(t, m, p, q), m * (1 - E) / (1 + q / p * E))
    np.testing.assert_allclose(
        MODELS["bass_rate"].f(t, m, p, q), m * (p + q) ** 2 / p * E / (1 + q / p * E) ** 2
    )
    # bass_rate is the derivative of bass; richards with nu = 1 is the logistic
    h = 1e-6
    dN = (MODELS["bass"].f(t + h, m, p, q) - MODELS["bass"].f(t - h, m, p, q)) / (2 * h)
    np.testing.assert_allclose(MODELS["bass_rate"].f(t, m, p, q), dN, rtol=1e-6)
    np.testing.assert_allclose(MODELS["richards"].f(t, K, r, t0, 1.0), MODELS["logistic"].f(t, K, r, t0))


@pytest.mark.parametrize("name", list(MODELS))
def test_jacobian_matches_finite_differences(name: str) -> None:
    m = MODELS[name]
    theta = np.array(TRUE[name])
    t = np.linspace(0.0, 15.0, 7)
    J = m.jac(t, *theta)
    assert J.shape == (t.size, m.n_params)
    for j in range(m.n_params):
        h = 1e-6 * abs(theta[j])
        up, dn = theta.copy(), theta.copy()
        up[j] += h
        dn[j] -= h
        fd = (m.f(t, *up) - m.f(t, *dn)) / (2 * h)
        np.testing.assert_allclose(J[:, j], fd, rtol=1e-5, atol=1e-9 * np.abs(m.f(t, *theta)).max())


@pytest.mark.parametrize("name", list(MODELS))
def test_broadcast_over_parameter_batches(name: str) -> None:
    m = MODELS[name]
    base = np.array(TRUE[name])
    batch = base * np.array([[1.0], [1.1], [0.9]])  # (3, p)
    cols = [batch[:, j : j + 1] for j in range(m.n_params)]
    F = m.f(T, *cols)
    J = m.jac(T, *cols)
    assert F.shape == (3, T.size) and J.shape == (3, T.size, m.n_params)
    for b in range(3):
        np.testing.assert_allclose(F[b], m.f(T, *batch[b]))
        np.testing.assert_allclose(J[b], m.jac(T, *batch[b]))


# ------------------------------------------------------------------------------------------------- fit


@pytest.mark.parametrize("name", list(MODELS))
def test_recovers_known_parameters_exact(name: str) -> None:
    y = MODELS[name].f(T, *TRUE[name])
    res = growth.fit(name, T, y)
    assert res.converged, res.message
    np.testing.assert_allclose(res.theta, TRUE[name], rtol=1e-6)


@pytest.mark.parametrize("name", registry.CUMULATIVE_MODELS)
def test_recovers_known_parameters_noisy(name: str) -> None:
    rng = np.random.default_rng(42)
    t = np.arange(1.0, 25.0)
    y = MODELS[name].f(t, *TRUE[name]) * np.exp(rng.normal(0, 0.01, t.size))
    res = growth.fit(name, t, y, loss_scale="log")
    assert res.converged, res.message
    for j, k in enumerate(res.model.param_names):
        assert abs(res.params[k] - TRUE[name][j]) < 4 * res.stderr[k] + 1e-12, k
    assert res.predict(t) == pytest.approx(res.model.f(t, *res.theta))


def test_user_p0_honoured_and_epoch() -> None:
    years = np.arange(2009.0, 2023.0)
    y = MODELS["logistic"].f(years - 2008, 6e6, 0.5, 5.5)
    res = growth.fit("logistic", years, y, epoch=2008, p0={"K": 7e6, "r": 0.3, "t0": 4.0})
    assert res.converged
    assert res.params["t0"] == pytest.approx(5.5, rel=1e-8)
    assert derived.inflection(res) == pytest.approx(2013.5, rel=1e-10)
    assert res.predict([2030.0])[0] == pytest.approx(MODELS["logistic"].f(22.0, 6e6, 0.5, 5.5), rel=1e-8)
    # p0 must name every parameter
    with pytest.raises(ValueError, match="p0 must give"):
        growth.fit("logistic", years, y, epoch=2008, p0={"K": 7e6})


def test_bounds_and_at_bound() -> None:
    y = MODELS["logistic"].f(T, *TRUE["logistic"])
    res = growth.fit("logistic", T, y, bounds={"K": (1e6, 4e6)})
    assert res.params["K"] == pytest.approx(4e6)
    assert res.at_bound == ("K",) and "at a bound" in res.message
    with pytest.raises(ValueError, match="unknown parameter"):
        growth.fit("logistic", T, y, bounds={"nu": (0, 1)})
    with pytest.raises(ValueError, match="must be <"):
        growth.fit("logistic", T, y, bounds={"K": (5.0, 1.0)})


def test_information_criteria_formula() -> None:
    rng = np.random.default_rng(1)
    y = MODELS["logistic"].f(T, *TRUE["logistic"]) + rng.normal(0, 5e4, T.size)
    res = growth.fit("logistic", T, y)
    n, k = res.n, 3 + 1  # sigma counted
    m2ll = n * (np.log(2 * np.pi) + np.log(res.rss / n) + 1)
    assert res.aic == pytest.approx(m2ll + 2 * k)
    assert res.aicc == pytest.approx(m2ll + 2 * k + 2 * k * (k + 1) / (n - k - 1))
    assert res.bic == pytest.approx(m2ll + k * np.log(n))
    assert res.dof == n - 3
    assert res.stderr["K"] == pytest.approx(np.sqrt(res.cov[0, 0]))
    assert set(res.summary().columns) == {"estimate", "stderr", "rel_stderr"}


def test_non_convergence_is_reported() -> None:
    y = MODELS["logistic"].f(T, *TRUE["logistic"])
    res = growth.fit("logistic", T, y, max_nfev=2, p0={"K": 1e7, "r": 0.1, "t0": 20.0})
    assert not res.converged and "did not converge" in res.message
    # a pure exponential has no saturation: K runs away, which must not be reported as converged
    t = np.arange(0.0, 12.0)
    res = growth.fit("logistic", t, 1000 * np.exp(0.3 * t))
    assert not res.converged
    with pytest.raises(ValueError, match="did not converge"):
        bootstrap.bootstrap(res, n=10)


def test_open_positivity_bound_is_not_convergence() -> None:
    # Bass on data still growing exponentially: p -> 0 with m -> inf, no optimum inside the domain
    t = np.arange(0.0, 10.0)
    res = growth.fit("bass", t, 1000 * (np.exp(0.35 * t) - 1) + 1.0)
    assert not res.converged


# ------------------------------------------------------------------------------------- derived quantities


def _numeric_inflection(name: str, theta: tuple[float, ...]) -> float:
    t = np.linspace(-10, 40, 200001)
    f = MODELS[name].f(t, *theta)
    if name == "bass_rate":
        return float(t[np.argmax(f)])
    return float(t[np.argmax(np.gradient(f, t))])


@pytest.mark.parametrize("name", list(MODELS))
def test_inflection_formulas(name: str) -> None:
    y = MODELS[name].f(T, *TRUE[name])
    res = growth.fit(name, T, y, epoch=0.0)
    assert derived.inflection(res) == pytest.approx(_numeric_inflection(name, TRUE[name]), abs=2e-3)


def test_inflection_closed_forms() -> None:
    th = np.array([[1.0, 3.0, 0.5]])
    assert derived._inflection_tau(MODELS["gompertz"], th)[0] == pytest.approx(np.log(3.0) / 0.5)
    th = np.array([[1.0, 0.5, 4.0, 2.0]])
    assert derived._inflection_tau(MODELS["richards"], th)[0] == pytest.approx(4.0 - np.log(2.0) / 0.5)
    # Bass with q <= p: adoptions peak at launch
    assert derived._inflection_tau(MODELS["bass"], np.array([[1.0, 0.5, 0.2]]))[0] == 0.0


@pytest.mark.parametrize("name", registry.CUMULATIVE_MODELS)
def test_year_reaching(name: str) -> None:
    y = MODELS[name].f(T, *TRUE[name])
    res = growth.fit(name, T, y, epoch=0.0)
    K = TRUE[name][0]
    for frac in (0.1, 0.5, 0.9):
        tr = derived.year_reaching(res, frac * K)
        assert res.predict([tr])[0] == pytest.approx(frac * K, rel=1e-8)
    assert derived.year_reaching(res, 0.25, population=2 * K) == pytest.approx(
        derived.year_reaching(res, 0.5 * K)
    )
    assert derived.year_reaching(res, 1.2 * K) == np.inf
    with pytest.raises(ValueError, match="fraction"):
        derived.year_reaching(res, 5.0, population=100.0)


def test_year_reaching_needs_cumulative() -> None:
    y = MODELS["bass_rate"].f(T, *TRUE["bass_rate"])
    res = growth.fit("bass_rate", T, y)
    with pytest.raises(ValueError, match="cumulative"):
        derived.year_reaching(res, 10.0)


def test_percentile_interval_handles_nan_and_inf() -> None:
    assert derived.percentile_interval([1.0, 2.0, np.nan, 3.0], 0.5) == pytest.approx((1.5, 2.5))
    lo, hi = derived.percentile_interval(np.r_[np.arange(100.0), [np.inf] * 10], 0.9)
    assert np.isfinite(lo) and hi == np.inf


# ------------------------------------------------------------------------------------------ censoring


def _censored_series():
    years = np.arange(2009.0, 2023.0)
    truth = MODELS["logistic"].f(years - 2008, 6e6, 0.6, 5.0)
    rng = np.random.default_rng(0)
    y = truth * np.exp(rng.normal(0, 0.02, years.size))
    lo = np.full(years.size, np.nan)
    hi = np.full(years.size, np.nan)
    for i in (9, 11):  # "more than" figures well below the truth
        lo[i], y[i] = 0.8 * y[i], np.nan
    lo[12], hi[12], y[12] = 0.95 * truth[12], 1.05 * truth[12], np.nan  # "5.7-6.3 million"
    return years, y, lo, hi, truth


def test_naive_points() -> None:
    y = np.array([1.0, np.nan, np.nan, np.nan])
    lo = np.array([np.nan, 2.0, 3.0, np.nan])
    hi = np.array([np.nan, np.nan, 5.0, 7.0])
    np.testing.assert_allclose(inputs.naive_points(y, lo, hi), [1.0, 2.0, 4.0, 7.0])


def test_censored_fit_respects_bounds_and_differs_from_naive() -> None:
    years, y, lo, hi, truth = _censored_series()
    cens = growth.fit("logistic", years, y, lower=lo, upper=hi, loss_scale="log", epoch=2008)
    naive = growth.fit("logistic", years, inputs.naive_points(y, lo, hi), loss_scale="log", epoch=2008)
    assert cens.converged and cens.censored and "approximate" in cens.message
    assert not naive.censored
    pred = cens.predict(years)
    b = np.isfinite(lo)
    assert np.all(pred[b] >= lo[b] * (1 - 1e-6))
    assert np.all(pred[np.isfinite(hi)] <= hi[np.isfinite(hi)] * (1 + 1e-6))
    # the naive fit takes "more than" as exact and underestimates the saturation level
    assert naive.params["K"] < 0.97 * cens.params["K"]
    assert abs(cens.params["K"] / 6e6 - 1) < 0.03


def test_satisfied_bound_costs_nothing() -> None:
    years, y, lo, hi, _ = _censored_series()
    base = growth.fit("logistic", years, y, lower=lo, upper=hi, loss_scale="log", epoch=2008)
    lo2 = lo.copy()
    lo2[9] = 0.5 * lo[9]  # a looser, still satisfied bound changes nothing
    res2 = growth.fit("logistic", years, y, lower=lo2, upper=hi, loss_scale="log", epoch=2008)
    np.testing.assert_allclose(res2.theta, base.theta, rtol=1e-7)


def test_weights_and_loss_scale() -> None:
    rng = np.random.default_rng(3)
    y = MODELS["logistic"].f(T, *TRUE["logistic"]) * np.exp(rng.normal(0, 0.05, T.size))
    lin = growth.fit("logistic", T, y)
    log = growth.fit("logistic", T, y, loss_scale="log")
    rel = growth.fit("logistic", T, y, weights=1.0 / y**2)  # relative weights ~ log scale
    assert lin.loss_scale == "linear" and log.loss_scale == "log"
    assert not np.allclose(lin.theta, log.theta, rtol=1e-4)
    np.testing.assert_allclose(rel.theta, log.theta, rtol=0.05)


# ------------------------------------------------------------------------------------------ bootstrap


@pytest.fixture(scope="module")
def national_fit() -> growth.FitResult:
    years, y, lo, hi, _ = _censored_series()
    return growth.fit("logistic", years, y, lower=lo, upper=hi, loss_scale="log", epoch=2008)


@pytest.mark.parametrize("kind", ["residual", "parametric", "case"])
def test_bootstrap_reproducible_and_seed_dependent(national_fit: growth.FitResult, kind: str) -> None:
    a = bootstrap.bootstrap(national_fit, n=200, seed=7, kind=kind)
    b = bootstrap.bootstrap(national_fit, n=200, seed=7, kind=kind)
    c = bootstrap.bootstrap(national_fit, n=200, seed=8, kind=kind)
    pd.testing.assert_frame_equal(a.params, b.params)
    assert not np.allclose(a.params.to_numpy(), c.params.to_numpy(), equal_nan=True)
    assert a.params.shape == (200, 3)
    assert a.n_failed == int((~a.converged).sum()) == int(a.params.isna().any(axis=1).sum())
    assert a.n_failed < 40
    s = a.summary(reach=[0.2], population=26e6)
    assert list(s.index) == ["K", "r", "t0", "saturation", "inflection", "year_reaching_0.2"]
    assert np.all(s["lo"] <= s["estimate"]) and np.all(s["estimate"] <= s["hi"])
    assert list(s.columns) == ["estimate", "lo", "hi", "boot_median", "n_used"]
    assert np.all(s["n_used"] == 200 - a.n_failed)
    basic = a.summary(method="basic")
    lo, hi = derived.percentile_interval(a.params["K"], 0.95)
    assert basic.loc["K", "lo"] == pytest.approx(2 * a.fit.params["K"] - hi)
    assert basic.loc["K", "hi"] == pytest.approx(2 * a.fit.params["K"] - lo)


def test_bootstrap_matches_individual_refits(national_fit: growth.FitResult) -> None:
    """The batched solver gives the same optimum as fit() on the same resampled data."""
    boot = bootstrap.bootstrap(national_fit, n=5, seed=11, kind="residual")
    rng = np.random.default_rng(11)
    d = growth._data_of(national_fit)
    e = -national_fit.residuals[d.exact]
    ne = d.exact.sum()
    centre = 0.0 if national_fit.censored else e.mean()  # as documented in bootstrap()
    pool = (e - centre) * np.sqrt(ne / (ne - 3))
    draws = rng.choice(pool, size=(5, d.tau.size))
    for i in range(5):
        ys = np.where(d.exact, national_fit.predict(national_fit.t) * np.exp(draws[i]), np.nan)
        ref = growth.fit(
            "logistic",
            national_fit.t,
            ys,
            lower=national_fit.lower,
            upper=national_fit.upper,
            loss_scale="log",
            epoch=2008,
        )
        np.testing.assert_allclose(boot.params.iloc[i].to_numpy(), ref.theta, rtol=1e-5)


def test_bootstrap_failures_counted() -> None:
    # Bass on a series that stops before the inflection: some resamples show no saturation at all
    t = np.arange(1.0, 10.0)
    rng = np.random.default_rng(5)
    y = MODELS["bass"].f(t, 1e6, 0.02, 0.35) * (1 + rng.normal(0, 0.04, t.size))
    res = growth.fit("bass", t, y)
    assert res.converged, res.message
    boot = bootstrap.bootstrap(res, n=300, seed=1)
    assert boot.n_failed == int((~boot.converged).sum())
    assert boot.n_failed + int(boot.converged.sum()) == 300
    assert sum(boot.failures.values()) == boot.n_failed
    assert boot.failures["no_optimum"] > 0  # resamples without saturation are reported as such
    assert 0 <= boot.failure_rate <= 1


def test_prediction_interval(national_fit: growth.FitResult) -> None:
    boot = bootstrap.bootstrap(national_fit, n=300, seed=2)
    pi = bootstrap.prediction_interval(boot)
    assert pi["t"].iloc[0] == 2009 and pi["t"].iloc[-1] == 2030
    assert list(pi.columns) == ["t", "fit", "mean_lo", "mean_hi", "pred_lo", "pred_hi"]
    assert np.all(pi["pred_lo"] <= pi["mean_lo"] + 1e-6) and np.all(pi["pred_hi"] >= pi["mean_hi"] - 1e-6)
    assert np.all((pi["mean_lo"] <= pi["fit"]) & (pi["fit"] <= pi["mean_hi"]))
    assert np.all(pi["pred_hi"] - pi["pred_lo"] > 0)
    pd.testing.assert_frame_equal(pi, bootstrap.prediction_interval(boot))
    pi2 = bootstrap.prediction_interval(boot, [2025.0], level=0.5)
    assert pi2.shape == (1, 6)


def test_bootstrap_from_model_name() -> None:
    y = MODELS["gompertz"].f(T, *TRUE["gompertz"]) * np.exp(np.random.default_rng(0).normal(0, 0.02, T.size))
    boot = bootstrap.bootstrap("gompertz", T, y, n=50, seed=1, fit_kwargs={"loss_scale": "log"})
    assert boot.fit.model.name == "gompertz" and boot.n == 50
    with pytest.raises(ValueError, match="kind"):
        bootstrap.bootstrap(boot.fit, n=5, kind="jackknife")
    with pytest.raises(ValueError, match="needs t and y"):
        bootstrap.bootstrap("gompertz")


# ------------------------------------------------------------------------------- compare and backtest


def test_compare_models() -> None:
    rng = np.random.default_rng(4)
    y = MODELS["logistic"].f(T, *TRUE["logistic"]) * np.exp(rng.normal(0, 0.01, T.size))
    df = selection.compare_models(T, y, loss_scale="log")
    assert set(df.index) == set(registry.CUMULATIVE_MODELS)
    for col in ("aicc", "bic", "delta_aicc", "akaike_weight", "converged"):
        assert col in df.columns
    assert df["aicc"].dropna().is_monotonic_increasing
    conv = df[df["converged"]]
    assert conv["akaike_weight"].sum() == pytest.approx(1.0)
    assert conv["delta_aicc"].min() == 0.0
    assert df.index[0] in ("logistic", "richards")  # richards nests the logistic
    w = np.exp(-0.5 * conv["delta_aicc"])
    np.testing.assert_allclose(conv["akaike_weight"], w / w.sum())
    # a model that cannot be fitted is listed, not dropped
    small = selection.compare_models(T[:4], y[:4], models=["logistic", "richards"])
    assert "not fitted" in small.loc["richards", "message"]
    assert np.isnan(small.loc["richards", "akaike_weight"])


def test_backtest() -> None:
    y = MODELS["logistic"].f(T, *TRUE["logistic"])
    bt = selection.backtest(T, y, ["logistic", "gompertz"], [2.0, 8.0, 11.0])
    assert bt.shape[0] == 6
    assert list(bt.columns) == [
        "model",
        "origin",
        "n_train",
        "n_test",
        "n_scored",
        "converged",
        "mae",
        "mape",
        "message",
    ]
    row = bt[(bt.model == "logistic") & (bt.origin == 11.0)].iloc[0]
    assert row.n_train == 12 and row.n_test == 4 and row.mae < 1.0 and row.mape < 1e-5
    early = bt[(bt.model == "logistic") & (bt.origin == 2.0)].iloc[0]
    assert "not fitted" in early.message and np.isnan(early.mae)
    gomp = bt[(bt.model == "gompertz") & (bt.origin == 11.0)].iloc[0]
    assert gomp.mape > row.mape
    det = selection.backtest(T, y, ["logistic"], [11.0], detail=True)
    assert len(det) == 4 and set(det.horizon) == {1.0, 2.0, 3.0, 4.0}


def test_score_of_bounds() -> None:
    pred = np.array([10.0, 10.0, 10.0, 10.0])
    y = np.array([8.0, np.nan, np.nan, np.nan])
    lo = np.array([np.nan, 5.0, 12.0, np.nan])
    hi = np.array([np.nan, np.nan, 15.0, 9.0])
    err, ape = selection._score(pred, y, lo, hi)
    np.testing.assert_allclose(err, [2.0, 0.0, 2.0, 1.0])
    np.testing.assert_allclose(ape, [0.25, 0.0, 2 / 12, 1 / 9])


def test_backtest_scores_censored_later_observations() -> None:
    years, y, lo, hi, _ = _censored_series()
    bt = selection.backtest(
        years, y, ["logistic"], [2016.0], lower=lo, upper=hi, loss_scale="log", epoch=2008, detail=True
    )
    bound_rows = bt[bt.y.isna()]
    assert len(bound_rows) == 3
    fine = bound_rows[(bound_rows.forecast >= bound_rows.lower) & ~(bound_rows.forecast > bound_rows.upper)]
    assert np.all(fine.abs_error == 0)


# -------------------------------------------------------------------------------------------- bad input


GOOD_T = np.arange(2009.0, 2019.0)
GOOD_Y = MODELS["logistic"].f(GOOD_T - 2008, 5e6, 0.6, 4.0)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(t=GOOD_T[:3], y=GOOD_Y[:3]), "too few observations"),
        (dict(y=np.full(10, 7.0)), "constant"),
        (dict(t=np.r_[GOOD_T[:-1], np.nan]), "t contains NaN"),
        (dict(t=np.r_[GOOD_T[:-1], np.inf]), "t contains NaN or infinite"),
        (dict(y=np.r_[GOOD_Y[:-1], np.nan]), "y is NaN with no lower/upper bound"),
        (dict(y=np.r_[GOOD_Y[:-1], np.inf]), "y contains infinite"),
        (dict(t=GOOD_T[::-1].copy()), "not sorted"),
        (dict(y=np.r_[-1.0, GOOD_Y[1:]]), "negative"),
        (dict(lower=np.r_[np.full(9, np.nan), -5.0]), "lower contains negative"),
        (
            dict(
                lower=np.r_[np.full(9, np.nan), 9e6],
                upper=np.r_[np.full(9, np.nan), 8e6],
                y=np.r_[GOOD_Y[:-1], np.nan],
            ),
            "lower > upper",
        ),
        (dict(lower=np.r_[np.full(9, np.nan), GOOD_Y[-1] * 1.5]), "outside its own"),
        (dict(upper=np.r_[np.full(9, np.nan), GOOD_Y[-1] * 0.5]), "outside its own"),
        (dict(y=GOOD_Y[:-1]), "has 9 values but t has 10"),
        (dict(weights=np.r_[0.0, np.ones(9)]), "weights"),
        (dict(loss_scale="sqrt"), "loss_scale"),
        (dict(y=np.r_[0.0, GOOD_Y[1:]], loss_scale="log"), "zero values"),
        (dict(y=np.r_[GOOD_Y[:2], np.full(8, np.nan)], lower=np.r_[np.nan, np.nan, GOOD_Y[2:]]), None),
    ],
)
def test_bad_input(kwargs: dict, match: str | None) -> None:
    args = dict(t=GOOD_T, y=GOOD_Y, epoch=2008)
    args.update(kwargs)
    t, y = args.pop("t"), args.pop("y")
    if match is None:  # two exact points + bounds is enough: this one must NOT raise
        assert growth.fit("logistic", t, y, **args).n == 10
        return
    with pytest.raises(ValueError, match=match):
        growth.fit("logistic", t, y, **args)


def test_bad_input_exact_points_and_bass_epoch() -> None:
    y = np.r_[GOOD_Y[:1], np.full(9, np.nan)]
    with pytest.raises(ValueError, match="two exact"):
        growth.fit("logistic", GOOD_T, y, lower=np.r_[np.nan, GOOD_Y[1:]], epoch=2008)
    with pytest.raises(ValueError, match="time since launch"):
        growth.fit("bass", GOOD_T, GOOD_Y, epoch=2012)
    with pytest.raises(ValueError, match="p0 contains non-finite"):
        growth.fit("logistic", GOOD_T, GOOD_Y, epoch=2008, p0={"K": np.nan, "r": 1.0, "t0": 1.0})


def test_calendar_years_without_epoch_are_not_passed_off_as_converged() -> None:
    years = np.arange(2009.0, 2023.0)
    y = MODELS["gompertz"].f(years - 2008, 6e6, 5.0, 0.4)
    res = growth.fit("gompertz", years, y)  # epoch forgotten: b would have to be ~exp(0.4 * 2013)
    assert not res.converged and "epoch" in res.message
    ok = growth.fit("gompertz", years, y, epoch=2008)
    assert ok.converged
    np.testing.assert_allclose(ok.theta, [6e6, 5.0, 0.4], rtol=1e-6)
