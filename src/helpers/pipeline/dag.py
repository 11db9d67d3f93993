"""The pipeline's steps: parameter files, each step's declared inputs/outputs, and parameter overrides.

Each step is a notebook ``notebooks/<step>.ipynb`` with a parameters file ``params/<step>.yaml``, checked
against the step's rules in :mod:`helpers.pipeline.params`. By convention the keys that start with ``in_`` name
input files and the keys that start with ``out_`` name the files the notebook writes (paths relative to the
project root; a value may be a list). The Makefile's rules are generated from them (``python -m helpers.pipeline
makefile``, :mod:`helpers.pipeline.makefile`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from helpers import config
from helpers.pipeline import params as P

STEP_GLOB = "[0-9][0-9]_*.yaml"
BUILD = ".build"
MANIFESTS = f"{BUILD}/manifests"
STAGING = f"{BUILD}/staging"
SCRATCH = f"{BUILD}/scratch"


class PipelineError(Exception):
    """A step cannot be set up or did not finish; the message says which and why."""

    exit_code = 1


class Interrupted(PipelineError):
    """The step was stopped (Ctrl-C / SIGTERM); reported like a failure, exit code 130."""

    exit_code = 130


@dataclass(frozen=True)
class Step:
    """One notebook step: its checked, resolved parameters (derived keys such as ``in_source_texts`` included)."""

    name: str
    notebook: Path
    params_file: Path
    params: dict[str, Any]

    @property
    def inputs(self) -> list[str]:
        """Input files (``in_*`` keys), relative to the project root, in declaration order."""
        return _paths(self.params, "in_")

    @property
    def outputs(self) -> list[str]:
        """Products (``out_*`` keys), relative to the project root, in declaration order."""
        return _paths(self.params, "out_")

    @property
    def executed(self) -> str:
        """The executed copy papermill writes (a build product)."""
        return f"{config.rel(config.EXECUTED)}/{self.name}.ipynb"

    @property
    def manifest(self) -> str:
        """What the products were made from (written after a successful pipeline run)."""
        return f"{MANIFESTS}/{self.name}.json"


def _paths(params: dict[str, Any], prefix: str) -> list[str]:
    out: list[str] = []
    for key, value in params.items():
        if key.startswith(prefix):
            values = value if isinstance(value, list) else [value]
            for v in values:
                if not isinstance(v, str) or not v:
                    raise PipelineError(f"{key}: expected a path relative to the project root, got {v!r}")
                out.append(v)
    return out


def load_params(path: Path) -> dict[str, Any]:
    """Read one YAML parameters file (a flat mapping, not checked), with a clear error when it is not one."""
    try:
        return P.read(path)
    except P.ParamsError as exc:
        raise PipelineError(str(exc)) from None


def steps(params_dir: Path | None = None) -> list[Step]:
    """Every step, in name order, from ``params/NN_*.yaml``, each checked against :mod:`helpers.pipeline.params`.

    All problems of all files are reported at once (one ``file: key: rule`` line each).
    """
    params_dir = params_dir or config.PARAMS
    found, problems = [], []
    for pfile in sorted(params_dir.glob(STEP_GLOB)):
        name = pfile.stem
        try:
            found.append(Step(name, config.NOTEBOOKS / f"{name}.ipynb", pfile, P.load(name, pfile)))
        except P.ParamsError as exc:
            problems += exc.problems
    if not problems:
        try:
            P.check_across(
                {s.name: s.params for s in found}, {s.name: config.rel(s.params_file) for s in found}
            )
        except P.ParamsError as exc:
            problems += exc.problems
    if problems:
        raise PipelineError("\n".join(problems))
    return found


def get_step(name: str) -> Step:
    """The step called ``name`` (e.g. ``01_clean``)."""
    all_steps = steps()
    for step in all_steps:
        if step.name == name:
            return step
    raise PipelineError(f"no step {name!r}; known steps: {', '.join(s.name for s in all_steps)}")


OVERRIDES_ENV = "NKT_PARAM_OVERRIDES"


def apply_overrides(params: dict[str, Any], overrides: str | None = None) -> dict[str, Any]:
    """Apply ``$NKT_PARAM_OVERRIDES`` (a YAML/JSON mapping, e.g. ``{n_bootstrap: 50}``) to a step's parameters.

    Only ordinary parameters the step already has are overridden; ``in_``/``out_`` paths never are, so the
    build graph stays the one the Makefile knows. The test suite uses this to run the whole DAG with fewer
    bootstrap resamples; a user's ``make report`` never sets it. The overridden values are part of the
    step's manifest, so a build with overrides is never taken for one without.
    """
    text = os.environ.get(OVERRIDES_ENV, "") if overrides is None else overrides
    if not text.strip():
        return params
    try:
        extra = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PipelineError(f"${OVERRIDES_ENV}: not valid YAML: {exc}") from exc
    if not isinstance(extra, dict):
        raise PipelineError(f"${OVERRIDES_ENV}: expected a mapping such as '{{n_bootstrap: 50}}'")
    bad = [k for k in extra if k.startswith(("in_", "out_"))]
    if bad:
        raise PipelineError(f"${OVERRIDES_ENV}: input/output paths cannot be overridden: {', '.join(bad)}")
    return {**params, **{k: v for k, v in extra.items() if k in params}}
