"""Typed contract of step 03's summary (``data/processed/peer_summary.json``): :class:`PeerSummary`.

Notebook 03 builds a :class:`PeerSummary` and writes it with :meth:`PeerSummary.to_json`; the report reads it
with :meth:`PeerSummary.from_json` (or :meth:`PeerSummary.from_dict`) and uses attributes, not key strings.
Reading validates everything: every field present, no unknown field, numbers finite where a number is
required, integers integral, ``lo <= hi`` for every interval, percentiles within 0-100. A problem raises
:class:`ContractError` naming the file and the field, e.g.::

    data/processed/peer_summary.json: counterfactual_same_era.median: expected a finite number, got 'NaN'

The JSON layout is the dataclasses' fields, nested, keys sorted; floats rounded to 4 decimals on writing
(far below the uncertainty of any of them), ``None`` as ``null``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

__all__ = [
    "SCHEMA_VERSION",
    "ContractError",
    "Counterfactual",
    "EraRow",
    "FitFacts",
    "PanelFacts",
    "PeerSummary",
    "PercentileInterval",
    "PointPercentile",
    "SameEra",
]

#: Version of the layout; bump when a field changes meaning or disappears.
SCHEMA_VERSION = 2


class ContractError(ValueError):
    """A summary file does not satisfy its contract; the message names the file and the field."""


# ------------------------------------------------------------------------------------------------ parts
@dataclass(frozen=True)
class PointPercentile:
    """The focal country's ``metric`` under one model against every usable fit (point estimates).

    ``value``, ``lo``, ``hi``: its estimate and 95 % bootstrap interval; ``percentile``: share of the
    ``n_countries`` reference countries with a smaller value (ties half), in percent; ``median``: the
    reference countries' median.
    """

    value: float
    lo: float
    hi: float
    percentile: float
    n_countries: int
    median: float

    def _check(self) -> list[tuple[str, str]]:
        return _interval(self.lo, self.hi, "lo", "hi") + _pct(self.percentile, "percentile")


@dataclass(frozen=True)
class PercentileInterval:
    """The focal country's percentile with its uncertainty (:func:`helpers.steps.peers_intervals.percentile_intervals`).

    ``percentile``: at the point estimates; ``percentile_lo``/``percentile_hi``: the ``level`` interval of the
    percentile over the focal country's bootstrap draws, each ranked against the reference countries (those
    whose own interval overlaps enter with their draws: ``n_uncertain`` of ``n_countries``).
    """

    value: float
    lo: float
    hi: float
    percentile: float
    percentile_lo: float
    percentile_hi: float
    level: float
    n_countries: int
    n_uncertain: int
    n_draws: int

    def _check(self) -> list[tuple[str, str]]:
        bad = _interval(self.lo, self.hi, "lo", "hi")
        bad += _interval(self.percentile_lo, self.percentile_hi, "percentile_lo", "percentile_hi")
        for name in ("percentile", "percentile_lo", "percentile_hi"):
            bad += _pct(getattr(self, name), name)
        if not 0.0 < self.level < 1.0:
            bad.append(("level", f"must lie between 0 and 1, got {self.level}"))
        if self.n_uncertain > self.n_countries:
            bad.append(("n_uncertain", f"{self.n_uncertain} exceeds n_countries {self.n_countries}"))
        return bad


@dataclass(frozen=True)
class Counterfactual:
    """The focal country's path had it followed the median of ``peers`` from its own launch.

    ``median``, ``lo``, ``hi``: per 100 people in ``horizon_year``; ``band`` names what ``lo``-``hi`` is
    (e.g. ``"range across peers"``); ``rule``: how the peers were chosen. ``peer_values``: each peer's
    fitted curve at the horizon (years after its own launch); ``extrapolated``: the peers whose own data end
    before that many years after their launch (their value extends the fitted curve). ``loo_min``/``loo_max``: range of the median
    when any one peer is left out (``None`` if not computed). ``sentence``: the notebook's wording.
    """

    model: str
    rule: str
    launch_year: int
    horizon_year: int
    median: float
    lo: float
    hi: float
    band: str
    n_peers: int
    peers: list[str]
    peer_values: dict[str, float]
    extrapolated: list[str]
    excluded: list[str]
    not_s_shaped: list[str]
    last_observed_year: int | None
    last_observed_per100: float | None
    median_at_last_observed: float | None
    loo_min: float | None
    loo_max: float | None
    sentence: str

    def _check(self) -> list[tuple[str, str]]:
        bad = _interval(self.lo, self.hi, "lo", "hi")
        if self.n_peers != len(self.peers):
            bad.append(("n_peers", f"{self.n_peers} but {len(self.peers)} peers listed"))
        if self.n_peers < 1:
            bad.append(("n_peers", "no peer"))
        if self.horizon_year < self.launch_year:
            bad.append(("horizon_year", f"{self.horizon_year} precedes launch_year {self.launch_year}"))
        if (self.loo_min is None) != (self.loo_max is None):
            bad.append(("loo_min", "loo_min and loo_max must both be null or both numbers"))
        elif self.loo_min is not None and self.loo_max is not None:
            bad += _interval(self.loo_min, self.loo_max, "loo_min", "loo_max")
        return bad


@dataclass(frozen=True)
class EraRow:
    """One row of the same-era sensitivity table (:func:`helpers.steps.peers_counterfactual.era_sensitivity`)."""

    pool: str
    window: int
    n_peers: int
    peers: list[str]
    median: float | None
    min: float | None
    max: float | None


@dataclass(frozen=True)
class SameEra:
    """The same-era rule: peers (from ``pool``) launched within +-``window_years`` of the focal country."""

    window_years: int
    pool: str
    focal_launch_year: int
    peers: list[str]
    peer_launch_years: dict[str, int]
    sensitivity: list[EraRow]


@dataclass(frozen=True)
class PanelFacts:
    """The ITU panel and the focal country's series in it."""

    n_countries: int
    n_country_years: int
    first_year: int
    last_year: int
    focal_launch_year: int
    focal_last_year: int
    focal_last_per100: float
    focal_n_points: int
    focal_missing_years: list[int]


