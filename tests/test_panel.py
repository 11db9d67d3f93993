"""Tests for :mod:`helpers.models.panel` (+ panel_fit, panel_peers): kernels, batched LM vs scalar fits,
bootstrap, backends, notebook helpers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from helpers.data import external
from helpers.models import growth, panel_fit, panel_peers, registry
from helpers.models import panel as P

REAL = ["KOR", "CHN", "CUB", "DEU", "PRK"]


def _close(a, b, names, t, rtol):
    """``|a - b| <= rtol |b|``, except location parameters (t0, ti), which can sit near 0: for them the
    scale is the time axis, ``|a - b| <= rtol * max(t)``."""
    a, b = np.asarray(a), np.asarray(b)
    scale = np.array(
        [max(float(np.max(t)), 1.0) if n in ("t0", "ti") else abs(v) for n, v in zip(names, b, strict=True)]
    )
    assert np.all(np.abs(a - b) <= rtol * scale + 1e-12), f"{names}: {a} vs {b}"


@pytest.fixture(scope="module")
def real_panel() -> pd.DataFrame:
    return external.panel()


def _synthetic_panel() -> pd.DataFrame:
    """Four made-up countries: a clean S-curve, a decliner, a late starter with 3 points, a never-launcher."""
    rng = np.random.default_rng(5)
    rows = []
    years = np.arange(1995, 2021)
    s = 90.0 / (1.0 + np.exp(-0.45 * (years - 2006.0))) + rng.normal(0, 1.0, years.size)
    rows += [("AAA", "Aland", y, max(v, 0.0)) for y, v in zip(years, s, strict=True)]
    d = 120.0 / (1.0 + np.exp(-0.6 * (years - 2004.0)))
    d[years > 2012] *= np.linspace(1.0, 0.6, int((years > 2012).sum()))
    rows += [("BBB", "Bland", y, v) for y, v in zip(years, d, strict=True)]
    rows += [("CCC", "Cland", y, v) for y, v in [(2015, 0.0), (2018, 2.0), (2019, 5.0), (2020, 9.0)]]
    rows += [("DDD", "Dland", y, 0.2) for y in range(2010, 2021)]
    return pd.DataFrame(rows, columns=["iso3", "name", "year", "per100"])


@pytest.fixture(params=["compiled", "numpy"])
def solver(request, monkeypatch) -> str:
    """Both implementations of the panel's LM: the compiled kernel (default) and the NumPy batched solver
    (registered models, ``NKT_PANEL_SOLVER=numpy``)."""
    monkeypatch.setattr(panel_fit, "_USE_COMPILED", request.param == "compiled")
    assert panel_fit.uses_compiled_solver("richards") == (request.param == "compiled")
    return request.param


# --------------------------------------------------------------------------- kernels and derived quantities
@pytest.mark.parametrize(
    "model,x",
    [
        ("logistic", [[80.0, 0.3, 8.0], [150.0, 1.2, -2.0]]),
        ("gompertz", [[100.0, 5.0, 0.2], [60.0, 40.0, 0.9]]),
        ("richards", [[120.0, 0.4, 9.0, 0.5], [100.0, 0.2, 5.0, 3.0], [90.0, 0.1, 7.0, 0.02]]),
        ("bass", [[90.0, 0.01, 0.4], [130.0, 0.05, 1e-9]]),
    ],
)
def test_fused_kernels_match_growth_models(model, x):
    t = np.arange(0.0, 30.0)
    X = np.array(x)
    F, JT = panel_fit._fj(model, t, X)
    F2, J2 = panel_fit._eval(panel_fit.SOLVER_MODELS[model], t, X, jac=True)
    np.testing.assert_allclose(F, F2, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(JT[:, :-1].transpose(0, 2, 1), J2, rtol=1e-10, atol=1e-10 * np.abs(J2).max())
    # the solver parametrisation is the same curve as helpers.models.growth's
    nat = panel_fit.to_natural(model, X)
    cols = [nat[:, j : j + 1] for j in range(nat.shape[1])]
    np.testing.assert_allclose(F, registry.MODELS[model].f(t, *cols), rtol=1e-12)
    np.testing.assert_allclose(panel_fit.to_internal(model, nat), X, rtol=1e-12)
    # Jacobian against central differences
    for j in range(X.shape[1]):
        h = 1e-6 * np.maximum(np.abs(X[:, j]), 1e-2)
        Xp, Xm = X.copy(), X.copy()
        Xp[:, j] += h
        Xm[:, j] -= h
        fd = (panel_fit._fj(model, t, Xp)[0] - panel_fit._fj(model, t, Xm)[0]) / (2 * h[:, None])
        np.testing.assert_allclose(JT[:, j], fd, rtol=1e-5, atol=1e-6 * np.abs(F).max())


@pytest.mark.parametrize(
    "model,theta",
    [
        ("logistic", [100.0, 0.4, 8.0]),
        ("gompertz", [100.0, 6.0, 0.3]),
        ("richards", [100.0, 0.5, 9.0, 0.4]),
        ("richards", [100.0, 0.5, 9.0, 3.0]),
        ("bass", [100.0, 0.01, 0.5]),
    ],
)
def test_derived_speed_and_inflection_match_numerical_curve(model, theta):
    t = np.linspace(-40.0, 80.0, 1_200_001)
    y = registry.MODELS[model].f(t, *theta)
    dq = panel_fit.derived(model, np.array(theta))
    K = theta[0]
    t10 = t[np.searchsorted(y, 0.1 * K)]
    t90 = t[np.searchsorted(y, 0.9 * K)]
    assert float(dq["speed"]) == pytest.approx(t90 - t10, abs=1e-3)
    assert float(dq["inflection_t"]) == pytest.approx(t[np.argmax(np.gradient(y, t))], abs=1e-3)
    assert float(dq["ceiling"]) == K


def test_bass_inflection_is_launch_when_q_below_p():
    assert float(panel_fit.derived("bass", np.array([100.0, 0.3, 0.1]))["inflection_t"]) == 0.0


def test_aicc_matches_growth_convention():
    t = np.arange(12.0)
    y = 30.0 / (1 + np.exp(-0.5 * (t - 5))) + np.array(
        [0.3, -0.2, 0.1, 0.4, -0.5, 0.2, 0.0, -0.1, 0.3, -0.3, 0.2, -0.1]
    )
    res = growth.fit("logistic", t, y)
    assert float(registry.aicc(res.rss, 12, 3)) == pytest.approx(res.aicc, rel=1e-12)
    assert math.isinf(float(registry.aicc(1.0, 5, 3)))


# --------------------------------------------------------------------------- solver
def test_lm_batch_recovers_exact_parameters_and_respects_bounds(solver):
    t = np.arange(20.0)
    truth = np.array([[80.0, 0.5, 9.0], [40.0, 0.3, 12.0]])
    Y = panel_fit._fj("logistic", t, truth)[0]
    X0 = np.array([[60.0, 0.2, 5.0], [70.0, 1.0, 5.0]])
    lo, hi = np.array([1e-6, 1e-4, -50]), np.array([500.0, 10.0, 150.0])
    res = panel_fit.lm_batch("logistic", t, Y, X0, lo, hi)
    assert res.converged.all()
    np.testing.assert_allclose(res.x, truth, rtol=1e-8)
    # a ceiling capped below the truth ends exactly on its bound
    hi2 = np.array([50.0, 10.0, 150.0])
    res2 = panel_fit.lm_batch("logistic", t, Y[0], X0[:1], lo, hi2)
    assert res2.x[0, 0] == pytest.approx(50.0) and np.all(res2.x <= hi2) and res2.converged.all()


def test_lm_batch_rows_of_different_lengths_get_the_answer_they_get_alone(real_panel, solver):
    """Series of different lengths in one batch (the solver evaluates each block over the points its
    longest series has, the shorter ones masked): every row bit-for-bit as when solved on its own,
    including a block boundary that falls inside a run of equal lengths (BLOCK rows per block)."""
    rows = []
    for iso3, nb in (("CUB", 3), ("DEU", panel_fit.BLOCK + 5), ("PRK", 4)):
        first, t, y = P.country_series(real_panel, iso3)
        pf = panel_fit.point_fit("logistic", t, y)
        Ys = panel_fit.residual_resamples(pf.fitted, y, 3, nb, np.random.default_rng(4))
        rows.append((t, Ys, panel_fit._linear_starts("logistic", pf, t, Ys), pf.lower, pf.upper))
    n = max(r[0].size for r in rows)
    T = np.vstack(
        [np.broadcast_to(np.pad(t, (0, n - t.size), mode="edge"), (len(Y), n)) for t, Y, *_ in rows]
    )
    Y = np.vstack([np.pad(Y, ((0, 0), (0, n - Y.shape[1]))) for _, Y, *_ in rows])
    X0, L, U = (np.vstack([np.broadcast_to(r[j], r[2].shape) for r in rows]) for j in (2, 3, 4))
    n_obs = np.concatenate([np.full(len(r[1]), r[0].size) for r in rows])
    assert len(set(n_obs)) == 3
    together = panel_fit.lm_batch(
        "logistic", T, Y, X0, L, U, xtol=1e-10, ftol=1e-14, max_iter=300, n_obs=n_obs
    )
    assert together.converged.all()
    for b in list(range(3)) + [3, 3 + panel_fit.BLOCK, 3 + panel_fit.BLOCK + 4, len(n_obs) - 1]:
        m = n_obs[b]
        alone = panel_fit.lm_batch("logistic", T[b, :m], Y[b, :m], X0[b : b + 1], L[b], U[b], xtol=1e-10,
                                   ftol=1e-14, max_iter=300)  # fmt: skip
        np.testing.assert_array_equal(alone.x[0], together.x[b])
        assert alone.rss[0] == together.rss[b] and alone.n_iter[0] == together.n_iter[b]


def test_lm_batch_reports_non_convergence_at_max_iter(solver):
    t = np.arange(20.0)
    Y = panel_fit._fj("logistic", t, np.array([[80.0, 0.5, 9.0]]))[0][0]
    res = panel_fit.lm_batch("logistic", t, Y, np.array([[10.0, 5.0, 40.0]]), np.array([1e-6, 1e-4, -50]),
                     np.array([500.0, 10.0, 150.0]), max_iter=2)  # fmt: skip
    assert not res.converged[0] and res.n_iter[0] == 2


def test_lm_batch_flags_non_finite_rows_and_leaves_the_others_alone(solver):
    """A row whose data or start is not finite is reported as not converged with an infinite RSS; the
    rows beside it get exactly what they get alone."""
    t = np.arange(20.0)
    Y = np.repeat(panel_fit._fj("logistic", t, np.array([[80.0, 0.5, 9.0]]))[0], 3, axis=0)
    Y[1, 4] = np.nan
    X0 = np.array([[60.0, 0.2, 5.0], [60.0, 0.2, 5.0], [np.nan, 0.2, 5.0]])
    lo, hi = np.array([1e-6, 1e-4, -50]), np.array([500.0, 10.0, 150.0])
    res = panel_fit.lm_batch("logistic", t, Y, X0, lo, hi)
    assert res.converged.tolist() == [True, False, False]
    assert np.isfinite(res.rss[0]) and np.isinf(res.rss[1:]).all()
    alone = panel_fit.lm_batch("logistic", t, Y[:1], X0[:1], lo, hi)
    assert np.array_equal(alone.x[0], res.x[0]) and alone.rss[0] == res.rss[0]


@pytest.mark.parametrize("iso3", REAL)
def test_batched_point_fit_equals_scalar_fits_on_real_series(real_panel, iso3, solver):
    first, t, y = P.country_series(real_panel, iso3)
    for model in registry.CUMULATIVE_MODELS:
        pf = panel_fit.point_fit(model, t, y)
        names = registry.MODELS[model].param_names
        assert pf.converged
        x_ref, rss_ref, ok = panel_fit.scipy_fit(model, t, y, pf.start, pf.lower, pf.upper)
        assert ok
        assert pf.rss == pytest.approx(rss_ref, rel=1e-10)
        _close(pf.x, x_ref, panel_fit.SOLVER_MODELS[model].param_names, t, 1e-6)
        _close(pf.theta, panel_fit.to_natural(model, x_ref), names, t, 1e-6)
        # and helpers.models.growth.fit, started at our estimate with the same bounds (Richards: t0 left free)
        sol_names = panel_fit.SOLVER_MODELS[model].param_names
        bounds = {
            n: (float(a), float(b))
            for n, a, b in zip(sol_names, pf.lower, pf.upper, strict=True)
            if n in names
        }
        g = growth.fit(model, t, y, p0=dict(zip(names, pf.theta, strict=True)), bounds=bounds)
        assert g.rss == pytest.approx(pf.rss, rel=1e-9)
        _close(pf.theta, g.theta, names, t, 1e-6)


@pytest.mark.parametrize("iso3", ["KOR", "CHN", "CUB", "DEU", "PRK"])
def test_batched_bootstrap_refits_equal_scalar_refits(real_panel, iso3, solver):
    first, t, y = P.country_series(real_panel, iso3)
    for model in registry.CUMULATIVE_MODELS:
        pf = panel_fit.point_fit(model, t, y)
        rng = np.random.default_rng(11)
        Ys = panel_fit.residual_resamples(pf.fitted, y, pf.x.size, 12, rng)
        br = panel_fit.lm_batch(model, t, Ys, np.broadcast_to(pf.x, (12, pf.x.size)), pf.lower, pf.upper)
        agree = 0
        for b in range(12):
            x_ref, rss_ref, ok = panel_fit.scipy_fit(model, t, Ys[b], pf.x, pf.lower, pf.upper)
            if not (ok and br.converged[b]):
                continue
            if rss_ref < br.rss[b] * (1 - 1e-9):  # scipy found a lower optimum: the batch would be wrong
                pytest.fail(f"{iso3} {model} resample {b}: batched RSS {br.rss[b]} > scipy {rss_ref}")
            if br.rss[b] < rss_ref * (1 - 1e-9):  # scipy stopped short (tolerances); skip
                continue
            # solver parameters agree to 1e-6; Richards' natural t0 = ti + ln(nu)/r loses a digit to cancellation
            _close(br.x[b], x_ref, panel_fit.SOLVER_MODELS[model].param_names, t, 1e-6)
            _close(
                panel_fit.to_natural(model, br.x[b]),
                panel_fit.to_natural(model, x_ref),
                registry.MODELS[model].param_names,
                t,
                1e-5,
            )
            agree += 1
        assert agree >= 10, f"{iso3} {model}: only {agree}/12 resamples comparable"


@pytest.mark.parametrize("iso3", REAL)
def test_bootstrap_refits_at_production_tolerance_are_as_accurate_as_claimed(real_panel, iso3, solver):
    """What FitOptions claims for the refits at boot_xtol/boot_ftol, checked against the same resamples
    solved to 1e-14: every RSS within 1e-12 relative; parameters within 1e-6 relative (location
    parameters: of the time span) for >= 95 % of the resamples and within 1e-5 for >= 99 %."""
    first, t, y = P.country_series(real_panel, iso3)
    o = panel_fit.FitOptions()
    for model in registry.CUMULATIVE_MODELS:
        pf = panel_fit.point_fit(model, t, y)
        Ys = panel_fit.residual_resamples(pf.fitted, y, pf.x.size, 200, np.random.default_rng(11))
        X0 = panel_fit._linear_starts(model, pf, t, Ys)
        a = panel_fit.lm_batch(model, t, Ys, X0, pf.lower, pf.upper, xtol=o.boot_xtol, ftol=o.boot_ftol,
                       max_iter=o.boot_max_iter)  # fmt: skip
        b = panel_fit.lm_batch(model, t, Ys, X0, pf.lower, pf.upper, xtol=1e-14, ftol=1e-16, max_iter=3000)
        ok = a.converged & b.converged
        assert ok.sum() >= 190, f"{iso3} {model}: {ok.sum()}/200 converged"
        assert np.all(np.abs(a.rss - b.rss)[ok] <= 1e-12 * b.rss[ok]), f"{iso3} {model}: RSS"
        names = panel_fit.SOLVER_MODELS[model].param_names
        scale = np.array([max(float(t.max()), 1.0) if n in ("t0", "ti") else 0.0 for n in names])
        rel = (np.abs(a.x - b.x) / np.maximum(np.abs(b.x), scale)).max(axis=1)[ok]
        assert np.mean(rel <= 1e-6) >= 0.95 and np.mean(rel <= 1e-5) >= 0.99, f"{iso3} {model}: {rel.max()}"


def test_linear_starts_are_closer_and_never_worse(real_panel):
    """The refits' starts (one shared Gauss-Newton step from the point estimate) lower every resample's RSS
    below the point estimate's or keep the point estimate."""
    first, t, y = P.country_series(real_panel, "PRK")
    for model in registry.CUMULATIVE_MODELS:
        pf = panel_fit.point_fit(model, t, y)
        Ys = panel_fit.residual_resamples(pf.fitted, y, pf.x.size, 100, np.random.default_rng(2))
        X0 = panel_fit._linear_starts(model, pf, t, Ys)
        F = panel_fit.SOLVER_MODELS[model].f(t, *[X0[:, j : j + 1] for j in range(X0.shape[1])])
        rss0 = ((pf.fitted - Ys) ** 2).sum(axis=1)
        rss1 = ((F - Ys) ** 2).sum(axis=1)
        moved = np.any(X0 != pf.x, axis=1)
        assert np.all(rss1[moved] < rss0[moved])
        if model in ("logistic", "gompertz"):  # well-conditioned: the step helps most resamples
            assert moved.mean() > 0.5, f"{model}: {moved.mean()}"
        assert np.all((X0 >= pf.lower) & (X0 <= pf.upper))


