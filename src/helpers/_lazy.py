"""Lazy module imports: ``plt = lazy("matplotlib.pyplot")`` imports matplotlib on first attribute access.

Notebook kernels, joblib workers and the test runner import :mod:`helpers` modules that only sometimes
draw or validate; matplotlib and pandera cost seconds to import, so modules bind them lazily and pay on
first use (issue #12: importing the notebooks' libraries in a fresh process <= 2 s).
"""

from __future__ import annotations

import importlib
import types
from typing import Any


class LazyModule(types.ModuleType):
    """A stand-in for a module that imports it on first attribute access (then behaves like it)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.__dict__["_lazy_target"] = name

    def _load(self) -> types.ModuleType:
        module = importlib.import_module(self.__dict__["_lazy_target"])
        self.__dict__.update({k: v for k, v in module.__dict__.items() if k != "__name__"})
        return module

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._load(), attr)

    def __dir__(self) -> list[str]:
        return dir(self._load())


def lazy(name: str) -> Any:
    """A :class:`LazyModule` for ``name`` (typed ``Any`` so attribute access type-checks)."""
    return LazyModule(name)
