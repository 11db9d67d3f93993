"""helpers.steps.growth_*: observation handling, per-100 reaching times, tables, summary and figures."""

from __future__ import annotations

import dataclasses
import json
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from helpers import growth  # noqa: E402
from helpers import io as hio  # noqa: E402
from helpers.steps import growth_checks as gchk  # noqa: E402
from helpers.steps import growth_figures as gfig  # noqa: E402
from helpers.steps import growth_intervals as gint  # noqa: E402
from helpers.steps import growth_observations as gobs  # noqa: E402
from helpers.steps import growth_summary as gsum  # noqa: E402
from helpers.steps import growth_tables as gtab  # noqa: E402

EPOCH = 2008.0
K_TRUE, R_TRUE, T0_TRUE = 7e6, 0.6, 7.0


def _curve(t):
    return K_TRUE / (1 + np.exp(-R_TRUE * (np.asarray(t) - EPOCH - T0_TRUE)))


@pytest.fixture(scope="module")
def synthetic() -> dict:
    """Logistic data with 5 % multiplicative noise; every third point is a 'more than' bound 10 % below."""
    rng = np.random.default_rng(3)
    t = np.arange(2010.5, 2025.6, 1.0)
    y = _curve(t) * np.exp(rng.normal(0, 0.05, t.size))
    lower = np.full(t.size, np.nan)
    bound = np.arange(t.size) % 3 == 1
    lower[bound] = 0.9 * y[bound]
    y[bound] = np.nan
    return {"t": t, "y": y, "lower": lower, "upper": np.full(t.size, np.nan)}


@pytest.fixture(scope="module")
def fitted(synthetic):
    fits, errors = gtab.fit_models(["logistic", "gompertz"], synthetic, loss_scale="log", epoch=EPOCH)
    boots = gint.bootstraps(fits, n=60, seed=1)
    return fits, errors, boots


@pytest.fixture(scope="module")
def population() -> gobs.Population:
    years = np.arange(2008, 2031)
    return gobs.Population.from_frame(
        pd.DataFrame({"year": years, "population": 25e6 + 1e5 * (years - 2008)})
    )


def _national() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "t": [2010.5, 2011.5, 2015.5, 2015.5, 2020.5],
            "value": [4e5, np.nan, np.nan, np.nan, 6e6],
            "lower": [np.nan, 1e6, 3e6, 2.5e6, np.nan],
            "upper": [np.nan] * 5,
            "obs_id": ["a", "b", "c", "d", "e"],
            "source_id": ["s1", "s1", "s2", "s3", "s2"],
            "indicator": ["mobile_subscriptions"] * 5,
            "scope": ["operator:koryolink", "national", "operator:koryolink", "national", "national"],
            "use_as": ["value", "lower_bound", "lower_bound", "lower_bound", "value"],
        }
    )


def _itu() -> pd.DataFrame:
    return pd.DataFrame({"year": [2009, 2010, 2011], "subscriptions": [7e4, 4.3e5, np.nan]})


# ---- observations -------------------------------------------------------------------------------------


def test_operator_figures_are_operator_scoped_lower_bounds():
    assert gobs.is_operator_figure(_national()).tolist() == [False, False, True, False, False]


def test_merge_same_time_keeps_tightest_bound_and_geometric_mean():
    df = pd.DataFrame(
        {
            "t": [1.0, 1.0, 2.0, 2.0, 3.0, 3.0],
            "y": [np.nan, np.nan, 4.0, 9.0, 5.0, np.nan],
            "lower": [2.0, 3.0, np.nan, np.nan, np.nan, 1.0],
            "upper": [np.nan, 8.0, np.nan, np.nan, np.nan, np.nan],
            "obs_id": list("abcdef"),
            "source_id": ["x", "x", "y", "z", "x", "y"],
        }
    )
    out = gobs.merge_same_time(df)
    assert out["t"].tolist() == [1.0, 2.0, 3.0]
    assert out.loc[0, ["lower", "upper"]].tolist() == [3.0, 8.0] and out.loc[0, "kind"] == "interval"
    assert out.loc[1, "y"] == pytest.approx(6.0) and out.loc[1, "obs_id"] == "c+d"
    assert out.loc[2, "y"] == 5.0 and np.isnan(out.loc[2, "lower"]) and out.loc[2, "kind"] == "exact"
    assert out.loc[0, "source_id"] == "x" and out["n_merged"].tolist() == [2, 2, 2]


