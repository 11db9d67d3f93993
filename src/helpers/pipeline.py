"""The notebook pipeline: steps, their declared inputs/outputs, and running one step with papermill.

Each step is a notebook ``notebooks/<step>.ipynb`` with a parameters file ``params/<step>.yaml``, checked
against the step's rules in :mod:`helpers.params`. By convention the keys that start with ``in_`` name input
files and the keys that start with ``out_`` name the files the notebook writes (paths relative to the project
root; a value may be a list). The Makefile's rules are generated from them (``python -m helpers.pipeline
makefile``).

A pipeline run (``make``) is

* **validated first**: every parameters file is checked before any kernel starts;
* **atomic**: the notebook writes its products and executed copy into ``.build/staging/``; they are moved into
  place only when every cell succeeded, so a failed or interrupted step leaves the previous products as they
  were and deletes nothing it did not write;
* **content-based**: ``.build/manifests/<step>.json`` records hashes of what the products were made from (the
  notebook's code and markdown, the resolved parameters, the input files, the ``helpers`` modules the
  notebook imports) and of the products themselves; ``run --if-stale`` runs the step only when one of them
  disagrees, so Lab autosave (metadata, outputs) or ``touch`` reruns nothing, and products overwritten by
  a run outside the pipeline are rebuilt.

Command line::

    python -m helpers.pipeline makefile          # check every params file; print the make rules
    python -m helpers.pipeline check             # check every params file (one file: key: rule line each)
    python -m helpers.pipeline run STEP [--if-stale]                  # the pipeline's run (records a manifest)
    python -m helpers.pipeline run STEP --params FILE [--output NB]   # exploration: overrides only the keys in
                                                 # FILE; products go to .build/scratch/STEP/ unless FILE names out_*
    python -m helpers.pipeline status            # which steps are out of date, and why
    python -m helpers.pipeline guard NAME --step STEP --in F... --out F... -- CMD...   # content-based rerun of CMD
    python -m helpers.pipeline steps             # list steps
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from helpers import config
from helpers import params as P

STEP_GLOB = "[0-9][0-9]_*.yaml"
BUILD = ".build"
MANIFESTS = f"{BUILD}/manifests"
STAGING = f"{BUILD}/staging"
SCRATCH = f"{BUILD}/scratch"
MANIFEST_VERSION = 1
# helpers.params only checks the parameters (every notebook imports it); what it does to a run is the resolved
# parameters, which are hashed themselves, so editing a rule does not rerun every step.
UNTRACKED_MODULES = frozenset({"helpers.params"})
# papermill's own cells in an executed notebook: not cells of the source notebook
_NOT_SOURCE_TAGS = {"injected-parameters", "papermill-error-cell-tag"}


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
    """Every step, in name order, from ``params/NN_*.yaml``, each checked against :mod:`helpers.params`.

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


def makefile_rules(all_steps: list[Step] | None = None) -> str:
    """Make rules for every step.

    The step's recipe is ``run STEP --if-stale`` on its manifest, forced to run every time (it decides from
    content, not timestamps) and after the manifests of the steps whose products it reads (so a step never
    starts before its upstream finished). The products depend on the manifest with an empty recipe: they are
    "updated" only when the manifest was rewritten, i.e. when the step really ran.
    """
    all_steps = steps() if all_steps is None else all_steps
    producer = {out: s for s in all_steps for out in s.outputs}
    lines = [
        "# Generated by `python -m helpers.pipeline makefile` from params/*.yaml -- do not edit.",
        "",
    ]
    for step in all_steps:
        var = "STEP_" + step.name.upper()
        targets = [*step.outputs, step.executed]
        prereqs = [config.rel(step.notebook), config.rel(step.params_file), *step.inputs]
        upstream = list(dict.fromkeys(producer[i].manifest for i in step.inputs if i in producer))
        others = [i for i in step.inputs if i not in producer]
        lines += [
            f"{var}_OUT := {' '.join(targets)}",
            f"{var}_IN := {' '.join(prereqs)}",
            f"{var}_MANIFEST := {step.manifest}",
            f"{step.manifest}: FORCE {' '.join([*upstream, *others])} | $(VENV_OK)",
            f"\t@$(RUN_STEP) {step.name} --if-stale",
            f"$({var}_OUT): {step.manifest} ;",
            "",
        ]
    lines.append(f"STEP_PRODUCTS := {' '.join('$(STEP_' + s.name.upper() + '_OUT)' for s in all_steps)}")
    lines.append(f"STEP_MANIFESTS := {' '.join(s.manifest for s in all_steps)}")
    return "\n".join(lines) + "\n"


