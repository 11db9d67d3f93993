"""helpers.pipeline on small, made-up parameter files."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import pipeline


def _step(tmp_path: Path, text: str) -> pipeline.Step:
    p = tmp_path / "07_demo.yaml"
    p.write_text(text)
    return pipeline.Step("07_demo", tmp_path / "07_demo.ipynb", p, pipeline.load_params(p))


def test_inputs_outputs_from_prefixes(tmp_path: Path) -> None:
    s = _step(tmp_path, "in_a: data/a.csv\nin_b: [data/b1.csv, data/b2.csv]\nout_x: data/x.csv\nseed: 3\n")
    assert s.inputs == ["data/a.csv", "data/b1.csv", "data/b2.csv"]
    assert s.outputs == ["data/x.csv"]


def test_makefile_rule_is_grouped_and_depends_on_notebook_params_inputs(tmp_path: Path) -> None:
    s = _step(tmp_path, "in_a: data/a.csv\nout_x: data/x.csv\n")
    rules = pipeline.makefile_rules([s])
    rule = next(line for line in rules.splitlines() if "&:" in line)
    targets, prereqs = rule.split("&:")
    assert targets.split() == ["data/x.csv", "reports/executed/07_demo.ipynb"]
    assert "data/a.csv" in prereqs and "07_demo.yaml" in prereqs and "07_demo.ipynb" in prereqs
    assert "$(HELPERS_SRC)" in prereqs


def test_bad_yaml_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "x.yaml"
    p.write_text("- a list\n- not a mapping\n")
    with pytest.raises(pipeline.PipelineError, match="expected a mapping"):
        pipeline.load_params(p)
    p.write_text("in_a: [unclosed\n")
    with pytest.raises(pipeline.PipelineError, match="not valid YAML"):
        pipeline.load_params(p)


def test_path_values_must_be_strings(tmp_path: Path) -> None:
    s = _step(tmp_path, "in_a: 3\n")
    with pytest.raises(pipeline.PipelineError, match="in_a"):
        _ = s.inputs


def test_overrides_touch_only_existing_ordinary_parameters() -> None:
    params = {"in_a": "data/a.csv", "out_x": "data/x.csv", "n_bootstrap": 1000, "seed": 1}
    out = pipeline.apply_overrides(params, "{n_bootstrap: 50, not_here: 3}")
    assert out == {**params, "n_bootstrap": 50}
    assert pipeline.apply_overrides(params, "") == params
    with pytest.raises(pipeline.PipelineError, match="cannot be overridden"):
        pipeline.apply_overrides(params, "{out_x: elsewhere.csv}")
    with pytest.raises(pipeline.PipelineError, match="expected a mapping"):
        pipeline.apply_overrides(params, "[1, 2]")
