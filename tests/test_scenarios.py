"""helpers.pipeline.scenarios: grid expansion (the parallel run itself is exercised by `make scenarios`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.pipeline import dag, scenarios


def _grid(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "grid.yaml"
    p.write_text(body)
    return p


def test_cross_product_and_outputs_moved(tmp_path: Path) -> None:
    step = dag.steps()[1]
    keys = [k for k in step.params if not k.startswith(("in_", "out_"))][:2]
    assert len(keys) == 2, "step 02 needs two ordinary parameters for this test"
    a, b = keys
    grid = _grid(
        tmp_path,
        f"step: {step.name}\nout_dir: data/processed/sc\nsummary_key: x\ngrid:\n  {a}: [1, 2]\n  {b}: [true, false]\n",
    )
    name, scs, _ = scenarios.expand(grid)
    assert name == step.name
    assert len(scs) == 4
    assert len({s.name for s in scs}) == 4
    for sc in scs:
        for key, value in sc.params.items():
            if key.startswith("out_"):
                assert value.startswith(f"data/processed/sc/{sc.name}/"), value
            if key.startswith("in_"):
                assert value == step.params[key]
    assert {(s.overrides[a], s.overrides[b]) for s in scs} == {(1, True), (1, False), (2, True), (2, False)}


def test_unknown_parameter_is_a_clear_error(tmp_path: Path) -> None:
    step = dag.steps()[1]
    grid = _grid(tmp_path, f"step: {step.name}\nout_dir: d\nsummary_key: x\ngrid:\n  no_such_param: [1]\n")
    with pytest.raises(dag.PipelineError, match="no_such_param"):
        scenarios.expand(grid)


def test_missing_key_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(dag.PipelineError, match="missing key 'grid'"):
        scenarios.expand(_grid(tmp_path, "step: 02_fit_growth\nout_dir: d\nsummary_key: x\n"))