def _failed_copy(executed: Path) -> Path:
    return executed.with_name(executed.stem + ".FAILED.ipynb")


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


# ---- content hashes and manifests --------------------------------------------------------------------------


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_hash(path: Path) -> str | None:
    """SHA-256 of a file's bytes (None when it does not exist)."""
    try:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    except (FileNotFoundError, IsADirectoryError):
        return None


def notebook_source_hash(path: Path) -> str:
    """Hash of a notebook's code and markdown cells (type, tags, source); metadata, ids and outputs ignored.

    So JupyterLab's autosave (``language_info``, outputs, execution counts) does not make a step out of date.
    """
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") not in ("code", "markdown"):
            continue
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else src
        tags = sorted(cell.get("metadata", {}).get("tags", []))
        cells.append([cell["cell_type"], tags, "\n".join(ln.rstrip() for ln in src.strip().splitlines())])
    return _sha(json.dumps(cells, ensure_ascii=False).encode())


def _helpers_imports(source: str) -> set[str]:
    """``helpers.*`` modules a piece of Python imports (statically; IPython magics are skipped)."""
    code = "\n".join(ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!")))
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "helpers"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "helpers" or node.module.startswith("helpers."):
                # `from helpers.report import text`: the package and, when a name is a submodule, the submodule
                found |= {node.module} - {"helpers"} | {f"{node.module}.{a.name}" for a in node.names}
    return found


def _module_file(module: str) -> Path | None:
    base = config.ROOT / "src" / Path(*module.split("."))
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def helpers_closure(sources: list[str]) -> dict[str, str]:
    """The ``helpers`` modules the given code imports, directly or through other helpers modules.

    Returns module name -> project path of its file (``helpers/__init__.py`` always included).
    """
    todo = {"helpers"}
    for src in sources:
        todo |= _helpers_imports(src)
    seen: dict[str, str] = {}
    while todo:
        mod = todo.pop()
        if mod in seen:
            continue
        path = _module_file(mod)
        if path is None:  # `from helpers import name` where name is not a module
            continue
        seen[mod] = config.rel(path)
        todo |= _helpers_imports(path.read_text(encoding="utf-8")) - seen.keys()
        # importing helpers.data.x also runs helpers/data/__init__.py
        todo.add(mod.rpartition(".")[0] or "helpers")
    return dict(sorted(seen.items()))


def _module_templates(paths: Iterable[str]) -> list[str]:
    """The Jinja templates the given modules fill (``templates/*.j2`` beside a module that imports jinja2, e.g.
    ``helpers/report/templates``), as project paths: a step whose text comes from them is out of date when one
    changes, like when a module changes."""
    files = [config.ROOT / p for p in paths]
    dirs = {f.parent / "templates" for f in files if "import jinja2" in f.read_text(encoding="utf-8")}
    return sorted(config.rel(t) for d in dirs if d.is_dir() for t in d.glob("*.j2"))


def _code_cells(notebook: Path) -> list[str]:
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    return [
        "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        for c in nb.get("cells", [])
        if c.get("cell_type") == "code"
    ]


def _params_hash(values: dict[str, Any]) -> str:
    return _sha(json.dumps(values, sort_keys=True, ensure_ascii=False, default=str).encode())


def fingerprint(
    *,
    notebook: Path | None,
    params: dict[str, Any],
    inputs: list[str],
    outputs: list[str],
    extra_modules: tuple[str, ...] = (),
) -> dict[str, Any]:
    """What a step's products are made from, and the products themselves, as content hashes."""
    sources = _code_cells(notebook) if notebook else []
    modules = helpers_closure([*sources, *(f"import {m}" for m in extra_modules)])
    return {
        "version": MANIFEST_VERSION,
        "notebook": notebook_source_hash(notebook) if notebook else None,
        "params": _params_hash(params),
        "inputs": {p: file_hash(config.ROOT / p) for p in inputs},
        "modules": {m: file_hash(config.ROOT / p) for m, p in modules.items() if m not in UNTRACKED_MODULES}
        | {t: file_hash(config.ROOT / t) for t in _module_templates(modules.values())},
        "outputs": {p: file_hash(config.ROOT / p) for p in outputs},
    }


def read_manifest(path: Path) -> dict[str, Any] | None:
    """A manifest, or None when there is none (or it cannot be read: then the step is simply out of date)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def differences(recorded: dict[str, Any] | None, current: dict[str, Any]) -> list[str]:
    """Why ``current`` does not match the manifest ``recorded`` (empty when the step is up to date)."""
    if recorded is None:
        return ["never built by the pipeline (no manifest)"]
    if recorded.get("version") != current["version"]:
        return ["manifest from another version of the pipeline"]
    why = []
    if recorded.get("notebook") != current["notebook"]:
        why.append("notebook code or text changed")
    if recorded.get("params") != current["params"]:
        why.append("parameters changed")
    for kind, label in (("inputs", "input"), ("modules", "module"), ("outputs", "product")):
        old, new = recorded.get(kind, {}), current[kind]
        if kind == "modules":
            old = {m: h for m, h in old.items() if m not in UNTRACKED_MODULES}
        for key in sorted(old.keys() | new.keys()):
            if old.get(key) != new.get(key):
                if kind == "outputs":
                    state = "missing" if new.get(key) is None else "changed outside the pipeline"
                    why.append(f"product {key} {state}")
                else:
                    why.append(f"{label} {key} changed")
    return why


def step_fingerprint(step: Step, params: dict[str, Any]) -> dict[str, Any]:
    """The fingerprint of a pipeline step (its products include the executed notebook)."""
    return fingerprint(
        notebook=step.notebook, params=params, inputs=step.inputs, outputs=[*step.outputs, step.executed]
    )


def status(step: Step) -> list[str]:
    """Why ``step`` is out of date (empty: its products match its notebook, parameters, inputs and code)."""
    params = apply_overrides(step.params)
    return differences(read_manifest(config.ROOT / step.manifest), step_fingerprint(step, params))


# ---- running a step ---------------------------------------------------------------------------------------


def _source_cell(nb_path: Path) -> tuple[int, str] | None:
    """(1-based number in the *source* notebook, first line) of the cell that failed or was running.

    papermill adds its own cells to the executed copy (the injected parameters, and an error banner at the
    top): they are not counted, so the number is the one a user sees in JupyterLab.
    """
    import nbformat

    try:
        nb = nbformat.read(nb_path, as_version=4)
    except Exception:  # noqa: BLE001 - a half-written notebook: no cell to name
        return None
    number = 0
    candidate = None
    for cell in nb.cells:
        if _NOT_SOURCE_TAGS & set(cell.metadata.get("tags", [])):
            continue
        number += 1
        pm = cell.metadata.get("papermill", {})
        if pm.get("exception") or pm.get("status") == "running":
            first = next((ln for ln in cell.source.splitlines() if ln.strip()), "").strip()[:80]
            candidate = (number, first)
            if pm.get("exception"):
                return candidate
    return candidate


def _running_cell(nb_path: Path) -> tuple[int, str] | None:
    """The cell papermill marked as running in the copy it saves after each cell (for progress lines)."""
    try:
        nb = json.loads(nb_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    number = 0
    for cell in nb.get("cells", []):
        if _NOT_SOURCE_TAGS & set(cell.get("metadata", {}).get("tags", [])):
            continue
        number += 1
        if cell.get("metadata", {}).get("papermill", {}).get("status") == "running":
            src = "".join(cell.get("source", ""))
            return number, next((ln for ln in src.splitlines() if ln.strip()), "").strip()[:60]
    return None


class _Progress:
    """Print one line when a cell has been running for a while, then every ``every`` seconds."""

    def __init__(self, label: str, nb_path: Path, every: float):
        self.label, self.nb_path, self.every = label, nb_path, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> _Progress:
        if self.every > 0:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    def _loop(self) -> None:
        current, since = None, time.monotonic()
        while not self._stop.wait(min(self.every, 5.0)):
            cell = _running_cell(self.nb_path)
            now = time.monotonic()
            if cell != current:
                current, since, last = cell, now, now
                continue
            if cell and now - since >= self.every and now - last >= self.every:
                last = now
                print(
                    f"[{self.label}] cell {cell[0]} ({cell[1]!r}) still running after {now - since:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )


def _kernel_quiet_args() -> list[str]:
    # ipykernel logs "Kernel is running over TCP without encryption" (a warning about a localhost socket
    # the kernel manager set up) on every start; the kernel's own log is not the notebook's output.
    return ["--IPKernelApp.log_level=ERROR"]


def _same_file(a: Path, b: Path) -> bool:
    return b.exists() and a.stat().st_size == b.stat().st_size and file_hash(a) == file_hash(b)


def _install(staged: Path, final: Path) -> None:
    """Move a staged product into place (atomic rename); an identical existing file is left untouched."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if _same_file(staged, final):
        staged.unlink()
        return
    os.replace(staged, final)


def _staged(params: dict[str, Any], stage_rel: str) -> dict[str, Any]:
    out = dict(params)
    for key, value in params.items():
        if key.startswith("out_"):
            out[key] = (
                [f"{stage_rel}/{v}" for v in value] if isinstance(value, list) else f"{stage_rel}/{value}"
            )
    return out


def _to_scratch(params: dict[str, Any], given: set[str], step: str) -> dict[str, Any]:
    out = dict(params)
    for key, value in params.items():
        if key.startswith("out_") and key not in given:
            base = f"{SCRATCH}/{step}"
            out[key] = [f"{base}/{v}" for v in value] if isinstance(value, list) else f"{base}/{value}"
    return out


def resolve_run_params(step: Step, params_file: Path | None = None) -> tuple[dict[str, Any], bool]:
    """(parameters for a run, is this the pipeline's own run).

    Without ``params_file``: the step's parameters (plus ``$NKT_PARAM_OVERRIDES``). With it: the step's
    parameters with only the keys the file gives replaced, checked against the schema; out_* keys the file
    does not give point to ``.build/scratch/<step>/`` so an exploratory run never replaces the products.
    """
    if params_file is None:
        values = {k: v for k, v in apply_overrides(step.params).items() if not _derived(step.name, k)}
        source = config.rel(step.params_file)
        if os.environ.get(OVERRIDES_ENV, "").strip():
            source += f" + ${OVERRIDES_ENV}"
        try:
            return P.check(step.name, values, source=source), True
        except P.ParamsError as exc:
            raise PipelineError(str(exc)) from None
    given = load_params(params_file)
    try:
        checked = P.check(step.name, given, source=config.rel(params_file), partial=True)
    except P.ParamsError as exc:
        raise PipelineError(str(exc)) from None
    values = apply_overrides({**step.params, **checked})
    return _to_scratch(values, set(given), step.name), False


def _derived(step: str, key: str) -> bool:
    rule = P.schema(step).get(key)
    return rule is not None and rule.derived is not None


def run_step(
    name: str,
    *,
    params_file: Path | None = None,
    output: Path | None = None,
    if_stale: bool = False,
    progress_every: float | None = None,
) -> float | None:
    """Execute one step with papermill, atomically; return its duration in seconds (None: it was up to date).

    The notebook writes into ``.build/staging/<step>-<pid>/``; only when every cell succeeded are the products
    and then the executed notebook moved into place (and, for the pipeline's own run, the manifest written).
    On a failing cell, a dead kernel or Ctrl-C nothing is moved: the executed copy is kept as
    ``reports/executed/<step>.FAILED.ipynb`` and :class:`PipelineError` names the notebook, cell and reason.
    """
    step = get_step(name)
    params, pipeline_run = resolve_run_params(step, params_file)
    if output is None:
        output = config.ROOT / (step.executed if pipeline_run else f"{SCRATCH}/{step.name}/{step.name}.ipynb")
    output = output.resolve()
    outputs = _paths(params, "out_")
    if pipeline_run and if_stale:
        why = differences(read_manifest(config.ROOT / step.manifest), step_fingerprint(step, params))
        if not why:
            return None
        print(
            f"[{step.name}] out of date: {'; '.join(why[:4])}{' ...' if len(why) > 4 else ''}",
            file=sys.stderr,
        )
    skip_iri_grammars()
    import papermill as pm  # here, not above: an up-to-date check must not pay for importing it
    from papermill.exceptions import PapermillExecutionError

    compile_helpers()  # the kernel then loads the project's modules from bytecode, not from source

    stage_rel = f"{STAGING}/{step.name}-{os.getpid()}"
    stage = config.ROOT / stage_rel
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    run_params = _staged(params, stage_rel)
    for rel_out in _paths(run_params, "out_"):
        (config.ROOT / rel_out).parent.mkdir(parents=True, exist_ok=True)
    staged_nb = stage / "executed.ipynb"
    failed = _failed_copy(output)
    every = float(os.environ.get("NKT_PROGRESS_SECONDS", "30")) if progress_every is None else progress_every
    print(f"[{step.name}] running {config.rel(step.notebook)} ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    # papermill passes the parameters to the kernel; derived keys (in_source_texts) the notebook computes itself
    inject = {k: v for k, v in run_params.items() if not _derived(step.name, k)}
    previous = (
        signal.signal(signal.SIGTERM, _raise_interrupt)
        if threading.current_thread() is threading.main_thread()
        else None
    )
    try:
        with _Progress(step.name, staged_nb, every):
            pm.execute_notebook(
                str(step.notebook),
                str(staged_nb),
                parameters=inject,
                kernel_name=config.KERNEL_NAME,
                cwd=str(config.NOTEBOOKS),
                progress_bar=False,
                request_save_on_cell_execute=True,
                extra_arguments=_kernel_quiet_args(),
            )
    except (PapermillExecutionError, KeyboardInterrupt, Exception) as exc:  # noqa: BLE001 - report any failure
        raise _failure(step, exc, staged_nb, failed, stage) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    missing = [p for p in _paths(run_params, "out_") if not (config.ROOT / p).exists()]
    if missing:
        _keep_failed(staged_nb, failed)
        shutil.rmtree(stage, ignore_errors=True)
        raise PipelineError(
            f"{config.rel(step.notebook)}: finished but did not write its declared outputs: "
            f"{', '.join(p.removeprefix(stage_rel + '/') for p in missing)}\n"
            "  nothing was replaced; previous products kept"
        )
    for rel_out in outputs:
        _install(config.ROOT / stage_rel / rel_out, config.ROOT / rel_out)
    output.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staged_nb, output)
    failed.unlink(missing_ok=True)
    if pipeline_run:
        _write_json_atomic(config.ROOT / step.manifest, step_fingerprint(step, params))
    shutil.rmtree(stage, ignore_errors=True)
    return time.perf_counter() - start


def skip_iri_grammars() -> None:
    """Keep ``jsonschema`` from building its IRI format checker when ``nbformat`` (papermill) imports it.

    ``jsonschema`` imports ``rfc3987_syntax`` when it is installed (JupyterLab's ``jupyter-events`` pulls it
    in), and that module compiles 38 Lark grammars at import: about 1.2 s of CPU in every process that
    reads or writes a notebook, measured with ``-X importtime``. Notebook validation never checks string
    formats (nbformat's validators get no format checker), so the checker is not needed here; marking the
    module absent makes ``jsonschema`` skip it exactly as when it is not installed. Call before importing
    nbformat, papermill or nbconvert; a process that imported it already is left as it is.
    """
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


def compile_helpers() -> bool:
    """Write the bytecode of the ``helpers`` modules whose ``.pyc`` is missing or stale (False on an error).

    ``PYTHONDONTWRITEBYTECODE=1`` (set in some environments) stops Python from caching what it compiles, so
    every kernel would compile the project's modules again at import. ``compileall`` writes the ``.pyc``
    files whatever that variable says and skips the up-to-date ones (it reads each ``.pyc`` header); the
    writes are atomic, so two steps running side by side can both call it.
    """
    import compileall

    return bool(compileall.compile_dir(Path(__file__).resolve().parent, quiet=2))


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _keep_failed(staged_nb: Path, failed: Path) -> None:
    if staged_nb.exists():
        failed.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged_nb, failed)


