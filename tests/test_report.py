"""helpers.report (provenance, tables, text templates, sections, build) and helpers.data.events: provenance register,
escaping, numbering, events file, generated text.

The generated text is checked by its numbers and their provenance, not by its wording (the wording lives in
src/helpers/report/templates and an editor may change it): :func:`traced` checks that every reference mark in a text
follows the value the register holds for it, and returns the register as {quantity: value in text}."""

from __future__ import annotations

import copy
import re

import jinja2
import pandas as pd
import pytest

from helpers.data import events as ev
from helpers.data.quotes import quote_in_source
from helpers.report import build, tables, text
from helpers.report import provenance as prov
from helpers.report import sections as prose
from helpers.report import sections_peers as peers_text
from tests.conftest import ROOT

# --------------------------------------------------------------------------------------------------------
# Provenance, esc, numbering
# --------------------------------------------------------------------------------------------------------


def test_provenance_registers_each_number_once_with_its_origin() -> None:
    p = prov.Provenance(mark=" [{ref}]")
    a = p.num(6353440.0, label="ITU 2022", origin="ITU", detail="itu_prk.csv, 2022")
    b = p.num(24.13, "{:.1f}", label="per 100", origin="ITU")
    again = p.num(6353440.0, label="ITU 2022", origin="ITU", detail="itu_prk.csv, 2022")
    rng = p.text("5.0–10.1", label="interval", origin="step 02")
    assert (a, b, again, rng) == ("6,353,440 [1]", "24.1 [2]", "6,353,440 [1]", "5.0–10.1 [3]")
    t = p.table()
    assert list(t["ref"]) == [1, 2, 3]
    assert t.loc[0, "origin"] == "ITU" and t.loc[0, "how it was obtained"] == "itu_prk.csv, 2022"
    assert list(t["value in text"]) == ["6,353,440", "24.1", "5.0–10.1"]


def test_provenance_default_mark_and_nan_is_refused() -> None:
    p = prov.Provenance()
    assert p.num(3, label="x", origin="o") == "3<sup>[1]</sup>"
    with pytest.raises(ValueError, match="NaN"):
        p.num(float("nan"), label="y", origin="o")


def test_esc_neutralises_html_and_markdown() -> None:
    out = prov.esc('<script>alert("x")</script> *bold* _it_ [link](u) $x$ | # & `c`')
    assert "<script>" not in out and "&lt;script&gt;" in out
    for raw in ("*bold*", "_it_", "[link]", "$x$", "`c`"):
        assert raw not in out
    assert "&amp;" in out
    assert prov.esc(None) == "" and prov.esc(float("nan")) == ""


def test_numbering_counts_figures_and_tables_and_checks_order() -> None:
    n = prov.Numbering()
    n.declare(tables=["a", "b"])
    assert n.fig("x") == "Figure 1"
    assert n.figure("x", "Cap.") == "**Figure 1.** Cap."
    assert n.table("a", "A.") == "**Table 1.** A."
    assert n.tab("b") == "Table 2"
    with pytest.raises(ValueError, match="never shown"):
        n.check()
    n.table("b", "B.")
    n.check()
    m = prov.Numbering()
    m.tab("late")  # a forward reference without declare() allocates number 1
    m.table("early", "E.")
    m.table("late", "L.")
    with pytest.raises(ValueError, match="order"):
        m.check()


# --------------------------------------------------------------------------------------------------------
# Tables: escaping, captions, widths
# --------------------------------------------------------------------------------------------------------


def test_table_html_escapes_a_script_note_and_keeps_caption_and_widths() -> None:
    df = pd.DataFrame({"id": ["E1"], "note": ["<script>alert(1)</script> & more"]})
    html = tables.table_html(df, "**Table 1.** Events from `events.csv`.", [1, 3])
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html
    assert "<caption><strong>Table 1.</strong> Events from <code>events.csv</code>.</caption>" in html
    assert '<col style="width: 25.0%"><col style="width: 75.0%">' in html
    assert ">0<" not in html  # no index column
    with pytest.raises(ValueError, match="widths"):
        tables.table_html(df, widths=[1])


def test_events_table_renders_script_note_as_text() -> None:
    events = pd.DataFrame(
        {"event_id": ["E1"], "date": ["2012"], "date_end": [None], "event": ["x"],
         "source_id": ["000_abc"], "quote": ["q"], "note": ['<script>alert("x")</script>']}
    )  # fmt: skip
    html = tables.table_html(tables.events_table(events))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<td>000</td>" in html  # short source id


def test_value_text_reads_qualifiers() -> None:
    row = {"unit": "subscriptions", "qualifier": "at_least", "value": 1e6, "value_low": float("nan"),
           "value_high": float("nan")}  # fmt: skip
    assert prov.value_text(row) == "≥ 1,000,000"
    assert prov.value_text({**row, "qualifier": "range", "value": float("nan"), "value_low": 6.5e6,
                         "value_high": 7e6}) == "6,500,000–7,000,000"  # fmt: skip
    assert prov.value_text({**row, "unit": "percent", "qualifier": "approx", "value": 15.5}) == "≈ 15.5%"


# --------------------------------------------------------------------------------------------------------
# Generated text from tiny tables
# --------------------------------------------------------------------------------------------------------

