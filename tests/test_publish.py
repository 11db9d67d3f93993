"""Tests for helpers.pipeline.publish.build_site and the optional Quarto entry point of helpers.render."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.pipeline import publish
from helpers.render import common as rcommon
from helpers.render import quarto as rquarto


@pytest.fixture()
def inputs(tmp_path: Path) -> dict[str, Path]:
    reports = tmp_path / "reports"
    processed = tmp_path / "processed"
    params = tmp_path / "params"
    for d in (reports, processed, params):
        d.mkdir()
    (reports / "report.html").write_text(
        "<html><body><main><h1>R</h1></main></body></html>", encoding="utf-8"
    )
    (reports / "report.pdf").write_bytes(b"%PDF-1.7 fake")
    (processed / "itu_prk.csv").write_text(
        "year,subscriptions,note\n2009,69261,\n2010,,ITU\n", encoding="utf-8"
    )
    (processed / "peers.csv").write_text("iso3,per100\nPRK,24.13\nKOR,172.5\n", encoding="utf-8")
    (params / "01_clean.yaml").write_text("in_x: a.csv\nout_series: data/processed/itu_prk.csv\n")
    return {
        "report_html": reports / "report.html",
        "report_pdf": reports / "report.pdf",
        "processed": processed,
        "params": params,
    }


def test_build_site_contents(tmp_path: Path, inputs: dict[str, Path]) -> None:
    site = publish.build_site(tmp_path / "site", **inputs)
    names = sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file())
    assert names == ["data/README.md", "data/itu_prk.csv", "data/peers.csv", "index.html", "report.pdf"]
    assert (site / "data" / "itu_prk.csv").read_bytes() == (inputs["processed"] / "itu_prk.csv").read_bytes()
    assert (site / "report.pdf").read_bytes() == b"%PDF-1.7 fake"
    index = (site / "index.html").read_text(encoding="utf-8")
    assert '<a href="report.pdf">' in index and '<a href="data/peers.csv">' in index
    assert index.index('id="downloads"') < index.index("</main>")
    readme = (site / "data" / "README.md").read_text(encoding="utf-8")
    assert "## `itu_prk.csv`" in readme and "produced by: `notebooks/01_clean.ipynb`" in readme
    assert "| `subscriptions` | integer | 1 |" in readme and "| `note` | text | 1 |" in readme
    assert "| `per100` | number | 0 |" in readme and "produced by: `unknown step`" in readme
    assert str(tmp_path) not in readme + index


def test_build_site_is_deterministic_and_replaces_old(tmp_path: Path, inputs: dict[str, Path]) -> None:
    site = publish.build_site(tmp_path / "site", **inputs)
    first = {p.relative_to(site): p.read_bytes() for p in site.rglob("*") if p.is_file()}
    (site / "stale.txt").write_text("from an older build")
    publish.build_site(tmp_path / "site", **inputs)
    second = {p.relative_to(site): p.read_bytes() for p in site.rglob("*") if p.is_file()}
    assert first == second  # identical, and the stale file is gone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params", "processed", "reports", "site"]


def test_build_site_failure_keeps_previous_site(tmp_path: Path, inputs: dict[str, Path]) -> None:
    site = publish.build_site(tmp_path / "site", **inputs)
    inputs["report_pdf"].unlink()
    with pytest.raises(publish.PublishError, match="report.pdf"):
        publish.build_site(site, **inputs)
    assert (site / "report.pdf").read_bytes() == b"%PDF-1.7 fake"


def _env_without_quarto(tmp_path: Path) -> dict[str, str]:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(sys.executable, bindir / "python")
    return {**os.environ, "PATH": str(bindir), "PYTHONPATH": str(Path(rcommon.__file__).resolve().parents[2])}


def test_quarto_cli_exits_2_with_one_line_when_missing(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "helpers.render", "quarto"],
        capture_output=True,
        text=True,
        env=_env_without_quarto(tmp_path),
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("render quarto: quarto is not on PATH")


def test_quarto_available_follows_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert rquarto.quarto_available() is False and rquarto.quarto_version() is None
    fake = tmp_path / "quarto"
    fake.write_text("#!/bin/sh\necho 1.3.450\n")
    fake.chmod(0o755)
    assert rquarto.quarto_available() is True and rquarto.quarto_version() == (1, 3, 450)
    with pytest.raises(rquarto.QuartoUnavailable, match="too old"):
        rquarto.render_quarto(tmp_path)