def test_load_observations_curated_include_and_exclude():
    obs, left = gobs.load_observations(_national(), _itu(), series="curated", operator_figures="include")
    assert obs["t"].tolist() == [2010.5, 2011.5, 2015.5, 2020.5]
    assert obs.loc[2, "lower"] == 3e6 and obs["kind"].tolist() == ["exact", "lower", "lower", "exact"]
    assert left.empty
    obs, left = gobs.load_observations(_national(), _itu(), series="curated", operator_figures="exclude")
    assert obs.loc[2, "lower"] == 2.5e6 and obs.loc[2, "obs_id"] == "d"
    assert left["obs_id"].tolist() == ["c"] and "operator" in left.loc[0, "reason"]
    # the monopoly-era operator figure used as the national value stays
    assert "a" in obs["obs_id"].tolist()


def test_load_observations_itu_end_of_year_and_t_min():
    obs, left = gobs.load_observations(_national(), _itu(), series="itu", t_min=2010.5)
    assert obs["t"].tolist() == [2010.0 + gobs.ITU_T_OFFSET]
    assert left["t"].tolist() == [2010.0] and left.loc[0, "reason"] == "before 2010.5"
    assert (obs["kind"] == "exact").all()
    with pytest.raises(ValueError, match="series"):
        gobs.load_observations(_national(), _itu(), series="wb")
    with pytest.raises(ValueError, match="operator_figures"):
        gobs.load_observations(_national(), _itu(), series="curated", operator_figures="maybe")


def test_fit_inputs_naive_replaces_bounds_by_points():
    obs, _ = gobs.load_observations(_national(), _itu(), series="curated")
    censored = gobs.fit_inputs(obs, use_bounds=True)
    naive = gobs.fit_inputs(obs, use_bounds=False)
    assert np.isnan(censored["y"][1]) and censored["lower"][1] == 1e6
    assert naive["y"].tolist() == [4e5, 1e6, 3e6, 6e6] and naive["lower"] is None


# ---- population ---------------------------------------------------------------------------------------


def test_population_interpolates_at_mid_year_and_clamps(population):
    assert population.at_year(2010) == pytest.approx(25.2e6)
    assert float(population.at(2011.0)) == pytest.approx(25.25e6)
    assert float(population.at(2100.0)) == pytest.approx(27.2e6) == float(population.at(np.inf))
    assert float(population.at(1990.0)) == pytest.approx(25e6)
    assert population.last_year == 2030


def test_year_reaching_per100_solves_with_changing_population(fitted, population):
    fits, _, boots = fitted
    r = fits["logistic"]
    t = gobs.year_reaching_per100(r, 20, population)
    assert 100 * float(r.predict(t)) / float(population.at(t)) == pytest.approx(20, rel=1e-8)
    const = gobs.Population(np.array([2000.5]), np.array([26e6]))
    assert gobs.year_reaching_per100(r, 20, const) == pytest.approx(growth.year_reaching(r, 0.2 * 26e6))
    assert gobs.year_reaching_per100(r, 50, population) == math.inf  # K = 7 M < half the population
    vals = gobs.year_reaching_per100(boots["logistic"], 20, population)
    assert vals.shape == (60,) and np.all(np.isfinite(vals[boots["logistic"].converged]))


# ---- fits, selection ------------------------------------------------------------------------------------


def test_fits_table_rows_per_parameter(fitted):
    fits, _, _ = fitted
    tbl = gtab.fits_table(fits)
    assert tbl[["model", "param"]].values.tolist() == [
        ["logistic", "K"],
        ["logistic", "r"],
        ["logistic", "t0"],
        ["gompertz", "K"],
        ["gompertz", "b"],
        ["gompertz", "c"],
    ]
    k = tbl.query("model == 'logistic' and param == 'K'").iloc[0]
    assert k["estimate"] == pytest.approx(K_TRUE, rel=0.15) and k["censored"] and k["n_exact"] == 11


