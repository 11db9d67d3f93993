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


def test_check_is_one_process_with_each_checks_messages_and_stops_at_the_first_failure(tmp_path) -> None:
    """`make check` and the build's validation: helpers.data.check runs the observations, events and external
    checks in turn (one Python process), with their messages and exit codes."""
    import sys

    res = run(["make", "check"], cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert [ln.split(":")[0] for ln in res.stdout.splitlines()] == ["OK", "OK", "OK"], res.stdout
    assert "observations" in res.stdout and "glossary" in res.stdout and "SHA256SUMS" in res.stdout
    bad = tmp_path / "observations.csv"
    lines = (ROOT / "data" / "raw" / "observations.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    bad.write_text("".join(lines[:2] + [lines[2].replace(",", ",,", 1)] + lines[3:]), encoding="utf-8")
    res = run([sys.executable, "-m", "helpers.data.check", "--observations", str(bad)], cwd=ROOT)
    assert res.returncode == 1, res.stdout + res.stderr
    assert re.search(r"observations\.csv:3: ", res.stderr), res.stderr
    assert "OK" not in res.stdout  # stopped at the observations, as the && chain did
    res = run([sys.executable, "-m", "helpers.data.check", "--no-such-option"], cwd=ROOT)
    assert res.returncode == 2