def _failure(step: Step, exc: BaseException, staged_nb: Path, failed: Path, stage: Path) -> PipelineError:
    """One message for every way a step can stop: notebook, cell, reason; the executed copy kept."""
    from papermill.exceptions import PapermillExecutionError

    _keep_failed(staged_nb, failed)
    shutil.rmtree(stage, ignore_errors=True)
    cell = _source_cell(failed) if failed.exists() else None
    where = f"cell {cell[0]} ({cell[1]!r})" if cell else "before the first cell"
    kept = f"\n  executed copy with the error kept at {config.rel(failed)}" if failed.exists() else ""
    kept += "\n  nothing was replaced: the previous products and report are as they were"
    nb = config.rel(step.notebook)
    if isinstance(exc, KeyboardInterrupt) or (
        isinstance(exc, PapermillExecutionError) and exc.ename == "KeyboardInterrupt"
    ):
        return Interrupted(f"{nb}: {where} interrupted (Ctrl-C or kill){kept}")
    if isinstance(exc, PapermillExecutionError):
        reason = f"{exc.ename}: {exc.evalue}"
        if exc.ename == "ParamsError":
            reason = "parameters rejected:\n  " + exc.evalue.replace("\n", "\n  ")
        return PipelineError(f"{nb}: {where} failed: {reason}{kept}")
    name = type(exc).__name__
    if "DeadKernel" in name or "dead" in str(exc).lower():
        return PipelineError(f"{nb}: {where}: the kernel died ({name}: {exc}){kept}")
    return PipelineError(f"{nb}: {where}: {name}: {exc}{kept}")