def test_selection_table_weights_and_nonconverged(fitted):
    fits, _, _ = fitted
    broken = dict(fits, gompertz=dataclasses.replace(fits["gompertz"], converged=False))
    sel = gtab.selection_table(broken, {"bass": "too few observations"})
    assert sel["model"].tolist() == ["logistic", "gompertz", "bass"]
    assert sel.loc[0, "delta_aicc"] == 0 and sel.loc[0, "akaike_weight"] == pytest.approx(1.0)
    assert np.isnan(sel.loc[1, "akaike_weight"]) and "not fitted" in sel.loc[2, "message"]
    both = gtab.selection_table(fits)
    assert both["akaike_weight"].sum() == pytest.approx(1.0) and both["bic_weight"].sum() == pytest.approx(
        1.0
    )
    w = np.exp(-0.5 * both["delta_aicc"])
    assert both["akaike_weight"].tolist() == pytest.approx((w / w.sum()).tolist())


def test_choose_model_robustness():
    sel = pd.DataFrame(
        {
            "model": ["a", "b", "c"],
            "aicc": [1.0, 2.0, 9.0],
            "delta_aicc": [0.0, 1.0, 8.0],
            "akaike_weight": [0.6, 0.38, 0.02],
            "bic": [1.0, 2.0, 9.0],
            "converged": [True, True, True],
        }
    )
    c = gtab.choose_model(sel)
    assert c["model"] == "a" and c["supported"] == ["a", "b"] and not c["robust"] and c["runner_up"] == "b"
    sel2 = sel.assign(delta_aicc=[0.0, 3.0, 8.0], aicc=[1.0, 4.0, 9.0])
    assert gtab.choose_model(sel2)["robust"]
    with pytest.raises(ValueError, match="no model converged"):
        gtab.choose_model(sel.assign(converged=False))


# ---- intervals, forecast, backtest -------------------------------------------------------------------------


def test_interval_row_percentile_basic_and_infinite():
    v = np.arange(1.0, 102.0)
    r = gint.interval_row(60.0, np.append(v, np.nan), 0.9)
    assert (r["lo"], r["hi"]) == pytest.approx((6.0, 96.0))
    assert (r["basic_lo"], r["basic_hi"]) == pytest.approx((24.0, 114.0))
    assert r["boot_median"] == 51.0 and r["n_used"] == 101 and r["share_finite"] == 1.0
    assert not r["estimate_outside"]
    assert gint.interval_row(200.0, v, 0.9)["estimate_outside"]
    r = gint.interval_row(5.0, np.array([1.0, 2.0, np.inf, np.inf]), 0.5)
    assert r["hi"] == math.inf and np.isnan(r["basic_lo"]) and r["share_finite"] == 0.5


def test_intervals_table_quantities(fitted, population):
    _, _, boots = fitted
    iv = gint.intervals_table(boots, population, 2030, [20, 50], 0.95)
    q = iv[iv["model"] == "logistic"].set_index("quantity")
    assert {
        "saturation",
        "inflection",
        "ceiling_per100",
        "value_2030",
        "per100_2030",
        "year_reaching_20per100",
        "year_reaching_50per100",
        "K",
    } <= set(q.index)
    assert q.loc["saturation", "estimate"] == q.loc["K", "estimate"]
    assert q.loc["ceiling_per100", "estimate"] == pytest.approx(
        100 * q.loc["saturation", "estimate"] / population.at_year(2030)
    )
    assert q.loc["inflection", "estimate"] == pytest.approx(EPOCH + T0_TRUE, abs=1.0)
    assert q.loc["year_reaching_50per100", "share_finite"] == 0
    assert (iv["n_boot"] == 60).all()


def test_forecast_table_columns(fitted, population):
    _, _, boots = fitted
    fc = gint.forecast_table(boots, population, 2010, 2030, 0.9, chosen="logistic")
    assert len(fc) == 2 * 21 and fc["t"].iloc[0] == 2010.5
    g = fc[fc["chosen"]]
    assert g["model"].unique().tolist() == ["logistic"]
    assert (g["pred_lo"] <= g["mean_lo"] + 1e-6).all() and (g["mean_lo"] <= g["mean_hi"]).all()
    assert g["fit_per100"].to_numpy() == pytest.approx(100 * g["fit"] / g["population"])


