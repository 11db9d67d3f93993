#!/usr/bin/env bash
# Start JupyterLab on this project with the project kernel, listening on localhost only, token required.
# Jupyter refuses to run as root; inside a container or VM where root is the only user this is the normal
# case, so we add --allow-root there, but only together with the localhost binding and the token (never with
# --ip=0.0.0.0 or an empty token) and say so.
set -euo pipefail
args=(--ServerApp.ip=127.0.0.1 --ServerApp.open_browser=False --notebook-dir=. "$@")
if [ "$(id -u)" = 0 ]; then
  echo "[lab] running as root: adding --allow-root (server bound to 127.0.0.1, token required)" >&2
  args+=(--allow-root)
fi
exec .venv/bin/jupyter lab "${args[@]}"
