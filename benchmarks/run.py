"""Run every benchmarks/bench_*.py module's ``run()`` and write the figures to one JSON file.

    python benchmarks/run.py [--out reports/bench.json] [--only growth,panel] [--mode quick|full]
                             [--skip tests,scripts]

``--mode quick`` (``make bench BENCH=quick``) leaves out the slow parts (the fresh-clone build, the
from-clean build, plain scripts and the test suite: ``bench_pipeline``); ``--skip`` leaves out named parts
of it (``tests``, ``scripts``).  Each module's ``run()`` gets ``skip`` if it takes that argument.

Benchmarks print measured figures; they are never pass/fail tests (timings on a shared 2-core machine flake).
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("reports/bench.json"))
    parser.add_argument("--only", default="", help="comma-separated benchmark names (growth, panel, ...)")
    parser.add_argument(
        "--mode", default="full", choices=["quick", "full"], help="quick: skip the slow parts"
    )
    parser.add_argument(
        "--skip", default="", help="comma-separated parts to leave out (tests, scripts, clone)"
    )
    args = parser.parse_args(argv)
    only = {s for s in args.only.split(",") if s}
    skip = ",".join(filter(None, [args.skip, "all" if args.mode == "quick" else ""]))
    results: dict[str, object] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": __import__("os").cpu_count(),
            "platform": platform.platform(),
            "load_average_at_start": list(os.getloadavg()),
        },
        "mode": args.mode,
        "skip": skip,
    }
    for path in sorted(HERE.glob("bench_*.py")):
        name = path.stem.removeprefix("bench_")
        if only and name not in only:
            continue
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        run = _load(path).run
        figures = run(skip=skip) if "skip" in inspect.signature(run).parameters else run()
        print(f"[bench] {name} done in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        for key, value in figures.items():
            print(f"{key:>36}: {value}")
        results.update(figures)
    results["machine"]["load_average_at_end"] = list(os.getloadavg())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"[bench] written {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