def test_score_forecasts_exact_and_bounds():
    err, ape, signed = gchk.score_forecasts(
        np.array([90.0, 5.0, 12.0, 20.0]),
        np.array([100.0, np.nan, np.nan, np.nan]),
        np.array([np.nan, 10.0, 10.0, np.nan]),
        np.array([np.nan, np.nan, np.nan, 15.0]),
    )
    assert err.tolist() == [10.0, 5.0, 0.0, 5.0]
    assert ape.tolist() == pytest.approx([0.1, 0.5, 0.0, 1 / 3])
    assert signed.tolist() == pytest.approx([-0.1, -0.5, 0.0, 1 / 3])


def test_backtest_table_matches_growth_backtest(synthetic):
    kw = dict(loss_scale="log", epoch=EPOCH)
    ours = gchk.backtest_table(synthetic, ["logistic", "gompertz"], [2016.0, 2019.0], **kw)
    ref = growth.backtest(
        synthetic["t"],
        synthetic["y"],
        ["logistic", "gompertz"],
        [2016.0, 2019.0],
        lower=synthetic["lower"],
        upper=synthetic["upper"],
        **kw,
    )
    ref = ref.sort_values(["model", "origin"], kind="stable").reset_index(drop=True)
    for c in ("n_train", "n_test", "n_scored", "converged"):
        assert ours[c].tolist() == ref[c].tolist()
    assert ours["mae"].to_numpy() == pytest.approx(ref["mae"].to_numpy())
    assert ours["mape"].to_numpy() == pytest.approx(ref["mape"].to_numpy())
    assert (ours["n_exact_scored"] <= ours["n_scored"]).all()
    assert (ours["mape_exact"] >= ours["mpe_exact"].abs() - 1e-9).all()


def test_backtest_table_too_few_points(synthetic):
    out = gchk.backtest_table(synthetic, ["richards"], [2011.0], loss_scale="log", epoch=EPOCH)
    assert out.loc[0, "message"].startswith("not fitted") and np.isnan(out.loc[0, "mape"])


def test_treatment_table_differences(fitted, population):
    _, _, boots = fitted
    shifted = {m: dataclasses.replace(b, params=b.params * 1.0) for m, b in boots.items()}
    tbl = gint.treatment_table(
        {"censored": boots, "other": shifted}, population, 2030, 0.9, reference="censored"
    )
    assert set(tbl["treatment"]) == {"censored", "other"}
    assert np.allclose(tbl["diff_vs_censored"], 0.0)
    summ = gsum.treatment_summary(tbl, "logistic")
    assert summ["censored_saturation"] == pytest.approx(boots["logistic"].fit.params["K"], rel=1e-5)
    assert summ["naive_saturation"] is None and summ["model"] == "logistic"


# ---- summary, output, formatting --------------------------------------------------------------------------


def test_summary_is_json_safe_and_deterministic(fitted, synthetic, population, tmp_path):
    fits, errors, boots = fitted
    obs = pd.DataFrame(
        {"t": synthetic["t"], "y": synthetic["y"], "lower": synthetic["lower"], "upper": synthetic["upper"]}
    )
    obs["kind"] = np.where(np.isfinite(obs["y"]), "exact", "lower")
    choice = gtab.choose_model(gtab.selection_table(fits, errors))
    iv = gint.intervals_table(boots, population, 2030, [20, 50], 0.95)
    bt = gchk.backtest_table(synthetic, list(fits), [2016.0], loss_scale="log", epoch=EPOCH)
    s = gsum.summary(
        settings={"series": "x"},
        obs=obs,
        choice=choice,
        intervals=iv,
        backtest=bt,
        boots=boots,
        reach_levels=[20, 50],
        horizon=2030,
        population=population,
    )
    assert s["model"]["chosen"] == choice["model"] and s["data"]["n_exact"] == 11
    assert s["year_reaching"]["50per100"]["estimate"] is None
    p1, p2 = hio.write_json(s, tmp_path / "a.json"), hio.write_json(s, tmp_path / "b.json")
    assert p1.read_bytes() == p2.read_bytes()
    json.loads(p1.read_text(), parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))


