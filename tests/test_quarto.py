"""The Quarto edition is the same report as the default edition, in HTML and Typst PDF, and loads nothing.

Both editions are rendered by the current code from one built project (the executed report notebook and the
pipeline's products), then compared: the same section headings in the same order, the same numbered figures
and tables, the same headline numbers with the same reference marks (in the HTML and in the PDF text), both
PDFs with embedded fonts and Hangul, and an HTML that requests nothing from the network (static check, and
in headless Chromium when it is installed).

Needs Quarto >= 1.4 on PATH (CI installs the offline kit from ../shared/tools/quarto; see .ci/run); skips
without it. The built project is, in order: ``$NKT_BUILT_PROJECT``; a session fixture ``built_project`` when
``tests/conftest.py`` provides one (shared with the end-to-end tests); this checkout when ``make report`` has
run here; otherwise a fresh copy built with ``make pipeline`` (fewer bootstrap resamples).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.render import common as rcommon
from helpers.render import quarto as rquarto
from tests import test_browser as tb
from tests.conftest import run
from tests.test_browser import browser  # noqa: F401  (the headless Chromium fixture)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        (rquarto.quarto_version() or (0,)) < rquarto.QUARTO_MIN_VERSION, reason="Quarto >= 1.4 is not on PATH"
    ),
]

NOTEBOOK = "reports/executed/04_report.ipynb"


@pytest.fixture(scope="module")
def project(request: pytest.FixtureRequest) -> Path:
    """The built project the editions are rendered from: ``$NKT_BUILT_PROJECT`` or the suite's one built copy
    (``built_project`` in conftest; the former fallback that built a second copy imported helpers that no
    longer exist and could never be reached, since that fixture always exists)."""
    if os.environ.get("NKT_BUILT_PROJECT"):
        return Path(os.environ["NKT_BUILT_PROJECT"])
    return Path(request.getfixturevalue("built_project"))


@pytest.fixture(scope="module")
def editions(project: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Render both editions of ``project`` into a temporary folder (the project is not written to)."""
    out = tmp_path_factory.mktemp("editions")
    env = {"NKT_ROOT": str(project), "SOURCE_DATE_EPOCH": "1767225600"}
    nb = project / NOTEBOOK
    for kind, name in (("html", "report.html"), ("pdf", "report.pdf")):
        res = run(
            [sys.executable, "-m", "helpers.render", kind, str(nb), str(out / name)], cwd=project, env=env
        )
        assert res.returncode == 0, res.stderr
    res = run([sys.executable, "-m", "helpers.render", "quarto", str(out / "quarto")], cwd=project, env=env)
    assert res.returncode == 0, res.stderr
    return {
        "html": out / "report.html",
        "pdf": out / "report.pdf",
        "quarto_html": out / "quarto" / "report.html",
        "quarto_pdf": out / "quarto" / "report.pdf",
    }


def _main_html(page: str) -> str:
    """The report body: no <head>, scripts, styles, table of contents or SVG figure internals."""
    page = page.split("</head>", 1)[-1]
    page = re.sub(r"<(script|style|nav|svg)\b.*?</\1>", "", page, flags=re.S | re.I)
    return page


_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"'})


def _text(fragment: str) -> str:
    """Plain text; typographic quotes made straight (pandoc's smart quotes vs. nbconvert's Markdown)."""
    import html

    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", fragment)).split()).translate(_QUOTES)


def html_headings(page: str) -> list[str]:
    body = _main_html(page)
    found = [_text(m.group(2)) for m in re.finditer(r"<h([2-4])\b[^>]*>(.*?)</h\1>", body, re.S)]
    return [h.rstrip("¶ ").strip() for h in found if h and h not in {"Contents", "Table of contents"}]


def numbered(text: str, kind: str) -> list[int]:
    """The numbers of the "Figure N." / "Table N." captions in PDF text (lines that start with one), in order,
    once each."""
    seen: list[int] = []
    for m in re.finditer(rf"^\s*{kind} (\d+)\.\s", text, re.M):
        if int(m.group(1)) not in seen:
            seen.append(int(m.group(1)))
    return seen


