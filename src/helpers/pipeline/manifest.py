"""Content manifests: what a step's products were made from, as hashes, and the content-based guard.

``.build/manifests/<step>.json`` records hashes of what the products were made from (the notebook's code and
markdown, the resolved parameters, the input files, the ``helpers`` modules the notebook imports, traced with
:mod:`ast`) and of the products themselves; ``run --if-stale`` runs the step only when one of them disagrees, so
Lab autosave (metadata, outputs) or ``touch`` reruns nothing, and products overwritten by a run outside the
pipeline are rebuilt. :func:`guard` does the same for any command (the scenario sweep, the renders).
The modules' parsed imports are cached by content in ``.build/imports-cache.json`` (:data:`IMPORTS_CACHE`).
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from helpers import config
from helpers.pipeline.dag import BUILD, MANIFESTS, Step, apply_overrides, get_step

MANIFEST_VERSION = 1
# helpers.pipeline.params only checks the parameters (every notebook imports it); what it does to a run is the
# resolved parameters, which are hashed themselves, so editing a rule does not rerun every step.
UNTRACKED_MODULES = frozenset({"helpers.pipeline.params"})


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


#: ``{sha256 of a module's bytes: the helpers modules it imports}``: parsing the ~70 traced modules costs
#: ~0.2 s of CPU per fingerprint (every step, guard and ``status``); keyed by content, so never stale.
IMPORTS_CACHE = f"{BUILD}/imports-cache.json"
_imports_cache: dict[str, list[str]] | None = None


def _cached_imports(path: Path) -> tuple[set[str], bool]:
    """(``helpers`` imports of the module at ``path``, whether they were parsed now rather than cached)."""
    global _imports_cache
    if _imports_cache is None:
        try:
            loaded = json.loads((config.ROOT / IMPORTS_CACHE).read_text(encoding="utf-8"))
            _imports_cache = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            _imports_cache = {}
    data = path.read_bytes()
    key = _sha(data)
    hit = _imports_cache.get(key)
    if isinstance(hit, list):
        return set(hit), False
    found = _helpers_imports(data.decode("utf-8"))
    _imports_cache[key] = sorted(found)
    return found, True


def _save_imports_cache() -> None:
    if not _imports_cache:
        return
    try:
        _write_json_atomic(config.ROOT / IMPORTS_CACHE, dict(list(_imports_cache.items())[-2000:]))
    except OSError:  # a read-only checkout: the cache only saves time
        pass


def helpers_closure(sources: list[str]) -> dict[str, str]:
    """The ``helpers`` modules the given code imports, directly or through other helpers modules.

    Returns module name -> project path of its file (``helpers/__init__.py`` always included).
    """
    todo = {"helpers"}
    for src in sources:
        todo |= _helpers_imports(src)
    seen: dict[str, str] = {}
    parsed = False
    while todo:
        mod = todo.pop()
        if mod in seen:
            continue
        path = _module_file(mod)
        if path is None:  # `from helpers import name` where name is not a module
            continue
        seen[mod] = config.rel(path)
        found, new = _cached_imports(path)
        parsed |= new
        todo |= found - seen.keys()
        # importing helpers.data.x also runs helpers/data/__init__.py
        todo.add(mod.rpartition(".")[0] or "helpers")
    if parsed:
        _save_imports_cache()
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
        "outputs": _hashes(outputs),
    }


def _hashes(paths: Iterable[str]) -> dict[str, str | None]:
    return {p: file_hash(config.ROOT / p) for p in paths}


def with_products(made_from: dict[str, Any]) -> dict[str, Any]:
    """``made_from`` (a :func:`fingerprint` taken before a run) with its products hashed again, as they are now.

    What products are made from is hashed once, before the run; after it only the products are hashed. An
    input, notebook or module edited while the run goes on then makes the next build run it again.
    """
    return {**made_from, "outputs": _hashes(made_from["outputs"])}


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
        _write_json_atomic(manifest, with_products(current))
    return rc
