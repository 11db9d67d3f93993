"""Tables, sentences and figures of notebook 03 (helpers.steps.peers_*) on small synthetic tables."""

from __future__ import annotations

import json
import math
import zlib

import matplotlib
import numpy as np
import pandas as pd
import pytest

from helpers import io as hio
from helpers.models import panel as P
from helpers.models import panel_fit, panel_peers
from helpers.steps import peers_counterfactual as pcf
from helpers.steps import peers_figures as pfig
from helpers.steps import peers_intervals as pint
from helpers.steps import peers_summary as psum
from helpers.steps import peers_tables as ptab

matplotlib.use("Agg")


def _row(iso3: str, model: str = "logistic", K: float = 100.0, r: float = 0.5, **kw) -> dict:
    row = {c: np.nan for c in [*P.RESULT_COLUMNS, *P.PARAM_COLUMNS]}
    row.update(
        iso3=iso3, name=f"name {iso3}", model=model, converged=True, too_few_points=False, no_convergence=False,
        not_s_shaped=False, ceiling_at_bound=False, best_aicc=True, delta_aicc=0.0, first_year=2000,
        last_year=2015, n_points=16, last_per100=K * 0.9, p_K=K, p_r=r, p_t0=6.0, ceiling=K,
        ceiling_lo=K * 0.9, ceiling_hi=K * 1.1, speed=math.log(81) / r, speed_lo=math.log(81) / r - 1,
        speed_hi=math.log(81) / r + 1, inflection_year=2006.0, params_at_bound="",
    )  # fmt: skip
    row.update(kw)
    return row


@pytest.fixture
def fits() -> pd.DataFrame:
    """Focal XXX (ceiling 20, slow) and peers P01-P04 (ceilings 50..125); P05 ceiling on its bound; P06
    series declined (not_s_shaped) with a tiny ceiling; YYY never fitted."""
    rows = [_row("XXX", K=20.0, r=0.3, ceiling_lo=15.0, ceiling_hi=60.0, speed_lo=10.0, speed_hi=20.0)]
    rows += [_row(f"P0{i}", K=50.0 + 25.0 * (i - 1)) for i in range(1, 5)]
    rows.append(_row("P05", K=1.0, ceiling_at_bound=True))
    rows.append(_row("P06", K=10.0, r=0.2, not_s_shaped=True))
    rows.append(
        _row("YYY", converged=False, too_few_points=True, best_aicc=False, ceiling=np.nan, speed=np.nan)
    )
    return pd.DataFrame(rows)


@pytest.fixture
def draws(fits) -> P.PanelDraws:
    """Bootstrap draws for the ``fits`` fixture: XXX's ceiling spread evenly over 15..60 (its interval),
    every other fitted country's draws at its point estimate (YYY has none)."""
    d = P.PanelDraws(n_bootstrap=1000, seed=0)
    for r in fits[fits["converged"]].itertuples():
        th = np.tile([r.p_K, r.p_r, r.p_t0], (1000, 1))
        if r.iso3 == "XXX":
            th[:, 0] = np.linspace(15.0, 60.0, 1000)
        d.theta[(r.iso3, "logistic")] = th
    return d


def test_flag_counts_and_flagged_countries(fits):
    two = pd.concat([fits, fits.assign(model="gompertz", best_aicc=False, delta_aicc=1.0)], ignore_index=True)
    fc = ptab.flag_counts(two).set_index("model")
    assert list(fc.index) == ["logistic", "gompertz"]
    assert fc.loc["logistic", "n_countries"] == 8 and fc.loc["logistic", "n_fitted"] == 7
    assert fc.loc["logistic", "n_usable"] == 6  # P05 (bound) and YYY (too few points) are not usable
    assert fc.loc["logistic", "ceiling_at_bound"] == 1 and fc.loc["logistic", "not_s_shaped"] == 1
    assert fc.loc["logistic", "ceiling_ci_at_bound"] == 0
    fl = ptab.flagged_countries(two).set_index("iso3")
    assert list(fl.index) == ["P05", "P06", "YYY"]
    assert fl.loc["P05", "ceiling_at_bound"] == "logistic,gompertz" and fl.loc["P05", "not_s_shaped"] == ""


def test_best_rows_pick_lowest_aicc_and_keep_unfitted(fits):
    two = pd.concat(
        [fits.assign(best_aicc=False, delta_aicc=2.0), fits.assign(model="gompertz")], ignore_index=True
    )
    two.loc[two["iso3"] == "YYY", "best_aicc"] = False
    b = ptab.best_rows(two).set_index("iso3")
    assert len(b) == fits["iso3"].nunique() and (b["model"] == "best").all()
    assert b.loc["XXX", "best_model"] == "gompertz" and b.loc["YYY", "best_model"] == ""