@dataclass(frozen=True)
class FitFacts:
    """What was fitted and flagged (``by_model``: counts per flag, see :func:`helpers.steps.peers_tables.flag_counts`)."""

    n_countries: int
    n_countries_flagged: int
    focal_best_model: str
    by_model: dict[str, dict[str, int]]
    flagged: dict[str, list[str]]
    ceiling_ci_at_bound: list[str]


# ------------------------------------------------------------------------------------------------ summary
@dataclass(frozen=True)
class PeerSummary:
    """Step 03's summary: what the report quotes about the peer comparison.

    ``percentiles`` / ``percentiles_s_shaped``: model -> metric (``ceiling``, ``speed``) -> point
    percentile, against every usable fit / without the countries whose series declined;
    ``percentile_intervals``: model -> metric -> percentile with its interval (for the models in
    ``params.percentile_models``); three counterfactuals (all named peers, their best-AICc curves, the
    same-era peers); ``params``: the step's parameters as run (a record, not read by the report).
    """

    focal: str
    focal_name: str
    comparison_model: str
    panel: PanelFacts
    fits: FitFacts
    percentiles: dict[str, dict[str, PointPercentile]]
    percentiles_s_shaped: dict[str, dict[str, PointPercentile]]
    percentile_intervals: dict[str, dict[str, PercentileInterval]]
    counterfactual: Counterfactual
    counterfactual_best: Counterfactual
    counterfactual_same_era: Counterfactual
    same_era: SameEra
    sentences: dict[str, str]
    params: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def _check(self) -> list[tuple[str, str]]:
        bad = []
        if self.schema_version != SCHEMA_VERSION:
            bad.append(("schema_version", f"is {self.schema_version}, this code reads {SCHEMA_VERSION}"))
        for name in ("percentiles", "percentile_intervals"):
            if self.comparison_model not in getattr(self, name):
                bad.append((name, f"lacks the comparison model {self.comparison_model!r}"))
        return bad

    # ---------------------------------------------------------------------------------------- I/O
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (floats rounded to 4 decimals, non-finite -> ``None``)."""
        return _jsonable(dataclasses.asdict(self))

    def to_json(self, path: Path | str) -> Path:
        """Write as sorted, indented JSON (byte-stable); validates first, so nothing invalid is written."""
        PeerSummary.from_dict(self.to_dict(), source=str(path))
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
        path.write_text(text + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, data: Any, source: str = "<peer summary>") -> PeerSummary:
        """Build and validate from a parsed JSON object; :class:`ContractError` names ``source`` and the field."""
        return _build(cls, data, source, "")

    @classmethod
    def from_json(cls, path: Path | str) -> PeerSummary:
        """Read and validate ``path``."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ContractError(f"{path}: missing (run step 03: make pipeline)") from None
        except json.JSONDecodeError as e:
            raise ContractError(
                f"{path}: not valid JSON: line {e.lineno} column {e.colno}: {e.msg}"
            ) from None
        return cls.from_dict(data, source=str(path))


