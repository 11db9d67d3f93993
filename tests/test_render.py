"""Tests for helpers.render: self-contained HTML, typeset PDF, atomic writes, CLI errors."""

from __future__ import annotations

import base64
import html.parser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.render import common as rcommon
from helpers.render import html as rhtml
from helpers.render import pdf as rpdf

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "render" / "report_fixture.ipynb"
KOREAN = ("광명", "고려링크")
CODE_MARKERS = ("SECRET_SOURCE_MARKER", "plt.subplots", "pd.DataFrame(")


class _Resources(html.parser.HTMLParser):
    """Collects (tag, attribute, value) for every resource-loading attribute."""

    LOADERS = {
        "script": ("src",),
        "link": ("href",),
        "img": ("src", "srcset"),
        "iframe": ("src",),
        "source": ("src", "srcset"),
        "video": ("src", "poster"),
        "audio": ("src",),
        "embed": ("src",),
        "object": ("data",),
        "image": ("href", "xlink:href"),
        "use": ("href", "xlink:href"),
    }

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str, str]] = []
        self.img_src: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in self.LOADERS.get(tag, ()) and value is not None:
                self.found.append((tag, name, value))
                if tag == "img" and name == "src":
                    self.img_src.append(value)


@pytest.fixture(scope="module")
def html_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("html") / "report.html"
    return rhtml.render_html(FIXTURE, out)


@pytest.fixture(scope="module")
def html_text(html_out: Path) -> str:
    return html_out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def pdf_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pdf") / "report.pdf"
    return rpdf.render_pdf(FIXTURE, out)


def _body(html_text: str) -> str:
    """The page without its <script> blocks (MathJax source is not report content)."""
    return re.sub(r"<script\b.*?</script>", "", html_text, flags=re.S | re.I)


# ------------------------------------------------------------------ HTML


def test_html_loads_no_external_resource(html_text: str) -> None:
    parser = _Resources()
    parser.feed(html_text)
    external = [f for f in parser.found if re.match(r"^\s*(https?:)?//", f[2], re.I)]
    assert external == []
    assert not re.search(r"""url\(\s*['"]?(https?:)?//""", _body(html_text), re.I)
    assert "@import" not in _body(html_text)
    assert "require.js" not in html_text and "cdn.jsdelivr" not in _body(html_text)


def test_html_math_is_mathml_without_script(html_text: str) -> None:
    """Formulas are typeset at build time: MathML in the page, no MathJax, no script at all, TeX kept as the
    annotation (copy-paste), and the page stays small."""
    assert "MathJax" not in html_text and "<script" not in html_text
    maths = re.findall(r"<math\b.*?</math>", html_text, re.S)
    assert len(maths) == 2
    assert 'display="block"' in maths[1] and "<mfrac>" in maths[1]
    assert '<annotation encoding="application/x-tex">e^{-rt}</annotation>' in maths[0]
    assert "$e^{-rt}$" not in html_text and "$$" not in html_text
    assert len(html_text.encode()) < 300_000


def test_html_head_has_description_and_inline_favicon(html_text: str) -> None:
    head = html_text.split("</head>", 1)[0]
    assert re.search(r'<meta name="description" content="[^"]{10,}">', head)
    icons = re.findall(r'<link rel="icon" href="([^"]+)"', head)
    assert len(icons) == 1 and icons[0].startswith("data:image/svg+xml,")
    assert "@media print" in html_text and "nav.toc" in html_text


def test_html_hides_code_and_warnings(html_text: str) -> None:
    for marker in CODE_MARKERS:
        assert marker not in html_text
    assert "noisy library warning" not in html_text
    assert "jp-InputPrompt jp-InputArea-prompt" not in html_text and "jp-InputArea-editor" not in html_text


def test_html_escapes_data_text(html_text: str) -> None:
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html_text
    assert "<script>alert(1)" not in html_text