# --------------------------------------------------------------------------- per-country table
def test_fit_panel_keeps_and_flags_problem_countries():
    df = P.fit_panel(_synthetic_panel(), n_bootstrap=40, seed=3, n_jobs=1)
    assert list(df.columns) == [*P.RESULT_COLUMNS, *P.PARAM_COLUMNS]
    assert len(df) == 4 * 4 and set(df["iso3"]) == {"AAA", "BBB", "CCC", "DDD"}
    by = df.groupby("iso3")
    assert (
        by["too_few_points"].all()[["CCC", "DDD"]].all()
        and not by["too_few_points"].any()[["AAA", "BBB"]].any()
    )
    ccc = df[df["iso3"] == "CCC"].iloc[0]
    assert ccc["first_year"] == 2018 and ccc["n_points"] == 3 and np.isnan(ccc["ceiling"])
    assert pd.isna(df.loc[df["iso3"] == "DDD", "first_year"]).all()
    assert by["not_s_shaped"].all()["BBB"] and not by["not_s_shaped"].any()["AAA"]
    a = df[(df["iso3"] == "AAA") & (df["model"] == "logistic")].iloc[0]
    assert a["converged"] and a["ceiling_lo"] < a["ceiling"] < a["ceiling_hi"]
    assert a["ceiling"] == pytest.approx(90.0, rel=0.05) and a["inflection_year"] == pytest.approx(
        2006.0, abs=0.5
    )
    assert a["speed"] == pytest.approx(math.log(81) / 0.45, rel=0.1)
    assert a["n_boot"] == 40 and a["n_boot_ok"] >= 38
    assert df.loc[df["iso3"] == "AAA", "best_aicc"].sum() == 1


