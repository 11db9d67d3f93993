"""Tests for helpers.report.html: reference marks link to Appendix A and back, observation rows get anchors,
TeX becomes MathML. Small hand-written pages, so each property is checked in isolation."""

from __future__ import annotations

import re

from helpers.report import html as rh

REGISTER = """
<table><caption>Register.</caption>
<thead><tr><th>ref</th><th>quantity</th><th>value in text</th><th>origin</th><th>how it was obtained</th></tr></thead>
<tbody>
<tr><td class="num">1</td><td>ITU subscriptions 2022</td><td>6.35</td><td>ITU via World Bank WDI</td><td>itu_prk.csv, year 2022</td></tr>
<tr><td class="num">2</td><td>year of the ITU figure</td><td>2022</td><td>ITU &amp; co</td><td></td></tr>
<tr><td class="num">3</td><td>never quoted</td><td>7</td><td>x</td><td>y</td></tr>
</tbody></table>
"""

PAGE = (
    "<html><head><title>t</title></head><body><main>"
    "<p>6.35<sup>[1]</sup> million in 2022<sup>[2]</sup>; again 6.35<sup>[1]</sup>; unknown<sup>[9]</sup>.</p>"
    + REGISTER
    + "</main></body></html>"
)


def test_marks_link_to_their_register_row_with_origin_and_back() -> None:
    out = rh.link_reference_marks(PAGE)
    # every known mark is a link to its row, with the origin in a tooltip tied to it by aria-describedby
    links = re.findall(r'<a class="ref" id="([^"]+)" href="#ref-(\d+)" aria-describedby="tip-\1">', out)
    assert links == [("mark-1", "1"), ("mark-2", "2"), ("mark-1-2", "1")]
    tip = re.search(r'<span class="ref-tip" role="tooltip" id="tip-mark-2">([^<]*)</span>', out)
    assert tip is not None and tip.group(1) == "year of the ITU figure: 2022 (ITU &amp; co)"
    assert "ITU via World Bank WDI; itu_prk.csv, year 2022" in out
    # each target row exists exactly once; row 1 links back to both marks, row 3 (never quoted) to none
    for n in (1, 2, 3):
        assert out.count(f'id="ref-{n}"') == 1
    row1 = re.search(r'<tr id="ref-1">.*?</tr>', out, re.S)
    assert row1 is not None
    assert re.findall(r'class="ref-back" href="#([^"]+)"', row1.group(0)) == ["mark-1", "mark-1-2"]
    assert "ref-back" not in re.search(r'<tr id="ref-3">.*?</tr>', out, re.S).group(0)
    # a mark with no register row stays a plain superscript
    assert "unknown<sup>[9]</sup>" in out


def test_page_without_register_is_unchanged() -> None:
    page = "<p>6.35<sup>[1]</sup></p>"
    assert rh.link_reference_marks(page) == page


def test_tooltip_shows_on_hover_and_keyboard_focus_without_script() -> None:
    css = rh.CSS
    assert "a.ref:hover .ref-tip" in css and "a.ref:focus .ref-tip" in css
    assert "display: none" in css.split("a.ref:hover")[0]  # hidden until hovered or focused
    head = rh.head_extras("A report")
    assert "<script" not in head


def test_observation_rows_get_anchors() -> None:
    page = (
        "<table><thead><tr><th>id</th><th>date in the source</th><th>value</th></tr></thead><tbody>"
        "<tr><td>000-001</td><td>in 2016</td><td>28</td></tr><tr><td>003-010</td><td>2019</td><td>6</td></tr>"
        "</tbody></table><table><thead><tr><th>id</th><th>other</th></tr></thead>"
        "<tbody><tr><td>x</td><td>y</td></tr></tbody></table>"
    )
    out = rh.anchor_observation_rows(page)
    assert re.findall(r'<tr id="([^"]+)">', out) == ["obs-000-001", "obs-003-010"]


def test_math_becomes_mathml_only_in_markdown() -> None:
    page = (
        '<div class="jp-Cell"><div class="jp-RenderedMarkdown"><p>rate $e^{-rt}$ and</p>'
        "<p>$$N(t) = \\frac{K}{1 + e^{-r t}}$$</p></div></div>"
        '<div class="jp-Cell"><div class="jp-OutputArea-child"><div class="jp-RenderedHTML">'
        "<table><tr><td>$5 and $6</td></tr></table></div></div></div></main>"
    )
    out = rh.math_to_mathml(page)
    assert out.count("<math") == 2 and "<mfrac>" in out
    assert "<td>$5 and $6</td>" in out  # prices in a table are not math
    assert "$e^{-rt}$" not in out


def test_add_head_extras_replaces_existing_favicon_and_description() -> None:
    page = (
        '<html><head><link rel="icon" href="favicon.ico"><meta name="description" content="x"></head></html>'
    )
    out = rh.add_head_extras(page, "Mobile telephony in North Korea")
    assert "favicon.ico" not in out and out.count('rel="icon"') == 1
    assert out.count('name="description"') == 1 and 'content="Mobile telephony in North Korea"' in out
