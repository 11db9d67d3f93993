"""Assemble a static site from the built report: ``site/index.html`` (the HTML report), ``report.pdf``,
the cleaned CSVs of ``data/processed/`` under ``data/`` and a ``data/README.md`` describing them.

The site is built in a temporary folder beside ``out`` and swapped into place only when complete, so
a failure leaves the previous site as it was. Its content is deterministic (no build time, sorted
listings), so two builds from the same inputs are byte-identical.

CLI::

    python -m helpers.pipeline.publish [OUT_DIR]     # default: <root>/site

On failure it prints one line ``publish: <reason>`` to stderr and exits 1.
"""

from __future__ import annotations

import csv
import hashlib
import html
import os
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

from helpers.config import PARAMS, PROCESSED, REPORTS, ROOT, rel


class PublishError(RuntimeError):
    """The site cannot be built (a missing input, typically)."""


def _producers(params_dir: Path) -> dict[str, str]:
    """Map ``data/processed/<file>`` to the notebook step whose params name it as an ``out_*`` product."""
    found: dict[str, str] = {}
    for path in sorted(params_dir.glob("*.yaml")):
        try:
            params = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            continue
        for key, value in params.items():
            if str(key).startswith("out_") and isinstance(value, str):
                found[Path(value).name] = f"notebooks/{path.stem}.ipynb"
    return found


def _column_kind(values: list[str]) -> str:
    """A plain-words type for a CSV column: integer, number, text or empty."""
    present = [v for v in values if v.strip() != ""]
    if not present:
        return "empty"
    try:
        ints = all(float(v).is_integer() and "." not in v and "e" not in v.lower() for v in present)
    except ValueError:
        return "text"
    return "integer" if ints else "number"


def describe_csv(path: Path) -> dict[str, object]:
    """Rows, columns (name, kind, missing count) and SHA-256 of one CSV file."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        rows = list(reader)
    columns = []
    for i, name in enumerate(header):
        values = [r[i] if i < len(r) else "" for r in rows]
        columns.append(
            {"name": name, "kind": _column_kind(values), "missing": sum(1 for v in values if v.strip() == "")}
        )
    return {
        "file": path.name,
        "rows": len(rows),
        "columns": columns,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }


def data_readme(descriptions: list[dict[str, object]], producers: dict[str, str]) -> str:
    """The Markdown README of the published data files."""
    lines = [
        "# Data files",
        "",
        "Cleaned tables produced by the project's notebooks (build products of `make report`; do not edit).",
        "Numbers are as computed; see the report (`../index.html`, `../report.pdf`) for sources and caveats.",
        "Encoding UTF-8, comma-separated, first row is the header, empty cell = missing.",
        "",
    ]
    for d in descriptions:
        lines += [f"## `{d['file']}`", ""]
        lines.append(f"- produced by: `{producers.get(str(d['file']), 'unknown step')}`")
        lines.append(f"- rows: {d['rows']}")
        lines.append(f"- SHA-256: `{d['sha256']}`")
        lines += ["", "| column | type | missing |", "|---|---|---:|"]
        for col in d["columns"]:  # type: ignore[union-attr]
            lines.append(f"| `{col['name']}` | {col['kind']} | {col['missing']} |")
        lines.append("")
    return "\n".join(lines)


def _downloads_section(csv_names: list[str]) -> str:
    items = [
        '<li><a href="report.pdf">Report (PDF)</a></li>',
        '<li><a href="data/README.md">About the data</a></li>',
    ]
    items += [f'<li><a href="data/{html.escape(n, quote=True)}">{html.escape(n)}</a></li>' for n in csv_names]
    return (
        '<section class="downloads" id="downloads"><h2>Downloads</h2><ul>'
        + "".join(items)
        + "</ul></section>\n"
    )


def build_site(
    out: Path | None = None,
    *,
    report_html: Path | None = None,
    report_pdf: Path | None = None,
    processed: Path | None = None,
    params: Path | None = None,
) -> Path:
    """Build the static site in ``out`` (default ``<root>/site``) and return it.

    Raises :class:`PublishError` when the report HTML or PDF is missing; the previous site is kept.
    """
    out = Path(out or ROOT / "site")
    report_html = Path(report_html or REPORTS / "report.html")
    report_pdf = Path(report_pdf or REPORTS / "report.pdf")
    processed = Path(processed or PROCESSED)
    params = Path(params or PARAMS)
    for need in (report_html, report_pdf):
        if not need.is_file():
            raise PublishError(f"missing {rel(need)} (run `make report` first)")
    csvs = sorted(processed.glob("*.csv"))

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        (tmp / "data").mkdir()
        for path in csvs:
            shutil.copyfile(path, tmp / "data" / path.name)
        descriptions = [describe_csv(p) for p in csvs]
        (tmp / "data" / "README.md").write_text(
            data_readme(descriptions, _producers(params)), encoding="utf-8"
        )
        shutil.copyfile(report_pdf, tmp / "report.pdf")
        page = report_html.read_text(encoding="utf-8")
        section = _downloads_section([p.name for p in csvs])
        page = page.replace("</main>", section + "</main>", 1) if "</main>" in page else page + section
        (tmp / "index.html").write_text(page, encoding="utf-8")
        for path in tmp.rglob("*"):
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        os.chmod(tmp, 0o755)
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}-old-{os.getpid()}")
            os.replace(out, old)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m helpers.pipeline.publish [OUT_DIR]``."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m helpers.pipeline.publish",
        description="Write the static site (report, PDF, cleaned CSVs).",
    )
    parser.add_argument("out_dir", nargs="?", type=Path, help="where to write the site (default: site/)")
    args = parser.parse_args(argv)
    try:
        site = build_site(args.out_dir)
    except (PublishError, OSError) as exc:
        print(f"publish: {exc}", file=sys.stderr)
        return 1
    print(site)
    return 0


if __name__ == "__main__":
    sys.exit(main())