def test_bootstrap_is_seeded_and_order_independent():
    pan = _synthetic_panel()
    a = P.fit_panel(pan, models=["logistic", "bass"], n_bootstrap=30, seed=7, n_jobs=1)
    b = P.fit_panel(pan, models=["logistic", "bass"], n_bootstrap=30, seed=7, n_jobs=1)
    pd.testing.assert_frame_equal(a, b)
    c = P.fit_panel(pan, models=["logistic", "bass"], n_bootstrap=30, seed=8, n_jobs=1)
    assert not np.allclose(a["ceiling_hi"].dropna(), c["ceiling_hi"].dropna())
    # same country, fewer companions / models, reversed order: identical row
    only = P.fit_panel(
        pan[pan["iso3"] == "AAA"].iloc[::-1], models=["bass"], n_bootstrap=30, seed=7, n_jobs=1
    )
    row_a = a[(a["iso3"] == "AAA") & (a["model"] == "bass")].drop(columns=["delta_aicc", "best_aicc"])
    pd.testing.assert_frame_equal(
        row_a.reset_index(drop=True), only.drop(columns=["delta_aicc", "best_aicc"])
    )


def test_fit_panel_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown model"):
        P.fit_panel(_synthetic_panel(), models=["cubic"], n_jobs=1)
    with pytest.raises(ValueError, match="per100"):
        P.fit_panel(pd.DataFrame({"iso3": ["A"], "year": [2000]}), n_jobs=1)