def test_write_csv_fixed_format(tmp_path):
    p = hio.write_csv(
        pd.DataFrame({"a": [1 / 3, math.inf], "b": ["x", "y"]}),
        tmp_path / "t.csv",
        float_format=gtab.FLOAT_FORMAT,
    )
    assert p.read_text() == "a,b\n0.333333,x\ninf,y\n"


def test_formatting_helpers():
    assert gtab.display_float(7432273.09) == "7,432,273"
    assert gtab.display_float(2015.614) == "2015.61"
    assert gtab.display_float(0.12345) == "0.1235"
    e = {"estimate": 2022.0, "lo": 2019.5, "hi": None, "share_finite": 0.7}
    assert gsum.fmt_interval(e, lambda v: f"{v:.0f}", 0.95) == "2022 (95% interval 2020 to not reached)"
    never = {"estimate": None, "lo": None, "hi": None, "share_finite": 0.0}
    assert gsum.fmt_interval(never, str, 0.95).startswith("not reached")
    assert gtab.json_number(math.inf) is None and gtab.json_number(1 / 3) == 0.333333


def test_figures_build(fitted, synthetic, population):
    fits, errors, boots = fitted
    obs = pd.DataFrame(
        {"t": synthetic["t"], "y": synthetic["y"], "lower": synthetic["lower"], "upper": synthetic["upper"]}
    )
    obs["kind"] = np.where(np.isfinite(obs["y"]), "exact", "lower")
    fc = gint.forecast_table(boots, population, 2010, 2030, 0.9, chosen="logistic")
    bt = gchk.backtest_table(synthetic, list(fits), [2016.0, 2019.0], loss_scale="log", epoch=EPOCH)
    figs = [
        gfig.plot_fit(obs, fc, "logistic", itu=_itu().dropna()),
        gfig.plot_residuals(fits),
        gfig.plot_forecast(obs, fc, "logistic", 0.9),
        gfig.plot_backtest(bt),
        gfig.plot_selection(gtab.selection_table(fits, errors)),
    ]
    for f in figs:
        assert isinstance(f, plt.Figure) and f.axes
        plt.close(f)


def test_residual_table_aligns_with_observations(fitted, synthetic):
    fits, _, _ = fitted
    obs = pd.DataFrame({"t": synthetic["t"], "obs_id": [f"o{i}" for i in range(synthetic["t"].size)]})
    obs["kind"] = np.where(np.isfinite(synthetic["y"]), "exact", "lower")
    tbl = gtab.residual_table(fits["logistic"], obs)
    assert tbl["exact"].sum() == 11 and (tbl.loc[~tbl["exact"], "kind"] == "lower").all()
    r = fits["logistic"]
    i = int(np.flatnonzero(tbl["exact"])[0])
    assert tbl.loc[i, "residual"] == pytest.approx(np.log(r.y[i]) - np.log(float(r.predict(r.t[i]))))
    with pytest.raises(ValueError, match="does not match"):
        gtab.residual_table(r, obs.iloc[:-1])


# ------------------------------------------------------------------ censored likelihood, contract, report


def test_rounding_interval_from_the_figure_as_written():
    assert gobs.rounding_interval({"qualifier": "approx", "use_as": "value", "y": 6e6}) == (5.5e6, 6.5e6)
    row = {"qualifier": "approx", "use_as": "value", "y": 7.4e6, "converted_from": "percent",
           "per100_value": 28.0, "population": 26.5e6}  # fmt: skip
    lo, hi = gobs.rounding_interval(row)
    assert lo == pytest.approx(0.275 * 26.5e6) and hi == pytest.approx(0.285 * 26.5e6)
    assert gobs.rounding_interval({"qualifier": "exact", "use_as": "value", "y": 1e6}) is None