# ---- content-based rerun of any command (the scenario sweep) ------------------------------------------------


def guard(
    name: str,
    command: list[str],
    *,
    step: str | None,
    inputs: list[str],
    outputs: list[str],
    modules: tuple[str, ...] = (),
) -> int:
    """Run ``command`` only when its inputs, the step's notebook/parameters/code or its outputs changed.

    The manifest is ``.build/manifests/<name>.json``, written after the command succeeded.
    """
    notebook, params = None, {}
    if step:
        s = get_step(step)
        notebook, params = s.notebook, apply_overrides(s.params)
        inputs = [*inputs, *s.inputs]
    manifest = config.ROOT / MANIFESTS / f"{name}.json"
    current = fingerprint(
        notebook=notebook, params=params, inputs=inputs, outputs=outputs, extra_modules=modules
    )
    why = differences(read_manifest(manifest), current)
    if not why:
        return 0
    print(f"[{name}] out of date: {'; '.join(why[:4])}{' ...' if len(why) > 4 else ''}", file=sys.stderr)
    rc = subprocess.call(command)
    if rc == 0:
        _write_json_atomic(
            manifest,
            fingerprint(
                notebook=notebook, params=params, inputs=inputs, outputs=outputs, extra_modules=modules
            ),
        )
    return rc


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m helpers.pipeline", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("makefile", help="check every params file, print make rules generated from them")
    sub.add_parser("check", help="check every params file against helpers.params")
    sub.add_parser("steps", help="list the steps with their inputs and outputs")
    sub.add_parser("status", help="which steps are out of date and why")
    run = sub.add_parser("run", help="execute one step with papermill")
    run.add_argument("step")
    run.add_argument(
        "--params", type=Path, help="a YAML file overriding some parameters (exploration/scenarios)"
    )
    run.add_argument("--output", type=Path, help="where to write the executed notebook")
    run.add_argument("--if-stale", action="store_true", help="run only when the manifest disagrees")
    g = sub.add_parser("guard", help="run a command only when what it is made from changed")
    g.add_argument("name")
    g.add_argument("--step")
    g.add_argument("--in", dest="inputs", nargs="*", default=[])
    g.add_argument("--out", dest="outputs", nargs="*", default=[])
    g.add_argument("--module", dest="modules", nargs="*", default=[])
    argv = sys.argv[1:] if argv is None else argv
    command: list[str] = []
    if argv[:1] == ["guard"] and "--" in argv:  # guard NAME ... -- COMMAND...
        cut = argv.index("--")
        argv, command = argv[:cut], argv[cut + 1 :]
    args = parser.parse_args(argv)
    try:
        if args.cmd == "makefile":
            sys.stdout.write(makefile_rules())
        elif args.cmd == "check":
            print(f"parameters ok: {', '.join(config.rel(s.params_file) for s in steps())}")
        elif args.cmd == "steps":
            for s in steps():
                print(
                    f"{s.name}: {config.rel(s.notebook)}\n  in:  {' '.join(s.inputs)}\n  out: {' '.join(s.outputs)}"
                )
        elif args.cmd == "status":
            for s in steps():
                why = status(s)
                print(f"{s.name}: {'up to date' if not why else 'out of date: ' + '; '.join(why)}")
        elif args.cmd == "guard":
            if not command:
                raise PipelineError("guard: give the command after --")
            return guard(
                args.name,
                command,
                step=args.step,
                inputs=args.inputs,
                outputs=args.outputs,
                modules=tuple(args.modules),
            )
        else:
            seconds = run_step(args.step, params_file=args.params, output=args.output, if_stale=args.if_stale)
            if seconds is not None:
                where = (
                    ""
                    if args.params is None and args.output is None
                    else f" (scratch run: {SCRATCH}/{args.step}/ unless --output / out_* given)"
                )
                print(f"[{args.step}] done in {seconds:.1f} s{where if args.params else ''}", file=sys.stderr)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
