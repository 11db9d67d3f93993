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
#   - compiles the bytecode of what the build imports (BUILD_PACKAGES below), and only that: the rest of
#     site-packages (JupyterLab, pytest, dask, jedi, debugpy, ...) is compiled by `make test` and `make lab`
#     (`tools/setup_env.sh bytecode all`) before they start.
# Called by make (target .venv/.installed); safe to rerun.
#   tools/setup_env.sh                  create or update $VENV (default .venv), then `bytecode build`
#   tools/setup_env.sh bytecode build   compile src/ and BUILD_PACKAGES in $VENV (skips up-to-date .pyc)
#   tools/setup_env.sh bytecode all     compile src/ and all of site-packages in $VENV (the same, incremental)
set -euo pipefail
UV_VERSION=0.13.8
VENV=${VENV:-.venv}
LOCK=${LOCK:-requirements.lock}

# The top-level packages (import names, as in site-packages) that the build's processes import: make's rules
# generator, the validation, the step runner (papermill, nbclient), the steps' kernels and what the notebooks
# import, also lazily (joblib's workers, PIL and fontTools for the figures), the sweep, and the two renders.
# Found by listing sys.modules at the exit of every process of `make report` (including forked and spawned
# workers). Each is compiled whole, so a submodule imported only on some code path is covered; a name that
# is not installed is skipped.
# tests/test_environment.py imports what the build imports and fails, naming the modules, when a package is
# missing here.
BUILD_PACKAGES=(
  # numerics, tables, figures and their validation
  numpy pandas scipy matplotlib mpl_toolkits contourpy kiwisolver cycler pyparsing dateutil six PIL fontTools
  pandera pydantic pydantic_core annotated_types typing_inspection typing_inspect mypy_extensions typeguard
  typing_extensions packaging yaml _yaml joblib psutil cloudpickle numba llvmlite
  # imported at every start by setuptools' .pth where setuptools is installed (a venv made by `python -m venv`)
  _distutils_hack
  # running notebooks: papermill, nbclient, jupyter_client, the kernel (ipykernel, IPython, zmq, tornado)
  papermill nbclient nbformat jupyter_client jupyter_core traitlets platformdirs zmq tornado msgpack ipykernel
  IPython comm matplotlib_inline pygments tenacity entrypoints requests urllib3 certifi idna
  charset_normalizer click
  # nbformat's validation: jsonschema and the format checkers it imports when they are installed
  fastjsonschema jsonschema jsonschema_specifications referencing rpds attr attrs jsonpointer rfc3339_validator
  rfc3986_validator fqdn isoduration arrow uri_template webcolors
  # the renders: nbconvert (jinja2 templates, mistune, bleach), pandoc and Typst
  nbconvert jinja2 markupsafe mistune bleach tinycss2 webencodings defusedxml bs4 soupsieve jupyterlab_pygments
  pandocfilters pypandoc typst
)

# (asked of the environment's python: a conda environment linked as .venv/bin keeps it elsewhere)
site_packages() { "$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }

# Bytecode for the .py files under the given paths, one compileall process per core, each given its share
# of the files (round robin): `compileall -j 0` hands out files one by one to a process pool, which cost
# about a third more CPU here. The packages' own test suites are left out (never imported by the build or
# by our tests). Up-to-date .pyc files are skipped (compileall reads their headers), so reruns are cheap.
compile_paths() {
  local tmp n rc=0 shard pids=() pid
  tmp=$(mktemp -d)
  find "$@" \( -type d \( -name tests -o -name test \) -path '*/site-packages/*/*' -prune \) \
    -o -name '*.py' -print > "$tmp/files"
  n=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
  awk -v n="$n" -v d="$tmp" '{ print > (d "/shard." (NR % n)) }' "$tmp/files"
  for shard in "$tmp"/shard.*; do
    [ -f "$shard" ] || continue
    "$VENV/bin/python" -m compileall -q -i "$shard" > "$shard.log" 2>&1 &
    pids+=($!)
  done
  for pid in ${pids[@]+"${pids[@]}"}; do wait "$pid" || rc=1; done
  if [ "$rc" != 0 ]; then cat "$tmp"/*.log >&2; echo "[env] error: compiling bytecode failed" >&2; fi
  rm -rf "$tmp"
  return "$rc"
}

# Bytecode once, at set-up, on every core: with PYTHONDONTWRITEBYTECODE=1 (set in some environments) nothing
# is ever cached at import, so every kernel would compile pandas, scipy, ... and src/helpers again; and when
# nothing was precompiled, the steps' kernels running side by side compiled the same modules at once (+17 s
# of CPU in `make report`). So what the build imports MUST be compiled here.
bytecode() {
  local sp paths=() name
  sp=$(site_packages)
  case "${1:-}" in
    build)
      for name in "${BUILD_PACKAGES[@]}"; do
        if [ -d "$sp/$name" ]; then paths+=("$sp/$name"); elif [ -f "$sp/$name.py" ]; then paths+=("$sp/$name.py"); fi
      done ;;
    all) paths=("$sp") ;;
    *) echo "usage: tools/setup_env.sh [bytecode build|all]" >&2; return 2 ;;
  esac
  compile_paths "${paths[@]}" src
}

if [ "${1:-}" = bytecode ]; then
  [ -x "$VENV/bin/python" ] || { echo "error: no environment in $VENV (run make env)" >&2; exit 1; }
  bytecode "${2:-}"
  exit
fi

# The interpreter itself, not the command that starts it: a wrapper such as a pyenv shim costs ~0.15 s at
# every start (the version check, pip, and uv, which queries the interpreter it is given).
find_python() {
  local cand exe
  for cand in "${PYTHON:-}" python3.11 python3 python; do
    [ -n "$cand" ] || continue
    command -v "$cand" >/dev/null 2>&1 || continue
    exe=$("$cand" -c 'import sys; assert sys.version_info[:2] == (3, 11); print(sys.executable)' 2>/dev/null) || continue
    [ -x "$exe" ] || exe=$(command -v "$cand")
    echo "$exe"; return 0
  done
  return 1
}

uv_ok() { [ -n "$1" ] && [ -x "$1" ] && [ "$("$1" --version 2>/dev/null | awk '{print $2}')" = "$UV_VERSION" ]; }

start=$(date +%s)
py=$(find_python) || { echo "error: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2; exit 1; }

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
bytecode build
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