# --------------------------------------------------------------------------- backends
@pytest.fixture(scope="module")
def small_real(real_panel) -> pd.DataFrame:
    return real_panel[real_panel["iso3"].isin(REAL)]


@pytest.fixture(scope="module")
def local_table(small_real) -> pd.DataFrame:
    return P.fit_panel(small_real, n_bootstrap=25, seed=1, n_jobs=1)


@pytest.mark.slow  # starts a pool of worker processes
def test_joblib_path_equals_serial(small_real, local_table):
    # one country per task: 5 joblib tasks on 2 processes; the serial table batched all 5 together
    par = P.fit_panel(small_real, n_bootstrap=25, seed=1, n_jobs=2, chunk_size=1)
    pd.testing.assert_frame_equal(par, local_table)


@pytest.mark.slow  # starts a Dask cluster
def test_dask_path_equals_local_path(small_real, local_table, monkeypatch):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        addr = cluster.scheduler_address
        via_arg = P.fit_panel(small_real, n_bootstrap=25, seed=1, scheduler=addr, chunk_size=2)
        monkeypatch.setenv("NKT_DASK_SCHEDULER", addr)
        via_env = P.fit_panel(small_real, n_bootstrap=25, seed=1, chunk_size=3)
    pd.testing.assert_frame_equal(via_arg, local_table)
    pd.testing.assert_frame_equal(via_env, local_table)


