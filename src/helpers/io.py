"""Reading and writing files: one convention for every product, and checks on the inputs.

Writers (every product of the pipeline goes through one of them):

- :func:`write_csv` -- no index, ``\\n`` line ends, UTF-8, a fixed float format;
- :func:`write_json` -- indented UTF-8 JSON, NaN/inf refused or written as ``null`` (``digits``);
- :func:`write_text` and :func:`savefig` -- text and deterministic PNG figures.

Each writes to a temporary file next to the target and renames it into place, so a reader (or an interrupted
run) never sees half a file, and equal content gives equal bytes.

Inputs:

- :func:`verify_sha256` -- a file against the digest recorded in ``data/SHA256SUMS`` (the external files and
  source documents are byte-for-byte copies; anything else -- a truncated download, an HTML error page saved
  in place of a CSV -- is refused with the expected and actual digest and what to do);
- :func:`sniff_html` -- whether a file that should be a CSV is in fact an HTML page.

Text that comes from the data must never be read as markup: :func:`mathtext_escape` makes a label safe for
matplotlib (``$...$`` would otherwise be typeset as math, or crash on bad TeX).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from helpers import config

__all__ = [
    "ChecksumError",
    "atomic_path",
    "mathtext_escape",
    "read_sha256sums",
    "savefig",
    "sha256_file",
    "sniff_html",
    "verify_sha256",
    "write_csv",
    "write_json",
    "write_text",
]

#: Float format of product CSVs unless a caller asks for another one.
CSV_FLOAT_FORMAT = "%.10g"


# ------------------------------------------------------------------------------------------------ writing
@contextmanager
def atomic_path(path: Path | str, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success it is renamed to ``path`` (atomic on POSIX).

    On an exception the temporary file is removed and ``path`` is left exactly as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix + ".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(text: str, path: Path | str) -> Path:
    """Write ``text`` as UTF-8 atomically; returns ``path``."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_csv(df: pd.DataFrame, path: Path | str, *, float_format: str = CSV_FLOAT_FORMAT) -> Path:
    """Write a product CSV deterministically: no index, ``float_format`` floats, ``\\n`` line ends, UTF-8.

    Returns ``path``. The file appears complete or not at all (see :func:`atomic_path`).
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format=float_format, lineterminator="\n", encoding="utf-8")
    return path


def _jsonable(x: Any, digits: int | None) -> Any:
    """Plain JSON types; numpy scalars converted, non-finite floats -> None, floats rounded to ``digits``."""
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v, digits) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v, digits) for v in x]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return None if not math.isfinite(float(x)) else round(float(x), digits)
    if x is pd.NA or x is None:
        return None
    return x


def write_json(
    obj: Mapping[str, Any] | list, path: Path | str, *, digits: int | None = None, sort_keys: bool = False
) -> Path:
    """Write ``obj`` as indented UTF-8 JSON with a final newline; returns ``path``.

    ``digits=None`` writes the data as given and refuses NaN/inf (``ValueError``: a summary must not hide a
    missing number); with ``digits`` floats are rounded to that many decimals and NaN/inf become ``null``.
    ``sort_keys=False`` keeps the dict order (the order is then the schema).
    """
    data = obj if digits is None else _jsonable(obj, digits)
    text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False, sort_keys=sort_keys) + "\n"
    return write_text(text, path)


def savefig(fig: Any, path: Path | str) -> Path:
    """Save a matplotlib figure as PNG without timestamps or software tags (equal figures, equal bytes)."""
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight", metadata={"Software": None})
    return path


# ------------------------------------------------------------------------------------------------ checking
SHA256SUMS_NAME = "SHA256SUMS"


class ChecksumError(ValueError):
    """A file differs from the digest recorded in ``data/SHA256SUMS``."""


def sha256_file(path: Path | str) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_sha256sums(sums: Path | str) -> dict[str, str]:
    """``sha256sum``-format file as ``{relative path: digest}`` (paths relative to the file's folder).

    Raises ``ValueError`` naming the line when a line is not ``<64 hex digits>  <path>``.
    """
    sums = Path(sums)
    out: dict[str, str] = {}
    for n, line in enumerate(sums.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        digest = parts[0].lower()
        if len(parts) != 2 or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"{config.rel(sums)}:{n}: expected '<sha256 hex>  <path>', found {line!r}")
        out[parts[1].strip().lstrip("*")] = digest
    return out


def verify_sha256(path: Path | str, sums: Path | str | None = None) -> bool:
    """Check ``path`` against its digest in ``sums`` (default ``data/SHA256SUMS`` of the project).

    Returns True when the file is listed and matches, False when it is not listed (nothing to check).
    Raises :class:`ChecksumError` naming the file, the expected and the actual digest, and what to do.
    """
    path = Path(path).resolve()
    sums = Path(sums) if sums is not None else config.DATA / SHA256SUMS_NAME
    if not sums.is_file():
        return False
    base = sums.resolve().parent
    try:
        key = path.relative_to(base).as_posix()
    except ValueError:
        return False
    expected = read_sha256sums(sums).get(key)
    if expected is None:
        return False
    actual = sha256_file(path)
    if actual != expected:
        shown, listed = config.rel(path), config.rel(sums)
        what = "an HTML page, " if sniff_html(path) else ""
        raise ChecksumError(
            f"{shown}: content differs from the copy recorded in {listed} ({what}SHA-256 {actual}, "
            f"expected {expected}). The file was changed, truncated or replaced: restore it with "
            f"`git checkout -- {shown}`; if you replaced it on purpose, record the new digest in {listed} "
            f"(`cd {config.rel(base)} && sha256sum {key}`) and its origin in PROVENANCE.md."
        )
    return True


def sniff_html(path: Path | str | IO[bytes]) -> bool:
    """True when the file starts (after whitespace / a BOM) like an HTML or XML page."""
    if isinstance(path, (str, Path)):
        with open(path, "rb") as fh:
            head = fh.read(512)
    else:
        head = path.read(512)
    head = head.lstrip(b"\xef\xbb\xbf").lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body"))


# ------------------------------------------------------------------------------------------------ text
def mathtext_escape(text: object) -> str:
    """A data-derived string made literal for matplotlib: every ``$`` escaped, so no mathtext is parsed.

    >>> mathtext_escape("costs $5 to $10")
    'costs \\\\$5 to \\\\$10'
    """
    return str(text).replace("$", r"\$")
