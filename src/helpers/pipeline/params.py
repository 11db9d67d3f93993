"""The one place that reads and checks the steps' parameters.

Each step ``NN_name`` has its values in ``params/NN_name.yaml`` (the file users edit; the notebook's
``parameters`` cell repeats them so a notebook opened in JupyterLab computes what ``make report`` computes, and a
test keeps the two equal) and its *rules* here, in :data:`SCHEMA`: type, range, allowed values, and for the
``in_*``/``out_*`` keys that the value is a path inside the project. The values are deliberately not repeated
here: one source of values (the YAML), one source of rules (this module).

Why a small hand-written declaration and not pydantic/JSON Schema: pydantic is not in ``requirements.lock``,
``jsonschema`` would be a new dependency for ~30 flat keys, and neither gives the messages the users asked for
(``file: key: rule``, "did you mean", papermill's ``-p`` strings parsed as YAML). pandera validates tables,
not mappings. The declaration below is data; :func:`check` is the only interpreter of it.

The same :func:`check` runs

* in ``make`` before any kernel starts (``python -m helpers.pipeline makefile`` / ``check``),
* in ``python -m helpers.pipeline run`` (after ``--params`` and ``$NKT_PARAM_OVERRIDES`` are applied),
* in each notebook's first cell after the parameters (:func:`notebook`), so ``papermill -p`` runs and
  JupyterLab runs get the same check.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from helpers import config

MODELS = ("logistic", "gompertz", "richards", "bass")
ISO3 = r"[A-Z]{3}"
# Folders a step may never write into: the inputs the pipeline must leave as they are.
READ_ONLY = ("data/raw", "data/sources", "data/external", "notebooks", "params", "src", "tests", "tools")


class ParamsError(ValueError):
    """One or more parameters break their rules; ``str()`` has one ``file: key: rule`` line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Rule:
    """What one parameter may hold.

    kind: ``int``, ``float``, ``bool``, ``str``, ``choice``, ``list``, ``mapping``, ``path`` (``in_``/``out_``
    keys: one path or a list of paths, relative to the project root and inside it).
    """

    kind: str
    doc: str = ""
    min: float | None = None
    max: float | None = None
    exclusive: bool = False  # min/max are strict bounds
    choices: tuple[Any, ...] = ()
    pattern: str | None = None
    item: Rule | None = None  # for lists
    min_len: int = 0
    unique: bool = False
    derived: Callable[[], Any] | None = field(default=None, compare=False)  # computed, never in the YAML

    def describe(self) -> str:
        """The rule in words, for error messages."""
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind in ("int", "float"):
            noun = "an integer" if self.kind == "int" else "a number"
            lo = "" if self.min is None else f"{'>' if self.exclusive else '>='} {self.min:g}"
            hi = "" if self.max is None else f"{'<' if self.exclusive else '<='} {self.max:g}"
            bounds = " and ".join(b for b in (lo, hi) if b)
            return f"{noun} {bounds}".strip()
        if self.kind == "list":
            inner = self.item.describe() if self.item else "anything"
            extra = (" (at least one" + (", no repeats" if self.unique else "") + ")") if self.min_len else ""
            return f"a list of {inner}{extra}"
        if self.kind == "str" and self.pattern:
            return f"a string matching {self.pattern}"
        return {
            "bool": "true or false",
            "str": "a string",
            "mapping": "a mapping (key: value)",
            "path": "a path relative to the project root, inside it",
        }.get(self.kind, self.kind)


def Int(lo: float | None = None, hi: float | None = None, doc: str = "") -> Rule:  # noqa: N802
    return Rule("int", doc, min=lo, max=hi)


def Float(
    lo: float | None = None, hi: float | None = None, *, exclusive: bool = False, doc: str = ""
) -> Rule:  # noqa: N802
    return Rule("float", doc, min=lo, max=hi, exclusive=exclusive)


def Choice(*choices: Any, doc: str = "") -> Rule:  # noqa: N802
    return Rule("choice", doc, choices=choices)


def ListOf(item: Rule, *, min_len: int = 1, unique: bool = True, doc: str = "") -> Rule:  # noqa: N802
    return Rule("list", doc, item=item, min_len=min_len, unique=unique)


BOOL, STR, MAPPING, PATH = Rule("bool"), Rule("str"), Rule("mapping"), Rule("path")
COUNTRY = Rule("str", pattern=ISO3, doc="ISO 3166-1 alpha-3 code")
YEAR = Int(2000, 2100)