# --------------------------------------------------------------------------- notebook helpers
def test_align_on_launch():
    al = panel_peers.align_on_launch(_synthetic_panel(), ["CCC", "DDD", "AAA"], threshold=1.0)
    assert set(al["iso3"]) == {"CCC", "AAA"}
    c = al[al["iso3"] == "CCC"]
    assert c["years_since_launch"].tolist() == [0, 1, 2] and c["year"].tolist() == [2018, 2019, 2020]


def _fake_fits() -> pd.DataFrame:
    rows = []
    for i, iso in enumerate(["P01", "P02", "P03", "P04", "XXX"]):
        row = {c: np.nan for c in [*P.RESULT_COLUMNS, *P.PARAM_COLUMNS]}
        K = 20.0 if iso == "XXX" else 50.0 + 25.0 * i
        r = 0.3 if iso == "XXX" else 0.5
        row.update(iso3=iso, name=iso, model="logistic", converged=True, too_few_points=False, no_convergence=False,
                   not_s_shaped=False, ceiling_at_bound=False, best_aicc=True, first_year=2000, p_K=K, p_r=r, p_t0=6.0,
                   ceiling=K, speed=math.log(81) / r)  # fmt: skip
        rows.append(row)
    bad = dict(rows[0], iso3="P05", ceiling=1.0, ceiling_at_bound=True)
    return pd.DataFrame([*rows, bad])


