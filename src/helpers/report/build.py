"""Build metadata for the report's appendix (commit, package versions, SHA-256 of the inputs) and the live refit
of the NIST certified problems that Section 3.4 reports."""

from __future__ import annotations

import hashlib
import importlib.metadata
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from helpers import config
from helpers.models import nist

KEY_PACKAGES = (
    "numpy", "pandas", "scipy", "matplotlib", "seaborn", "pandera", "papermill", "nbconvert",
    "jupytext", "pypandoc-binary", "typst", "joblib", "dask",
)  # fmt: skip


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def data_hashes(paths: Iterable[Path | str], split: bool = False) -> pd.DataFrame:
    """File, size and SHA-256 of each input the report was built from (paths relative to the root).

    ``split=True`` writes the hash in four groups of 16 hexadecimal digits separated by spaces, so a narrow
    page can wrap it.
    """
    rows = []
    for p in paths:
        path = config.ROOT / p if not Path(p).is_absolute() else Path(p)
        digest = sha256(path)
        rows.append(
            {
                "file": config.rel(path),
                "bytes": f"{path.stat().st_size:,}",
                "sha256": " ".join(digest[i : i + 16] for i in range(0, 64, 16)) if split else digest,
            }
        )
    return pd.DataFrame(rows)


def package_versions(names: Iterable[str] = KEY_PACKAGES) -> pd.DataFrame:
    """Python and the installed versions of the packages that shape the results."""
    import platform

    rows = [{"package": "python", "version": platform.python_version()}]
    for name in names:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            version = "not installed"
        rows.append({"package": name, "version": version})
    return pd.DataFrame(rows)


def git_commit(root: Path | None = None) -> str:
    """The commit the report was built from, with ``+dirty`` when tracked files differ; ``unknown`` outside git."""
    root = root or config.ROOT
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return commit + ("+dirty" if dirty else "")


NIST_TOLERANCES = {"parameters": 1e-6, "standard errors": 1e-5, "residual sum of squares": 1e-8}


NIST_CASES = (("Rat42", "logistic"), ("Rat43", "richards"))


def nist_comparison(nist_dir: Path | str) -> pd.DataFrame:
    """Fit NIST StRD Rat42 (logistic) and Rat43 (Richards) from both NIST starts and the self-start.

    Returns one row per problem and start: ``problem, model, start, n, converged`` and the largest relative
    deviation from the certified parameters, standard errors and residual sum of squares, with ``pass``
    against :data:`NIST_TOLERANCES` (the bars of ``tests/test_growth_nist.py``).
    """
    import json

    from helpers.models import growth

    nist_dir = Path(nist_dir)
    cert_all = json.loads((nist_dir / "certified.json").read_text(encoding="utf-8"))
    rows = []
    for problem, model in NIST_CASES:
        cert = cert_all[problem]
        d = pd.read_csv(nist_dir / f"{problem.lower()}.csv")
        for start in ("start1", "start2", None):
            p0 = nist.from_b(cert[start]) if start else None
            res = growth.fit(model, d["x"], d["y"], p0=p0)
            b, se = nist.to_b(res)
            dev_p = max(abs(b[k] / v - 1) for k, v in cert["estimate"].items())
            dev_se = max(abs(se[k] / v - 1) for k, v in cert["stderr"].items())
            dev_rss = abs(res.rss / cert["rss"] - 1)
            ok = (
                res.converged
                and dev_p < NIST_TOLERANCES["parameters"]
                and dev_se < NIST_TOLERANCES["standard errors"]
                and dev_rss < NIST_TOLERANCES["residual sum of squares"]
            )
            rows.append(
                {
                    "problem": problem,
                    "model": model,
                    "start": {"start1": "NIST start 1", "start2": "NIST start 2", None: "self-starting"}[
                        start
                    ],
                    "n": res.n,
                    "converged": bool(res.converged),
                    "max rel. dev. parameters": dev_p,
                    "max rel. dev. std. errors": dev_se,
                    "rel. dev. RSS": dev_rss,
                    "pass": bool(ok),
                }
            )
    return pd.DataFrame(rows)