def source_texts() -> list[str]:
    """The source documents named in ``data/sources/sources.csv`` (column ``file``), as project paths.

    Step 04 checks the events' quotes against these; they are derived here so the list is not repeated in
    ``params/04_report.yaml``.
    """
    import csv

    with open(config.SOURCES_CSV, encoding="utf-8", newline="") as fh:
        files = [row["file"] for row in csv.DictReader(fh) if (row.get("file") or "").strip()]
    return [config.rel(config.SOURCES / f) for f in files]


def _paths(*keys: str) -> dict[str, Rule]:
    return dict.fromkeys(keys, PATH)


SCHEMA: dict[str, dict[str, Rule]] = {
    "01_clean": {
        **_paths(
            "in_validation", "in_observations", "in_indicators", "in_sources", "in_itu_total", "in_itu_per100",
            "in_itu_per100_gapminder", "in_countries", "in_population_wb", "in_population_un",
            "out_itu_series", "out_observations", "out_national_series", "out_population", "out_penetration",
            "out_reconciliation", "out_fig_timeline", "out_fig_shares",
        ),
        "country": COUNTRY,
        "horizon": Int(2010, 2100, doc="last year the population table must cover"),
        "rules": Rule("mapping", "usability rules (keys checked by helpers.data.cleaning)"),
        "reconciliation": Rule("mapping", "reconciliation settings (keys checked by helpers.data.cleaning)"),
    },
    "02_fit_growth": {
        **_paths(
            "in_national_series", "in_itu_series", "in_population", "out_fits", "out_intervals", "out_forecast",
            "out_selection", "out_backtest", "out_naive_vs_censored", "out_summary", "out_fig_fit",
            "out_fig_residuals", "out_fig_forecast", "out_fig_backtest", "out_fig_selection",
            "out_profile", "out_averaged", "out_loo", "out_holdout", "out_fig_loo", "in_coverage",
        ),
        "series": Choice("curated", "itu"),
        "method": Choice("mle", "lsq", doc="mle = censored log-normal likelihood; lsq = hinge least squares"),
        "rounded_figures": Choice("interval", "exact"),
        "placement": Choice("mid", "end"),
        "drop_obs": ListOf(Rule("str", pattern=r"\d{3}-\d{3}", doc="an obs_id"), min_len=0),
        "holdout_origin": Int(2009, 2100),
        "holdout_years": ListOf(Int(2009, 2100)),
        "use_bounds": BOOL,
        "operator_figures": Choice("include", "exclude"),
        "models": ListOf(Choice(*MODELS)),
        "horizon": Int(2015, 2100),
        "n_bootstrap": Int(1, 100_000),
        "seed": Int(0, 2**32 - 1),
        "level": Float(0, 1, exclusive=True),
        "reach_levels": ListOf(Float(0, 100, exclusive=True)),
        "backtest_origins": ListOf(Int(2009, 2100), min_len=0),
        "loss_scale": Choice("log", "linear"),
        "epoch": Int(1990, 2030),
    },
    "03_compare_peers": {
        **_paths(
            "in_mobile_per100", "in_mobile_total", "in_countries", "in_population_wb", "in_population_un",
            "out_peer_fits", "out_peer_table", "out_rank", "out_counterfactual", "out_flagged",
            "out_peer_summary", "out_fig_distribution", "out_fig_aligned", "out_fig_small_multiples",
            "out_fig_counterfactual", "out_percentile", "out_same_era",
        ),
        "focal": COUNTRY,
        "percentile_models": ListOf(Choice(*MODELS)),
        "same_era_years": Int(0, 50),
        "same_era_windows": ListOf(Int(0, 50)),
        "peers": ListOf(COUNTRY, min_len=0),
        "models": ListOf(Choice(*MODELS)),
        "comparison_model": Choice(*MODELS),
        "threshold_per100": Float(0, 100, exclusive=True),
        "n_bootstrap": Int(1, 100_000),
        "seed": Int(0, 2**32 - 1),
        "n_jobs": Int(1, 256),
        "dask_scheduler": STR,
        "counterfactual_model": Choice(*MODELS),
        "horizon": YEAR,
    },
    "04_report": {
        **_paths(
            "in_sources", "in_observations_raw", "in_indicators", "in_events", "in_glossary", "in_external",
            "in_observations", "in_national_series", "in_itu_series", "in_reconciliation", "in_fig_observations",
            "in_growth_summary", "in_growth_fits", "in_growth_intervals", "in_growth_selection",
            "in_growth_backtest", "in_fig_fit", "in_fig_residuals", "in_fig_forecast", "in_fig_backtest",
            "in_fig_selection", "in_scenarios", "in_peer_summary", "in_peer_comparison",
            "in_fig_peers_distribution", "in_fig_peers_aligned", "in_fig_peers_counterfactual", "in_nist",
            "out_fig_events", "in_fig_loo", "in_coverage", "in_growth_forecast",
        ),
        "in_source_texts": Rule("path", "the source documents of sources.csv", derived=source_texts),
        "subtitle": STR,
    },
}  # fmt: skip