def test_rank_table_percentiles_exclude_unusable_fits():
    rt = panel_peers.rank_table(_fake_fits(), iso3="XXX").set_index("metric")
    assert rt.loc["ceiling", "n_countries"] == 4  # P05 (ceiling on its bound) left out
    assert rt.loc["ceiling", "percentile"] == 0.0
    assert rt.loc["speed", "percentile"] == 100.0  # slowest of all
    assert rt.loc["ceiling", "median"] == pytest.approx(87.5)


def test_counterfactual_median_peer_curve():
    pan = pd.DataFrame(
        {"iso3": "XXX", "name": "X", "year": range(2010, 2016), "per100": [1.0, 2, 3, 4, 5, 6]}
    )
    cf = panel_peers.counterfactual(
        _fake_fits(), pan, iso3="XXX", peers=["P01", "P02", "P03", "P05"], horizon=10
    )
    assert cf["year"].tolist() == list(range(2010, 2021))
    t = np.arange(11.0)
    curves = np.vstack([K / (1 + np.exp(-0.5 * (t - 6.0))) for K in (50.0, 75.0, 100.0)])
    np.testing.assert_allclose(cf["median"], np.median(curves, axis=0))
    assert (cf["lo"] <= cf["median"]).all() and (cf["median"] <= cf["hi"]).all()
    assert cf["n_peers"].iloc[0] == 3 and cf.attrs["excluded"] == ["P05"]
    assert cf["actual"].iloc[5] == 6.0 and np.isnan(cf["actual"].iloc[6])
    assert "by 2020" in cf.attrs["sentence"] and f"{cf['median'].iloc[-1]:.1f}" in cf.attrs["sentence"]
    with pytest.raises(ValueError, match="no usable peer"):
        panel_peers.counterfactual(_fake_fits(), pan, iso3="XXX", peers=["P05"])