def html_captions(page: str, kind: str) -> list[int]:
    """The numbers of the captions (``<figcaption>`` / ``<caption>``) that start "Figure N." / "Table N."."""
    body = _main_html(page)
    tag = "figcaption" if kind == "Figure" else "caption"
    found = [
        re.match(rf"{kind} (\d+)\.", _text(m.group(0)))
        for m in re.finditer(rf"<{tag}\b.*?</{tag}>", body, re.S)
    ]
    return [int(m.group(1)) for m in found if m]


def marked_numbers(page: str) -> list[tuple[str, int]]:
    """(number as printed, reference mark) for every marked number, in order."""
    return [
        (m.group(1), int(m.group(2)))
        for m in re.finditer(r'([0-9][0-9.,]*%?)<a class="ref" id="[^"]+" href="#ref-(\d+)"', page)
    ]


def pdf_text(pdf: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    return subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout


def test_same_headings_in_both_html_editions(editions: dict[str, Path]) -> None:
    default = html_headings(editions["html"].read_text(encoding="utf-8"))
    quarto = html_headings(editions["quarto_html"].read_text(encoding="utf-8"))
    assert len(default) >= 10
    assert quarto == default


def test_same_headings_in_both_pdfs(editions: dict[str, Path]) -> None:
    headings = html_headings(editions["html"].read_text(encoding="utf-8"))
    for key in ("pdf", "quarto_pdf"):
        text = " ".join(pdf_text(editions[key]).split()).translate(_QUOTES)
        body = text[text.find("Abstract", text.find("Abstract") + 1) :]  # after the table of contents
        pos = 0
        for heading in headings:
            found = body.find(heading, pos)
            assert found >= 0, f"{key}: heading {heading!r} missing or out of order"
            pos = found + len(heading)


def test_same_figures_and_tables(editions: dict[str, Path]) -> None:
    default = editions["html"].read_text(encoding="utf-8")
    quarto = editions["quarto_html"].read_text(encoding="utf-8")
    for kind in ("Figure", "Table"):
        expected = html_captions(default, kind)
        assert expected == list(range(1, len(expected) + 1)) and len(expected) >= 8, (kind, expected)
        assert html_captions(quarto, kind) == expected, kind
        for key in ("pdf", "quarto_pdf"):
            assert numbered(pdf_text(editions[key]), kind) == expected, (key, kind)
    assert len(re.findall(r"<table\b", _main_html(quarto))) == len(
        re.findall(r"<table\b", _main_html(default))
    )
    figures = len(re.findall(r"<img\b|<svg\b", _main_html(default))) + default.count(
        'class="interactive-figure"'
    )
    assert (
        len(re.findall(r"<img\b", _main_html(quarto))) + quarto.count('class="interactive-figure"') == figures
    )


def test_same_headline_numbers_and_marks(editions: dict[str, Path]) -> None:
    default = marked_numbers(editions["html"].read_text(encoding="utf-8"))
    quarto = marked_numbers(editions["quarto_html"].read_text(encoding="utf-8"))
    assert len(default) >= 20
    assert quarto == default
    abstract = default[:10]  # the abstract's numbers come first
    for key in ("pdf", "quarto_pdf"):
        text = re.sub(r"\s+", "", pdf_text(editions[key]))
        missing = [(v, n) for v, n in abstract if f"{v}[{n}]" not in text]
        assert missing == [], f"{key}: {missing}"


def test_quarto_html_loads_nothing_and_has_reader_aids(editions: dict[str, Path]) -> None:
    from tests.test_render import _Resources

    page = editions["quarto_html"].read_text(encoding="utf-8")
    parser = _Resources()
    parser.feed(page)
    external = [f for f in parser.found if not f[2].startswith(("data:", "#"))]
    assert external == [], external[:5]
    assert not re.search(r"""url\(\s*['"]?(https?:)?//""", page)
    assert "MathJax" not in page and "cdn.jsdelivr" not in page
    assert page.count("<math") >= 5
    assert len(page.encode()) <= 1_500_000
    assert '<meta name="description"' in page and 'rel="icon" href="data:' in page
    assert page.count('class="interactive-figure"') == 2 and 'href="#obs-' in page
    assert re.search(r'<tr[^>]* id="ref-1"', page) and 'href="#mark-1"' in page


def test_pdfs_embed_fonts_and_show_hangul(editions: dict[str, Path]) -> None:
    if shutil.which("pdffonts") is None:
        pytest.skip("pdffonts (poppler-utils) is not installed")
    for key in ("pdf", "quarto_pdf"):
        fonts = subprocess.run(
            ["pdffonts", str(editions[key])], capture_output=True, text=True, check=True
        ).stdout
        rows = [line.split() for line in fonts.splitlines()[2:] if line.strip()]
        assert rows and all("yes" in row[-5:-3] for row in rows), fonts  # emb column
        assert "NotoSansKR" in fonts
        assert "고려링크" in pdf_text(editions[key])


def test_page_counts_are_close(editions: dict[str, Path]) -> None:
    if shutil.which("pdfinfo") is None:
        pytest.skip("pdfinfo (poppler-utils) is not installed")

    def pages(pdf: Path) -> int:
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
        return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))

    default, quarto = pages(editions["pdf"]), pages(editions["quarto_pdf"])
    print(f"pages: default {default}, quarto {quarto}")
    assert abs(quarto - default) <= max(2, default // 5), (default, quarto)


def test_quarto_html_opens_offline_in_chromium(
    editions: dict[str, Path], request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    cdp = tb._open_page(request.getfixturevalue("browser"))
    try:
        page = tb.check_page(
            cdp, editions["quarto_html"].as_uri(), 1280, 900, mobile=False, shot=tmp_path / "quarto.png"
        )
    finally:
        cdp.close()
    assert page["requests"] == [], page["requests"]
    assert page["errors"] == [], page["errors"]
    assert page["images"] and all(ok and width > 0 for ok, width, _ in page["images"])
    assert page["overflow"] <= 0


def test_quarto_error_shows_first_error_and_location() -> None:
    output = (
        "[1/1] report.qmd\n"
        "pandoc\n  to: typst\n"
        "error: invalid numbering pattern\n"
        "   ┌─ report.typ:12:28\n"
        "   │\n"
        "12 │ #set heading(numbering: none-pattern)\n"
        "   │                         ^^^^^^^^^^^^\n"
        "   │ ╰─^\n"
        "WARN: something else\n"
    )
    msg = rquarto.quarto_error(output)
    assert msg.splitlines()[0] == "error: invalid numbering pattern"
    assert "report.typ:12:28" in msg and "#set heading" in msg
    assert rquarto.quarto_error(
        "ERROR: YAMLError: bad indentation (report.qmd, 3:5)\nStack trace:\n at x"
    ).startswith("ERROR: YAMLError: bad indentation (report.qmd, 3:5)")


def test_failed_quarto_render_names_the_error_and_keeps_previous_output(tmp_path: Path) -> None:
    """A render that fails (an invalid Typst option) exits 1 with Quarto's first error, and the previous
    outputs are left untouched."""
    project = tmp_path / "p"
    (project / "reports" / "executed").mkdir(parents=True)
    fixtures = Path(__file__).parent / "fixtures" / "render"
    shutil.copyfile(fixtures / "report_fixture.ipynb", project / NOTEBOOK)
    shutil.copyfile(fixtures / "fixture_fig.png", project / "reports" / "executed" / "fixture_fig.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.pdf").write_bytes(b"%PDF previous")
    broken = tmp_path / "_quarto.yml"
    broken.write_text(rquarto.QUARTO_CONFIG.read_text(encoding="utf-8") + "    section-numbering: none\n")
    original = rquarto.QUARTO_CONFIG
    shutil.copyfile(original.parent / "style.typ", tmp_path / "style.typ")
    rquarto.QUARTO_CONFIG = broken
    try:
        with pytest.raises(rcommon.RenderError) as info:
            rquarto.render_quarto(project, formats=("typst",), out_dir=out)
    finally:
        rquarto.QUARTO_CONFIG = original
    message = str(info.value)
    assert "quarto render --to typst failed" in message
    assert "numbering" in message, message
    assert "╰─^" != message.splitlines()[-1].strip()
    assert (out / "report.pdf").read_bytes() == b"%PDF previous"
