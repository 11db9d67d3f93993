"""Normalise committed notebooks: no outputs, no execution counts, the project kernel, stable metadata.

python tools/nbfmt.py notebooks/*.ipynb          # rewrite in place
python tools/nbfmt.py --from-py SRC.py OUT.ipynb  # convert a jupytext percent script, then normalise
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

KERNELSPEC = {"name": "nk-telecom", "display_name": "Python (nk-telecom)", "language": "python"}


def normalise(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Strip outputs and volatile metadata; pin the kernelspec."""
    nb.metadata = nbformat.from_dict(
        {
            "kernelspec": KERNELSPEC,
            "language_info": {"name": "python"},
            **{k: v for k, v in nb.metadata.items() if k in {"title", "authors"}},
        }
    )
    for i, cell in enumerate(nb.cells):
        cell.id = f"c{i:02d}"
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        tags = cell.metadata.get("tags")
        cell.metadata = nbformat.from_dict({"tags": tags} if tags else {})
    return nb


def main(argv: list[str]) -> int:
    if argv[:1] == ["--from-py"]:
        import jupytext

        src, out = Path(argv[1]), Path(argv[2])
        nb = normalise(jupytext.read(src))
        nbformat.write(nb, out)
        return 0
    for name in argv:
        nb = normalise(nbformat.read(name, as_version=4))
        nbformat.write(nb, name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
