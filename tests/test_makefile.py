"""Makefile behaviour that needs no pipeline run: help lists every target, Quarto absent -> exit 2."""

from __future__ import annotations

import re
import shutil

import pytest

from tests.conftest import ROOT, run


def test_help_is_default_and_lists_every_phony_target() -> None:
    res = run(["make"], cwd=ROOT)
    assert res.returncode == 0
    phony = set()
    for line in (ROOT / "Makefile").read_text().splitlines():
        if line.startswith(".PHONY:"):
            phony |= set(line.split(":", 1)[1].split())
    listed = set(re.findall(r"^\s+(?:\x1b\[\d+m)?([a-z-]+)", res.stdout, flags=re.M))
    assert phony - {"quarto-available", "FORCE"} <= listed, sorted(phony - listed)
    for target in (
        "report",
        "test",
        "lab",
        "clean",
        "lint",
        "bench",
        "publish",
        "serve",
        "check",
        "scenarios",
    ):
        assert target in listed, target


@pytest.mark.skipif(shutil.which("quarto") is not None, reason="Quarto is installed here")
def test_quarto_renderer_without_quarto_is_one_line_and_exit_2() -> None:
    res = run(["make", "report", "RENDERER=quarto"], cwd=ROOT)
    assert res.returncode == 2
    lines = [line for line in (res.stdout + res.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and "quarto is not on PATH" in lines[0], lines
