"""JupyterLab starts with the project kernel and sees the notebooks (as a user gets with `make lab`)."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, token: str) -> dict:
    req = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=600) as resp:  # bounds a hang only (load 10+)
        return json.loads(resp.read())


def test_lab_lists_kernel_and_notebooks(tmp_path: Path) -> None:
    port, token = _free_port(), secrets.token_hex(16)
    cmd = [
        str(Path(sys.executable).parent / "jupyter"),
        "lab",
        "--no-browser",
        f"--ServerApp.port={port}",
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={ROOT}",
        "--ServerApp.port_retries=0",
    ]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600  # generous: a loaded machine (load 10+) starts Jupyter slowly
        while True:
            try:
                _get(f"{base}/api/status", token)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"JupyterLab did not start: {proc.stderr.read() if proc.poll() is not None else 'timeout'}"
                    )
                time.sleep(0.3)
        specs = _get(f"{base}/api/kernelspecs", token)["kernelspecs"]
        assert "nk-telecom" in specs, sorted(specs)
        listing = _get(f"{base}/api/contents/notebooks", token)["content"]
        names = {item["name"] for item in listing}
        assert {p.name for p in (ROOT / "notebooks").glob("*.ipynb")} <= names
        with pytest.raises(urllib.error.HTTPError):
            _get(f"{base}/api/contents/notebooks", "wrong-token")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
