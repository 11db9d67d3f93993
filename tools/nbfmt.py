"""Normalise committed notebooks: no outputs, no execution counts, the project kernel, stable metadata.

python tools/nbfmt.py notebooks/*.ipynb          # rewrite in place
python tools/nbfmt.py --check notebooks/*.ipynb  # exit 1 and name the notebooks that are not normalised
python tools/nbfmt.py --stdin                    # filter: notebook on stdin -> normalised on stdout
python tools/nbfmt.py --from-py SRC.py OUT.ipynb  # convert a jupytext percent script, then normalise

``--stdin`` is the git "clean" filter that `make hooks` installs (with ``.gitattributes``): what git stores
for ``notebooks/*.ipynb`` never has outputs, execution counts or Lab's metadata, whatever JupyterLab saved
in the working copy. The pipeline ignores those too (a step's manifest hashes only code and markdown).
"""

from __future__ import annotations

import sys
from pathlib import Path

# jsonschema (imported by nbformat) would compile rfc3987_syntax's 38 Lark grammars for a format checker
# nbformat never uses (~1.2 s per call; see helpers.pipeline.run.skip_iri_grammars).
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

import nbformat  # noqa: E402

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


def _text(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def main(argv: list[str]) -> int:
    if argv[:1] == ["--stdin"]:
        sys.stdout.write(_text(normalise(nbformat.reads(sys.stdin.read(), as_version=4))))
        return 0
    if argv[:1] == ["--check"]:
        dirty = [
            name
            for name in argv[1:]
            if Path(name).read_text(encoding="utf-8") != _text(normalise(nbformat.read(name, as_version=4)))
        ]
        for name in dirty:
            print(
                f"{name}: has outputs or volatile metadata; run `python tools/nbfmt.py {name}`",
                file=sys.stderr,
            )
        return 1 if dirty else 0
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