ITU = pd.DataFrame(
    {"year": [2009, 2010, 2012], "subscriptions": [69261, 431919, 1700000], "per100": [0.278, 1.729, 6.743]}
)


def _iv(e, lo=None, hi=None, share=None, method="profile likelihood"):
    return {"estimate": e, "lo": lo, "hi": hi, "method": method, "share_finite": share}


SUMMARY = {
    "settings": {"level": 0.95, "horizon": 2030, "epoch": 2008, "series": "curated", "models": "logistic,gompertz",
                 "rounded_figures": "interval"},
    "horizon": 2030, "level": 0.95, "method": "mle",
    "data": {"n_obs": 7, "n_exact": 3, "n_bounds": 4, "first_t": 2010.4, "last_t": 2013.1, "max_lower_bound": 6.5e6},
    "weights": {"gompertz": 0.61, "logistic": 0.39}, "aicc": {"gompertz": 100.0, "logistic": 100.9},
    "sigma": {"gompertz": 0.21, "logistic": 0.22}, "best_model": "gompertz", "singled_out": False,
    "averaged": {"saturation": _iv(8.3e6, 5.0e6, 10.1e6), "ceiling_per100": _iv(31.1, 18.6, 37.7),
                 "inflection": _iv(2015.61, 2013.5, 2016.9), "value_horizon": _iv(8.0e6, 5.0e6, 9.5e6),
                 "per100_horizon": _iv(30.0, 19.0, 36.0),
                 "year_reaching_25per100": _iv(2021.95, share=0.7), "year_reaching_50per100": _iv(None, share=0.0)},
    "profile": {"gompertz": {"saturation": _iv(8.3e6, 5.8e6, 15.5e6), "ceiling_per100": _iv(31.1, 21.0, 58.0),
                             "inflection": _iv(2015.6, 2013.1, 2018.7)}},
    "richards": {"identified": False, "reason": "corr(t0, nu) = 1.000"},
    "loo": {"saturation_min": 6.8e6, "saturation_max": 8.9e6, "saturation_min_left_out": "002-001",
            "saturation_max_left_out": "004-001", "rows": []},
    "holdout": {"origin": 2017, "years": [2019, 2020], "n_train": 12, "n_train_exact": 3,
                "by_method": {"averaged": {"coverage": 0.5, "interval_score_m": 9.0, "crps_m": 1.1, "mape": 20.0},
                              "rw_drift": {"coverage": 1.0, "interval_score_m": 5.0, "crps_m": 0.6, "mape": 10.0}}},
    "backtest": {"origins": "2012,2016", "mape_exact_by_origin": {"2012": 59.4, "2016": 8.3}, "same_data": {}},
    "naive_vs_censored": {"model": "gompertz", "censored_saturation": 8.3e6, "naive_saturation": 6.6e6,
                          "itu_saturation": 5.1e6},
    "bootstrap": {"kind": "parametric", "n": 1000, "seed": 7, "n_failed_all_models": {"gompertz": 3}},
    "coverage": None,
}  # fmt: skip


MARKED = " [{ref}]"


def traced(txt: str, p: prov.Provenance) -> dict[str, str]:
    """Every mark `` [n]`` in ``txt`` follows the value register row n holds, and every row is marked somewhere in
    ``txt``; returns the register as {quantity: value in text} (the quantities of one text are unique)."""
    reg = p.table().set_index("ref")
    marked = set()
    for m in re.finditer(r" \[(\d+)\]", txt):
        ref = int(m.group(1))
        assert ref in reg.index, f"mark [{ref}] has no register entry"
        value = reg.loc[ref, "value in text"]
        assert txt[: m.start()].endswith(value), (
            f"[{ref}] follows {txt[max(0, m.start() - 30) : m.start()]!r}, not {value!r}"
        )
        marked.add(ref)
    assert marked == set(reg.index), f"registered but not in the text: {sorted(set(reg.index) - marked)}"
    return dict(zip(reg["quantity"], reg["value in text"], strict=True))


def test_itu_paragraph_quotes_the_latest_year_and_the_gap() -> None:
    p = prov.Provenance(mark=MARKED)
    txt = prose.itu_paragraph(ITU, p)
    q = traced(txt, p)
    assert q == {"ITU mobile subscriptions 2012": "1,700,000", "ITU subscriptions per 100 people 2012": "6.7",
                 "ITU mobile subscriptions 2009": "69,261"}  # fmt: skip
    assert (
        p.entries[0].origin == "ITU via World Bank WDI / Gapminder"
        and "itu_prk.csv, year 2012" in p.entries[0].detail
    )
    assert "2011" in txt and "2010" not in txt  # the missing year is named, the others are not


def test_usage_paragraph_counts_observations() -> None:
    obs = pd.DataFrame(
        {
            "obs_id": ["000-001", "000-002", "001-001", "001-002"],
            "source_id": ["000_x", "000_x", "001_y", "001_y"],
            "usable_national_subs": [True, True, True, False],
            "use_as": ["value", "lower_bound", "lower_bound", None],
        }
    )
    p = prov.Provenance(mark=MARKED)
    txt = prose.usage_paragraph(obs, p, n_documents=3, reasons_ref="Table 4")
    q = traced(txt, p)
    assert q == {"observations used in the fit": "3", "observations recorded": "4", "source documents with figures": "2",
                 "observations used as values": "1", "observations used as lower bounds": "2",
                 "observations not used in the fit": "1"}  # fmt: skip
    assert p.entries[0].detail == "usable_national_subs = True"  # registered first, as in earlier builds
    assert all(e.origin == "count of rows in data/processed/observations_clean.csv" for e in p.entries)
    assert "Table 4" in txt