def test_rank_summary_percentiles_and_their_intervals(fits, draws):
    rk = pint.rank_summary(fits, draws, iso3="XXX")
    assert set(rk["reference"]) == {"all", "s_shaped"} and set(rk["model"]) == {"logistic", "best"}
    a = rk[(rk["reference"] == "all") & (rk["model"] == "logistic")].set_index("metric")
    # reference: P01-P04 and P06 (P05 on its bound, YYY unfitted); XXX's ceiling 20 > P06's 10
    assert a.loc["ceiling", "n_countries"] == 5 and a.loc["ceiling", "percentile"] == pytest.approx(20.0)
    # XXX's draws 15..60 overlap P01's interval (45-55; its draws sit at 50): below 50 XXX beats P06 only
    # (1 of 5 = 20 %), above 50 also P01 (40 %); 22 % of the draws are above 50 -> 2.5 % / 97.5 % quantiles
    assert a.loc["ceiling", "percentile_lo"] == pytest.approx(20.0)
    assert a.loc["ceiling", "percentile_hi"] == pytest.approx(40.0)
    # one method: the rank table's interval is percentile_intervals' on the same reference set
    pi = pint.percentile_intervals(fits, draws, "XXX", "logistic").set_index("metric")
    assert a.loc["ceiling", "percentile_lo"] == pi.loc["ceiling", "percentile_lo"]
    assert a.loc["ceiling", "percentile_hi"] == pi.loc["ceiling", "percentile_hi"]
    # without draws there is no interval (no quick substitute)
    assert pint.rank_summary(fits, None, iso3="XXX")["percentile_lo"].isna().all()
    s = rk[(rk["reference"] == "s_shaped") & (rk["model"] == "logistic")].set_index("metric")
    assert s.loc["ceiling", "n_countries"] == 4 and s.loc["ceiling", "percentile"] == 0.0
    # s_shaped reference (without P06): XXX below every other country, above P01 in 22 % of the draws
    assert s.loc["ceiling", "percentile_lo"] == 0.0 and s.loc["ceiling", "percentile_hi"] == pytest.approx(
        25.0
    )
    # speed: XXX ln81/0.3 = 14.6 years, P06 ln81/0.2 = 22 years is the only slower one
    assert a.loc["speed", "percentile"] == pytest.approx(80.0) and s.loc["speed", "percentile"] == 100.0
    assert a.loc["speed", "percentile_lo"] == pytest.approx(80.0) and a.loc["speed", "percentile_hi"] == 80.0
    b = rk[(rk["reference"] == "all") & (rk["model"] == "best")].set_index("metric")
    assert b.loc["ceiling", "percentile"] == a.loc["ceiling", "percentile"]
    assert b.loc["ceiling", "percentile_hi"] == a.loc["ceiling", "percentile_hi"]


def test_comparison_table_ranks_and_percentiles(fits):
    ct = ptab.comparison_table(fits, "XXX", ["P01", "P02", "P05", "XXX"])
    assert list(ct["iso3"]) == ["P02", "P01", "XXX", "P05"]  # P05 unusable -> unranked, last
    assert ct["rank_ceiling"].tolist()[:3] == [1, 2, 3] and pd.isna(ct["rank_ceiling"].iloc[3])
    x = ct.set_index("iso3").loc["XXX"]
    assert x["role"] == "focal" and x["ceiling_pct"] == pytest.approx(20.0) and x["rank_speed"] == 3
    assert ct.set_index("iso3").loc["P05", "flags"] == "ceiling_at_bound"
    with pytest.raises(KeyError, match="ZZZ"):
        ptab.comparison_table(fits, "XXX", ["ZZZ"])


def test_format_fits_rounds_and_keeps_columns(fits):
    f = fits.assign(ceiling=[123.456789] * len(fits), p_r=0.000123456789, rate=1234567.891)
    out = ptab.format_fits(f)
    assert list(out.columns) == list(f.columns) and len(out) == len(f)
    assert out["ceiling"].iloc[0] == 123.457 and out["p_r"].iloc[0] == pytest.approx(
        0.000123457, rel=0, abs=1e-15
    )
    assert out["rate"].iloc[0] == 1234570.0 and out["iso3"].is_monotonic_increasing


