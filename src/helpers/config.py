"""Project paths, all built from the project root.

The root is found by walking up from this file (editable install) or from the
current directory until ``pyproject.toml`` is found; ``NKT_ROOT`` overrides it
(the pipeline test uses that to run a temporary copy of the project).
"""

from __future__ import annotations

import os
from pathlib import Path


def find_root(start: Path | None = None) -> Path:
    """Return the project root: ``$NKT_ROOT`` or the nearest parent holding ``pyproject.toml``."""
    env = os.environ.get("NKT_ROOT")
    if env:
        return Path(env).resolve()
    for base in (start or Path.cwd(), Path(__file__).resolve()):
        for parent in (base, *base.parents):
            if (parent / "pyproject.toml").is_file() and (parent / "src" / "helpers").is_dir():
                return parent
    raise FileNotFoundError("cannot find the project root (no pyproject.toml above the current directory)")


ROOT: Path = find_root()

DATA = ROOT / "data"
SOURCES = DATA / "sources"  # the five source documents, unchanged, + sources.csv
RAW = DATA / "raw"  # hand-curated observations (never written by the pipeline)
EXTERNAL = DATA / "external"  # ITU / WB / Gapminder / OWID files, byte-for-byte
PROCESSED = DATA / "processed"  # pipeline products (deterministic)

NOTEBOOKS = ROOT / "notebooks"
PARAMS = ROOT / "params"
REPORTS = ROOT / "reports"
EXECUTED = REPORTS / "executed"  # papermill output notebooks (build products)
FIGURES = REPORTS / "figures"

OBSERVATIONS_CSV = RAW / "observations.csv"
SOURCES_CSV = SOURCES / "sources.csv"

KERNEL_NAME = "nk-telecom"


def rel(path: Path | str) -> str:
    """Path relative to the project root, with forward slashes (for data products: no absolute paths)."""
    p = Path(path).resolve()
    try:
        return p.relative_to(ROOT).as_posix()
    except ValueError:
        return p.as_posix()
