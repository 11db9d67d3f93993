"""Every check of the raw data in one process: observations, events and glossary, external files.

``python -m helpers.data.check [--observations PATH]`` runs, in this order and in one Python process,

1. ``python -m helpers.data.observations check PATH`` (default ``data/raw/observations.csv``),
2. ``python -m helpers.data.events check``,
3. ``python -m helpers.data.external check``,

with the same messages (``OK: ...`` on stdout; every problem as ``file:line: column: reason`` on stderr) and
the same exit codes (0 all valid, 1 problems, 2 usage error). Like the ``&&`` chain it replaces, it stops at
the first check that fails, so a broken observations file is reported alone. One process instead of three
(``make check`` and the build's validation rule) pays for Python, pandas and the readers' imports once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from helpers import config


def main(argv: Sequence[str] | None = None) -> int:
    """Run the three checks in order, stopping at the first failure; return its exit code (0 when all pass)."""
    parser = argparse.ArgumentParser(prog="python -m helpers.data.check", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--observations", default=str(config.OBSERVATIONS_CSV), help="observations CSV (default: %(default)s)"
    )
    args = parser.parse_args(argv)  # exits 2 on usage errors

    from helpers.data import events, external, observations

    for run in (
        lambda: observations.main(["check", args.observations]),
        lambda: events.main(["check"]),
        lambda: external.main(["check"]),
    ):
        sys.stdout.flush()
        code = run()
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
