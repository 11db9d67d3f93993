"""Headless Chromium opens the rendered HTML report offline: no request leaves the page, every image
decodes, formulas are MathML (no script), Hangul uses the embedded font, no console error, no sideways scrolling on
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

from helpers.render import html as rhtml

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "render" / "report_fixture.ipynb"
REAL_REPORT = Path(
    os.environ.get("NKREPORT_HTML") or Path(__file__).resolve().parents[1] / "reports" / "report.html"
)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.slow,  # starts a browser
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not on PATH (apt-get install chromium)"),
]
# Bounds a hang only, never a speed check: a machine at load average 10+ can take a minute to start
# Chromium or answer one DevTools call, so every wait here allows ten.
HANG = 600.0


class CDP:
    """A minimal synchronous Chrome DevTools Protocol session on one page target."""

    def __init__(self, ws_url: str) -> None:
        import websocket  # websocket-client, part of the Jupyter stack

        self.ws = websocket.create_connection(ws_url, timeout=HANG, suppress_origin=True)
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

    def wait_event(self, method: str, timeout: float = HANG) -> dict[str, Any]:
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
    return rhtml.render_html(FIXTURE, tmp_path_factory.mktemp("browser") / "report.html")


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
        deadline = time.monotonic() + HANG
        while not (port_file.is_file() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.skip("chromium did not start a DevTools endpoint")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=HANG)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _open_page(base: str) -> CDP:
    with urllib.request.urlopen(f"{base}/json/list", timeout=HANG) as resp:
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
        assert cdp.evaluate("document.querySelectorAll('math').length") == 2
        assert cdp.evaluate("document.scripts.length") == 0
        # MathML is laid out by the browser: the fraction has height (a raw TeX string would be one line)
        assert (
            cdp.evaluate("document.querySelector('math[display=block] mfrac').getBoundingClientRect().height")
            > 20
        )
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


def check_real_report(browser: str, html: Path, shot_dir: Path, width: int, mobile: bool) -> None:
    """A built report opens offline at ``width``: no request, no console error, every image decodes, no sideways
    scrolling, the report's title (also run by tests/test_pipeline_e2e.py on the report its build wrote)."""
    cdp = _open_page(browser)
    try:
        page = check_page(
            cdp,
            html.resolve().as_uri(),
            width,
            900,
            mobile=mobile,
            shot=shot_dir / f"real-{width}.png",
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


@pytest.mark.skipif(not REAL_REPORT.is_file(), reason=f"{REAL_REPORT.name} not built (make report)")
@pytest.mark.parametrize(("width", "mobile"), [(1280, False), (390, True)])
def test_real_report_opens_offline(browser: str, tmp_path: Path, width: int, mobile: bool) -> None:
    check_real_report(browser, REAL_REPORT, tmp_path, width, mobile)


def _reader_aids_page(tmp_path: Path) -> Path:
    """A small page with a reference mark, its register row and an interactive figure, built by the same
    functions as the report (helpers.report.html, helpers.report.svg)."""
    import pandas as pd

    from helpers.report import html as report_html
    from helpers.report import svg as report_figures

    obs = pd.DataFrame(
        {
            "obs_id": ["001-005", "003-010"],
            "source_id": ["001_a", "003_b"],
            "indicator": ["mobile_users", "mobile_subscriptions"],
            "scope": ["national", "national"],
            "subgroup": ["", ""],
            "qualifier": ["at_least", "exact"],
            "value": [120000.0, 1000000.0],
            "value_low": [float("nan")] * 2,
            "value_high": [float("nan")] * 2,
            "date_text": ["in May 2010", "by early 2012"],
            "period_start": ["2010-05-01", "2012-01-01"],
            "period_end": ["2010-05-31", "2012-03-31"],
            "usable_national_subs": [True, True],
            "quote": ["more than 120,000 users", "one million subscribers"],
        }
    )
    sources = pd.DataFrame({"source_id": ["001_a", "003_b"], "author_publisher": ["Agency A", "Paper B"]})
    itu = pd.DataFrame({"year": [2010, 2011, 2012], "subscriptions": [431919, 1000000, 1700000]})
    svg = report_figures.svg_figure(report_figures.observation_points(obs), sources, itu, "Observations")
    body = (
        "<main><p>There were 6.35<sup>[1]</sup> million.</p>"
        f'<div class="interactive-figure">{svg}</div>'
        "<table><thead><tr><th>id</th><th>date in the source</th></tr></thead><tbody>"
        "<tr><td>001-005</td><td>in May 2010</td></tr><tr><td>003-010</td><td>by early 2012</td></tr></tbody></table>"
        "<table><thead><tr><th>ref</th><th>quantity</th><th>value in text</th><th>origin</th>"
        "<th>how it was obtained</th></tr></thead><tbody><tr><td>1</td><td>ITU subscriptions 2022</td>"
        "<td>6.35</td><td>ITU via World Bank WDI</td><td>itu_prk.csv, year 2022</td></tr></tbody></table>"
        + "<p>filler</p>" * 200
        + "</main>"
    )
    page = f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>t</title></head><body>{body}</body></html>'
    out = tmp_path / "aids.html"
    out.write_text(report_html.enhance(page, "A test page"), encoding="utf-8")
    return out


def test_marks_and_figure_points_show_their_origin_on_focus_and_link_to_it(
    browser: str, tmp_path: Path
) -> None:
    """Keyboard focus (not only hover) reveals the origin of a mark and the quote of a figure point; following
    the link lands on the register row / observation row, and the row links back."""
    page = _reader_aids_page(tmp_path)
    cdp = _open_page(browser)
    try:
        cdp.send("Emulation.setFocusEmulationEnabled", enabled=True)  # a headless page never has window focus
        _load(cdp, page.as_uri(), 1280, 800, mobile=False)
        tip = "getComputedStyle(document.querySelector('#tip-mark-1')).display"
        assert cdp.evaluate(tip) == "none"
        cdp.evaluate("document.querySelector('a.ref').focus()")
        assert cdp.evaluate(tip) != "none"
        assert "ITU via World Bank WDI" in cdp.evaluate("document.querySelector('#tip-mark-1').textContent")
        cdp.evaluate("document.querySelector('a.ref').click()")
        assert cdp.evaluate("location.hash") == "#ref-1"
        assert cdp.evaluate("document.querySelector('tr:target td').textContent.trim().startsWith('1')")
        assert cdp.evaluate("document.querySelector('#ref-1 a.ref-back').getAttribute('href')") == "#mark-1"
        points = "document.querySelectorAll('.interactive-figure svg a')"
        assert cdp.evaluate(f"{points}.length") == 2
        shown = f"getComputedStyle({points}[0].querySelector('.tip')).display"
        assert cdp.evaluate(shown) == "none"
        cdp.evaluate(f"{points}[0].focus()")
        assert cdp.evaluate(shown) != "none"
        text = cdp.evaluate(f"{points}[0].querySelector('.tip').textContent")
        assert (
            "more than 120,000 users" in text
            and "Agency A" in text
            and "at least" in text
            and "2010-05" in text
        )
        assert "more than 120,000 users" in cdp.evaluate(f"{points}[0].querySelector('title').textContent")
        target = cdp.evaluate(f"{points}[0].getAttribute('href')")
        assert target == "#obs-001-005" and cdp.evaluate(f"!!document.querySelector('tr{target}')")
        _screenshot(cdp, tmp_path / "aids.png")
    finally:
        cdp.close()
