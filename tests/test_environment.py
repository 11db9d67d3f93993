"""environment.yml (conda) and requirements.lock (uv/pip) must pin the same versions."""

from __future__ import annotations

import re
import tomllib

import yaml

from tests.conftest import ROOT


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock() -> dict[str, str]:
    out = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if m:
            out[_norm(m.group(1))] = m.group(2)
    return out


def _environment_yml() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pins: dict[str, str] = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for pip_dep in dep.get("pip", []):
                if pip_dep.startswith("-e"):
                    continue
                name, _, version = pip_dep.partition("==")
                pins[_norm(name)] = version
        elif "=" in dep:
            name, _, version = dep.partition("=")
            pins[_norm(name)] = version.lstrip("=")
    return pins


def test_environment_yml_matches_lock() -> None:
    lock, env = _lock(), _environment_yml()
    env.pop("python")
    disagreements = {n: (v, lock.get(n)) for n, v in env.items() if lock.get(n) != v}
    assert not disagreements, f"environment.yml vs requirements.lock (yml, lock): {disagreements}"


def test_every_direct_dependency_is_pinned_everywhere() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = [_norm(re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0]) for d in deps]
    lock, env = _lock(), _environment_yml()
    assert [n for n in names if n not in lock] == []
    assert [n for n in names if n not in env] == []


def test_python_is_311() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
