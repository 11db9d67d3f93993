"""Running one step with papermill, atomically, and reporting a failure by notebook, cell and reason.

A run writes the notebook's products and executed copy into ``.build/staging/``; they are moved into place only
when every cell succeeded, so a failed or interrupted step leaves the previous products as they were and deletes
nothing it did not write.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import signal
import sys
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from helpers import config
from helpers.pipeline import params as P
from helpers.pipeline.dag import (
    OVERRIDES_ENV,
    SCRATCH,
    STAGING,
    Interrupted,
    PipelineError,
    Step,
    _paths,
    apply_overrides,
    get_step,
    load_params,
)
from helpers.pipeline.manifest import (
    _write_json_atomic,
    differences,
    file_hash,
    read_manifest,
    step_fingerprint,
    with_products,
)

#: seconds to wait for a step's kernel to start: only a hang, never a loaded machine, should reach it
KERNEL_START_TIMEOUT = 3600

# papermill's own cells in an executed notebook: not cells of the source notebook
_NOT_SOURCE_TAGS = {"injected-parameters", "papermill-error-cell-tag"}


def _failed_copy(executed: Path) -> Path:
    return executed.with_name(executed.stem + ".FAILED.ipynb")


def _numbered_cells(nb_path: Path) -> list[tuple[int, Any, str]]:
    """``(1-based number in the *source* notebook, cell, first line)`` of each cell of an executed copy.

    papermill adds its own cells to the executed copy (the injected parameters, and an error banner at the
    top): they are not counted, so the number is the one a user sees in JupyterLab. Empty for a copy that
    cannot be read (half-written).
    """
    import nbformat

    try:
        nb = nbformat.read(nb_path, as_version=4)
    except Exception:  # noqa: BLE001 - a half-written notebook: no cell to name
        return []
    out = []
    for cell in nb.cells:
        if not _NOT_SOURCE_TAGS & set(cell.metadata.get("tags", [])):
            first = next((ln for ln in cell.source.splitlines() if ln.strip()), "").strip()[:80]
            out.append((len(out) + 1, cell, first))
    return out


def _source_cell(nb_path: Path) -> tuple[int, str] | None:
    """(number in the source notebook, first line) of the cell that failed or was running."""
    candidate = None
    for number, cell, first in _numbered_cells(nb_path):
        pm = cell.metadata.get("papermill", {})
        if pm.get("exception") or pm.get("status") == "running":
            candidate = (number, first)
            if pm.get("exception"):
                return candidate
    return candidate


def _last_run_cell(nb_path: Path) -> tuple[int, str] | None:
    """(number in the source notebook, first line) of the last cell that ran to its end (papermill records
    ``exception: false`` for it), or None: for a stop between two cells."""
    done = [(n, first) for n, cell, first in _numbered_cells(nb_path)
            if cell.metadata.get("papermill", {}).get("exception") is False]  # fmt: skip
    return done[-1] if done else None


def _running_cell(nb: Any, index: int) -> tuple[int, str] | None:
    """(1-based number in the source notebook, first line) of cell ``index`` of the executed notebook ``nb``."""
    if not 0 <= index < len(nb.cells):
        return None
    number = 0
    for cell in nb.cells[: index + 1]:
        if not _NOT_SOURCE_TAGS & set(cell.get("metadata", {}).get("tags", [])):
            number += 1
    src = "".join(nb.cells[index].get("source", ""))
    return number, next((ln for ln in src.splitlines() if ln.strip()), "").strip()[:60]


class _Progress:
    """Print one line when a cell has been running for a while, then every ``every`` seconds.

    The running cell is read in-process from the engine's manager (:class:`helpers.pipeline.engine.LiveState`),
    not from the executed copy on disk, which the engine writes only every few seconds.
    """

    def __init__(self, label: str, live: Any, every: float):
        self.label, self.live, self.every = label, live, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> _Progress:
        if self.every > 0:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    def current(self) -> tuple[int, str] | None:
        """The running cell as (number in the source notebook, first line), or None between cells."""
        running, manager = self.live.running(), self.live.manager
        return None if running is None or manager is None else _running_cell(manager.nb, running[0])

    def _loop(self) -> None:
        current, since, last = None, time.monotonic(), time.monotonic()
        while not self._stop.wait(min(self.every, 5.0)):
            cell = self.current()
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
    # what the products are made from, hashed once, before the run (manifest.with_products)
    made_from = step_fingerprint(step, params) if pipeline_run else None
    if made_from is not None and if_stale:
        why = differences(read_manifest(config.ROOT / step.manifest), made_from)
        if not why:
            return None
        print(
            f"[{step.name}] out of date: {'; '.join(why[:4])}{' ...' if len(why) > 4 else ''}",
            file=sys.stderr,
        )
    with lean_papermill_imports():
        import papermill as pm  # here, not above: an up-to-date check must not pay for importing it
    from papermill.exceptions import PapermillExecutionError

    from helpers.pipeline import engine  # registers the engine that saves the notebook when it matters

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
        live = engine.LiveState()
        with _Progress(step.name, live, every):
            pm.execute_notebook(
                str(step.notebook),
                str(staged_nb),
                parameters=inject,
                kernel_name=config.KERNEL_NAME,
                cwd=str(config.NOTEBOOKS),
                progress_bar=False,
                request_save_on_cell_execute=True,
                extra_arguments=_kernel_quiet_args(),
                engine_name=engine.ENGINE_NAME,
                live=live,
                # a kernel that starts slowly on a loaded machine is not an error (papermill's default: 60 s)
                start_timeout=KERNEL_START_TIMEOUT,
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
    if made_from is not None:
        _write_json_atomic(config.ROOT / step.manifest, with_products(made_from))
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


#: Libraries ``jsonschema`` imports only for string-format checkers (nbformat never checks formats).
FORMAT_CHECKER_LIBS = (
    "isoduration",
    "rfc3339_validator",
    "rfc3986_validator",
    "webcolors",
    "uri_template",
    "fqdn",
)
#: Libraries papermill imports at module level but uses only for http:// notebooks and its command line.
DEFERRED_BY_PAPERMILL = ("requests", "click")


class _Deferred(types.ModuleType):
    """Stand-in bound by ``import NAME`` in a module that uses NAME only inside rarely called functions."""

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self.__name__), attr)


@contextlib.contextmanager
def lean_papermill_imports() -> Iterator[None]:
    """Import papermill (inside the block) without what a local run never uses: ~0.1 s CPU per step.

    :func:`skip_iri_grammars`, and the other format-checker libraries marked absent for the same reason
    (``-X importtime``: ``isoduration`` and ``arrow`` 0.08 s, the rest 0.03 s). ``requests`` and ``click``
    (0.2 s together), which papermill's ``iorw`` and ``inspection`` use only in functions for http:// paths
    and its CLI, are bound as stand-ins that import the real module on first use; after the block the
    stand-ins leave ``sys.modules``, so any later ``import requests`` is the ordinary one.
    """
    skip_iri_grammars()
    for name in FORMAT_CHECKER_LIBS:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
    added = [n for n in DEFERRED_BY_PAPERMILL if n not in sys.modules]
    for name in added:
        sys.modules[name] = _Deferred(name)
    try:
        yield
    finally:
        for name in added:
            if isinstance(sys.modules.get(name), _Deferred):
                del sys.modules[name]


def compile_helpers() -> bool:
    """Write the bytecode of the ``helpers`` modules whose ``.pyc`` is missing or stale (False on an error).

    ``PYTHONDONTWRITEBYTECODE=1`` (set in some environments) stops Python from caching what it compiles, so
    every kernel would compile the project's modules again at import. ``compileall`` writes the ``.pyc``
    files whatever that variable says and skips the up-to-date ones (it reads each ``.pyc`` header); the
    writes are atomic, so two steps running side by side can both call it.
    """
    import compileall

    return bool(compileall.compile_dir(Path(__file__).resolve().parents[1], quiet=2))


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
    after = _last_run_cell(failed) if cell is None and failed.exists() else None
    if cell:
        where = f"cell {cell[0]} ({cell[1]!r})"
    else:  # stopped between two cells (papermill had not marked the next one running yet)
        where = f"after cell {after[0]} ({after[1]!r})" if after else "before the first cell"
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