def test_writers_are_byte_stable(tmp_path, fits):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    hio.write_csv(ptab.format_fits(fits), a)
    hio.write_csv(ptab.format_fits(fits.sample(frac=1, random_state=1)), b)
    assert a.read_bytes() == b.read_bytes() and b"\r\n" not in a.read_bytes()
    j = hio.write_json(
        {"b": np.float64(1.23456789), "a": [np.int64(3), np.nan], "c": np.bool_(True)},
        tmp_path / "s.json",
        digits=4,
        sort_keys=True,
    )
    assert json.loads(j.read_text()) == {"a": [3, None], "b": 1.2346, "c": True}
    assert j.read_text().index('"a"') < j.read_text().index('"b"')


def test_ordinal():
    assert psum.ordinal(0.48) == "<1st"
    assert [psum.ordinal(x) for x in (0.96, 1.9, 3.2, 11.0, 12.4, 81.8, 94.1, 22.5)] == [
        "1st", "2nd", "3rd", "11th", "12th", "82nd", "94th", "22nd",
    ]  # fmt: skip


@pytest.fixture
def synth_panel() -> pd.DataFrame:
    """Focal FOC (slow, low ceiling, launch 2010) and four peers with logistic series plus small noise."""
    rng = np.random.default_rng(3)
    specs = {"FOC": (30.0, 0.35, 8.0, 2010), "PA": (120, 0.6, 6, 2000), "PB": (90, 0.5, 7, 2002),
             "PC": (140, 0.7, 5, 1998), "PD": (100, 0.45, 8, 2004)}  # fmt: skip
    frames = []
    for iso3, (K, r, t0, launch) in specs.items():
        years = np.arange(launch - 2, 2024 if iso3 != "FOC" else 2023)
        t = years - launch
        y = K / (1 + np.exp(-r * (t - t0)))
        y = np.clip(y * (1 + rng.normal(0, 0.02, y.size)), 0, None)
        y[t < 0] = 0.5 * (t[t < 0] + 3) / 3
        y[t == 0] = max(y[t == 0][0], 1.0)
        frames.append(pd.DataFrame({"iso3": iso3, "name": f"Country {iso3}", "year": years, "per100": y}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture
def synth_fd(synth_panel) -> tuple[pd.DataFrame, P.PanelDraws]:
    return P.fit_panel(
        synth_panel, models=("logistic", "gompertz"), n_bootstrap=60, seed=1, n_jobs=1, keep_draws=True
    )


@pytest.fixture
def synth_fits(synth_fd) -> pd.DataFrame:
    return synth_fd[0]


def test_kept_draws_are_the_fit_tables_resamples(synth_panel, synth_fd):
    """The draws fit_panel keeps are its refits: a fresh bootstrap of one country (same seed) gives the same
    parameters, and their quantiles are the table's intervals."""
    fits, draws = synth_fd
    assert draws.n_bootstrap == 60 and set(draws.theta) == {(c, m) for c in "FOC PA PB PC PD".split()
                                                             for m in ("logistic", "gompertz")}  # fmt: skip
    _, t, y = P.country_series(synth_panel, "PB")
    pf = panel_fit.point_fit("gompertz", t, y)
    br = panel_fit.bootstrap_country(pf, t, y, 60, panel_fit._rng(1, "PB", "gompertz"))
    fresh = np.where(br.converged[:, None], panel_fit.to_natural("gompertz", br.x), np.nan)
    np.testing.assert_allclose(draws.theta[("PB", "gompertz")], fresh, rtol=1e-12, equal_nan=True)
    row = fits.set_index(["iso3", "model"]).loc[("PB", "gompertz")]
    speed = draws.metrics("PB", "gompertz")["speed"]
    assert np.nanquantile(speed, [0.025, 0.975]).tolist() == pytest.approx([row["speed_lo"], row["speed_hi"]])
    assert draws.metrics("ZZZ", "logistic") is None


def test_bootstrap_bands_reproduce_the_fit_table_intervals(synth_panel, synth_fd):
    synth_fits, draws = synth_fd
    years = np.arange(1995, 2031)
    bands, check = pint.bootstrap_bands(synth_panel, synth_fits, draws, ["FOC", "PA"], "logistic", years)
    # from launch on only: FOC launched 2010, PA 2000
    assert set(bands["iso3"]) == {"FOC", "PA"} and len(bands) == (2031 - 2010) + (2031 - 2000)
    assert bands.groupby("iso3")["year"].min().to_dict() == {"FOC": 2010, "PA": 2000}
    assert (bands["lo"] <= bands["fit"] + 1e-9).all() and (bands["fit"] <= bands["hi"] + 1e-9).all()
    tab = synth_fits[synth_fits["model"] == "logistic"].set_index("iso3")
    for _, r in check.iterrows():
        assert r["ceiling_lo"] == pytest.approx(tab.loc[r["iso3"], "ceiling_lo"], rel=1e-9)
        assert r["ceiling_hi"] == pytest.approx(tab.loc[r["iso3"], "ceiling_hi"], rel=1e-9)
    best, none = pint.bootstrap_bands(synth_panel, synth_fits, None, ["FOC"], "best", years)
    assert best["lo"].isna().all() and none.empty and best["fit"].notna().all()
    chosen = synth_fits[(synth_fits["iso3"] == "FOC") & synth_fits["best_aicc"]]["model"].iloc[0]
    assert set(best["model"]) == {chosen}


def test_counterfactual_horizon_paths_loo_and_sentence(synth_panel, synth_fits):
    peers = ["PA", "PB", "PC", "PD"]
    cf = pcf.counterfactual(synth_fits, synth_panel, "FOC", peers, 2030)
    assert cf["year"].iloc[0] == 2010 and cf["year"].iloc[-1] == 2030 and cf.attrs["model"] == "logistic"
    paths = pcf.peer_paths(synth_fits, peers, 2010, 2030, "logistic")
    np.testing.assert_allclose(paths.groupby("year")["value"].median().to_numpy(), cf["median"].to_numpy())
    loo = pcf.leave_one_out(synth_fits, synth_panel, "FOC", peers, horizon=20)
    assert list(loo["left_out"]) == ["", *peers] and (loo["n_peers"].iloc[1:] == 3).all()
    assert loo["median"].iloc[0] == pytest.approx(cf["median"].iloc[-1])
    nums = pcf.counterfactual_numbers(cf, loo, name="Focalia", names={"PA": "Alpha"})
    assert nums["horizon_year"] == 2030 and nums["n_peers"] == 4 and nums["last_observed_year"] == 2022
    assert nums["loo_min"] <= nums["median"] <= nums["loo_max"]
    s = nums["sentence"]
    assert s.startswith("Had Focalia followed the median of its 4 peers (Alpha, PB") and "by 2030" in s
    assert (
        f"{nums['median']:.0f} mobile subscriptions per 100" in s
        and f"{nums['lo']:.0f}-{nums['hi']:.0f}" in s
    )
    with pytest.raises(ValueError, match="precedes"):
        pcf.counterfactual(synth_fits, synth_panel, "FOC", peers, 2005)


def test_figures_build(synth_panel, synth_fd):
    synth_fits, draws = synth_fd
    peers = ["PA", "PB", "PC", "PD"]
    f1 = pfig.fig_distribution(synth_fits, "FOC", peers, names={"FOC": "Focalia"})
    assert len(f1.axes) == 3
    al = panel_peers.align_on_launch(synth_panel, ["FOC", *peers])
    f2 = pfig.fig_aligned(al, al, "FOC")
    assert len(f2.axes) == 1
    years = np.arange(1995, 2031)
    bands, _ = pint.bootstrap_bands(synth_panel, synth_fits, draws, ["FOC", *peers], "logistic", years)
    best, _ = pint.bootstrap_bands(synth_panel, synth_fits, draws, ["FOC", *peers], "best", years)
    f3 = pfig.fig_small_multiples(synth_panel, synth_fits, bands, ["FOC", *peers], "logistic", best, ncols=3)
    assert sum(ax.get_visible() for ax in f3.axes) == 5
    cf = pcf.counterfactual(synth_fits, synth_panel, "FOC", peers, 2030)
    f4 = pfig.fig_counterfactual(
        cf, synth_panel, "FOC", pcf.peer_paths(synth_fits, peers, 2010, 2030, "logistic")
    )
    assert len(f4.axes) == 1
    import matplotlib.pyplot as plt

    for f in (f1, f2, f3, f4):
        plt.close(f)


def test_external_directory_requires_every_panel_file(tmp_path):
    from helpers.data.external import FILES

    keys = ("wb_mobile_per100", "gm_mobile_total", "gm_countries", "wb_population", "owid_population")
    inputs = {k: tmp_path / FILES[k] for k in keys}
    assert ptab.external_directory(inputs) == tmp_path
    with pytest.raises(ValueError, match="owid_population"):
        ptab.external_directory({k: v for k, v in inputs.items() if k != "owid_population"})
    with pytest.raises(ValueError, match="standard name"):
        ptab.external_directory(inputs | {"gm_countries": tmp_path / "other.csv"})
    with pytest.raises(ValueError, match="standard name"):
        ptab.external_directory(inputs | {"wb_population": tmp_path / "sub" / FILES["wb_population"]})


def test_missing_years_between_launch_and_last_year():
    pan = pd.DataFrame(
        {"iso3": "X", "year": [2005, 2008, 2009, 2010, 2012, 2013], "per100": [0, 0.5, 1, 2, 3, 4]}
    )
    assert ptab.missing_years(pan, "X") == [2011]  # 2006-2007 precede the launch (2009)
    assert ptab.missing_years(pan, "X", threshold=50) == []


def test_percentile_and_robustness_sentences(fits, draws):
    rk = pint.rank_summary(fits, draws, iso3="XXX")
    s = psum.percentile_sentence(rk, "logistic", "Focalia")
    assert "Focalia's ceiling (20 per 100, 95 % CI 15-60) is at the 20th percentile of the 5 countries" in s
    assert "slower than 80 % of countries" in s
    r = psum.robustness_sentence(rk, "Focalia")
    assert "(logistic, best)" in r and "from 20.0 to 20.0" in r and "without the countries" in r


def test_ceiling_ci_at_bound_marks_truncated_intervals(fits):
    f = fits.assign(peak_per100=fits["ceiling"])
    f.loc[f["iso3"] == "P01", "ceiling_hi"] = 5 * f.loc[f["iso3"] == "P01", "peak_per100"]
    f.loc[f["iso3"] == "P05", "ceiling_hi"] = (
        5 * f.loc[f["iso3"] == "P05", "peak_per100"]
    )  # point on bound too
    m = ptab.ceiling_ci_at_bound(f)
    assert f.loc[m, "iso3"].tolist() == ["P01"]
    assert ptab.ceiling_ci_at_bound(f, ceiling_factor=10).sum() == 0
    ct = ptab.comparison_table(f, "XXX", ["P01"]).set_index("iso3")
    assert ct.loc["P01", "flags"] == "ceiling_ci_at_bound" and ct.loc["XXX", "flags"] == ""
    assert ptab.flag_counts(f).set_index("model").loc["logistic", "ceiling_ci_at_bound"] == 1


def test_display_comparison_is_readable(fits):
    d = ptab.display_comparison(ptab.comparison_table(fits, "XXX", ["P01", "P05"])).set_index("rank")
    assert list(d.index) == ["1", "2", "–"]
    assert d.loc["2", "country"] == "name XXX (XXX)" and d.loc["2", "ceiling [95 % CI]"] == "20 [15, 60]"
    assert d.loc["1", "years 10→90 % [95 % CI]"] == "8.8 [7.8, 9.8]"


# ------------------------------------------------------------------------------------------------ percentile interval
def test_percentile_draws_count_below_and_half_ties():
    focal = np.array([5.0, 15.0, 25.0])
    fixed = np.array([10.0, 20.0])
    np.testing.assert_allclose(pint.percentile_draws(focal, fixed), [0.0, 50.0, 100.0])
    # an uncertain reference paired row by row: below, tied, above the focal draw
    un = np.array([[1.0], [15.0], [30.0]])
    np.testing.assert_allclose(pint.percentile_draws(focal, fixed, un), [100 / 3, 50.0, 200 / 3])
    with pytest.raises(ValueError, match="rows"):
        pint.percentile_draws(focal, fixed, un[:2])


def _logistic_panel(
    specs: dict[str, tuple[float, float, float]], noise: dict[str, float], seed: int
) -> pd.DataFrame:
    """Logistic series ``(K, r, t0)`` launched in 2000 (17 annual points). Countries in ``noise`` get
    multiplicative Gaussian noise of that SD from ``seed`` (so two of them get the same data: twins); the
    others a fixed 0.01 % wobble (deterministic per code) that keeps their fits well posed."""
    frames = []
    t = np.arange(0, 17, dtype=float)
    for iso3, (K, r, t0) in specs.items():
        y = K / (1 + np.exp(-r * (t - t0)))
        sd = noise.get(iso3, 1e-4)
        e = np.random.default_rng(seed if iso3 in noise else zlib.crc32(iso3.encode())).normal(0, sd, t.size)
        y = np.maximum(y * (1 + e), 1.0)
        frames.append(pd.DataFrame({"iso3": iso3, "name": iso3, "year": (2000 + t).astype(int), "per100": y}))
    return pd.concat(frames, ignore_index=True)


def test_percentile_interval_known_answer_with_a_twin():
    """10 countries always below, 10 always above, and a twin with the focal country's data (independent
    resamples): in every draw the focal country is below or above its twin, so its percentile among the 21
    references is 10/21 or 11/21 -- the interval is exactly [47.6, 52.4] and the point percentile 50 (tie)."""
    specs = {"FOC": (100.0, 0.5, 6.0), "TWN": (100.0, 0.5, 6.0)}
    specs |= {f"L{i:02d}": (10.0 + 3 * i, 0.5, 6.0) for i in range(10)}
    specs |= {f"H{i:02d}": (300.0 + 20 * i, 0.5, 6.0) for i in range(10)}
    pan = _logistic_panel(specs, {"FOC": 0.08, "TWN": 0.08}, seed=11)
    fits, draws = P.fit_panel(pan, models=("logistic",), n_bootstrap=200, seed=5, n_jobs=1, keep_draws=True)
    res = pint.percentile_intervals(fits, draws, "FOC", "logistic").set_index("metric")
    assert list(res.columns) == list(pint.PERCENTILE_COLUMNS)[:1] + list(pint.PERCENTILE_COLUMNS)[2:]
    res = res.loc["ceiling"]
    assert res["n_countries"] == 21 and res["uncertain"] == "TWN" and res["n_draws"] >= 190
    assert res["percentile"] == pytest.approx(50.0)
    assert res["percentile_lo"] == pytest.approx(1000 / 21) and res["percentile_hi"] == pytest.approx(
        1100 / 21
    )
    # the focal country's draws are the fit table's resamples: same 95 % interval
    row = fits.set_index("iso3").loc["FOC"]
    assert (res["lo"], res["hi"]) == (pytest.approx(row["ceiling_lo"]), pytest.approx(row["ceiling_hi"]))
    # about half of the draws put the focal country below its twin
    d = pint.metric_draws(draws, ["FOC", "TWN"], "logistic")
    foc, twn = d["FOC"]["ceiling"], d["TWN"]["ceiling"]
    ok = np.isfinite(foc) & np.isfinite(twn)
    assert 0.35 < np.mean(foc[ok] < twn[ok]) < 0.65


@pytest.mark.slow  # multi-second coverage simulation (make test runs it; the quick tier does not)
def test_percentile_interval_follows_the_focal_uncertainty_and_covers():
    """References with ceilings 41, 43, ..., 109 (no noise) and a focal country with true ceiling 75: its true
    percentile is 100 * 17/35 (41..73 below). Over seeded noisy replicates the interval must contain it in
    most replicates (nominal 95 %) and widen with the noise."""
    refs = {f"R{i:02d}": (41.0 + 2 * i, 0.5, 6.0) for i in range(35)}
    truth = 100 * 17 / 35
    covered, widths = [], {}
    for sd in (0.02, 0.06):
        w = []
        for rep in range(8):
            pan = _logistic_panel({"FOC": (75.0, 0.5, 6.0), **refs}, {"FOC": sd}, seed=100 + rep)
            fits, draws = P.fit_panel(
                pan, models=("logistic",), n_bootstrap=150, seed=rep, n_jobs=1, keep_draws=True
            )
            res = pint.percentile_intervals(fits, draws, "FOC", "logistic", metrics=["ceiling"]).iloc[0]
            assert res["percentile_lo"] <= res["percentile"] <= res["percentile_hi"]
            covered.append(res["percentile_lo"] <= truth <= res["percentile_hi"])
            w.append(res["percentile_hi"] - res["percentile_lo"])
        widths[sd] = float(np.mean(w))
    assert np.mean(covered) >= 0.75, covered
    assert widths[0.06] > widths[0.02] > 0, widths


# ------------------------------------------------------------------------------------------------ same era
def test_same_era_rule_is_symmetric_inclusive_and_ordered():
    launch = {"FOC": 2010, "A": 2003, "B": 2004, "C": 2016, "D": 2017, "E": 1995}
    assert pcf.same_era(launch, "FOC", ["D", "C", "B", "A", "E", "FOC", "ZZZ"], 6) == ["C", "B"]
    assert pcf.same_era(launch, "FOC", ["A", "B", "C", "D", "E"], 7) == ["A", "B", "C", "D"]
    assert pcf.same_era(launch, "FOC", ["A", "E"], 0) == []
    with pytest.raises(KeyError, match="QQQ"):
        pcf.same_era(launch, "QQQ", ["A"], 5)


def test_same_era_counterfactual_on_a_small_panel(synth_panel, synth_fits):
    """FOC launched 2010; PA 2000, PB 2002, PC 1998, PD 2004. Within +-6 years: PD only; +-8: PB and PD.
    The values are each peer's own logistic curve 20 years after its launch (2030 - 2010)."""
    launch = pcf.launch_years(synth_panel)
    assert launch.to_dict() == {"FOC": 2010, "PA": 2000, "PB": 2002, "PC": 1998, "PD": 2004}
    peers = ["PA", "PB", "PC", "PD"]
    tab = synth_fits[synth_fits["model"] == "logistic"].set_index("iso3")

    def at20(c: str) -> float:
        K, r, t0 = tab.loc[c, ["p_K", "p_r", "p_t0"]].astype(float)
        return K / (1 + math.exp(-r * (20 - t0)))

    sens = pcf.era_sensitivity(synth_fits, synth_panel, "FOC", {"named": peers}, [6, 8, 12], 2030)
    s = sens.set_index("window")
    assert s.loc[6, "peers"] == "PD" and s.loc[6, "median"] == pytest.approx(at20("PD"))
    assert s.loc[8, "peers"] == "PB,PD" and s.loc[8, "n_peers"] == 2
    assert s.loc[8, "median"] == pytest.approx((at20("PB") + at20("PD")) / 2)
    assert s.loc[8, "min"] == pytest.approx(min(at20("PB"), at20("PD")))
    assert s.loc[12, "n_peers"] == 4
    cf = pcf.counterfactual(synth_fits, synth_panel, "FOC", ["PB", "PD"], 2030, band=(0.0, 1.0))
    last = cf.iloc[-1]
    assert last["median"] == pytest.approx(s.loc[8, "median"]) and last["hi"] == pytest.approx(
        s.loc[8, "max"]
    )
    nums = pcf.counterfactual_numbers(cf, None, name="Focalia")
    assert nums["band"] == "range across peers" and "(range across peers " in nums["sentence"]
    assert nums["sentence"].endswith("This describes the peers' paths, not what caused Focalia's.")
    pv = pcf.peer_values(synth_fits, synth_panel, ["PB", "PD", "NOPE"], 20)
    assert list(pv["iso3"]) == ["PB", "PD"] and pv["observed"].tolist() == [
        True,
        False,
    ]  # PD: data to 19 years


# ------------------------------------------------------------------------------------------------ contract
def _summary_dict() -> dict:
    pp = {"value": 28.0, "lo": 22.5, "hi": 50.4, "percentile": 0.96, "n_countries": 209, "median": 114.8}
    pi = {k: v for k, v in pp.items() if k != "median"} | {
        "percentile_lo": 0.48,
        "percentile_hi": 6.22,
        "level": 0.95,
        "n_uncertain": 138,
        "n_draws": 1000,
    }
    cf = {
        "model": "logistic", "rule": "the 12 named peers", "launch_year": 2010, "horizon_year": 2030,
        "median": 94.6, "lo": 77.5, "hi": 120.8, "band": "interquartile range across peers", "n_peers": 2,
        "peers": ["CUB", "CHN"], "peer_values": {"CUB": 80.0, "CHN": 110.0}, "extrapolated": ["CUB"], "excluded": [], "not_s_shaped": [],
        "last_observed_year": 2022, "last_observed_per100": 24.1, "median_at_last_observed": 67.0,
        "loo_min": None, "loo_max": None, "sentence": "Had ...",
    }  # fmt: skip
    return {
        "focal": "PRK", "focal_name": "North Korea", "comparison_model": "logistic",
        "panel": {"n_countries": 214, "n_country_years": 9000, "first_year": 1960, "last_year": 2023,
                  "focal_launch_year": 2010, "focal_last_year": 2022, "focal_last_per100": 24.1,
                  "focal_n_points": 12, "focal_missing_years": [2021]},
        "fits": {"n_countries": 214, "n_countries_flagged": 60, "focal_best_model": "gompertz",
                 "by_model": {"logistic": {"n_usable": 209}}, "flagged": {"ceiling_at_bound": ["XYZ"]},
                 "ceiling_ci_at_bound": []},
        "percentiles": {"logistic": {"ceiling": pp, "speed": pp | {"percentile": 81.8}}},
        "percentiles_s_shaped": {"logistic": {"ceiling": pp}},
        "percentile_intervals": {"logistic": {"ceiling": pi}},
        "counterfactual": cf, "counterfactual_best": cf | {"model": "best"},
        "counterfactual_same_era": cf | {"band": "range across peers", "rule": "+-7 years"},
        "same_era": {"window_years": 7, "pool": "named peers", "focal_launch_year": 2010, "peers": ["CUB"],
                     "peer_launch_years": {"CUB": 2005},
                     "sensitivity": [{"pool": "named peers", "window": 7, "n_peers": 1, "peers": ["CUB"],
                                      "median": 80.0, "min": 80.0, "max": 80.0}]},
        "sentences": {"percentiles": "..."}, "params": {"seed": 0, "peers": ["CUB", "CHN"]}, "schema_version": 2,
    }  # fmt: skip


def test_peer_summary_round_trips_and_is_byte_stable(tmp_path):
    from helpers.steps.contracts_peers import PeerSummary

    s = PeerSummary.from_dict(_summary_dict())
    assert s.percentile_intervals["logistic"]["ceiling"].percentile_hi == pytest.approx(6.22)
    assert s.counterfactual_same_era.band == "range across peers" and s.same_era.sensitivity[0].peers == [
        "CUB"
    ]
    a = s.to_json(tmp_path / "a.json")
    back = PeerSummary.from_json(a)
    assert back == s
    b = back.to_json(tmp_path / "b.json")
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize(
    ("edit", "field", "what"),
    [
        (lambda d: d["counterfactual_same_era"].pop("median"), "counterfactual_same_era.median", "missing"),
        (lambda d: d["percentile_intervals"]["logistic"]["ceiling"].update(percentile_lo="low"),
         "percentile_intervals.logistic.ceiling.percentile_lo", "expected a finite number, got 'low'"),
        (lambda d: d["percentile_intervals"]["logistic"]["ceiling"].update(percentile_lo=9.0),
         "percentile_intervals.logistic.ceiling.percentile_lo", "exceeds percentile_hi"),
        (lambda d: d["percentiles"]["logistic"]["speed"].update(percentile=130.0),
         "percentiles.logistic.speed.percentile", "outside 0-100"),
        (lambda d: d["counterfactual"].update(n_peers=3), "counterfactual.n_peers", "2 peers listed"),
        (lambda d: d["panel"].update(first_year=1960.5), "panel.first_year", "expected an integer"),
        (lambda d: d.update(extra=1), "extra", "unknown field"),
        (lambda d: d.update(percentile_intervals={}), "percentile_intervals", "comparison model 'logistic'"),
        (lambda d: d["same_era"]["sensitivity"][0].update(peers="CUB"), "same_era.sensitivity[0].peers",
         "expected a list"),
        (lambda d: d["counterfactual"].update(median=None), "counterfactual.median", "null"),
    ],
)  # fmt: skip
def test_peer_summary_errors_name_the_file_and_field(tmp_path, edit, field, what):
    from helpers.steps.contracts_peers import ContractError, PeerSummary

    d = _summary_dict()
    edit(d)
    path = tmp_path / "peer_summary.json"
    path.write_text(json.dumps(d))
    with pytest.raises(ContractError) as e:
        PeerSummary.from_json(path)
    assert str(e.value).startswith(f"{path}: {field}: ") and what in str(e.value)


def test_peer_summary_missing_or_broken_file(tmp_path):
    from helpers.steps.contracts_peers import ContractError, PeerSummary

    with pytest.raises(ContractError, match="missing"):
        PeerSummary.from_json(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{oops")
    with pytest.raises(ContractError, match=r"bad.json: not valid JSON: line 1"):
        PeerSummary.from_json(tmp_path / "bad.json")


def test_contract_builders_and_interval_sentence(synth_panel, synth_fits):
    from helpers.steps.contracts_peers import PercentileInterval

    cf = pcf.counterfactual(synth_fits, synth_panel, "FOC", ["PB", "PD"], 2030, band=(0.0, 1.0))
    nums = pcf.counterfactual_numbers(cf, None, name="Focalia")
    vals = pcf.peer_values(synth_fits, synth_panel, nums["peers"], 20)
    c = psum.counterfactual_contract(nums, "within 8 years", vals)
    assert (
        c.peers == ["PB", "PD"]
        and c.extrapolated == ["PD"]
        and c.loo_min is None
        and c.rule == "within 8 years"
    )
    assert c.peer_values["PB"] == pytest.approx(vals.set_index("iso3").loc["PB", "value"])
    rows = psum.era_rows(
        pcf.era_sensitivity(synth_fits, synth_panel, "FOC", {"named": ["PA", "PB"]}, [1, 8], 2030)
    )
    assert [r.n_peers for r in rows] == [0, 1] and rows[0].median is None and rows[1].peers == ["PB"]
    pi = PercentileInterval(value=28, lo=22.5, hi=50.4, percentile=0.96, percentile_lo=0.48, percentile_hi=6.2,
                            level=0.95, n_countries=209, n_uncertain=138, n_draws=1000)  # fmt: skip
    s = psum.percentile_interval_sentence(pi, "logistic", "ceiling", "Focalia")
    assert "is lower than that of 94-99.5 % of the 209 countries" in s and "(point estimates: 99 %)" in s
    assert "1000 bootstrap draws" in s and "the 138 countries whose own interval overlaps" in s