# ------------------------------------------------------------------------------------------------ validation
def _interval(lo: float, hi: float, a: str, b: str) -> list[tuple[str, str]]:
    return [] if lo <= hi + 1e-9 * max(1.0, abs(hi)) else [(a, f"{a} {lo} exceeds {b} {hi}")]


def _pct(x: float, name: str) -> list[tuple[str, str]]:
    return [] if -1e-9 <= x <= 100 + 1e-9 else [(name, f"percentile {x} outside 0-100")]


def _where(source: str, path: str) -> str:
    return f"{source}: {path or '(top level)'}"


def _convert(tp: Any, value: Any, source: str, path: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, source, path)
    if value is None:
        raise ContractError(f"{_where(source, path)}: missing value (null)")
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, source, path)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ContractError(f"{_where(source, path)}: expected a finite number, got {value!r}")
        return float(value)
    if tp is int:
        ok = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        if isinstance(value, bool) or not ok:
            raise ContractError(f"{_where(source, path)}: expected an integer, got {value!r}")
        return int(value)
    if tp is str:
        if not isinstance(value, str):
            raise ContractError(f"{_where(source, path)}: expected text, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ContractError(f"{_where(source, path)}: expected true/false, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ContractError(f"{_where(source, path)}: expected a list, got {type(value).__name__}")
        return [_convert(args[0], v, source, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ContractError(f"{_where(source, path)}: expected an object, got {type(value).__name__}")
        return {
            str(k): _convert(args[1], v, source, f"{path}.{k}" if path else str(k)) for k, v in value.items()
        }
    raise TypeError(f"unsupported type {tp!r} in the contract at {path}")  # a bug in this module


def _build(cls: type, data: Any, source: str, path: str) -> Any:
    if not isinstance(data, dict):
        raise ContractError(f"{_where(source, path)}: expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        sub = f"{path}.{unknown[0]}" if path else unknown[0]
        raise ContractError(f"{_where(source, sub)}: unknown field (known: {', '.join(fields)})")
    kwargs = {}
    for name, f in fields.items():
        sub = f"{path}.{name}" if path else name
        if name not in data:
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
                continue
            raise ContractError(f"{_where(source, sub)}: missing")
        kwargs[name] = _convert(hints[name], data[name], source, sub)
    obj = cls(**kwargs)
    check = getattr(obj, "_check", None)
    for name, what in check() if check else []:
        raise ContractError(f"{_where(source, f'{path}.{name}' if path else name)}: {what}")
    return obj


def _jsonable(x: Any, digits: int = 4) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v, digits) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v, digits) for v in x]
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return x
    if hasattr(x, "item") and not isinstance(x, (int, float)):  # numpy scalars
        x = x.item()
    if isinstance(x, int):
        return x
    if isinstance(x, float):
        return round(x, digits) if math.isfinite(x) else None
    return x