def test_abstract_contains_the_computed_numbers_and_registers_them() -> None:
    series = pd.DataFrame({"t": [2012.1, 2013.1], "value": [float("nan"), 1e6], "lower": [9e5, float("nan")],
                           "obs_id": ["001-001", "004-001"], "population_source": ["WB", "WB"]})  # fmt: skip
    obs = pd.DataFrame({"obs_id": ["001-001", "004-001"], "source_id": ["001_y", "004_z"],
                        "quote": ["q1", "1 million cellphone subscribers"], "date_text": ["2012", "March 2013"],
                        "unit": ["subscriptions", "subscriptions"], "qualifier": ["at_least", "exact"],
                        "value": [9e5, 1e6], "value_low": [9e5, float("nan")],
                        "value_high": [float("nan"), float("nan")]})  # fmt: skip
    sources = pd.DataFrame(
        {"source_id": ["001_y", "004_z"], "author_publisher": ["Wikipedia", "iTechPost; X"]}
    )
    p = prov.Provenance(mark=MARKED)
    txt = prose.abstract(ITU, series, obs, sources, SUMMARY, p)
    q = traced(txt, p)
    assert (
        q["ITU mobile subscriptions 2012 (millions)"] == "1.70"
        and q["ITU subscriptions per 100 people 2012"] == "6.7"
    )
    assert q["figure stated by iTechPost"] == "1,000,000" and "iTechPost" in txt and "March 2013" in txt
    quote = next(e for e in p.entries if e.label == "figure stated by iTechPost")
    assert (
        quote.origin.startswith("observation 004-001 (source 004")
        and "1 million cellphone subscribers" in quote.detail
    )
    assert (q["figures in the fit"], q["exact figures in the fit"], q["bounds in the fit"]) == ("7", "3", "4")
    assert q["Akaike weight of Gompertz"] == "0.61" and q["Akaike weight of logistic"] == "0.39"
    assert (
        q["saturation (millions), estimate"] == "8.3"
        and q["saturation (millions), 95% interval"] == "5.0–10.1"
    )
    assert q["largest 'more than' figure (millions)"] == "6.5"
    assert q["saturation, Gompertz profile upper end (millions)"] == "16"
    assert (
        q["ceiling per 100 inhabitants, estimate"] == "31"
        and q["ceiling per 100 inhabitants, 95% interval"] == "19–38"
    )
    assert q["inflection year, estimate"] == "2016"
    assert "corr(t0, nu) = 1.000" in txt  # the reason Richards is left out, from the summary
    reg = p.table()
    row = reg[reg["quantity"] == "saturation (millions), estimate"].iloc[0]
    assert (
        "growth_summary.json" in row["origin"]
        and "averaged › saturation › estimate" in row["how it was obtained"]
    )
    assert reg.duplicated(["quantity", "value in text"]).sum() == 0


def test_results_text_follows_the_numbers() -> None:
    p = prov.Provenance(mark=MARKED)
    sat = prose.results_saturation(SUMMARY, p)
    q = traced(sat, p)
    assert q["year reaching 25 per 100"] == "2022" and q["bootstrap curves reaching 25 per 100 (%)"] == "70"
    assert q["bootstrap curves reaching 50 per 100 (%)"] == "0" and "year reaching 50 per 100" not in q
    assert q["subscriptions in 2030 (millions), estimate"] == "8.0"  # the horizon comes from the summary
    assert q["leave-one-out saturation, lowest (millions)"] == "6.8" and "002-001" in sat and "004-001" in sat
    intervals = pd.DataFrame({"model": ["gompertz", "logistic"], "quantity": ["saturation"] * 2,
                              "estimate": [8.3e6, 6.9e6]})  # fmt: skip
    p = prov.Provenance(mark=MARKED)
    naive = prose.results_naive(SUMMARY, intervals, p)
    q = traced(naive, p)
    assert (q["saturation, censored fit (millions)"], q["saturation, naive fit (millions)"]) == ("8.3", "6.6")
    assert q["saturation spread across data treatments (max/min)"] == "1.63"
    assert q["saturation spread across the averaged curves (max/min)"] == "1.20"
    raised = {**SUMMARY, "naive_vs_censored": {**SUMMARY["naive_vs_censored"], "naive_saturation": 9.9e6}}
    assert prose.results_naive(raised, intervals, p) != naive.replace(
        "6.6", "9.9"
    )  # the direction is said differently
    p = prov.Provenance(mark=MARKED)
    bt = prose.results_backtest(SUMMARY, p)
    q = traced(bt, p)
    assert q == {
        "backtest MAPE from 2012 (mean over curves)": "59",
        "backtest MAPE from 2016 (mean over curves)": "8",
    }
    p = prov.Provenance(mark=MARKED)
    lim = prose.limitations(SUMMARY, pd.DataFrame(), pd.DataFrame({"verdict": ["conflict", "agree"]}), ITU, p)
    q = traced(lim, p)
    assert q["exact figures in the fit"] == "3" and q["reconciliation pairs: conflict"] == "1"
    assert q["failed bootstrap refits (all averaged curves)"] == "3" and "2011" in lim
    assert (
        len(re.findall(r"^- \*\*", lim, re.M)) == 7
    )  # six limitations and the failed resamples, one per line
    p = prov.Provenance(mark=MARKED)
    hold = prose.results_holdout(SUMMARY, p)
    q = traced(hold, p)
    assert q["holdout: ITU counts inside the averaged curves' 95% interval (%)"] == "50"
    assert q["holdout CRPS, random walk with drift (millions)"] == "0.6" and "random walk with drift" in hold
    assert "refits" not in hold  # no curve left refits out in SUMMARY
    partial = copy.deepcopy(SUMMARY)
    partial["holdout"]["by_method"]["gompertz"] = {"coverage": 1.0, "interval_score_m": 9.0, "crps_m": 1.0,
                                                   "mape": 9.0, "refits_used": 34, "refits_total": 100}  # fmt: skip
    p = prov.Provenance(mark=MARKED)
    hold = prose.results_holdout(partial, p)
    q = traced(hold, p)
    assert q["holdout: converged bootstrap refits, Gompertz"] == "34"
    assert q["holdout: bootstrap refits, Gompertz"] == "100" and "understate" in hold
    assert re.search(r"Gompertz curve\S* converged", hold)
    p = prov.Provenance(mark=MARKED)
    methods = prose.methods_uncertainty(SUMMARY, p)
    q = traced(methods, p)
    assert q["bootstrap resamples per model"] == "1,000" and q["bootstrap seed"] == "7"
    assert (
        "coverage of the 95% saturation interval" not in q and "make coverage" in methods
    )  # not measured here
    assert q["backtest origins"] == "2012, 2016"


