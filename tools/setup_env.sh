#!/usr/bin/env bash
# Create or update the project environment in .venv from the pinned lock file.
#   - uses uv (version pinned below: the venv's own, one on PATH, or one pip installs once beside uv's cache)
#     to create the venv and sync requirements.lock with the editable project in one step;
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

uv_ok() { [ -n "$1" ] && [ -x "$1" ] && [ "$("$1" --version 2>/dev/null | awk '{print $2}')" = "$UV_VERSION" ]; }

start=$(date +%s)
py=$(find_python) || { echo "error: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
py=$(command -v "$py")

# A uv of the pinned version: the venv's own (a rerun), one on PATH, or one pip installs once next to uv's
# cache (so a fresh clone on this machine does not pay for it again; an empty UV_CACHE_DIR gets its own).
UV_HOME=${NKT_UV_HOME:-$(dirname "${UV_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/uv}")/nk-telecom-uv-$UV_VERSION}
UV=""
for cand in "$VENV/bin/uv" "$(command -v uv || true)" "$UV_HOME/bin/uv"; do
  if uv_ok "$cand"; then UV=$cand; break; fi
done
# (uv's wheel has no dependencies and no Python worth compiling: --no-deps --no-compile spare pip about 1 s)
if [ -z "$UV" ] && "$py" -m pip install --quiet --disable-pip-version-check --upgrade --no-deps --no-compile \
     --target "$UV_HOME" "uv==$UV_VERSION" >/dev/null 2>&1 && uv_ok "$UV_HOME/bin/uv"; then
  UV=$UV_HOME/bin/uv
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "[env] creating $VENV with $($py --version)"
  # uv creates a venv in a fraction of a second; `python -m venv` spends seconds installing pip into it
  if [ -z "$UV" ] || ! "$UV" venv --quiet --relocatable --python "$py" "$VENV"; then
    "$py" -m venv "$VENV"
  fi
fi

# uv writes relocatable entry-point scripts into a venv whose pyvenv.cfg says so
grep -q '^relocatable' "$VENV/pyvenv.cfg" 2>/dev/null || echo "relocatable = true" >> "$VENV/pyvenv.cfg"

synced=no
if [ -n "$UV" ]; then
  echo "[env] syncing $LOCK with uv $UV_VERSION"
  # one resolution for the lock and the editable project; bytecode is compiled below, tests left out
  editable=$(mktemp); echo "-e ." > "$editable"
  if "$UV" pip sync --quiet --python "$VENV/bin/python" "$LOCK" "$editable"; then
    synced=yes
  else
    echo "[env] uv failed; falling back to pip" >&2
  fi
  rm -f "$editable"
else
  echo "[env] uv could not be installed; falling back to pip" >&2
fi
if [ "$synced" = no ]; then
  echo "[env] installing $LOCK with pip (slower)"
  "$VENV/bin/python" -m pip --version >/dev/null 2>&1 || "$VENV/bin/python" -m ensurepip --upgrade >/dev/null
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$LOCK"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e .
fi
# Bytecode once, here, on every core: with PYTHONDONTWRITEBYTECODE=1 (set in some environments) nothing is
# ever cached at import, so every kernel would compile pandas, scipy, ... and src/helpers again. The
# packages' own test suites (about a quarter of the files; never imported by the build) are left out.
"$VENV/bin/python" -m compileall -q -j 0 -x 'site-packages/.+/tests?/' "$VENV"/lib/python3.11/site-packages src >/dev/null
# jsonschema, imported by nbformat in every process that reads or writes a notebook (papermill, nbconvert,
# the renders, the test suite's subprocesses), compiles rfc3987_syntax's 38 Lark grammars at import for an
# IRI format checker nbformat never uses: ~1.2 s of CPU per process (`python -m helpers.render quarto`:
# 1.45 -> 0.22 s). This start-up line makes jsonschema skip that checker, as when the optional package is
# not installed; nothing else changes (see helpers.pipeline.run.skip_iri_grammars).
echo 'import sys; sys.modules.setdefault("rfc3987_syntax", None)' \
  > "$VENV/lib/python3.11/site-packages/_nk_telecom_skip_iri_grammars.pth"
"$VENV/bin/python" -m ipykernel install --sys-prefix --name nk-telecom --display-name "Python (nk-telecom)" >/dev/null
"$VENV/bin/python" tools/relocate_env.py "$VENV"
echo "[env] ready in $(( $(date +%s) - start )) s: $("$VENV/bin/python" --version), kernel nk-telecom"
