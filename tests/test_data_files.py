"""Copied source documents and external data are unchanged (hashes recorded when they were copied)."""

from __future__ import annotations

import hashlib

import pytest

from tests.conftest import ROOT

DATA = ROOT / "data"
RECORDED = [line.split(maxsplit=1) for line in (DATA / "SHA256SUMS").read_text().splitlines() if line.strip()]


@pytest.mark.parametrize(("digest", "name"), RECORDED, ids=[n for _, n in RECORDED])
def test_copy_is_unchanged(digest: str, name: str) -> None:
    assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest, f"data/{name} was modified"


def test_every_copied_file_is_recorded() -> None:
    recorded = {n for _, n in RECORDED}
    on_disk = {p.relative_to(DATA).as_posix() for p in (DATA / "sources").glob("*.txt")}
    on_disk |= {p.relative_to(DATA).as_posix() for p in (DATA / "external").iterdir() if p.is_file()}
    assert on_disk == recorded
