"""Every `{{< embed notebook#label >}}` in report.qmd names a notebook and a cell label that exist.

This runs without Quarto (a broken label would otherwise only show where Quarto is installed).
"""

from __future__ import annotations

import re

import nbformat
import pytest

from tests.conftest import ROOT

EMBEDS = re.findall(
    r"\{\{< embed reports/executed/(\S+?\.ipynb)#(\S+) >\}\}", (ROOT / "report.qmd").read_text()
)


def _labels(notebook: str) -> set[str]:
    nb = nbformat.read(ROOT / "notebooks" / notebook, as_version=4)
    found = set()
    for cell in nb.cells:
        m = re.match(r"#\| label: (\S+)", cell.source)
        if m:
            found.add(m.group(1))
    return found


def test_there_are_embeds() -> None:
    assert len(EMBEDS) >= 10


@pytest.mark.parametrize(("notebook", "label"), EMBEDS, ids=[f"{n}#{lab}" for n, lab in EMBEDS])
def test_embed_resolves(notebook: str, label: str) -> None:
    assert label in _labels(notebook), f"report.qmd embeds {notebook}#{label}, which has no such cell label"