def test_model_sentence_quotes_the_weights() -> None:
    p = prov.Provenance(mark=MARKED)
    q = traced(text.model_sentence(SUMMARY, p), p)
    assert q == {"Akaike weight of Gompertz": "0.61", "Akaike weight of logistic": "0.39"}


# --------------------------------------------------------------------------------------------------------
# The template machinery: strict, traceable, reflowed
# --------------------------------------------------------------------------------------------------------


def test_every_template_compiles_and_is_filled_by_a_function() -> None:
    import inspect

    from helpers.report import sections, sections_peers

    names = {f.stem.removesuffix(".md") for f in text.TEMPLATES.glob("*.md.j2")}
    code = inspect.getsource(sections) + inspect.getsource(sections_peers) + inspect.getsource(text)
    for name in names:
        text.ENV.get_template(f"{name}.md.j2")  # raises on a syntax error
        assert name.startswith("_") or f'"{name}' in code, f"templates/{name}.md.j2 is filled by no function"


def test_notebook_04_captions_exist_and_every_caption_is_used() -> None:
    """Every figure, table and snippet notebook 04 shows has its macro in templates/notebook.md.j2, and every macro
    there is shown (an editor who renames one, or a notebook cell that asks for a missing one, fails here)."""
    import json

    cells = json.loads((ROOT / "notebooks/04_report.ipynb").read_text(encoding="utf-8"))["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    asked = {f"{kind}_{key}" for kind, key in re.findall(r'\b(figure|table)\(\s*"(\w+)"', code)}
    asked |= set(re.findall(r'snippet\(\s*"(\w+)"', code))
    module = text.ENV.get_template("notebook.md.j2").module
    macros = {n for n in dir(module) if not n.startswith("_")}
    assert asked and asked == macros, (sorted(asked - macros), sorted(macros - asked))
    with pytest.raises(
        text.TemplateFillError, match=r"notebook\.md\.j2: table_nist: .*'rss' was not provided"
    ):
        text.snippet("table_nist", parameters="1e-06", stderrs="1e-05")
    with pytest.raises(text.TemplateFillError, match="no macro 'table_nothing'"):
        text.snippet("table_nothing")


def test_a_missing_value_fails_naming_the_template_and_the_variable() -> None:
    p = prov.Provenance()
    with pytest.raises(
        text.TemplateFillError, match=r"templates/itu\.md\.j2, line \d+: .*'count' is undefined"
    ):
        text.render("itu", year=2012, first_year=2009, gaps=[])
    assert p.entries == []


def test_a_template_referencing_an_unknown_field_fails_the_build(monkeypatch) -> None:
    bad = "{% import '_growth.md.j2' as g %}\nThe fit used {{ growth.data.n_observed }} figures.\n"
    monkeypatch.setattr(
        text.ENV, "loader", jinja2.ChoiceLoader([jinja2.DictLoader({"bad.md.j2": bad}), text.ENV.loader])
    )
    growth = text.GrowthText(SUMMARY, prov.Provenance()).context()
    with pytest.raises(text.TemplateFillError, match=r"bad\.md\.j2.*n_observed"):
        text.render("bad", growth=growth)


def test_a_bare_number_in_a_template_is_refused(monkeypatch) -> None:
    monkeypatch.setattr(
        text.ENV,
        "loader",
        jinja2.ChoiceLoader([jinja2.DictLoader({"raw.md.j2": "about {{ x }} million"}), text.ENV.loader]),
    )
    with pytest.raises(text.TemplateFillError, match="raw.md.j2.*without provenance"):
        text.render("raw", x=6.35)
    p = prov.Provenance(mark=MARKED)
    assert text.render("raw", x=text.Quoted(p, 6.35, "{:.2f}", "ITU 2022", "ITU")) == "about 6.35 [1] million"


def test_quoted_values_register_in_reading_order_and_once() -> None:
    p = prov.Provenance(mark=MARKED)
    a, b = text.Quoted(p, 2.0, "{:.0f}", "a", "o"), text.Quoted(p, 1.0, "{:.0f}", "b", "o")
    assert p.entries == []  # nothing is registered before it is written
    assert f"{b} {a} {b}" == "1 [1] 2 [2] 1 [1]"
    with pytest.raises(ValueError, match="c: no value to quote"):
        text.Quoted(p, float("nan"), "{:.0f}", "c", "o")


def test_reflow_joins_wrapped_lines_and_keeps_paragraphs_and_lists() -> None:
    assert text.reflow("One\n  two.\n\n\nThree.\n") == "One two.\n\nThree."
    assert text.reflow("- a\n  b\n- c\n") == "- a b\n- c"


def test_nist_comparison_passes_all_cases() -> None:
    nist = build.nist_comparison(ROOT / "tests" / "data" / "nist")
    assert len(nist) == 6 and nist["pass"].all()
    assert (nist["max rel. dev. parameters"] < build.NIST_TOLERANCES["parameters"]).all()


# --------------------------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------------------------


def test_events_csv_quotes_occur_verbatim_in_their_sources() -> None:
    events = pd.read_csv(ROOT / "data" / "raw" / "events.csv", dtype=str, keep_default_na=False)
    sources = pd.read_csv(ROOT / "data" / "sources" / "sources.csv", dtype=str).set_index("source_id")
    assert list(events.columns) == list(ev.COLUMNS)
    assert events["event_id"].is_unique
    for r in events.itertuples():
        text = (ROOT / "data" / "sources" / sources.loc[r.source_id, "file"]).read_text(encoding="utf-8")
        assert quote_in_source(r.quote, text), f"{r.event_id}: quote not in {r.source_id}"
    loaded = ev.load_events(ROOT / "data" / "raw" / "events.csv", ROOT / "data" / "sources" / "sources.csv")
    assert loaded["t_start"].is_monotonic_increasing


def test_check_events_reports_each_problem(tmp_path) -> None:
    (tmp_path / "a.txt").write_text("In 2012, something   happened\nin Pyongyang.", encoding="utf-8")
    sources = pd.DataFrame({"source_id": ["000_a"], "file": ["a.txt"]})
    good = {"event_id": "E1", "date": "2012", "date_end": "", "date_text": "In 2012", "event": "x",
            "source_id": "000_a", "quote": "something happened in Pyongyang", "note": ""}  # fmt: skip
    assert ev.check_events(pd.DataFrame([good]), sources, tmp_path) == []
    bad = pd.DataFrame(
        [
            {**good, "quote": "something happened in Seoul"},
            {**good, "event_id": "E2", "date": "2012-13"},
            {**good, "event_id": "E3", "source_id": "999_z"},
            {**good, "event_id": "E4", "date": "2012", "date_end": "2010"},
        ]
    )
    problems = ev.check_events(bad, sources, tmp_path)
    assert any(p.startswith("E1: quote: not found verbatim") for p in problems)
    assert any(p.startswith("E2: date:") for p in problems)
    assert any(p.startswith("E3: source_id:") for p in problems)
    assert any(p.startswith("E4: date_end:") for p in problems)


def test_date_span_and_label() -> None:
    assert ev.date_span("2012") == ev.Span(2012.0, 2013.0)
    s = ev.date_span("2002-11")
    assert 2002.83 < s.start < s.end < 2002.92
    with pytest.raises(ValueError):
        ev.date_span("late 2023")
    assert ev.date_label("2002-11") == "Nov 2002"
    assert ev.date_label("2002-11", long=True) == "November 2002"
    assert ev.date_label("2004", "2008") == "2004–2008"
    assert ev.date_label("2023-10", "2023-12") == "Oct–Dec 2023"


def test_timeline_figure_draws_one_marker_per_event(tmp_path) -> None:
    events = pd.DataFrame(
        {"event_id": ["E1", "E2", "E3"], "date": ["2004", "2008-12", "2008-12"], "date_end": ["2008", None, None],
         "date_text": ["a", "b", "c"], "event": ["Ban", "Launch", "Launch"], "source_id": ["s"] * 3,
         "quote": ["q"] * 3, "note": [""] * 3}
    )  # fmt: skip
    fig = ev.plot_timeline(ev.event_spans(events), ITU)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["1", "2"]  # the launch stated twice is drawn once
    assert any("Launch (Dec 2008)" in t.get_text() for t in fig.texts)


def test_period_text_is_compact() -> None:
    assert tables.period_text("2013-01-01..2013-12-31") == "2013"
    assert tables.period_text("2013-01-01..2013-03-13") == "1 Jan–13 Mar 2013"
    assert tables.period_text("2012-12-31") == "31 Dec 2012"
    assert tables.period_text("2017-05-01..2017-08-31") == "May–Aug 2017"


def test_exclusion_table_lists_ids_and_by_name_reasons() -> None:
    obs = pd.DataFrame(
        {
            "obs_id": ["000-001", "000-002", "000-003", "000-004", "000-005"],
            "usable_national_subs": [True, True, False, False, False],
            "use_as": ["value", "lower_bound", None, None, None],
            "exclusion_reason": [None, None, "not a count or share of mobile subscriptions or users (indicator price)",
                                 "not a count or share of mobile subscriptions or users (indicator websites)",
                                 "excluded by name: restates 000-001"],
        }
    )  # fmt: skip
    t = tables.exclusion_table(obs)
    assert list(t["status"]) == ["used in the fit", "used in the fit", "excluded", "excluded"]
    other = t[t["reason"].str.contains("other indicators")].iloc[0]
    assert other["count"] == 2 and other["observations"] == "000-003, 000-004"
    assert t.iloc[-1]["reason"] == "by name: restates 000-001"
    assert t["count"].sum() == len(obs)


def _pp(value, lo, hi, pct, n, median):
    return {"value": value, "lo": lo, "hi": hi, "percentile": pct, "n_countries": n, "median": median}


def _pi(value, lo, hi, pct, plo, phi, n, n_unc):
    return {"value": value, "lo": lo, "hi": hi, "percentile": pct, "percentile_lo": plo, "percentile_hi": phi,
            "level": 0.95, "n_countries": n, "n_uncertain": n_unc, "n_draws": 1000}  # fmt: skip


def _cf(median, lo, hi, peers, band, loo=(None, None), values=None):
    return {"model": "logistic", "rule": "r", "launch_year": 2010, "horizon_year": 2030, "median": median,
            "lo": lo, "hi": hi, "band": band, "n_peers": len(peers), "peers": peers,
            "peer_values": values or {}, "extrapolated": list(values or {})[:1], "excluded": [], "not_s_shaped": [], "last_observed_year": 2022,
            "last_observed_per100": 24.1, "median_at_last_observed": 63.6, "loo_min": loo[0], "loo_max": loo[1],
            "sentence": "s"}  # fmt: skip


PEERS = {
    "focal": "PRK", "focal_name": "North Korea", "comparison_model": "logistic",
    "panel": {"n_countries": 214, "n_country_years": 9000, "first_year": 1960, "last_year": 2023,
              "focal_launch_year": 2010, "focal_last_year": 2022, "focal_last_per100": 24.1, "focal_n_points": 12,
              "focal_missing_years": []},
    "fits": {"n_countries": 214, "n_countries_flagged": 60, "focal_best_model": "gompertz", "by_model": {},
             "flagged": {}, "ceiling_ci_at_bound": []},
    "percentiles": {"logistic": {"ceiling": _pp(27.96, 22.5, 50.4, 0.96, 209, 114.8),
                                 "speed": _pp(14.9, 9.9, 24.6, 81.8, 209, 9.8)},
                    "gompertz": {"ceiling": _pp(32.7, 24.2, 88.7, 1.46, 206, 118.2)}},
    "percentiles_s_shaped": {},
    "percentile_intervals": {"logistic": {"ceiling": _pi(27.96, 22.5, 50.4, 0.96, 0.48, 6.22, 209, 138),
                                          "speed": _pi(14.9, 9.9, 24.6, 81.8, 50.7, 95.7, 209, 175)},
                             "gompertz": {"ceiling": _pi(32.7, 24.2, 88.7, 1.46, 0.97, 19.93, 206, 126)}},
    "counterfactual": _cf(94.6, 77.4, 120.8, ["CUB", "CHN"], "interquartile range across peers", (84.0, 105.2)),
    "counterfactual_best": _cf(94.5, 72.4, 117.9, ["CUB", "CHN"], "interquartile range across peers"),
    "counterfactual_same_era": _cf(78.5, 60.2, 101.3, ["CUB", "MMR"], "range across peers", (70.1, 86.9),
                                   {"CUB": 60.2, "MMR": 101.3}),
    "same_era": {"window_years": 7, "pool": "named peers", "focal_launch_year": 2010, "peers": ["CUB", "MMR"],
                 "peer_launch_years": {"CUB": 2005, "MMR": 2009, "CHN": 1997},
                 "sensitivity": [
                     {"pool": "named peers", "window": 3, "n_peers": 1, "peers": ["MMR"], "median": 101.3,
                      "min": 101.3, "max": 101.3},
                     {"pool": "named peers", "window": 7, "n_peers": 2, "peers": ["CUB", "MMR"], "median": 78.5,
                      "min": 60.2, "max": 101.3},
                     {"pool": "every country", "window": 7, "n_peers": 9, "peers": ["X"], "median": 50.0,
                      "min": 10.0, "max": 90.0}]},
    "sentences": {},
}  # fmt: skip


def test_peers_paragraphs_state_the_percentile_interval_and_same_era_counterfactual() -> None:
    comparison = pd.DataFrame({"iso3": ["CUB", "CHN", "MMR", "PRK"], "name": ["Cuba", "China", "Myanmar", "North Korea"],
                               "role": ["peer", "peer", "peer", "focal"]})  # fmt: skip
    p = prov.Provenance(mark=MARKED)
    txt = peers_text.peers_paragraphs(PEERS, comparison, p)
    q = traced(txt, p)
    assert q["countries in the ITU panel"] == "214"
    assert q["North Korea logistic ceiling per 100"] == "28" and q["median logistic ceiling per 100"] == "115"
    assert q["North Korea logistic ceiling per 100, interval"] == "22–50"
    # the percentile as an interval, and the point estimate beside it
    assert q["countries with a higher logistic ceiling (%), interval"] == "94–99.5"
    assert q["countries with a higher logistic ceiling (%), point estimates"] == "99"
    assert (
        q["bootstrap draws of the focal ceiling"] == "1000"
        and q["countries entering with their own draws"] == "138"
    )
    assert q["countries with a higher gompertz ceiling (%), interval"] == "80–99" and "Gompertz" in txt
    assert (
        q["North Korea years from 10% to 90% of ceiling"] == "15"
        and q["countries faster than North Korea (%), interval"] == "51–96"
    )
    # same-era counterfactual with its rule, spread and sensitivity
    assert (q["named peers"], q["same-era peers"]) == ("3", "2")
    assert "Cuba (2005), Myanmar (2009)" in txt and "2010" in txt
    assert q["same-era counterfactual per 100 at the horizon"] == "78" and "2030" in txt
    assert q["same-era counterfactual per 100, range across peers"] == "60–101"
    assert q["same-era counterfactual, leaving out one peer"] == "70–87"
    assert (
        q["same-era counterfactual, window ±3"] == "101"
        and q["same-era peers extrapolated to the horizon"] == "1"
    )
    assert (
        q["countries launched within ±7 years (every country)"] == "9"
        and q["same-era counterfactual, every country"] == "50"
    )
    assert (
        q["peers in the all-peer counterfactual"] == "2"
        and q["all-peer counterfactual per 100 at the horizon"] == "95"
    )
    assert q["all-peer counterfactual, interquartile range"] == "77–121"
    assert len(txt.split("\n\n")) == 2  # the comparison, then the counterfactual


def test_peers_paragraphs_reject_a_summary_that_breaks_the_contract() -> None:
    from helpers.steps.contracts_peers import ContractError

    bad = {**PEERS, "counterfactual_same_era": {**PEERS["counterfactual_same_era"], "median": "n/a"}}
    with pytest.raises(
        ContractError, match=r"peer_summary.json: counterfactual_same_era.median: expected a finite"
    ):
        peers_text.peers_paragraphs(bad, pd.DataFrame({"name": [], "role": []}), prov.Provenance(mark=""))


def test_scenarios_paragraph_and_table() -> None:
    sc = pd.DataFrame(
        {
            "scenario": ["a", "b"],
            "use_bounds": [True, False],
            "settings.use_bounds": [True, False],
            "settings.n_bootstrap": [200, 200],
            "model.chosen": ["gompertz", "bass"],
            "saturation.estimate": [8.3e6, 6.6e6],
            "saturation.lo": [5.3e6, 4.9e6],
            "saturation.hi": [10.3e6, 8.7e6],
        }
    )
    p = prov.Provenance(mark=MARKED)
    txt = prose.scenarios_paragraph(sc, p, table_ref="Table 10")
    q = traced(txt, p)
    assert q == {"saturation, lowest over scenarios (millions)": "6.6", "saturation, highest over scenarios (millions)": "8.3",
                 "scenarios in the sensitivity sweep": "2"}  # fmt: skip
    assert p.entries[0].label == "saturation, lowest over scenarios (millions)"  # registered first, as before
    assert "Table 10" in txt
    t = tables.scenarios_table(sc)
    assert list(t["use bounds"]) == ["yes", "no"]
    assert list(t["saturation, M (interval)"]) == ["8.3 (5.3–10.3)", "6.6 (4.9–8.7)"]
    assert "use bounds:" in tables.scenarios_caption(sc)


def test_data_hashes_match_sha256_and_split_in_groups(tmp_path) -> None:
    import hashlib

    f = tmp_path / "x.csv"
    f.write_bytes(b"a,b\n1,2\n")
    digest = hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    assert build.data_hashes([f]).loc[0, "sha256"] == digest
    split = build.data_hashes([f], split=True).loc[0, "sha256"]
    assert split.replace(" ", "") == digest and [len(x) for x in split.split()] == [16] * 4
    assert build.data_hashes([f]).loc[0, "bytes"] == "8"


def test_register_wraps_long_json_paths() -> None:
    p = prov.Provenance()
    p.num(1, label="x", origin="step 03: data/processed/peer_summary.json",
          detail="focal_percentiles.all.logistic.ceiling.lo and data.n_obs")  # fmt: skip
    row = p.table(strip="data/processed/").iloc[0]
    assert row["origin"] == "step 03: peer_summary.json"
    assert row["how it was obtained"] == "focal_percentiles › all › logistic › ceiling › lo and data.n_obs"


def test_script_in_data_renders_as_text_in_the_html_report(tmp_path) -> None:
    """A note containing <script> goes through a table and through generated Markdown; the page shows it as text."""
    import nbformat

    from helpers.render import html as rhtml

    evil = '<script>alert("pwned")</script>'
    df = pd.DataFrame({"event": ["x"], "note": [evil]})
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"), nbformat.v4.new_code_cell("")]
    nb.cells[1].outputs = [
        nbformat.v4.new_output("display_data", {"text/html": tables.table_html(df, "**Table 1.** Notes.")}),
        nbformat.v4.new_output("display_data", {"text/markdown": f"The note reads {prov.esc(evil)}."}),
    ]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    page = rhtml.export_html(path)
    body = page.split("<main", 1)[1]
    assert "<script>alert" not in body
    assert body.count("&lt;script&gt;") >= 2


def test_parameters_table_marks_parameters_at_a_bound() -> None:
    fits = pd.DataFrame({"model": ["richards", "richards"], "param": ["K", "nu"], "estimate": [8.3e6, 0.01],
                         "stderr": [2.3e6, 0.6], "rel_stderr": [0.28, 61.7], "at_bound": [False, True]})  # fmt: skip
    t = tables.parameters_table(fits)
    assert list(t["parameter"]) == ["K", "ν"]
    assert list(t["estimate"]) == ["8,300,000", "0.01"]
    assert list(t["standard error"]) == ["2,300,000", "— (at a bound)"]
    assert list(t["relative s.e."]) == ["28%", ""]


def test_results_naive_points_out_an_itu_ceiling_below_the_last_count() -> None:
    itu = pd.DataFrame({"year": [2016, 2017, 2019, 2020, 2022], "subscriptions": [3.6e6, 3.8e6, 4.25e6, 6.0e6, 6.35e6],
                        "per100": [14.0, 14.8, 16.3, 23.0, 24.1]})  # fmt: skip
    intervals = pd.DataFrame({"model": ["gompertz"], "quantity": ["saturation"], "estimate": [8.3e6]})
    p = prov.Provenance(mark=MARKED)
    txt = prose.results_naive(SUMMARY, intervals, p, itu=itu)
    q = traced(txt, p)
    assert (
        q["saturation, itu fit (millions)"] == "5.1"
        and q["ITU mobile subscriptions 2022 (millions)"] == "6.35"
    )
    assert (
        q["ITU mobile subscriptions 2019 (millions)"] == "4.25"
        and q["ITU mobile subscriptions 2020 (millions)"] == "6.00"
    )
    high = {**SUMMARY, "naive_vs_censored": {**SUMMARY["naive_vs_censored"], "itu_saturation": 7e6}}
    p = prov.Provenance(mark=MARKED)
    q = traced(prose.results_naive(high, intervals, p, itu=itu), p)
    assert not any(
        k.startswith("ITU mobile subscriptions") for k in q
    )  # a ceiling above the last count: no remark


def test_reference_marks_survive_the_html_renderer(tmp_path) -> None:
    import nbformat

    from helpers.render import html as rhtml

    p = prov.Provenance()
    text = f"ITU counted {p.num(6.35, '{:.2f}', label='x', origin='ITU')} million."
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"), nbformat.v4.new_code_cell("")]
    nb.cells[1].outputs = [nbformat.v4.new_output("display_data", {"text/markdown": text})]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    assert "ITU counted 6.35<sup>[1]</sup> million." in rhtml.export_html(path)


def test_abstract_peers_shares_references_with_the_results() -> None:
    p = prov.Provenance(mark=MARKED)
    a = peers_text.abstract_peers(PEERS, p)
    assert traced(a, p) == {"countries with a usable fit": "209", "North Korea logistic ceiling per 100": "28",
                            "countries with a higher logistic ceiling (%), interval": "94–99.5",
                            "same-era peers": "2", "same-era counterfactual per 100 at the horizon": "78"}  # fmt: skip
    assert re.findall(r"\[(\d)\]", a) == ["1", "2", "3", "4", "5"] and "7 years" in a
    comparison = pd.DataFrame({"iso3": ["CUB", "CHN"], "name": ["Cuba", "China"], "role": ["peer", "peer"]})
    body = peers_text.peers_paragraphs(PEERS, comparison, p)
    assert "28 [2] subscriptions" in body and "94–99.5 [3]%" in body
    assert "209 [1] countries" in body and "78 [5] subscriptions" in body


def test_glossary_is_valid_and_checked(tmp_path) -> None:
    from helpers import config
    from helpers.data import events

    table = events.load_glossary()
    assert {"고려링크", "광명"} <= set(table["hangul"])
    bad = tmp_path / "glossary.csv"
    bad.write_text(
        "term,hangul,source_id,quote\n"
        "Koryolink,Koryolink,000_6941c283a85f418e,a made-up sentence about Koryolink\n",
        encoding="utf-8",
    )
    with pytest.raises(events.EventsError) as err:
        events.load_glossary(bad, config.SOURCES_CSV, config.SOURCES)
    message = str(err.value)
    assert ":2: hangul:" in message and ":2: quote: not found verbatim" in message


def test_editing_a_template_makes_step_04_out_of_date() -> None:
    """Step 04's fingerprint (helpers.pipeline) holds the hash of every report module and every template its text is
    filled from, so a changed sentence rebuilds the report like a changed module does."""
    from helpers.pipeline import manifest

    fp = manifest.fingerprint(notebook=ROOT / "notebooks/04_report.ipynb", params={}, inputs=[], outputs=[])
    # `from helpers.report import sections, text` tracks the submodules, not only the package's __init__
    assert {"helpers.report.text", "helpers.report.sections", "helpers.report.sections_peers"} <= fp[
        "modules"
    ].keys()
    templates = sorted(text.TEMPLATES.glob("*.md.j2"))
    assert templates
    for t in templates:
        key = f"src/helpers/report/templates/{t.name}"
        assert fp["modules"].get(key) == manifest.file_hash(t), key
