"""helpers.pipeline.params: one schema per step, checked the same way by make, `pipeline run` and the notebooks."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import config
from helpers.pipeline import dag, params, run
from tests.conftest import ROOT


def _problems(step: str, values: dict, **kw) -> str:
    with pytest.raises(params.ParamsError) as info:
        params.check(step, values, source="params/x.yaml", **kw)
    return str(info.value)


def _good(step: str) -> dict:
    return params.read(ROOT / "params" / f"{step}.yaml")


@pytest.mark.parametrize("step", sorted(params.SCHEMA))
def test_committed_params_pass_and_every_key_has_a_rule(step: str) -> None:
    values = _good(step)
    assert set(values) == set(params.declared(step)), (
        "params file and helpers.pipeline.params.SCHEMA disagree"
    )
    params.check(step, values, source=f"params/{step}.yaml")


def test_unknown_key_names_file_key_and_suggests() -> None:
    values = {**_good("02_fit_growth"), "n_bootsrap": 50}
    msg = _problems("02_fit_growth", values)
    assert (
        "params/x.yaml: n_bootsrap: not a parameter of step 02_fit_growth (did you mean 'n_bootstrap'?)"
        in msg
    )


@pytest.mark.parametrize(
    ("key", "value", "rule"),
    [
        ("n_bootstrap", -5, "must be an integer >= 1"),
        ("n_bootstrap", "many", "must be an integer >= 1"),
        ("level", 1.5, "must be a number > 0 and < 1"),
        ("series", "itv", "did you mean 'itu'?"),
        ("models", ["x"], "item 1: must be one of 'logistic'"),
        ("models", [], "at least one"),
        ("models", ["bass", "bass"], "must not repeat"),
        ("use_bounds", "maybe", "must be true or false"),
        ("out_fits", "/tmp/x.csv", "is absolute"),
        ("out_fits", "../x.csv", "leaves the project"),
        ("out_fits", "data/raw/observations.csv", "only reads"),
    ],
)
def test_each_rule_is_enforced_with_file_key_and_rule(key: str, value: object, rule: str) -> None:
    msg = _problems("02_fit_growth", {**_good("02_fit_growth"), key: value})
    assert msg.startswith(f"params/x.yaml: {key}: "), msg
    assert rule in msg, msg


def test_every_problem_reported_at_once_and_missing_keys_named() -> None:
    values = {**_good("02_fit_growth"), "n_bootstrap": 0, "level": 2}
    del values["seed"]
    msg = _problems("02_fit_growth", values)
    assert "n_bootstrap" in msg and "level" in msg and "seed: missing" in msg
    assert len(msg.splitlines()) == 3


def test_papermill_strings_are_read_as_yaml_not_split_into_characters() -> None:
    # `papermill -p models '["gompertz"]'` hands the notebook the string '["gompertz"]'
    out = params.check("02_fit_growth", {"models": '["gompertz", "bass"]'}, source="-p", partial=True)
    assert out["models"] == ["gompertz", "bass"]
    assert "item 1" in _problems("02_fit_growth", {"models": '["x"]'}, partial=True)
    assert "such as ['logistic']" in _problems("02_fit_growth", {"models": "logistic"}, partial=True)


def test_source_texts_come_from_sources_csv_not_the_params_file() -> None:
    import csv

    with open(config.SOURCES_CSV, encoding="utf-8") as fh:
        files = [r["file"] for r in csv.DictReader(fh)]
    resolved = params.load("04_report")
    assert resolved["in_source_texts"] == [f"data/sources/{f}" for f in files]
    assert "in_source_texts" not in _good("04_report")
    msg = _problems("04_report", {"in_source_texts": ["a.txt"]}, partial=True)
    assert "computed by the pipeline" in msg


def _namespace(step: str, injected: str = "") -> dict:
    ns = dict(_good(step))
    ns["In"] = ["", "# parameters cell", injected, "# this cell"] if injected else ["", "x = 1", "# this"]
    return ns


def test_notebook_check_catches_papermill_typos_and_parses_lists(tmp_path: Path, monkeypatch) -> None:
    # the check also wants the step's inputs to exist: give it a project root where they do
    for key, value in params.load("02_fit_growth").items():
        if key.startswith("in_"):
            for rel in value if isinstance(value, list) else [value]:
                (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
                (tmp_path / rel).write_text("")
    monkeypatch.setattr(params.config, "ROOT", tmp_path)
    ns = _namespace("02_fit_growth", "# Parameters\nn_bootsrap = 50\nmodels = '[\"bass\"]'\n")
    ns["models"] = '["bass"]'
    with pytest.raises(params.ParamsError, match=r"n_bootsrap: .*did you mean 'n_bootstrap'"):
        params.notebook("02_fit_growth", ns)
    ns = _namespace("02_fit_growth", "# Parameters\nmodels = '[\"bass\"]'\n")
    ns["models"] = '["bass"]'
    assert params.notebook("02_fit_growth", ns)["models"] == ["bass"]


def test_pipeline_refuses_a_typo_before_any_kernel_starts(tmp_path: Path, monkeypatch) -> None:
    pdir = tmp_path / "params"
    pdir.mkdir()
    for f in (ROOT / "params").glob("*.yaml"):
        (pdir / f.name).write_text(f.read_text())
    p = pdir / "02_fit_growth.yaml"
    p.write_text(p.read_text().replace("n_bootstrap:", "n_bootsrap:"))
    with pytest.raises(dag.PipelineError, match="02_fit_growth.yaml: n_bootsrap: .*did you mean"):
        dag.steps(pdir)


def test_run_params_override_only_given_keys_and_default_to_scratch(tmp_path: Path) -> None:
    step = dag.get_step("02_fit_growth")
    mine = tmp_path / "my.yaml"
    mine.write_text("n_bootstrap: 50\nhorizon: 2028\nout_summary: data/processed/mine/summary.json\n")
    values, is_pipeline = run.resolve_run_params(step, mine)
    assert not is_pipeline
    assert values["n_bootstrap"] == 50 and values["horizon"] == 2028
    assert values["seed"] == step.params["seed"] and values["models"] == step.params["models"]
    assert values["out_summary"] == "data/processed/mine/summary.json"  # given: honoured
    assert values["out_fits"] == f".build/scratch/02_fit_growth/{step.params['out_fits']}"
    mine.write_text("n_bootsrap: 50\n")
    with pytest.raises(dag.PipelineError, match="my.yaml: n_bootsrap"):
        run.resolve_run_params(step, mine)


def _params_copy(tmp_path: Path) -> Path:
    pdir = tmp_path / "params"
    pdir.mkdir()
    for f in (ROOT / "params").glob("*.yaml"):
        (pdir / f.name).write_text(f.read_text())
    return pdir


def test_another_horizon_is_accepted_when_the_population_covers_it(tmp_path: Path) -> None:
    pdir = _params_copy(tmp_path)
    p = pdir / "02_fit_growth.yaml"
    p.write_text(p.read_text().replace("\nhorizon: 2030", "\nhorizon: 2028"))
    assert {s.name: s.params for s in dag.steps(pdir)}["02_fit_growth"]["horizon"] == 2028


def test_forecast_beyond_the_population_table_is_refused_before_any_kernel(tmp_path: Path) -> None:
    pdir = _params_copy(tmp_path)
    p = pdir / "02_fit_growth.yaml"
    p.write_text(p.read_text().replace("\nhorizon: 2030", "\nhorizon: 2035"))
    with pytest.raises(
        dag.PipelineError,
        match=r"02_fit_growth.yaml: horizon: must be <= the population table's last year",
    ):
        dag.steps(pdir)