def test_batching_countries_together_does_not_change_results(real_panel, solver):
    by_n: dict[int, list[P.Series]] = {}
    for iso3 in sorted(real_panel["iso3"].unique()):
        first, t, y = P.country_series(real_panel, iso3)
        by_n.setdefault(t.size, []).append(P.Series(iso3, iso3, first, t, y))
    group = next(g for n, g in sorted(by_n.items()) if n >= 15 and len(g) >= 3)[:3]
    together = pd.DataFrame(P.fit_countries(group, n_bootstrap=40, seed=2))
    alone = pd.concat(
        [pd.DataFrame(P.fit_countries([s], n_bootstrap=40, seed=2)) for s in group], ignore_index=True
    )
    pd.testing.assert_frame_equal(together, alone)


@pytest.mark.parametrize("iso3", ["KOR", "CUB", "DEU", "PRK", "NGA"])
def test_compiled_and_numpy_solvers_reach_the_same_optima(real_panel, iso3, monkeypatch):
    """The compiled kernel is the NumPy solver's algorithm in another form: on real series' resamples at
    the production refit tolerances, both converge on the same rows to the same RSS (1e-10 relative) and,
    for at least 95 % of the rows, the same parameters (1e-6; the rest lie along flat directions where the
    tolerances stop them at different points of equal RSS, as stated in FitOptions)."""
    first, t, y = P.country_series(real_panel, iso3)
    opts = panel_fit.FitOptions()
    for model in registry.CUMULATIVE_MODELS:
        pf = panel_fit.point_fit(model, t, y)
        out = {}
        for compiled in (True, False):
            monkeypatch.setattr(panel_fit, "_USE_COMPILED", compiled)
            out[compiled] = panel_fit.bootstrap_country(pf, t, y, 200, np.random.default_rng(3), opts)
        a, b = out[True], out[False]
        both = a.converged & b.converged
        assert both.sum() >= 0.97 * len(both), f"{iso3} {model}: {a.converged.sum()} vs {b.converged.sum()}"
        np.testing.assert_allclose(a.rss[both], b.rss[both], rtol=1e-10)
        names = panel_fit.SOLVER_MODELS[model].param_names
        scale = np.array([max(float(np.max(t)), 1.0) if n in ("t0", "ti") else 1.0 for n in names])
        rel = np.abs(a.x - b.x) / np.where(scale > 1, scale, np.abs(b.x) + 1e-300)
        close = (rel <= 1e-6).all(axis=1)[both]
        assert close.mean() >= 0.95, f"{iso3} {model}: {close.mean():.3f} of rows agree to 1e-6"