def check_across(resolved: Mapping[str, Mapping[str, Any]], files: Mapping[str, str]) -> None:
    """Rules that tie two steps' parameters together (only for the pipeline's own parameter files).

    Step 02 forecasts per inhabitant through step 01's population table, so that table must reach step 02's
    ``horizon``; otherwise step 02 would fail late inside its kernel.  (The report reads the horizon from step 02's
    summary, so any horizon the population covers builds the whole report.)
    """
    problems = []
    clean, growth = resolved.get("01_clean"), resolved.get("02_fit_growth")
    if clean is not None and growth is not None and growth.get("horizon", 0) > clean.get("horizon", 0):
        problems.append(
            f"{files['02_fit_growth']}: horizon: must be <= the population table's last year "
            f"({files['01_clean']}: horizon = {clean['horizon']}), got {growth['horizon']}"
        )
    if problems:
        raise ParamsError(problems)


def schema(step: str) -> dict[str, Rule]:
    """The rules of one step; a clear error for a step nobody declared."""
    try:
        return SCHEMA[step]
    except KeyError:
        raise ParamsError(
            [
                f"step {step!r} has no parameter schema: declare its keys in src/helpers/pipeline/params.py (SCHEMA)"
            ]
        ) from None


def declared(step: str) -> dict[str, Rule]:
    """The keys a parameters file (or the notebook's parameters cell) must have: the schema minus derived keys."""
    return {k: r for k, r in schema(step).items() if r.derived is None}


def _parse_text(value: Any, rule: Rule) -> Any:
    """papermill's ``-p key value`` passes lists, mappings and booleans as strings: read them as YAML."""
    if isinstance(value, str) and rule.kind in ("list", "mapping", "bool", "int", "float"):
        try:
            return yaml.safe_load(value)
        except yaml.YAMLError:
            return value
    return value


def _check_path(value: Any, key: str) -> str | None:
    """None when ``value`` is a path inside the project (and, for out_*, outside the read-only folders)."""
    if not isinstance(value, str) or not value.strip():
        return f"expected a path relative to the project root, got {value!r}"
    p = PurePosixPath(value)
    if p.is_absolute() or Path(value).is_absolute():
        return f"{value!r} is absolute: paths are relative to the project root and stay inside it"
    if ".." in p.parts:
        return f"{value!r} leaves the project ('..'): paths stay inside the project root"
    if key.startswith("out_") and any(value == d or value.startswith(d + "/") for d in READ_ONLY):
        return f"{value!r} is in a folder the pipeline only reads ({', '.join(READ_ONLY)}): write under data/processed or reports"
    return None


def _check_value(key: str, rule: Rule, value: Any) -> tuple[Any, str | None]:
    """(coerced value, problem or None)."""
    value = _parse_text(value, rule)
    kind = rule.kind
    if kind == "path":
        values = value if isinstance(value, list) else [value]
        for v in values:
            problem = _check_path(v, key)
            if problem:
                return value, problem
        return value, None
    if kind == "bool":
        return value, None if isinstance(value, bool) else f"must be true or false, got {value!r}"
    if kind == "int":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            return value, f"must be {rule.describe()}, got {value!r}"
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return value, f"must be {rule.describe()}, got {value!r}"
        value = float(value)
    if kind in ("int", "float"):
        lo, hi = rule.min, rule.max
        bad = (lo is not None and (value <= lo if rule.exclusive else value < lo)) or (
            hi is not None and (value >= hi if rule.exclusive else value > hi)
        )
        return value, f"must be {rule.describe()}, got {value!r}" if bad else None
    if kind == "choice":
        if value in rule.choices:
            return value, None
        near = difflib.get_close_matches(str(value), [str(c) for c in rule.choices], n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        return value, f"must be {rule.describe()}, got {value!r}{hint}"
    if kind == "str":
        if not isinstance(value, str):
            return value, f"must be a string, got {value!r}"
        if rule.pattern and not re.fullmatch(rule.pattern, value):
            return value, f"must be {rule.describe()} ({rule.doc}), got {value!r}"
        return value, None
    if kind == "mapping":
        return value, None if isinstance(value, dict) else f"must be {rule.describe()}, got {value!r}"
    if kind == "list":
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list):
            hint = f" such as [{value!r}]" if isinstance(value, str | int | float) else ""
            return value, f"must be {rule.describe()}{hint}, got {value!r}"
        if len(value) < rule.min_len:
            return value, f"must be {rule.describe()}, got an empty list"
        out = []
        for i, item in enumerate(value):
            item, problem = _check_value(key, rule.item, item) if rule.item else (item, None)
            if problem:
                return value, f"item {i + 1}: {problem}"
            out.append(item)
        if rule.unique and len(set(map(repr, out))) != len(out):
            dup = sorted({repr(v) for v in out if [repr(o) for o in out].count(repr(v)) > 1})
            return out, f"must not repeat items: {', '.join(dup)}"
        return out, None
    return value, f"unknown rule kind {kind!r} in helpers.pipeline.params.SCHEMA"