def test_distinct_origins_merge_origins_that_see_the_same_figures():
    t = np.array([2010.5, 2012.5, 2015.5, 2019.5])
    kept, merged = gchk.distinct_origins(t, [2012, 2014, 2016, 2018, 2020])
    assert kept == [2012.0, 2014.0, 2016.0, 2020.0] and merged == {2016.0: "2018"}


def test_changing_the_horizon_flows_from_the_step02_summary_into_the_report(synthetic, population, tmp_path):
    """Step 02's summary built with horizon 2028 (not 2030) is read back through the typed contract and the
    report's growth sentences state 2028 and its numbers: no hard-coded value_2030 anywhere."""
    from helpers.report import provenance as RP
    from helpers.report import sections as R
    from helpers.report import tables as RT
    from helpers.steps.contracts import GrowthSummary

    horizon = 2028
    models = ["logistic", "gompertz", "bass"]
    obs = pd.DataFrame({**synthetic, "obs_id": [f"o{i}" for i in range(len(synthetic["t"]))]})
    obs["kind"] = np.where(np.isfinite(obs["y"]), "exact", "lower")
    obs["rounded"] = False
    fits, errors = gtab.fit_models(
        models, gobs.fit_inputs(obs, True), loss_scale="log", epoch=EPOCH, method="mle"
    )
    assert all(f.converged for f in fits.values())
    selection = gtab.selection_table(fits, errors)
    weights = gint.averaging_weights(selection, models)
    boots = gint.bootstraps(fits, n=20, seed=1)
    averaged = gint.averaged_table(boots, weights, population, horizon, [25], 0.95, 1)
    assert f"value_{horizon}" in set(averaged["quantity"])
    profile = gint.profile_table({"gompertz": fits["gompertz"]}, population, horizon, 0.95)
    loo = gchk.loo_table(obs.iloc[:8], ["logistic", "gompertz"], population, horizon, epoch=EPOCH)
    itu = pd.DataFrame({"year": [2019, 2020], "subscriptions": _curve([2020.0, 2021.0])})
    holdout = gchk.holdout_table(obs, itu, origin=2017, years=[2019, 2020], models=["logistic", "gompertz"],
                               epoch=EPOCH, n_boot=10, seed=1, level=0.95)  # fmt: skip
    backtest = gchk.backtest_table(
        gobs.fit_inputs(obs, True), ["logistic"], [2016.0, 2017.0], loss_scale="log", epoch=EPOCH
    )
    summ = gsum.growth_summary(
        settings={"models": ",".join(models), "epoch": EPOCH, "horizon": horizon, "rounded_figures": "exact"},
        obs=obs, population=population, horizon=horizon, level=0.95, selection=selection, weights=weights,
        averaged=averaged, profile=profile, richards=gchk.richards_check(None), loo=loo, holdout=holdout,
        backtest=backtest, naive_vs_censored={"model": "gompertz"}, boots=boots,
        coverage={"coverage": 0.94, "mc_se": 0.017, "n_sets": 200, "n_used": 200, "model": "gompertz", "source": "x"},
    )  # fmt: skip
    path = summ.to_json(tmp_path / "growth_summary.json")
    back = GrowthSummary.from_json(path)
    assert back == GrowthSummary.from_dict(json.loads(path.read_text()))
    assert back.horizon == horizon and _finite(back.averaged["value_horizon"].estimate)
    p = RP.Provenance(mark="")
    sat = R.results_saturation(json.loads(path.read_text()), p, str(path))
    v = back.averaged["value_horizon"].estimate / 1e6
    assert f"in {horizon}" in sat and f"{v:.1f}" in sat and "2030" not in sat
    methods = R.methods_uncertainty(back, p, str(path))
    assert (
        "0.94" in methods
        and "0.017" in methods
        and "nominal 0.95" in methods
        and "censored maximum likelihood" in methods.lower()
    )
    assert len(RT.loo_table(back)) == len(loo) and not RT.holdout_table(back).empty
    # the holdout says how many bootstrap refits of each curve made its forecast distribution
    curves = holdout[holdout["method"].isin(["logistic", "gompertz"])]
    assert (curves["refits_total"] == 10).all() and curves["refits_used"].between(0, 10).all()
    assert holdout.loc[~holdout["method"].isin(["logistic", "gompertz"]), "refits_used"].isna().all()
    by = back.holdout["by_method"]
    for m in set(curves["method"]):
        used = int(curves.loc[curves["method"] == m, "refits_used"].iloc[0])
        assert by[m]["refits_used"] == used and by[m]["refits_total"] == 10
        assert f"{used} of 10" in set(RT.holdout_table(back)["bootstrap refits used"])
    with pytest.raises(Exception, match="missing field"):
        GrowthSummary.from_dict({"settings": {}}, "growth_summary.json")