def test_html_images_are_data_uris(html_text: str) -> None:
    parser = _Resources()
    parser.feed(html_text)
    assert len(parser.img_src) == 3
    for src in parser.img_src:  # lossless WebP when smaller than the PNG, else the PNG
        data = base64.b64decode(src.split(",", 1)[1])
        if src.startswith("data:image/webp;base64,"):
            assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
        else:
            assert src.startswith("data:image/png;base64,") and data[:8] == b"\x89PNG\r\n\x1a\n"


def test_html_structure(html_text: str) -> None:
    assert re.search(r'<meta [^>]*name="viewport"', html_text)
    assert html_text.count("renderer fixture</h1>") == 1  # first H1 became the title, not repeated
    toc = re.search(r'<nav class="toc".*?</nav>', html_text, re.S)
    assert toc is not None
    for anchor in ("Mobile-subscribers", "Data-notes", "Observations", "Conclusion"):
        assert f'href="#{anchor}"' in toc.group(0)
        assert f'id="{anchor}"' in html_text
    assert re.search(
        r'href="#Mobile-subscribers">Mobile subscribers</a><ol><li><a href="#Data-notes"', toc.group(0)
    )
    assert '<span class="caption-label">Figure 1.</span>' in html_text
    assert '<th class="num">Subscribers</th>' in html_text and '<td class="num">2400000</td>' in html_text
    assert "<th>Note</th>" in html_text
    assert 'font-family: "Report Hangul"' in html_text  # embedded Hangul subset
    assert all(word in html_text for word in KOREAN)


def test_html_is_deterministic_and_has_no_absolute_paths(html_text: str) -> None:
    again = rhtml.export_html(FIXTURE)
    assert again == html_text
    for path in {str(FIXTURE.parent), str(Path.cwd()), str(Path.home())} - {"/"}:
        assert path not in html_text


def test_html_inlines_local_images(tmp_path: Path) -> None:
    png = FIXTURE.parent / "report_fixture.ipynb"  # any file: non-images must be left alone
    img_dir = tmp_path / "figs"
    img_dir.mkdir()
    data = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
    (img_dir / "a.png").write_bytes(data)
    body = '<img src="figs/a.png"><img src="https://x.org/b.png"><img src="missing.png">'
    out = rhtml.inline_local_images(body, tmp_path)
    assert f'src="data:image/png;base64,{base64.b64encode(data).decode()}"' in out
    assert 'src="https://x.org/b.png"' in out and 'src="missing.png"' in out
    assert png.is_file()


def test_toc_and_numeric_helpers() -> None:
    body, toc = rhtml.add_toc("<h2>A &amp; B</h2><p>x</p><h3>Sub</h3><h2 id='z'>C</h2>")
    assert 'id="A-B"' in body and 'href="#A-B">A &amp; B</a><ol><li><a href="#Sub">Sub</a>' in toc
    assert toc.count("<ol>") == toc.count("</ol>")
    assert rhtml.add_toc("<h2>Only one</h2>")[1] == ""
    table = (
        "<table><thead><tr><th>k</th><th>v</th></tr></thead><tbody>"
        "<tr><td>a</td><td>1,200.5</td></tr><tr><td>b</td><td>NaN</td></tr><tr><td>c</td><td>-3%</td></tr>"
        "</tbody></table>"
    )
    marked = rhtml.mark_numeric_cells(table)
    assert '<th class="num">v</th>' in marked and "<th>k</th>" in marked
    assert '<td class="num">1,200.5</td>' in marked and '<td class="num">NaN</td>' in marked
    assert "<td>a</td>" in marked


# ------------------------------------------------------------------ PDF


