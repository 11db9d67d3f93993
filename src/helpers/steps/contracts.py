"""Typed contracts between pipeline steps.

:class:`GrowthSummary` is what step 02 writes (``growth_summary.json``) and what the report and the scenario
sweep read: attributes, not ``"a.b"`` strings, so a renamed or missing field fails where it is read, with the
file and the field named.  The horizon-dependent quantities are stored under fixed names (``value_horizon``,
``per100_horizon``) with the horizon year beside them, so changing ``horizon`` cannot break the reader.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

SCHEMA = 2


class ContractError(ValueError):
    """A summary file does not match its contract (names the file and the field)."""


def _clean(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    return x


@dataclass(frozen=True)
class Interval:
    """An estimate with an interval.  ``None`` = not available, or (for ``lo``/``hi``) an end the data do not
    bound ("open"); ``method`` says how it was computed (``profile likelihood``, ``bootstrap mixture``)."""

    estimate: float | None
    lo: float | None = None
    hi: float | None = None
    method: str = ""
    share_finite: float | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Interval:
        d = dict(d or {})
        return cls(**{f.name: d.get(f.name, None if f.name != "method" else "") for f in fields(cls)})


@dataclass(frozen=True)
class GrowthSummary:
    """The key numbers of step 02 (every count in subscriptions, times in decimal years).

    ``averaged``: Akaike-averaged quantities over ``weights`` (keys ``saturation``, ``ceiling_per100``,
    ``inflection``, ``value_horizon``, ``per100_horizon``, ``year_reaching_<L>per100``); ``profile``: per model,
    profile-likelihood intervals of ``saturation``, ``ceiling_per100``, ``inflection``; ``richards``: whether
    its shape is identified and the evidence; ``loo``/``holdout``/``backtest``: the checks; ``coverage``: the
    measured coverage of the saturation interval (from ``make bench``) or ``None`` when not measured.
    """

    settings: dict[str, Any]
    horizon: int
    level: float
    method: str
    data: dict[str, Any]
    weights: dict[str, float]
    aicc: dict[str, float]
    sigma: dict[str, float]
    best_model: str
    singled_out: bool
    averaged: dict[str, Interval]
    profile: dict[str, dict[str, Interval]]
    richards: dict[str, Any]
    loo: dict[str, Any]
    holdout: dict[str, Any]
    backtest: dict[str, Any]
    naive_vs_censored: dict[str, Any]
    bootstrap: dict[str, Any]
    coverage: dict[str, Any] | None = None
    schema: int = field(default=SCHEMA)

    # convenience -------------------------------------------------------------------------------------
    @property
    def saturation(self) -> Interval:
        """The model-averaged saturation (point = weighted mean; interval = bootstrap mixture)."""
        return self.averaged["saturation"]

    def profile_of(self, model: str, quantity: str = "saturation") -> Interval:
        """Profile-likelihood interval of one model's quantity (``ContractError`` if absent)."""
        try:
            return self.profile[model][quantity]
        except KeyError:
            raise ContractError(f"growth summary: no profile interval for {model}/{quantity}") from None

    # serialisation ----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN/inf as ``null``).  Also carries the flat keys the scenario sweep tabulates
        (``saturation``, ``ceiling_per100``, ``inflection``: the averaged intervals)."""
        d = asdict(self)
        for k in ("saturation", "ceiling_per100", "inflection"):
            d[k] = asdict(self.averaged[k]) if k in self.averaged else None
        return _clean(d)

    def to_json(self, path: Path | str) -> Path:
        """Write deterministically (insertion order, 2-space indent, ``\\n`` line ends)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n")
        return path

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "growth summary") -> GrowthSummary:
        """Build from a dict; ``ContractError`` naming ``source`` and the missing field."""
        names = [f.name for f in fields(cls)]
        required = [f.name for f in fields(cls) if f.name not in ("coverage", "schema")]
        missing = [n for n in required if n not in d]
        if missing:
            raise ContractError(f"{source}: missing field(s) {', '.join(missing)} (schema {SCHEMA})")
        kw = {n: d[n] for n in names if n in d}
        kw["averaged"] = {k: Interval.from_dict(v) for k, v in d["averaged"].items()}
        kw["profile"] = {
            m: {q: Interval.from_dict(v) for q, v in qs.items()} for m, qs in d["profile"].items()
        }
        kw["horizon"] = int(d["horizon"])
        kw["level"] = float(d["level"])
        return cls(**kw)

    @classmethod
    def from_json(cls, path: Path | str) -> GrowthSummary:
        """Read a ``growth_summary.json``."""
        path = Path(path)
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ContractError(f"{path}: cannot read the growth summary: {exc}") from exc
        return cls.from_dict(d, str(path))

    @classmethod
    def coerce(cls, obj: GrowthSummary | dict[str, Any], source: str = "growth summary") -> GrowthSummary:
        """A :class:`GrowthSummary` from itself or from the dict of its JSON file."""
        return obj if isinstance(obj, GrowthSummary) else cls.from_dict(dict(obj), source)