def _finite(x) -> bool:
    return x is not None and math.isfinite(float(x))


def test_loglinear_benchmark_is_fitted_like_the_curves_and_has_a_finite_predictive() -> None:
    # exponential truth, 3 exact figures and 3 "more than" bounds: the censored fit uses the bounds, and the
    # predictive (parametric bootstrap + log-normal error) has finite spread, unlike a t with 1 df
    rng = np.random.default_rng(5)
    t = np.array([2010.5, 2011.0, 2011.7, 2012.4, 2013.1, 2014.0])
    truth = np.exp(13.0 + 0.4 * (t - EPOCH))
    y = truth * np.exp(rng.normal(0, 0.05, t.size))
    exact = np.array([True, False, True, False, True, False])
    obs = pd.DataFrame(
        {
            "t": t,
            "kind": np.where(exact, "exact", "lower"),
            "y": np.where(exact, y, np.nan),
            "lower": np.where(exact, np.nan, 0.8 * truth),
            "upper": np.nan,
        }
    )
    t_new = np.array([2016.0, 2018.0])
    draws = gchk._loglinear_draws(obs, t_new, epoch=EPOCH, n=40, seed=1, rng=np.random.default_rng(2))
    assert draws is not None and np.all(np.isfinite(draws))
    med = np.median(draws, axis=0)
    want = np.exp(13.0 + 0.4 * (t_new - EPOCH))
    np.testing.assert_allclose(med, want, rtol=0.5)
    assert gchk._crps_samples(draws[:, 1], float(want[1])) < want[1]


@pytest.mark.slow  # multi-second profile likelihoods, three models (make test runs it; the quick tier does not)
@pytest.mark.parametrize("model", ["logistic", "gompertz", "bass"])
def test_reparameterised_inflection_profile_equals_the_constrained_one(synthetic, model):
    # the inflection as a parameter (t0; Gompertz/Bass re-expressed) gives the interval the constrained
    # maximisation (SLSQP) of the same likelihood gives
    from helpers.models import derived, profile

    obs = pd.DataFrame(synthetic)
    obs["kind"] = np.where(np.isfinite(obs["y"]), "exact", "lower")
    fits, _ = gtab.fit_models(
        [model], gobs.fit_inputs(obs, True), loss_scale="log", epoch=EPOCH, method="mle"
    )
    r = fits[model]
    assert r.converged
    fast = gint._inflection_profile(r, 0.95)

    def infl(th):
        return float(derived._inflection_tau(r.model, th)) + r.epoch

    slow = profile.profile_interval(r, infl, span=50.0)
    assert fast.estimate == pytest.approx(slow.estimate, abs=1e-6)
    for a, b in ((fast.lo, slow.lo), (fast.hi, slow.hi)):
        assert (a is None) == (b is None)
        if a is not None:
            assert a == pytest.approx(b, abs=2e-3)


def test_read_coverage_reads_the_committed_measurement_with_its_provenance(tmp_path):
    from helpers.config import ROOT

    committed = gsum.read_coverage(ROOT / "benchmarks" / "results" / "coverage_saturation.json")
    assert committed is not None and committed["source"] == "benchmarks/results/coverage_saturation.json"
    assert committed["n_sets"] >= 200 and committed["commit"] and committed["date"] and committed["seed"]
    assert committed["calibration"] == "f" and 0 < committed["coverage"] <= 1
    (tmp_path / "c.json").write_text('{"coverage": null}')
    assert gsum.read_coverage(tmp_path / "c.json") is None
    assert gsum.read_coverage(tmp_path / "missing.json") is None
