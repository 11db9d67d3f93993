"""The report's sections of prose: each function gathers the quoted values of one section from the step products
and fills its template (``templates/<section>.md.j2``, see :mod:`helpers.report.text`).

The functions decide which numbers are quoted and which case applies (a flag such as ``wide`` or ``verdict``); the
wording of every case is in the template.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from helpers.report.provenance import Provenance, esc, finite, model_name, short_source, value_text
from helpers.report.tables import HOLDOUT_NAMES, scenario_settings
from helpers.report.text import ITU_ORIGIN, SUMMARY_FILE, GrowthText, Quoted, quoter, render
from helpers.steps.contracts import GrowthSummary

ITU_FILE = "data/processed/itu_prk.csv"


def latest_itu(itu: pd.DataFrame) -> pd.Series:
    """The last ITU year with a subscription count."""
    return itu.dropna(subset=["subscriptions"]).sort_values("year").iloc[-1]


def _itu_gaps(itu: pd.DataFrame) -> list[int]:
    years = set(itu.dropna(subset=["subscriptions"])["year"].astype(int))
    return [y for y in range(min(years), max(years) + 1) if y not in years]


def itu_paragraph(itu: pd.DataFrame, p: Provenance, itu_file: str = ITU_FILE) -> str:
    """One paragraph on the ITU series: latest count and per 100, first year, missing years, what its counts are."""
    s = itu.dropna(subset=["subscriptions"]).sort_values("year")
    last, first = s.iloc[-1], s.iloc[0]
    year, y0 = int(last["year"]), int(first["year"])
    q = quoter(p, ITU_ORIGIN)
    return render(
        "itu",
        year=year,
        first_year=y0,
        gaps=_itu_gaps(itu),
        count=q(last["subscriptions"], "{:,.0f}", f"ITU mobile subscriptions {year}", f"{itu_file}, year {year}"),
        per100=q(last["per100"], "{:.1f}", f"ITU subscriptions per 100 people {year}", f"{itu_file}, year {year}"),
        first_count=q(first["subscriptions"], "{:,.0f}", f"ITU mobile subscriptions {y0}", f"{itu_file}, year {y0}"),
    )  # fmt: skip


def usage_paragraph(
    obs: pd.DataFrame,
    p: Provenance,
    obs_file: str = "data/processed/observations_clean.csv",
    n_documents: int | None = None,
    reasons_ref: str = "the table below",
) -> str:
    """How many observations, from how many sources, were used in the fit (as values / lower bounds).

    ``n_documents``: the number of source documents (to say how many have no figures at all).
    """
    n = len(obs)
    used = obs[obs["usable_national_subs"].astype(bool)]
    n_val = int((used["use_as"] == "value").sum())
    n_lb = int((used["use_as"] == "lower_bound").sum())
    n_src = int(obs["source_id"].nunique())
    q = quoter(p, "count of rows in " + obs_file)
    return render(
        "usage",
        n=q(n, "{:,.0f}", "observations recorded"),
        n_sources=q(n_src, "{:,.0f}", "source documents with figures"),
        n_no_figures=max((n_documents or 0) - n_src, 0),
        n_used=q(len(used), "{:,.0f}", "observations used in the fit", "usable_national_subs = True"),
        n_values=q(n_val, "{:,.0f}", "observations used as values", "use_as = value"),
        n_lower=q(n_lb, "{:,.0f}", "observations used as lower bounds", "use_as = lower_bound"),
        n_other=len(used) - n_val - n_lb,
        n_left=q(n - len(used), "{:,.0f}", "observations not used in the fit"),
        reasons_ref=reasons_ref,
    )


def reconciliation_paragraph(
    rec: pd.DataFrame,
    p: Provenance,
    rec_file: str = "data/processed/reconciliation.csv",
    table_ref: str = "The table below",
) -> str:
    """Counts of compared pairs by verdict, in words, and what the table of conflicts (``table_ref``) lists."""
    from helpers.data.reconcile import VERDICTS

    counts = rec["verdict"].value_counts().reindex(list(VERDICTS), fill_value=0)
    q = quoter(p, f"count of rows in {rec_file}")
    verdicts = [
        (q(int(counts[v]), "{:,.0f}", f"reconciliation pairs: {v}", f"verdict = {v}"), v) for v in VERDICTS
    ]
    total = q(len(rec), "{:,.0f}", "reconciliation pairs")
    return render("reconciliation", total=total, verdicts=verdicts, table_ref=table_ref)


def latest_document_figure(series: pd.DataFrame, obs: pd.DataFrame) -> pd.Series:
    """The latest stated (exact) figure of the national series, joined to its observation row.

    Returns the observation row plus ``count`` (the figure in subscriptions, converted from a percentage
    through the population when needed), ``count_population`` and ``t``.
    """
    exact = series[series["value"].notna()].sort_values("t")
    if exact.empty:
        raise ValueError("the national series has no exact figure")
    last = exact.iloc[-1]
    row = obs.set_index("obs_id").loc[last["obs_id"]].copy()
    row["obs_id"] = last["obs_id"]
    row["count"] = float(last["value"])
    row["t"] = float(last["t"])
    row["population_source"] = last.get("population_source", "")
    return row


def abstract(
    itu: pd.DataFrame,
    series: pd.DataFrame,
    obs: pd.DataFrame,
    sources: pd.DataFrame,
    summary: Mapping[str, Any] | GrowthSummary,
    p: Provenance,
    *,
    itu_file: str = ITU_FILE,
    summary_file: str = SUMMARY_FILE,
) -> str:
    """The abstract: latest counts and penetration with year and source, the fitted ceiling, the model and why."""
    last = latest_itu(itu)
    year = int(last["year"])
    q = quoter(p, ITU_ORIGIN)
    d = f"{itu_file}, year {year}"
    doc = latest_document_figure(series, obs)
    src = sources.set_index("source_id").loc[doc["source_id"]]
    publisher = str(src["author_publisher"]).split(";")[0].strip()
    o = f"observation {doc['obs_id']} (source {short_source(doc['source_id'])}, {publisher})"
    percent = doc.get("unit") == "percent"
    g = GrowthText(summary, p, summary_file)
    av = g.s.averaged
    return render(
        "abstract",
        year=year,
        count=q(last["subscriptions"] / 1e6, "{:.2f}", f"ITU mobile subscriptions {year} (millions)", d),
        per100=q(last["per100"], "{:.1f}", f"ITU subscriptions per 100 people {year}", d),
        publisher=esc(publisher),
        qualifier=doc.get("qualifier"),
        stated=Quoted(p, value_text(doc).lstrip("≈≥≤ "), "", f"figure stated by {publisher}", o,
                      f"quote: “{doc['quote']}”"),
        percent=percent,
        date_text=esc(doc["date_text"]),
        converted=Quoted(p, doc["count"] / 1e6, "{:.1f}", f"{doc['obs_id']} as subscriptions (millions)",
                         f"{o}; step 01: data/processed/national_series.csv",
                         f"percentage × population ({doc['population_source']})") if percent else None,
        model_names=[model_name(x) for x in str(g.s.settings.get("models", "")).split(",") if x],
        growth=g.context(),
        ceiling=g.interval(av["ceiling_per100"], "averaged.ceiling_per100", "{:.0f}", "ceiling per 100 inhabitants"),
        inflection=g.interval(av["inflection"], "averaged.inflection", "{:.0f}", "inflection year"),
    )  # fmt: skip


def methods_models(summary: Mapping[str, Any] | GrowthSummary) -> str:
    """The model formulas (LaTeX), with the time origin of step 02."""
    e = GrowthSummary.coerce(summary).settings.get("epoch", 2008)
    return render("methods_models", epoch=int(e) if float(e).is_integer() else str(e))


def nist_paragraph(nist: pd.DataFrame, p: Provenance) -> str:
    """One sentence: how many NIST fits pass and the worst deviations."""
    q = quoter(p, "computed in this report: helpers.report.build.nist_comparison on tests/data/nist")
    return render(
        "nist",
        n_pass=int(nist["pass"].sum()),
        n_fits=len(nist),
        worst_parameter=q(nist["max rel. dev. parameters"].max(), "{:.0e}", "NIST worst parameter deviation",
                          "max over problems and starts"),
        worst_stderr=q(nist["max rel. dev. std. errors"].max(), "{:.0e}", "NIST worst standard-error deviation",
                       "max over problems and starts"),
    )  # fmt: skip


def methods_uncertainty(
    summary: Mapping[str, Any] | GrowthSummary, p: Provenance, file: str = SUMMARY_FILE
) -> str:
    """The likelihood, why it replaced hinge least squares, intervals, averaging, the measured coverage,
    backtests and the holdout, in words (numbers from the step-02 summary)."""
    from helpers.models.profile import profile_threshold

    g = GrowthText(summary, p, file)
    s = g.s
    q = quoter(p, g.origin)
    n_obs = int(s.data.get("n_obs") or 0)
    n_params = 4
    coverage = None
    cov = s.coverage
    if cov:
        cq = quoter(p, f"computation (make coverage): {cov.get('source')}")
        cd = (f"{cov.get('n_used')} of {cov.get('n_sets')} data sets, {cov.get('model')}, seed {cov.get('seed')}, "
              f"commit {cov.get('commit')}, {cov.get('date')}")  # fmt: skip
        coverage = {
            "share": cq(
                cov["coverage"], "{:.3f}", "coverage of the 95% saturation interval", f"coverage ({cd})"
            ),
            "mc_se": cq(cov.get("mc_se"), "{:.3f}", "Monte Carlo SE of the coverage", f"mc_se ({cd})"),
            "n_sets": cov.get("n_sets"),
            "model": model_name(cov.get("model")),
            "too_narrow": float(cov["coverage"]) + 2 * float(cov.get("mc_se") or 0) < s.level,
        }
    origins = [x for x in str(s.backtest.get("origins", "")).split(",") if x]
    h = s.holdout
    return render(
        "methods_uncertainty",
        pct=g.pct,
        nominal=f"{s.level:.2f}",
        n_boot=q(s.bootstrap.get("n"), "{:,.0f}", "bootstrap resamples per model", "bootstrap.n"),
        seed=q(str(s.bootstrap.get("seed")), "", "bootstrap seed", "bootstrap.seed"),
        n_figures=q(n_obs, "{:,.0f}", "figures in the likelihood", "data.n_obs"),
        n_params=n_params,
        chi2_threshold=f"{profile_threshold(s.level, n_obs, n_params, 'chi2'):.2f}",
        f_threshold=Quoted(p, profile_threshold(s.level, n_obs, n_params, "f"), "{:.2f}", "profile deviance threshold",
                           "computation: helpers.models.profile.profile_threshold",
                           f"level {s.level}, n = {n_obs}, p = 4"),
        rounded_as_interval=s.settings.get("rounded_figures") == "interval",
        coverage=coverage,
        origins=q(", ".join(origins), "", "backtest origins", "backtest.origins") if origins else None,
        holdout={"origin": h["origin"], "years": ", ".join(str(y) for y in h.get("years", []))}
        if h.get("origin") else None,
    )  # fmt: skip


def results_fit(summary: Mapping[str, Any] | GrowthSummary, p: Provenance, file: str = SUMMARY_FILE) -> str:
    """What was fitted: the data, the time span and what the data say about the choice of curve."""
    g = GrowthText(summary, p, file)
    return render(
        "results_fit",
        growth=g.context(),
        first=g.q(g.s.data["first_t"], "{:.1f}", "first figure in the fit (decimal year)", "data.first_t"),
        last=g.q(g.s.data["last_t"], "{:.1f}", "last figure in the fit (decimal year)", "data.last_t"),
    )


def results_saturation(
    summary: Mapping[str, Any] | GrowthSummary, p: Provenance, file: str = SUMMARY_FILE
) -> str:
    """Model-averaged saturation, ceiling, inflection, the horizon value and years reaching penetration levels."""
    g = GrowthText(summary, p, file)
    s, h = g.s, g.s.horizon
    av = s.averaged
    reaching = []
    for key in sorted((k for k in av if k.startswith("year_reaching_")), key=lambda k: float(k[14:-6])):
        lvl = key[len("year_reaching_") : -len("per100")]
        r = av[key]
        share = None
        if finite(r.share_finite) and (not finite(r.estimate) or float(r.share_finite) < 1):
            share = g.q(100 * float(r.share_finite), "{:.0f}", f"bootstrap curves reaching {lvl} per 100 (%)",
                        f"averaged.{key}.share_finite × 100")  # fmt: skip
        est = None
        if finite(r.estimate):
            est = g.q(r.estimate, "{:.0f}", f"year reaching {lvl} per 100", f"averaged.{key}.estimate")
        if est is not None or share is not None:
            reaching.append({"level": lvl, "year": est, "share": share})
    loo = s.loo
    leave_one_out = None
    if finite(loo.get("saturation_min")) and finite(loo.get("saturation_max")):
        leave_one_out = {
            "lowest": g.q(loo["saturation_min"], "{:.1f}", "leave-one-out saturation, lowest (millions)",
                          "loo.saturation_min", 1e6),
            "highest": g.q(loo["saturation_max"], "{:.1f}", "leave-one-out saturation, highest (millions)",
                           "loo.saturation_max", 1e6),
            "lowest_without": esc(loo.get("saturation_min_left_out")),
            "highest_without": esc(loo.get("saturation_max_left_out")),
        }  # fmt: skip
    return render(
        "results_saturation",
        growth=g.context(),
        ceiling=g.interval(av["ceiling_per100"], "averaged.ceiling_per100", "{:.0f}", "ceiling per 100 inhabitants"),
        at_horizon=g.interval(av["value_horizon"], "averaged.value_horizon", "{:.1f}",
                              f"subscriptions in {h} (millions)", 1e6),
        inflection=g.interval(av["inflection"], "averaged.inflection", "{:.1f}", "inflection (decimal year)"),
        reaching=reaching,
        leave_one_out=leave_one_out,
    )  # fmt: skip


def results_holdout(
    summary: Mapping[str, Any] | GrowthSummary, p: Provenance, file: str = SUMMARY_FILE
) -> str:
    """The holdout against ITU in words: the averaged curves against the best benchmark ("" without a holdout)."""
    g = GrowthText(summary, p, file)
    h = g.s.holdout
    by = h.get("by_method", {})
    if "averaged" not in by:
        return ""
    av = by["averaged"]
    width = av.get("interval_score_m")
    bench = {k: v for k, v in by.items() if k in ("loglinear", "rw_drift") and v.get("crps_m") is not None}
    benchmarks = [
        {
            "name": HOLDOUT_NAMES[k],
            "crps": g.q(
                v["crps_m"],
                "{:.3g}",
                f"holdout CRPS, {HOLDOUT_NAMES[k]} (millions)",
                f"holdout.by_method.{k}.crps_m",
            ),
            "coverage": g.q(
                100 * v["coverage"],
                "{:.0f}",
                f"holdout coverage, {HOLDOUT_NAMES[k]} (%)",
                f"holdout.by_method.{k}.coverage × 100",
            ),
        }  # fmt: skip
        for k, v in bench.items()
    ]
    verdict, best = None, None
    if bench:
        best = min(bench, key=lambda k: bench[k]["crps_m"])
        clean = all(
            av["crps_m"] < v["crps_m"]
            and finite(width)
            and finite(v.get("interval_score_m"))
            and float(width) < float(v["interval_score_m"])
            for v in bench.values()
        )
        verdict = (
            "curves_better"
            if clean
            else "benchmark_better"
            if av["crps_m"] > bench[best]["crps_m"]
            else "mixed"
        )
    dropped = [
        {
            "name": model_name(k),
            "used": g.q(
                v["refits_used"],
                "{:.0f}",
                f"holdout: converged bootstrap refits, {model_name(k)}",
                f"holdout.by_method.{k}.refits_used",
            ),
            "total": g.q(
                v["refits_total"],
                "{:.0f}",
                f"holdout: bootstrap refits, {model_name(k)}",
                f"holdout.by_method.{k}.refits_total",
            ),
        }  # fmt: skip
        for k, v in by.items()
        if k not in HOLDOUT_NAMES  # the averaged mixture and the benchmarks are not refitted curves
        and v.get("refits_used") is not None
        and v.get("refits_total") is not None
        and v["refits_used"] < v["refits_total"]
    ]
    return render(
        "results_holdout",
        dropped=dropped,
        origin=h["origin"],
        n_train=h.get("n_train"),
        n_train_exact=h.get("n_train_exact"),
        years=", ".join(str(y) for y in h.get("years", [])),
        n_years=len(h.get("years", [])),
        coverage=g.q(100 * av["coverage"], "{:.0f}", "holdout: ITU counts inside the averaged curves' 95% interval (%)",
                     "holdout.by_method.averaged.coverage × 100"),
        crps=g.q(av["crps_m"], "{:.3g}", "holdout CRPS, averaged curves (millions)", "holdout.by_method.averaged.crps_m"),
        interval_score=g.q(width, "{:.3g}", "holdout interval score, averaged curves (millions)",
                           "holdout.by_method.averaged.interval_score_m") if finite(width) else None,
        very_wide=finite(width) and float(width) > 20,
        benchmarks=benchmarks,
        verdict=verdict,
        best=HOLDOUT_NAMES.get(best, ""),
    )  # fmt: skip


def results_backtest(
    summary: Mapping[str, Any] | GrowthSummary, p: Provenance, file: str = SUMMARY_FILE
) -> str:
    """Backtest errors by origin (mean over the curves), in words; merged origins are named."""
    g = GrowthText(summary, p, file)
    by = g.s.backtest.get("mape_exact_by_origin", {})
    errors = [
        (
            g.q(
                v,
                "{:.0f}",
                f"backtest MAPE from {k} (mean over curves)",
                f"backtest.mape_exact_by_origin.{k}",
            ),
            k,
        )
        for k, v in by.items()
        if finite(v)
    ]
    vals = [float(v) for v in by.values() if finite(v)]
    return render(
        "results_backtest",
        errors=errors,
        early_worse=len(vals) >= 2 and vals[0] > 2 * vals[-1],
        same_data=list(g.s.backtest.get("same_data", {}).items()),
    )


def results_naive(
    summary: Mapping[str, Any] | GrowthSummary,
    intervals: pd.DataFrame,
    p: Provenance,
    file: str = SUMMARY_FILE,
    itu: pd.DataFrame | None = None,
    itu_file: str = ITU_FILE,
) -> str:
    """The censored fit against the naive fit (bounds as values) and the fit to ITU's counts.

    With ``itu`` (``itu_prk.csv``), a saturation level of the ITU fit below ITU's own latest count is pointed
    out, with the largest year-on-year jump of the series (which a levelling curve cannot follow).

    The closing sentence compares the spread of the saturation level across these data treatments with its
    spread across the equally supported models (``intervals``: ``growth_intervals.csv``).
    """
    o = f"step 02: {file}"
    gs = GrowthSummary.coerce(summary, file)
    nvc = gs.naive_vs_censored
    m = model_name(nvc.get("model", gs.best_model))
    vals = {k: nvc.get(f"{k}_saturation") for k in ("censored", "naive", "itu")}
    if not all(finite(v) for v in vals.values()):
        return ""
    q = quoter(p, o)
    sat = {
        k: q(v / 1e6, "{:.1f}", f"saturation, {k} fit (millions)", f"naive_vs_censored.{k}_saturation ({m})")
        for k, v in vals.items()
    }
    itu_below = None
    if itu is not None:
        last = latest_itu(itu)
        if vals["itu"] < float(last["subscriptions"]):
            iq = quoter(p, ITU_ORIGIN)
            yr = int(last["year"])

            def count(row: pd.Series) -> Quoted:
                y = int(row["year"])
                return iq(row["subscriptions"] / 1e6, "{:.2f}", f"ITU mobile subscriptions {y} (millions)",
                          f"{itu_file}, year {y}")  # fmt: skip

            itu_below = {"year": yr, "count": count(last), "jump": None}
            s_ = itu.dropna(subset=["subscriptions"]).sort_values("year")
            ratio = s_["subscriptions"].to_numpy()[1:] / s_["subscriptions"].to_numpy()[:-1]
            late = s_["year"].to_numpy()[1:] >= s_["year"].iloc[len(s_) // 2]
            if late.any():
                i = int(np.argmax(np.where(late, ratio, 0)))
                a, b = s_.iloc[i], s_.iloc[i + 1]
                itu_below["jump"] = {"year0": int(a["year"]), "year1": int(b["year"]), "count0": count(a),
                                     "count1": count(b)}  # fmt: skip
    spread = None
    supported = [m_ for m_, w in gs.weights.items() if w is not None and w >= 0.1]
    sats = intervals[(intervals["quantity"] == "saturation") & intervals["model"].isin(supported)]["estimate"]
    if len(sats) >= 2:
        data_ratio = max(vals.values()) / min(vals.values())
        model_ratio = float(sats.max() / sats.min())
        spread = {
            "data": q(data_ratio, "{:.2f}", "saturation spread across data treatments (max/min)",
                      "naive_vs_censored.*_saturation"),
            "models": Quoted(p, model_ratio, "{:.2f}", "saturation spread across the averaged curves (max/min)",
                             "step 02: data/processed/growth_intervals.csv",
                             f"quantity = saturation, models {', '.join(supported)}"),
            "data_matters_more": data_ratio > model_ratio,
        }  # fmt: skip
    return render("results_naive", model=m, sat=sat, lowers=vals["naive"] < vals["censored"], itu_below=itu_below,
                  spread=spread)  # fmt: skip


def limitations(
    summary: Mapping[str, Any] | GrowthSummary,
    obs: pd.DataFrame,
    rec: pd.DataFrame,
    itu: pd.DataFrame,
    p: Provenance,
) -> str:
    """Plain-words limitations, with the numbers they depend on (a Markdown list)."""
    gs = GrowthSummary.coerce(summary, SUMMARY_FILE)
    o = f"step 02: {SUMMARY_FILE}"
    failed = sum((gs.bootstrap.get("n_failed_all_models") or {}).values())
    return render(
        "limitations",
        n_exact=Quoted(p, gs.data["n_exact"], "{:,.0f}", "exact figures in the fit", o, "data.n_exact"),
        n_conflicts=Quoted(p, int((rec["verdict"] == "conflict").sum()), "{:,.0f}", "reconciliation pairs: conflict",
                           "count of rows in data/processed/reconciliation.csv", "verdict = conflict"),
        itu_last_year=int(latest_itu(itu)["year"]),
        itu_gaps=", ".join(str(y) for y in _itu_gaps(itu)),
        curated=gs.settings.get("series", "curated") == "curated",
        n_failed=Quoted(p, failed, "{:,.0f}", "failed bootstrap refits (all averaged curves)", o,
                        "sum of bootstrap.n_failed_all_models") if finite(failed) and float(failed) > 0 else None,
    )  # fmt: skip


def scenarios_paragraph(
    sc: pd.DataFrame,
    p: Provenance,
    file: str = "data/processed/scenarios.csv",
    table_ref: str = "the table below",
) -> str:
    """The range of the saturation level and the chosen models over the sensitivity sweep."""
    q = quoter(p, f"make scenarios: {file}")
    sat = sc["saturation.estimate"].astype(float)
    return render(
        "scenarios",
        n_settings=len(scenario_settings(sc)),
        table_ref=table_ref,
        n_runs=q(len(sc), "{:,.0f}", "scenarios in the sensitivity sweep", "rows"),
        lowest=q(sat.min() / 1e6, "{:.1f}", "saturation, lowest over scenarios (millions)", "min of saturation.estimate"),
        highest=q(sat.max() / 1e6, "{:.1f}", "saturation, highest over scenarios (millions)", "max of saturation.estimate"),
    )  # fmt: skip
