"""Command line of the notebook pipeline: validated, atomic, content-based runs of the steps.

A pipeline run (``make``) is

* **validated first**: every parameters file is checked before any kernel starts (:mod:`helpers.pipeline.dag`);
* **atomic**: products are staged and moved into place only when every cell succeeded
  (:mod:`helpers.pipeline.run`);
* **content-based**: a step reruns only when what its products are made from changed
  (:mod:`helpers.pipeline.manifest`).

Command line::

    python -m helpers.pipeline makefile          # check every params file; print the make rules
    python -m helpers.pipeline check             # check every params file (one file: key: rule line each)
    python -m helpers.pipeline run STEP [--if-stale]                  # the pipeline's run (records a manifest)
    python -m helpers.pipeline run STEP --params FILE [--output NB]   # exploration: overrides only the keys in
                                                 # FILE; products go to .build/scratch/STEP/ unless FILE names out_*
    python -m helpers.pipeline status            # which steps are out of date, and why
    python -m helpers.pipeline guard NAME --step STEP --in F... --out F... -- CMD...   # content-based rerun of CMD
    python -m helpers.pipeline steps             # list steps
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from helpers import config
from helpers.pipeline.dag import SCRATCH, PipelineError, steps
from helpers.pipeline.makefile import makefile_rules
from helpers.pipeline.manifest import guard, status
from helpers.pipeline.run import run_step


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m helpers.pipeline", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("makefile", help="check every params file, print make rules generated from them")
    sub.add_parser("check", help="check every params file against helpers.pipeline.params")
    sub.add_parser("steps", help="list the steps with their inputs and outputs")
    sub.add_parser("status", help="which steps are out of date and why")
    run = sub.add_parser("run", help="execute one step with papermill")
    run.add_argument("step")
    run.add_argument(
        "--params", type=Path, help="a YAML file overriding some parameters (exploration/scenarios)"
    )
    run.add_argument("--output", type=Path, help="where to write the executed notebook")
    run.add_argument("--if-stale", action="store_true", help="run only when the manifest disagrees")
    g = sub.add_parser("guard", help="run a command only when what it is made from changed")
    g.add_argument("name")
    g.add_argument("--step")
    g.add_argument("--in", dest="inputs", nargs="*", default=[])
    g.add_argument("--out", dest="outputs", nargs="*", default=[])
    g.add_argument("--module", dest="modules", nargs="*", default=[])
    argv = sys.argv[1:] if argv is None else argv
    command: list[str] = []
    if argv[:1] == ["guard"] and "--" in argv:  # guard NAME ... -- COMMAND...
        cut = argv.index("--")
        argv, command = argv[:cut], argv[cut + 1 :]
    args = parser.parse_args(argv)
    try:
        if args.cmd == "makefile":
            sys.stdout.write(makefile_rules())
        elif args.cmd == "check":
            print(f"parameters ok: {', '.join(config.rel(s.params_file) for s in steps())}")
        elif args.cmd == "steps":
            for s in steps():
                print(
                    f"{s.name}: {config.rel(s.notebook)}\n  in:  {' '.join(s.inputs)}\n  out: {' '.join(s.outputs)}"
                )
        elif args.cmd == "status":
            for s in steps():
                why = status(s)
                print(f"{s.name}: {'up to date' if not why else 'out of date: ' + '; '.join(why)}")
        elif args.cmd == "guard":
            if not command:
                raise PipelineError("guard: give the command after --")
            return guard(
                args.name,
                command,
                step=args.step,
                inputs=args.inputs,
                outputs=args.outputs,
                modules=tuple(args.modules),
            )
        else:
            seconds = run_step(args.step, params_file=args.params, output=args.output, if_stale=args.if_stale)
            if seconds is not None:
                where = (
                    ""
                    if args.params is None and args.output is None
                    else f" (scratch run: {SCRATCH}/{args.step}/ unless --output / out_* given)"
                )
                print(f"[{args.step}] done in {seconds:.1f} s{where if args.params else ''}", file=sys.stderr)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
