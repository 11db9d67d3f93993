"""Make the project's virtual environment relocatable (called by tools/setup_env.sh after installing).

A venv records absolute paths in three places that matter here; each is rewritten to a relative form, so
a copied or moved checkout runs its own ``src/helpers`` with its own ``.venv``:

1. the editable install's ``.pth`` file (``/abs/checkout/src``) becomes one ``import`` line that adds the
   ``src`` folder at the same place relative to ``sys.prefix`` (the venv);
2. the ``nk-telecom`` kernel spec's ``argv[0]`` (``/abs/checkout/.venv/bin/python``) becomes
   ``{resource_dir}/<relative path>/bin/python`` (jupyter_client substitutes ``{resource_dir}``);
3. entry-point scripts (``papermill``, ``jupyter``, ...) whose ``#!`` line names the venv's python get the
   ``/bin/sh`` trampoline uv writes for ``--relocatable`` venvs (the python next to the script).

Usage: ``python tools/relocate_env.py [VENV]`` (default ``.venv``). Safe to rerun; prints one line.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

KERNEL = "nk-telecom"
TRAMPOLINE = """#!/bin/sh
'''exec' "$(dirname -- "$(realpath -- "$0")")"/'python' "$0" "$@"
' '''
"""
PTH_LINE = (
    "import os, sys; p = os.path.normpath(os.path.join(sys.prefix, {rel!r})); "
    "p in sys.path or sys.path.append(p)\n"
)


def relocate_pth(venv: Path, src: Path) -> list[Path]:
    """Rewrite editable-install ``.pth`` files that name ``src`` by absolute path; returns those changed."""
    changed = []
    for pth in sorted(venv.glob("lib/python*/site-packages/__editable__*.pth")):
        lines = pth.read_text(encoding="utf-8").splitlines()
        if lines and not lines[0].startswith("import") and Path(lines[0]).resolve() == src.resolve():
            rel = os.path.relpath(src.resolve(), venv.resolve())
            pth.write_text(PTH_LINE.format(rel=rel), encoding="utf-8")
            changed.append(pth)
    return changed


def relocate_kernel(venv: Path) -> Path | None:
    """Point the kernel spec's python at ``{resource_dir}/.../bin/python``; returns the spec changed."""
    spec = venv / "share" / "jupyter" / "kernels" / KERNEL / "kernel.json"
    if not spec.is_file():
        return None
    data = json.loads(spec.read_text(encoding="utf-8"))
    rel = os.path.relpath((venv / "bin" / "python").absolute(), spec.parent.absolute())
    target = "{resource_dir}/" + Path(rel).as_posix()
    if data["argv"][0] == target:
        return None
    data["argv"][0] = target
    spec.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return spec


def relocate_scripts(venv: Path) -> list[Path]:
    """Replace ``#!/abs/venv/bin/python`` lines of entry-point scripts by the relative trampoline."""
    changed = []
    bindir = (venv / "bin").absolute()
    prefixes = {f"#!{bindir}/python".encode(), f"#!{bindir.resolve()}/python".encode()}
    for script in sorted(bindir.iterdir()):
        if script.is_symlink() or not script.is_file():
            continue
        with open(script, "rb") as fh:
            first = fh.readline()
        if not any(first.startswith(p) for p in prefixes):
            continue
        body = script.read_bytes()[len(first) :]
        mode = script.stat().st_mode
        script.write_bytes(TRAMPOLINE.encode() + body)
        os.chmod(script, mode)
        changed.append(script)
    return changed


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    venv = Path(args[0] if args else ".venv")
    src = Path(__file__).resolve().parents[1] / "src"
    pth = relocate_pth(venv, src)
    kernel = relocate_kernel(venv)
    scripts = relocate_scripts(venv)
    print(
        f"[env] relocatable: {len(pth)} .pth, {'kernel spec' if kernel else 'kernel spec already'}, "
        f"{len(scripts)} scripts rewritten"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