def _unknown(step: str, key: str, known: list[str]) -> str:
    near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f" (did you mean {near[0]!r}?)" if near else f" (known: {', '.join(known)})"
    return f"{key}: not a parameter of step {step}{hint}"


def check(step: str, values: Mapping[str, Any], *, source: str, partial: bool = False) -> dict[str, Any]:
    """Check ``values`` against the step's rules; return them coerced (papermill strings parsed), derived keys added.

    ``source`` names where the values came from (``params/02_fit_growth.yaml``, ``papermill -p``, ...); every
    problem is one line ``source: key: rule, got value``. With ``partial`` (overrides), missing keys are fine.
    All problems are reported at once, as :class:`ParamsError`.
    """
    rules = schema(step)
    keys = list(declared(step))
    problems: list[str] = []
    out: dict[str, Any] = {}
    for key, value in values.items():
        rule = rules.get(key)
        if rule is None:
            problems.append(f"{source}: {_unknown(step, key, keys)}")
            continue
        if rule.derived is not None:
            problems.append(f"{source}: {key}: computed by the pipeline ({rule.doc}); do not set it")
            continue
        coerced, problem = _check_value(key, rule, value)
        if problem:
            problems.append(f"{source}: {key}: {problem}")
        out[key] = coerced
    if not partial:
        missing = [k for k in keys if k not in values]
        problems += [f"{source}: {k}: missing (must be {rules[k].describe()})" for k in missing]
    if problems:
        raise ParamsError(problems)
    if not partial:
        for key, rule in rules.items():
            if rule.derived is not None:
                out[key] = rule.derived()
    return out


def read(path: Path) -> dict[str, Any]:
    """Read one YAML parameters file as a flat mapping (not checked), with a clear error when it is not one."""
    src = config.rel(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamsError([f"{src}: parameters file not found"]) from None
    except yaml.YAMLError as exc:
        raise ParamsError([f"{src}: not valid YAML: {exc}"]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ParamsError([f"{src}: expected a mapping of parameter names to values"])
    return data


def load(step: str, path: Path | None = None) -> dict[str, Any]:
    """The checked, resolved parameters of ``step`` from its YAML file (default ``params/<step>.yaml``)."""
    path = path or config.PARAMS / f"{step}.yaml"
    return check(step, read(path), source=config.rel(path))


_IPYTHON_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}


def _injected_names(namespace: Mapping[str, Any]) -> list[str]:
    """Names set by papermill's injected ``# Parameters`` cell, read from IPython's input history."""
    history = namespace.get("In")
    if not isinstance(history, list) or len(history) < 2:
        return []
    previous = history[-2]
    if not isinstance(previous, str) or not previous.lstrip().startswith("# Parameters"):
        return []
    try:
        tree = ast.parse(previous)
    except SyntaxError:
        return []
    return [
        t.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
    ]


def notebook(step: str, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The notebook's first line after its parameters cell: check the parameters and return them coerced.

    Use as ``globals().update(params.notebook("02_fit_growth", globals()))``. The parameters are the schema's
    keys found in the notebook's namespace (the parameters cell, plus papermill's injected cell); a key
    papermill injected that the schema does not know (``-p n_bootsrap 50``) is an error with "did you mean".
    Raises :class:`ParamsError` (one ``papermill/notebook: key: rule`` line per problem) before any work is done.
    """
    keys = declared(step)
    values = {k: namespace[k] for k in keys if k in namespace}
    problems: list[str] = []
    injected = [n for n in _injected_names(namespace) if n not in keys and n not in _IPYTHON_NAMES]
    source = f"notebooks/{step}.ipynb (parameters)"
    problems += [f"{source}: {_unknown(step, n, list(keys))}" for n in injected]
    try:
        out = check(step, values, source=source)
    except ParamsError as exc:
        problems += exc.problems
    if problems:
        raise ParamsError(problems)
    missing_inputs = [
        v for k, v in out.items() if k.startswith("in_") for v in (v if isinstance(v, list) else [v])
        if not (config.ROOT / v).exists()
    ]  # fmt: skip
    if missing_inputs:
        raise ParamsError(
            [
                f"{source}: input not found: {p} (run `make pipeline` first to build the upstream steps)"
                for p in missing_inputs
            ]
        )
    return out