def _pdftotext(pdf: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    return subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout


def test_pdf_is_a_pdf_with_pages(pdf_out: Path) -> None:
    data = pdf_out.read_bytes()
    assert data.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type\s*/Page\b", data)) >= 1
    if shutil.which("pdfinfo"):
        info = subprocess.run(["pdfinfo", str(pdf_out)], capture_output=True, text=True).stdout
        pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
        assert 1 <= pages <= 4
        assert "renderer fixture" in info  # document title metadata


def test_pdf_text_has_table_rows_korean_and_no_code(pdf_out: Path) -> None:
    text = _pdftotext(pdf_out)
    lines = text.splitlines()
    header = [ln for ln in lines if all(w in ln for w in ("Year", "Subscribers", "Operator", "Note"))]
    assert header, "DataFrame header words are not on one line (table scattered?)"
    assert any(re.search(r"2013\s+2400000\s+고려링크\s+<script>alert\(1\)</script>", ln) for ln in lines)
    for word in KOREAN:
        assert word in text
    assert "Figure 1. Mobile subscriptions" in text
    for marker in CODE_MARKERS:
        assert marker not in text
    assert "noisy library warning" not in text
    assert not re.search(r"(?m)^\s*png\s*$", text)  # no implicit-figure "png" captions


def test_pdf_embeds_fonts(pdf_out: Path) -> None:
    if shutil.which("pdffonts") is None:
        pytest.skip("pdffonts (poppler-utils) is not installed")
    out = subprocess.run(["pdffonts", str(pdf_out)], capture_output=True, text=True, check=True).stdout
    rows = out.splitlines()[2:]
    assert rows and all(" yes " in row for row in rows), out  # every font embedded
    assert any("NotoSansKR" in row for row in rows), out


def test_typst_source_has_real_table(tmp_path: Path) -> None:
    typ = rpdf.render_typst_source(FIXTURE, tmp_path / "build").read_text(encoding="utf-8")
    assert "table.header(" in typ
    assert "[2013], [2400000]" in typ
    assert "align: (right,right,right,left,left,)" in typ
    assert str(FIXTURE.parent) not in typ and "/tmp" not in typ


# ------------------------------------------------------------------ atomic writes and CLI


def test_failed_render_keeps_previous_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out_html = tmp_path / "report.html"
    out_pdf = tmp_path / "report.pdf"
    out_html.write_text("previous html")
    out_pdf.write_bytes(b"previous pdf")
    with pytest.raises(rcommon.RenderError, match="read notebook"):
        rhtml.render_html(tmp_path / "missing.ipynb", out_html)

    def broken_compile(typ: Path, pdf: Path) -> None:
        pdf.write_bytes(b"%PDF-partial")  # a half-written file must never replace the old one
        raise rcommon.RenderError("typst compile", "simulated failure")

    monkeypatch.setattr(rpdf, "compile_typst", broken_compile)
    with pytest.raises(rcommon.RenderError, match="typst compile"):
        rpdf.render_pdf(FIXTURE, out_pdf)
    assert out_html.read_text() == "previous html"
    assert out_pdf.read_bytes() == b"previous pdf"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report.pdf"]  # no temp left


def test_cli_reports_one_line_and_exits_1(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(rcommon.__file__).resolve().parents[2])}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "helpers.render",
            "html",
            str(tmp_path / "nope.ipynb"),
            str(tmp_path / "o.html"),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0
    assert proc.stderr.startswith("render html: read notebook failed: no such file")
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "o.html").exists()
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{not json")
    proc = subprocess.run(
        [sys.executable, "-m", "helpers.render", "pdf", str(bad), str(tmp_path / "o.pdf")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 1 and proc.stderr.startswith("render pdf: read notebook failed")
    assert "Traceback" not in proc.stderr


def test_pdf_long_table_repeats_header_and_needs_no_images(tmp_path: Path) -> None:
    import nbformat
    import pandas as pd

    df = pd.DataFrame({"Year": range(1900, 2020), "Value": [i * 1.5 for i in range(120)]})
    df["Label"] = [f"row {i}" for i in range(120)]
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("# Long table\n\n## Data"))
    cell = nbformat.v4.new_code_cell("df")
    cell.outputs = [
        nbformat.v4.new_output(
            "execute_result", data={"text/html": df.to_html(), "text/plain": "df"}, execution_count=1
        )
    ]
    nb.cells.append(cell)
    src = tmp_path / "long.ipynb"
    nbformat.write(nb, src)
    pdf = rpdf.render_pdf(src, tmp_path / "long.pdf")
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    pages = _pdftotext(pdf).split("\f")
    pages = [p for p in pages if p.strip()]
    assert len(pages) >= 2
    for page in pages:  # the header row is repeated on every page the table spans
        assert re.search(r"Year\s+Value\s+Label", page), page[:200]
    assert "2019" in pages[-1] and "row 119" in pages[-1]


@pytest.mark.parametrize(
    ("text", "noise"),
    [
        ("<Figure size 640x480 with 1 Axes>", True),
        ("[<matplotlib.lines.Line2D at 0x7f0c2a>, <matplotlib.lines.Line2D at 0x7f0c2b>]", True),
        ("Text(0.5, 1.0, 'Mobile subscriptions')", True),
        ("42", False),
        ("   param  value\n0  K  7.0e6", False),
    ],
)
def test_matplotlib_reprs_are_dropped(text: str, noise: bool) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": text}, execution_count=1)]
    nb.cells.append(cell)
    cleaned, _ = rcommon.prepare_notebook(nb)
    assert (cleaned.cells[0].outputs == []) is noise
    assert len(nb.cells[0].outputs) == 1  # the input notebook is not modified


# ------------------------------------------------------------------ captions, superscripts, title block


def _report_like_notebook(tmp_path: Path, *, params: dict | None = None) -> Path:
    """A notebook shaped like notebook 04: literal H1, papermill parameters, front matter from code, an
    image output followed by its "**Figure 1.**" caption, a "**Table 1.**" caption before a table."""
    import nbformat

    png = base64.b64encode((FIXTURE.parent / "fixture_fig.png").read_bytes()).decode()
    table = (
        "<table><thead><tr><th>file</th><th>n</th></tr></thead><tbody>"
        + "".join(
            f"<tr><td>data/external/a_very_long_file_name_{i}.csv</td><td>{i}</td></tr>" for i in range(3)
        )
        + "</tbody></table>"
    )
    nb = nbformat.v4.new_notebook()
    if params is not None:
        nb.metadata["papermill"] = {"parameters": params}
    md = nbformat.v4.new_markdown_cell
    nb.cells = [md("# Mobile telephony"), nbformat.v4.new_code_cell("front"), md("## Abstract"),
                nbformat.v4.new_code_cell("body"), md("## Data\n\nMore text.")]  # fmt: skip
    out = nbformat.v4.new_output
    nb.cells[1].outputs = [
        out(
            "display_data",
            {"text/markdown": "*Subscriptions and saturation*  \nBuilt 1 May 2026 from `abc1`."},
        )
    ]
    nb.cells[3].outputs = [
        out(
            "display_data", {"text/markdown": "ITU counted 6.35<sup>[1]</sup> million in 2022<sup>[2]</sup>."}
        ),
        out("display_data", {"image/png": png, "text/plain": "<Image>"}),
        out("display_data", {"text/markdown": "**Figure 1.** Subscriptions by year, with $x^2$ math."}),
        out("display_data", {"text/markdown": "**Table 1.** Files read."}),
        out("display_data", {"text/html": table, "text/plain": "<HTML>"}),
    ]
    path = tmp_path / "like04.ipynb"
    nbformat.write(nb, path)
    return path


def test_reference_marks_are_superscripts(tmp_path: Path) -> None:
    src = _report_like_notebook(tmp_path)
    page = rhtml.export_html(src)
    assert "6.35<sup>[1]</sup> million in 2022<sup>[2]</sup>." in page
    assert "<sup></sup>" not in page
    typ = rpdf.render_typst_source(src, tmp_path / "build").read_text(encoding="utf-8")
    assert "6.35#super[\\[1\\]] million in 2022#super[\\[2\\]]." in typ
    assert "<sup>" not in typ


def test_title_block_falls_back_to_papermill_parameters(tmp_path: Path) -> None:
    params = {"subtitle": "Subscriptions and saturation", "date": "2026-05-01", "in_x": "a.csv"}
    src = _report_like_notebook(tmp_path, params=params)
    _, meta = rcommon.prepare_notebook(rcommon.read_notebook(src))
    assert meta["title"] == "Mobile telephony"
    assert meta["subtitle"] == "Subscriptions and saturation" and meta["date"] == "2026-05-01"
    assert meta["byline"] == "Built 1 May 2026 from `abc1`."  # the repeated subtitle line is dropped
    page = rhtml.export_html(src)
    header = page.split("<header", 1)[1].split("</header>", 1)[0]
    assert '<p class="report-subtitle">Subscriptions and saturation</p>' in header
    assert "<time>2026-05-01</time>" in header and "<code>abc1</code>" in header
    body = page.split("<main", 1)[1]
    assert "Subscriptions and saturation" not in body and "Built 1 May" not in body
    assert "<title>Mobile telephony</title>" in page
    typ = rpdf.render_typst_source(src, tmp_path / "build").read_text(encoding="utf-8")
    title_block, rest = typ.split("#outline(", 1) if "#outline(" in typ else typ.split("Abstract", 1)
    assert "Subscriptions and saturation" in title_block and "Built 1 May 2026" in title_block
    assert "Built 1 May" not in rest and "2026-05-01" in title_block


def test_title_block_without_parameters(tmp_path: Path) -> None:
    src = _report_like_notebook(tmp_path)
    _, meta = rcommon.prepare_notebook(rcommon.read_notebook(src))
    assert meta["subtitle"] is None and meta["date"] is None
    # no known subtitle: the whole front matter (italic line included) goes to the title block
    assert meta["byline"].startswith("*Subscriptions and saturation*")
    fixture_meta = rcommon.prepare_notebook(rcommon.read_notebook(FIXTURE))[1]
    assert fixture_meta["byline"] is None  # its title cell goes on with body text
    assert fixture_meta["subtitle"] == "Test notebook for helpers.render"


def test_image_and_caption_outputs_become_one_figure(tmp_path: Path) -> None:
    src = _report_like_notebook(tmp_path)
    page = rhtml.export_html(src)
    fig = re.search(r"<figure\b.*?</figure>", page.split("<main", 1)[1], re.S)
    assert fig is not None
    assert re.search(
        r'<img (?:width="\d+" height="\d+" )?alt="Figure 1\. Subscriptions by year[^"]*" '
        r'src="data:image/webp;base64,',
        fig.group(0),
    )
    assert (
        '<figcaption class="jp-RenderedMarkdown"><span class="caption-label">Figure 1.</span>' in fig.group(0)
    )
    assert "<math" in fig.group(0) and "<msup>" in fig.group(0)  # caption math is MathML too
    assert "No description has been provided" not in page
    typ = rpdf.render_typst_source(src, tmp_path / "build").read_text(encoding="utf-8")
    assert re.search(
        r'#figure\(image\("img-[0-9a-f]+\.png"[^)]*\),\s*caption: \[\s*#strong\[Figure 1\.\]', typ
    )
    assert '"png"' not in typ


def test_table_caption_output_joins_its_table(tmp_path: Path) -> None:
    src = _report_like_notebook(tmp_path)
    page = rhtml.export_html(src)
    assert re.search(
        r'<table\b[^>]*><caption><span class="caption-label">Table 1\.</span> Files read\.</caption>', page
    )
    assert page.count("Files read.") == 1
    assert '<td class="long-words">data/external/a_very_long_file_name_0.csv</td>' in page
    assert '<td class="num">0</td>' in page
    typ = rpdf.render_typst_source(src, tmp_path / "build").read_text(encoding="utf-8")
    assert re.search(
        r"#figure\(\s*align\(center\)\[#table\(.*?caption: \[\s*#strong\[Table 1\.\] Files read\.", typ, re.S
    )


def test_real_report_html_when_built() -> None:
    """The committed-pipeline report (``make report``): images embedded, no raw reference tags."""
    page_path = Path(__file__).resolve().parents[1] / "reports" / "report.html"
    if not page_path.is_file():
        pytest.skip("reports/report.html not built")
    text = page_path.read_text(encoding="utf-8")
    parser = _Resources()
    parser.feed(text)
    assert parser.img_src and all(src.startswith("data:image/") for src in parser.img_src)
    assert "<sup></sup>" not in text and "&lt;sup&gt;" not in text
