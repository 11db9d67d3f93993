"""Lighthouse scores of the HTML report(s): accessibility, best practices, SEO, performance (desktop preset).

Targets (issue 11): accessibility 1.0, best practices 1.0, SEO >= 0.9, performance >= 0.9, and the HTML at most
1.5 MB. This measures and prints; it never fails a build (scores depend on the machine's load).

Lighthouse is an npm package, not a project dependency: set ``LIGHTHOUSE`` to its CLI, or install it into a
throwaway folder (``npm install --prefix /tmp/nk-lighthouse lighthouse``; ``/tmp/nk-lighthouse`` is looked at by
default). Chromium: ``CHROME_PATH`` or ``/usr/bin/chromium``. The page is served from a local HTTP server on
127.0.0.1 (Lighthouse's SEO and best-practice audits expect http, not file://). Pages: ``reports/report.html`` and
``reports/quarto/report.html`` when they exist, or ``$NKREPORT_HTML``.

    python benchmarks/run.py --only lighthouse
    NKT_LIGHTHOUSE_PRESETS=desktop python benchmarks/bench_lighthouse.py   # the targets' preset only
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CATEGORIES = ("accessibility", "best-practices", "seo", "performance")
CHROME_FLAGS = (
    "--headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update "
    "--disable-sync --no-first-run"
)


def lighthouse_cli() -> list[str] | None:
    """The command that runs Lighthouse, or None."""
    if os.environ.get("LIGHTHOUSE"):
        return [os.environ["LIGHTHOUSE"]]
    for base in (Path("/tmp/nk-lighthouse"), ROOT / ".build" / "lighthouse"):
        cli = base / "node_modules" / "lighthouse" / "cli" / "index.js"
        if cli.is_file() and shutil.which("node"):
            return [str(shutil.which("node")), str(cli)]
    exe = shutil.which("lighthouse")
    return [exe] if exe else None


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve ``folder`` on 127.0.0.1 (a free port) for the duration of the block; yield the base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # no access log on stderr
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def scores(page: Path, preset: str = "desktop") -> dict[str, float]:
    """Lighthouse category scores (0-1) for ``page`` with the given preset ("desktop" or "mobile")."""
    cli = lighthouse_cli()
    if cli is None:
        raise RuntimeError("lighthouse not found: npm install --prefix /tmp/nk-lighthouse lighthouse")
    chrome = os.environ.get("CHROME_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    with tempfile.TemporaryDirectory(prefix="lighthouse-") as tmp, serve(page.parent) as base:
        out = Path(tmp) / "lh.json"
        cmd = [
            *cli,
            f"{base}/{page.name}",
            "--quiet",
            "--output=json",
            f"--output-path={out}",
            f"--only-categories={','.join(CATEGORIES)}",
            f"--chrome-flags={CHROME_FLAGS} --user-data-dir={tmp}/profile",
        ]
        if preset == "desktop":
            cmd.append("--preset=desktop")
        env = {**os.environ, "CHROME_PATH": chrome, "HOME": os.environ.get("HOME", tmp)}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        if proc.returncode != 0 or not out.is_file():
            raise RuntimeError(f"lighthouse failed ({proc.returncode}): {proc.stderr.strip()[-800:]}")
        report = json.loads(out.read_text(encoding="utf-8"))
    result = {name: report["categories"][name]["score"] for name in CATEGORIES}
    failed = [
        audit["id"]
        for cat in CATEGORIES
        for ref in report["categories"][cat]["auditRefs"]
        if ref.get("weight", 0) > 0
        for audit in [report["audits"][ref["id"]]]
        if audit.get("score") is not None and audit["score"] < 1
    ]
    result["failed_audits"] = sorted(set(failed))  # type: ignore[assignment]
    metrics = report["audits"]
    for key in ("first-contentful-paint", "largest-contentful-paint", "total-blocking-time"):
        if key in metrics and metrics[key].get("numericValue") is not None:
            result[f"{key}_ms"] = round(metrics[key]["numericValue"])
    return result


def pages() -> dict[str, Path]:
    if os.environ.get("NKREPORT_HTML"):
        return {"report": Path(os.environ["NKREPORT_HTML"])}
    found = {
        "report": ROOT / "reports" / "report.html",
        "quarto": ROOT / "reports" / "quarto" / "report.html",
    }
    return {k: v for k, v in found.items() if v.is_file()}


def run() -> dict[str, object]:
    """Scores and sizes of each HTML report, flattened for reports/bench.json."""
    figures: dict[str, object] = {}
    for name, page in pages().items():
        figures[f"lighthouse_{name}_html_bytes"] = page.stat().st_size
        for preset in os.environ.get("NKT_LIGHTHOUSE_PRESETS", "desktop,mobile").split(","):
            try:
                got = scores(page, preset)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                figures[f"lighthouse_{name}_{preset}_error"] = str(exc)[:300]
                continue
            for key, value in got.items():
                figures[f"lighthouse_{name}_{preset}_{key.replace('-', '_')}"] = value
    return figures


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:>50}: {value}")
