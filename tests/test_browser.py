"""Headless Chromium opens the rendered HTML report offline: no request leaves the page, every image
decodes, MathJax typesets, Hangul uses the embedded font, no console error, no sideways scrolling on
a phone. Screenshots land in pytest's tmp dir (paths are printed; run with ``-s`` to see them).

The same checks run on the real report, ``reports/report.html`` (or the file named by
``$NKREPORT_HTML``), when it exists: no request, every image decodes, no console error, the right
``<title>``, no sideways scrolling at 1280 px and 390 px; screenshots of both widths are saved.

Talks the Chrome DevTools Protocol over ``--remote-debugging-port`` with ``websocket-client``.
Skips cleanly when ``chromium`` is not on PATH.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import render

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "render" / "report_fixture.ipynb"
REAL_REPORT = Path(
    os.environ.get("NKREPORT_HTML") or Path(__file__).resolve().parents[1] / "reports" / "report.html"
)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not on PATH (apt-get install chromium)"),
]


class CDP:
    """A minimal synchronous Chrome DevTools Protocol session on one page target."""

    def __init__(self, ws_url: str) -> None:
        import websocket  # websocket-client, part of the Jupyter stack

        self.ws = websocket.create_connection(ws_url, timeout=300, suppress_origin=True)
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Call ``method`` and return its result; events received meanwhile are kept."""
        msg_id = next(self.ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_event(self, method: str, timeout: float = 300) -> dict[str, Any]:
        """Block until an event named ``method`` arrives (or was already received)."""
        deadline = time.monotonic() + timeout
        for ev in self.events:
            if ev["method"] == method:
                return ev
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            if "method" in msg:
                self.events.append(msg)
                if msg["method"] == method:
                    return msg
        raise TimeoutError(method)

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"JS error in {expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def close(self) -> None:
        self.ws.close()


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render.render_html(FIXTURE, tmp_path_factory.mktemp("browser") / "report.html")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start headless Chromium; yield the DevTools HTTP base URL; stop it."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    args = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--no-default-browser-check",
        "--hide-scrollbars",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        f"--user-data-dir={profile}",
        "about:blank",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 300  # generous: never the limit on a loaded machine
        while not (port_file.is_file() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.skip("chromium did not start a DevTools endpoint")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _open_page(base: str) -> CDP:
    with urllib.request.urlopen(f"{base}/json/list", timeout=60) as resp:
        targets = json.load(resp)
    page = next(t for t in targets if t.get("type") == "page")
    cdp = CDP(page["webSocketDebuggerUrl"])
    for domain in ("Page", "Network", "Runtime", "Log"):
        cdp.send(f"{domain}.enable")
    return cdp


def _load(cdp: CDP, url: str, width: int, height: int, mobile: bool) -> None:
    cdp.send(
        "Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=mobile
    )
    cdp.events.clear()
    cdp.send("Page.navigate", url=url)
    cdp.wait_event("Page.loadEventFired")
    deadline = time.monotonic() + 300  # generous: never the limit on a loaded machine
    while (
        cdp.evaluate(
            "typeof window.MathJax === 'undefined' ? 'done' : document.documentElement.getAttribute('data-mathjax')"
        )
        != "done"
    ):
        assert time.monotonic() < deadline, "MathJax did not finish typesetting"
        time.sleep(0.1)
    cdp.evaluate("document.fonts.ready.then(() => true)")


def _screenshot(cdp: CDP, path: Path) -> Path:
    shot = cdp.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    path.write_bytes(base64.b64decode(shot["data"]))
    print(f"screenshot: {path}")
    return path


def _problems(cdp: CDP) -> tuple[list[str], list[str]]:
    """(non-local request URLs, console/JS errors) seen since the last navigation."""
    requests, errors = [], []
    for ev in cdp.events:
        p = ev.get("params", {})
        if ev["method"] == "Network.requestWillBeSent":
            url = p["request"]["url"]
            if not url.startswith(("data:", "file:", "about:")):
                requests.append(url)
        elif ev["method"] == "Runtime.exceptionThrown":
            errors.append(json.dumps(p.get("exceptionDetails", {}))[:300])
        elif ev["method"] == "Runtime.consoleAPICalled" and p.get("type") in {"error", "assert"}:
            errors.append(json.dumps(p.get("args", []))[:300])
        elif ev["method"] == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            errors.append(f"{p['entry'].get('text')} {p['entry'].get('url', '')}")
    return requests, errors


def test_report_opens_offline_on_laptop(browser: str, report_html: Path, tmp_path: Path) -> None:
    cdp = _open_page(browser)
    try:
        _load(cdp, report_html.as_uri(), 1366, 900, mobile=False)
        requests, errors = _problems(cdp)
        assert requests == [], f"network requests: {requests}"
        assert errors == [], f"console errors: {errors}"
        images = cdp.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
        assert len(images) == 3 and all(done and width > 0 for done, width in images), images
        assert cdp.evaluate("document.querySelectorAll('mjx-container svg').length") >= 2
        assert cdp.evaluate("document.querySelectorAll('mjx-merror, [data-mjx-error]').length") == 0
        assert cdp.evaluate("document.fonts.check('16px \"Report Hangul\"', '광명 고려링크')") is True
        assert cdp.evaluate(
            "Array.from(document.fonts).some(f => f.family.includes('Report Hangul') && f.status === 'loaded')"
        )
        assert cdp.evaluate("document.querySelectorAll('nav.toc a').length") == 4
        assert cdp.evaluate("getComputedStyle(document.querySelector('td.num')).textAlign") == "right"
        assert cdp.evaluate("document.body.innerText.includes('<script>alert(1)</script>')")
        assert cdp.evaluate("typeof window.alert === 'function' && !document.querySelector('td script')")
        _screenshot(cdp, tmp_path / "report-laptop.png")
    finally:
        cdp.close()


def test_report_fits_a_phone(browser: str, report_html: Path, tmp_path: Path) -> None:
    cdp = _open_page(browser)
    try:
        _load(cdp, report_html.as_uri(), 390, 844, mobile=True)
        requests, errors = _problems(cdp)
        assert requests == [] and errors == [], (requests, errors)
        overflow = cdp.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"page scrolls sideways by {overflow}px on a phone"
        widths = cdp.evaluate("Array.from(document.images).map(i => i.getBoundingClientRect().width)")
        assert all(0 < w <= 390 for w in widths), widths
        _screenshot(cdp, tmp_path / "report-phone.png")
    finally:
        cdp.close()


_DECODE_IMAGES = """Promise.all(Array.from(document.images).map(
  i => i.decode().then(() => [i.complete, i.naturalWidth, '']).catch(e => [false, 0, String(i.src).slice(0, 60)])
))"""


def check_page(cdp: CDP, url: str, width: int, height: int, *, mobile: bool, shot: Path) -> dict[str, Any]:
    """Load ``url`` at ``width`` px and return what a reader would notice, with a screenshot at ``shot``.

    Keys: ``requests`` (non-local URLs asked for), ``errors`` (console/JS errors), ``images``
    (``[decoded, naturalWidth, src]`` each), ``overflow`` (px the page scrolls sideways), ``title``
    (the ``<title>``), ``heading`` (the report title shown on the page), ``screenshot`` (path).
    """
    _load(cdp, url, width, height, mobile=mobile)
    requests, errors = _problems(cdp)
    return {
        "requests": requests,
        "errors": errors,
        "images": cdp.evaluate(_DECODE_IMAGES),
        "overflow": cdp.evaluate("document.documentElement.scrollWidth - window.innerWidth"),
        "title": cdp.evaluate("document.title"),
        "heading": cdp.evaluate("(document.querySelector('h1.report-title') || {}).textContent || ''"),
        "screenshot": _screenshot(cdp, shot),
    }


@pytest.mark.skipif(not REAL_REPORT.is_file(), reason=f"{REAL_REPORT.name} not built (make report)")
@pytest.mark.parametrize(("width", "mobile"), [(1280, False), (390, True)])
def test_real_report_opens_offline(browser: str, tmp_path: Path, width: int, mobile: bool) -> None:
    cdp = _open_page(browser)
    try:
        page = check_page(
            cdp,
            REAL_REPORT.resolve().as_uri(),
            width,
            900,
            mobile=mobile,
            shot=tmp_path / f"real-{width}.png",
        )
    finally:
        cdp.close()
    assert page["requests"] == [], f"network requests: {page['requests']}"
    assert page["errors"] == [], f"console errors: {page['errors']}"
    assert page["images"], "the report shows no image"
    bad = [img for img in page["images"] if not (img[0] and img[1] > 0)]
    assert bad == [], f"{len(bad)} image(s) do not decode: {bad[:3]}"
    assert page["overflow"] <= 0, f"page scrolls sideways by {page['overflow']}px at {width}px"
    assert page["title"].strip() and page["title"] == page["heading"].strip(), (
        page["title"],
        page["heading"],
    )
    assert not page["title"].startswith(("04_", "report")), page["title"]
