"""The whole build, measured the way issue #12 states its goals.

``run(skip=...)`` works in a temporary ``git clone`` of the current commit (nothing of this checkout is
touched) and returns

- ``cold_clone_report_seconds`` / ``_cpu_seconds``: ``make env`` then ``make report`` in the fresh clone with
  empty uv and pip caches (``UV_CACHE_DIR``/``PIP_CACHE_DIR`` pointed at an empty directory): environment
  included; ``env_setup_cold_seconds`` is the environment's share, ``env_setup_warm_seconds`` the same
  ``make env`` again (``.venv`` removed) once those caches are filled;
- ``clean_report_seconds`` / ``clean_report_cpu_seconds``: ``make clean && make report`` in that clone
  (environment ready, every product rebuilt); CPU is user + sys of all child processes;
- ``scenarios_cpu_seconds``: the sensitivity sweep's share (rebuilt alone afterwards);
- ``plain_scripts_seconds`` / ``plain_scripts_cpu_seconds``: the four notebooks converted to scripts with
  ``jupyter nbconvert --to script`` (parameters cell defaults = params/*.yaml, a test checks) run one after
  another with ``ipython`` -- the same computation without papermill, kernels, rendering or the sweep;
- ``pipeline_cpu_over_plain_scripts``: (clean-build CPU - sweep CPU - render CPU) / plain-script CPU, the
  orchestration overhead (kernel start-up, papermill, per-step imports); ``..._with_all`` is the raw ratio.
  CPU time here varies by several percent between identical runs, as much as the overhead, so the clean
  build and the plain scripts are each run twice, alternating (``clean_report_cpu_seconds_runs``,
  ``plain_scripts_cpu_seconds_runs``), and the ratio takes the lower of each;
  ``pipeline_overhead_cpu_seconds`` the same difference in CPU seconds;
- ``step_overhead_cpu_seconds``: per step, ``python -m helpers.pipeline run STEP`` alone against the same
  notebook as a plain script (:func:`step_overheads`: ``pipeline``, ``plain``, ``overhead`` CPU seconds) and
  ``..._total`` their sum -- the validation, the make rules and the guards are not in it (skip: ``overhead``);
- ``step_cpu_seconds_in_build``: per step, the CPU of its runner and kernel inside the clean (parallel)
  build (``RUN_STEP`` wrapped in ``/usr/bin/time``); against ``step_overhead_cpu_seconds``' ``pipeline``
  (the same step alone) it shows what running side by side costs on this machine;
- ``step_seconds``: every ``[label] done in N s`` line of the clean build; ``critical_path``: the longest
  chain of the step DAG (declared inputs/outputs) weighted by those durations, ``critical_path_seconds``,
  ``total_step_seconds`` and ``two_core_bound_seconds = max(critical path, total / 2)``;
- ``test_suite_seconds``: ``make test`` in the clone (the full suite, slow tier included), with the load
  average when it started; ``quick_tier_seconds``: ``pytest -m "not slow"`` (the edit-test loop).

``skip`` (comma-separated ``scripts``, ``overhead``, ``tests``; ``clone`` or ``all`` skip this whole module) leaves parts
out; ``make bench BENCH=quick`` skips everything here. Timings depend on the machine and its load (recorded).
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DONE = re.compile(r"^\[(?P<label>[^\]]+)\] done in (?P<s>[0-9.]+) s", re.M)


def _timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Run ``cmd``; return wall seconds, CPU seconds of its children, and stderr+stdout (raise on failure)."""
    full_env = {**os.environ, **(env or {})}
    for var in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "VIRTUAL_ENV"):
        full_env.pop(var, None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed in {cwd} (exit {proc.returncode}):\n{out[-3000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), out


def step_durations(log: str) -> dict[str, float]:
    """``{label: seconds}`` from the ``[label] done in N s`` lines of a build log."""
    return {m["label"]: float(m["s"]) for m in DONE.finditer(log)}


def step_cpu_in_build(text: str) -> dict[str, float]:
    """``{step: user + sys CPU seconds}`` from ``/usr/bin/time -f '%U %S %C'`` lines of the steps' runs."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        m = re.match(r"^([0-9.]+) ([0-9.]+) .* run (\S+)", line)
        if m:
            out[m.group(3)] = round(float(m.group(1)) + float(m.group(2)), 2)
    return out


def dag(root: Path) -> dict[str, tuple[list[str], list[str]]]:
    """``{node: (inputs, outputs)}`` of the build: the notebook steps (params/*.yaml), the sweep, renders."""
    sys.path.insert(0, str(root / "src"))
    from helpers.pipeline import dag

    nodes: dict[str, tuple[list[str], list[str]]] = {}
    steps = dag.steps(root / "params")
    for s in steps:
        nodes[s.name] = (s.inputs, [*s.outputs, s.executed])
    s02 = next((s for s in steps if s.name.startswith("02")), None)
    if s02 is not None:
        nodes["scenarios"] = (s02.inputs, ["data/processed/scenarios.csv"])
    report = next((s for s in steps if s.name.startswith("04")), None)
    if report is not None:
        for r in ("render html", "render pdf"):
            nodes[r] = ([report.executed], [])
    return nodes


def critical_path(
    nodes: dict[str, tuple[list[str], list[str]]], seconds: dict[str, float]
) -> tuple[list[str], float]:
    """Longest chain of ``nodes`` (an edge wherever a node's input is another's output), weighted by ``seconds``."""
    producer = {out: name for name, (_, outs) in nodes.items() for out in outs}
    preds = {
        name: sorted({producer[i] for i in ins if i in producer and producer[i] != name})
        for name, (ins, _) in nodes.items()
    }
    memo: dict[str, tuple[float, list[str]]] = {}

    def longest(name: str) -> tuple[float, list[str]]:
        if name not in memo:
            best = max((longest(p) for p in preds[name]), default=(0.0, []), key=lambda x: x[0])
            memo[name] = (best[0] + seconds.get(name, 0.0), [*best[1], name])
        return memo[name]

    total, path = max((longest(n) for n in nodes), key=lambda x: x[0])
    return path, total


def plain_scripts(root: Path, scripts: Path) -> tuple[float, float, int]:
    """Convert ``root``'s notebooks to Python scripts and run them one after another with ``ipython`` (cwd
    ``notebooks/``, as papermill runs them); returns wall seconds, CPU seconds and the number of scripts."""
    vbin = root / ".venv" / "bin"
    nbs = sorted(str(p) for p in (root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    # --to python (not script): the kernelspec carries no file extension, so "script" would write .txt
    _timed([str(vbin / "jupyter"), "nbconvert", "--to", "python", "--output-dir", str(scripts), *nbs], root)
    files = sorted(scripts.glob("*.py"))
    if len(files) != len(nbs):
        raise RuntimeError(f"nbconvert wrote {len(files)} scripts for {len(nbs)} notebooks")
    wall = cpu = 0.0
    for script in files:
        w, c, _ = _timed([str(vbin / "ipython"), "--no-banner", "--quick", str(script)], root / "notebooks")
        wall, cpu = wall + w, cpu + c
    return wall, cpu, len(files)


def step_overheads(root: Path, scripts: Path, steps: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Per step, in absolute CPU seconds: ``pipeline`` (``python -m helpers.pipeline run STEP``: papermill, the
    kernel, the saves, the step's imports and cells), ``plain`` (the notebook as a script under ``ipython
    --quick``, as :func:`plain_scripts`) and ``overhead`` = pipeline - plain. Needs the step's inputs built.
    """
    vbin = root / ".venv" / "bin"
    nbs = sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if steps:
        nbs = [nb for nb in nbs if nb.stem in steps or nb.stem[:2] in steps]
    scripts.mkdir(parents=True, exist_ok=True)
    _timed(
        [str(vbin / "jupyter"), "nbconvert", "--to", "python", "--output-dir", str(scripts), *map(str, nbs)],
        root,
    )
    out: dict[str, dict[str, float]] = {}
    for nb in nbs:
        _, pipe, _ = _timed([str(vbin / "python"), "-m", "helpers.pipeline", "run", nb.stem], root)
        _, plain, _ = _timed(
            [str(vbin / "ipython"), "--no-banner", "--quick", str(scripts / f"{nb.stem}.py")],
            root / "notebooks",
        )
        out[nb.stem] = {
            "pipeline": round(pipe, 2),
            "plain": round(plain, 2),
            "overhead": round(pipe - plain, 2),
        }
    return out


def _summary(log: str) -> str:
    """pytest's last summary line (``N passed, M skipped in S s``)."""
    lines = [ln for ln in log.splitlines() if re.search(r"\d+ passed", ln)]
    return lines[-1].strip("= ") if lines else ""


def _clone(tmp: Path) -> Path:
    dest = tmp / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(dest)], check=True)
    return dest


def run(skip: str = "") -> dict:
    """Measure; see the module docstring."""
    skips = {s.strip() for s in skip.split(",") if s.strip()}
    if skips & {"all", "clone"}:  # everything here needs the clone and its build
        return {}
    out: dict[str, object] = {"pipeline_load_average_1min_start": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory(prefix="nkt-bench-") as tmpd:
        tmp = Path(tmpd)
        clone = _clone(tmp)
        caches = {"UV_CACHE_DIR": str(tmp / "uv-cache"), "PIP_CACHE_DIR": str(tmp / "pip-cache")}
        # the environment first (empty caches: every wheel downloaded, every .pyc compiled), then the build;
        # `make report` would do the same two things in this order
        env_wall, env_cpu, _ = _timed(["make", "env"], clone, caches)
        wall, cpu, _ = _timed(["make", "report"], clone, caches)
        out.update(
            cold_clone_report_seconds=round(env_wall + wall, 1),
            cold_clone_report_cpu_seconds=round(env_cpu + cpu, 1),
            env_setup_cold_seconds=round(env_wall, 1),
            env_setup_cold_cpu_seconds=round(env_cpu, 1),
        )
        # the environment again with the caches now warm (what a second clone on this machine pays)
        shutil.rmtree(clone / ".venv")
        env_wall, env_cpu, _ = _timed(["make", "env"], clone, caches)
        out.update(env_setup_warm_seconds=round(env_wall, 1), env_setup_warm_cpu_seconds=round(env_cpu, 1))
        # from clean outputs, environment ready
        _timed(["make", "clean"], clone)
        # each step's runner (and its kernel, a child it waits for) timed by /usr/bin/time: their CPU inside
        # the parallel build, to set against the same steps run alone (step_overhead_cpu_seconds)
        cpu_log = tmp / "steps-cpu.txt"
        run_step = f"/usr/bin/time -f '%U %S %C' -a -o {cpu_log} .venv/bin/python -m helpers.pipeline run"
        timed_steps = shutil.which("time") is not None or Path("/usr/bin/time").exists()
        wall, cpu, log = _timed(["make", "report", *([f"RUN_STEP={run_step}"] if timed_steps else [])], clone)
        if timed_steps and cpu_log.exists():
            out["step_cpu_seconds_in_build"] = step_cpu_in_build(cpu_log.read_text())
        steps = step_durations(log)
        out.update(
            clean_report_seconds=round(wall, 1), clean_report_cpu_seconds=round(cpu, 1), step_seconds=steps
        )
        path, crit = critical_path(dag(clone), steps)
        total = sum(steps.values())
        out.update(
            critical_path=path,
            critical_path_seconds=round(crit, 1),
            total_step_seconds=round(total, 1),
            two_core_bound_seconds=round(max(crit, total / 2), 1),
        )
        # the sweep's and the renders' CPU, rebuilt alone
        (clone / "data/processed/scenarios.csv").unlink(missing_ok=True)
        _, sweep_cpu, _ = _timed(["make", "data/processed/scenarios.csv"], clone)
        for f in ("reports/report.html", "reports/report.pdf"):
            (clone / f).unlink(missing_ok=True)
        _, render_cpu, _ = _timed(["make", "reports/report.html", "reports/report.pdf"], clone)
        out.update(scenarios_cpu_seconds=round(sweep_cpu, 1), render_cpu_seconds=round(render_cpu, 1))
        if "scripts" not in skips:
            # CPU time on this (virtual) machine varies by several percent from run to run, as much as the
            # overhead being measured: both sides are measured twice, alternating, and the lower taken
            builds, plains = [cpu], []
            for rnd in range(2):
                wall, cpu, n = plain_scripts(clone, tmp / f"scripts{rnd}")
                plains.append(cpu)
                if rnd == 0:
                    out.update(plain_scripts_seconds=round(wall, 1), plain_scripts=n)
                    _timed(["make", "clean"], clone)
                    builds.append(_timed(["make", "report"], clone)[1])
            cpu = min(plains)
            out.update(
                plain_scripts_cpu_seconds=round(cpu, 1),
                plain_scripts_cpu_seconds_runs=[round(c, 1) for c in plains],
                clean_report_cpu_seconds_runs=[round(c, 1) for c in builds],
            )
            pipe_cpu = min(builds) - sweep_cpu - render_cpu
            out["pipeline_cpu_over_plain_scripts"] = round(pipe_cpu / cpu, 2) if cpu else None
            out["pipeline_cpu_over_plain_scripts_with_all"] = round(min(builds) / cpu, 2) if cpu else None
            # the orchestration cost in absolute seconds: what the ratio hides once the steps get cheaper
            out["pipeline_overhead_cpu_seconds"] = round(pipe_cpu - cpu, 1)
        if "overhead" not in skips:
            per_step = step_overheads(clone, tmp / "overhead")
            out["step_overhead_cpu_seconds"] = per_step
            out["step_overhead_cpu_seconds_total"] = round(sum(v["overhead"] for v in per_step.values()), 2)
        if "tests" not in skips:
            out["test_suite_load_average_1min_start"] = round(os.getloadavg()[0], 2)
            wall, cpu, log = _timed(["make", "test"], clone)
            out.update(
                test_suite_seconds=round(wall, 1),
                test_suite_cpu_seconds=round(cpu, 1),
                test_suite_result=_summary(log),
            )
            py = str(clone / ".venv" / "bin" / "python")
            wall, cpu, log = _timed(
                [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow"], clone
            )
            out.update(
                quick_tier_seconds=round(wall, 1),
                quick_tier_cpu_seconds=round(cpu, 1),
                quick_tier_result=_summary(log),
            )
        shutil.rmtree(clone / ".venv", ignore_errors=True)
    out["pipeline_load_average_1min_end"] = round(os.getloadavg()[0], 2)
    return out


if __name__ == "__main__":
    if sys.argv[1:2] == [
        "overhead"
    ]:  # python benchmarks/bench_pipeline.py overhead [STEP ...] (this checkout)
        with tempfile.TemporaryDirectory(prefix="nkt-overhead-") as tmpd:
            print(json.dumps(step_overheads(ROOT, Path(tmpd), sys.argv[2:]), indent=2))
    else:
        print(json.dumps(run(sys.argv[1] if len(sys.argv) > 1 else ""), indent=2))
