#!/usr/bin/env bash
# Create or update the project environment in .venv from the pinned lock file.
#   - uses uv (installed from PyPI into the venv, version pinned below) to sync requirements.lock;
#   - falls back to plain pip when uv cannot be installed or fails;
#   - installs the project (package `helpers`) editable and registers the Jupyter kernel "nk-telecom"
#     inside the venv, so papermill and JupyterLab run notebooks with exactly this environment;
#   - makes the venv relocatable (tools/relocate_env.py): the project's src/ is found relative to the venv,
#     the kernel's python relative to its kernel spec, scripts start the python next to them. A copied or
#     moved checkout then runs its own src/helpers, never the original's.
# Called by make (target .venv/.installed); safe to rerun.
set -euo pipefail
UV_VERSION=0.13.8
VENV=${VENV:-.venv}
LOCK=${LOCK:-requirements.lock}

find_python() {
  for cand in "${PYTHON:-}" python3.11 python3 python; do
    [ -n "$cand" ] || continue
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      echo "$cand"; return 0
    fi
  done
  return 1
}

if [ ! -x "$VENV/bin/python" ]; then
  py=$(find_python) || { echo "error: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
  echo "[env] creating $VENV with $($py --version)"
  "$py" -m venv "$VENV"
fi

# uv writes relocatable entry-point scripts into a venv whose pyvenv.cfg says so
grep -q '^relocatable' "$VENV/pyvenv.cfg" 2>/dev/null || echo "relocatable = true" >> "$VENV/pyvenv.cfg"

start=$(date +%s)
synced=no
if "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION" >/dev/null 2>&1; then
  echo "[env] syncing $LOCK with uv $UV_VERSION"
  if "$VENV/bin/uv" pip sync --quiet --compile-bytecode --python "$VENV/bin/python" "$LOCK" &&
     "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --no-deps -e .; then
    synced=yes
  else
    echo "[env] uv failed; falling back to pip" >&2
  fi
else
  echo "[env] uv could not be installed; falling back to pip" >&2
fi
if [ "$synced" = no ]; then
  echo "[env] installing $LOCK with pip (slower)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$LOCK"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e .
fi
"$VENV/bin/python" -m ipykernel install --sys-prefix --name nk-telecom --display-name "Python (nk-telecom)" >/dev/null
"$VENV/bin/python" tools/relocate_env.py "$VENV"
# uv compiled the dependencies (--compile-bytecode); the editable project is compiled here, because with
# PYTHONDONTWRITEBYTECODE=1 every kernel would otherwise compile src/helpers again (helpers.pipeline also
# refreshes stale .pyc files before a step starts its kernel).
"$VENV/bin/python" -m compileall -q -j 0 src >/dev/null
echo "[env] ready in $(( $(date +%s) - start )) s: $("$VENV/bin/python" --version), kernel nk-telecom"
