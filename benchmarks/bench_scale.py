"""Scale benchmark: validate and clean N synthetic observations (prints figures; not a pass/fail test).

The synthetic project (:func:`make_project`) has the real ``indicators.csv`` and N observations spread over
``ceil(N / 900)`` synthetic source documents. Each row is a figure a document could state about North
Korea's mobile market between 2009 and 2024 (counts, users, per-100 and household shares, national,
Koryolink, Pyongyang or a subgroup; exact, approximate, "more than", ranges), drawn around a logistic
curve with noise; its quote is a sentence of its source document that states every number, so the rows
pass validation and exercise every check. Some rows restate another row's sentence, so the same-sentence
rules have work to do. The data are random but seeded: the same N gives the same files.

Figures
-------
scale_rows                      N (default 10,000)
scale_validate_seconds          :func:`helpers.data.observations.load_observations` (every check)
scale_clean_seconds             step 01's computations on the validated rows: reference dates, usability,
                                national series, penetration table, curated reconciliation
scale_reconciliation_pairs      pairs the curated reconciliation lists
scale_total_seconds             the two together
scale_*_cpu_seconds             the same as CPU time of the process (on a shared machine the wall time
                                also counts other people's work)

Goal: ``scale_total_seconds`` < 60 on 2 cores for N = 10,000.

Run alone: ``python benchmarks/bench_scale.py [N]``.
"""

from __future__ import annotations

import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import config
from helpers.data import cleaning, external, national, reconcile
from helpers.data.observations import COLUMNS, load_observations
from helpers.data.sources import SOURCE_COLUMNS

N_ROWS = 10_000
SEED = 20261130
ROWS_PER_SOURCE = 900
MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
    "November", "December",
]  # fmt: skip


def _subs(t: float) -> float:
    """A plausible national subscription count at decimal year ``t`` (logistic, 8 million ceiling)."""
    return 8e6 / (1 + math.exp(-0.55 * (t - 2016.0)))


def _round3(x: float) -> float:
    return float(f"{x:.3g}")


def _row(rng: np.random.Generator, k: int, i: int) -> tuple[dict[str, str], str]:
    """One synthetic observation of source ``k`` (row ``i``) and the sentence stating it."""
    year = int(rng.integers(2009, 2025))
    month = int(rng.integers(1, 13))
    by_year = rng.random() < 0.4
    if by_year:
        start, end, when = f"{year}-01-01", f"{year}-12-31", f"in {year}"
    else:
        last = pd.Timestamp(year=year, month=month, day=1) + pd.offsets.MonthEnd(0)
        start, end, when = f"{year}-{month:02d}-01", f"{last:%Y-%m-%d}", f"in {MONTHS[month - 1]} {year}"
    t = year + (month - 0.5) / 12
    noise = float(np.exp(rng.normal(0, 0.2)))
    kind = rng.choice(["subs", "users", "pen", "own", "hh", "other"], p=[0.5, 0.12, 0.18, 0.08, 0.06, 0.06])
    scope, subgroup = "national", ""
    u = rng.random()
    if u < 0.15:
        scope = "operator:koryolink"
    elif u < 0.2:
        scope = "city:pyongyang"
    elif u < 0.25:
        subgroup = "ages 20-50"
    ref = f"(note {k}.{i})"
    if kind in ("subs", "users", "other"):
        indicator, unit = {
            "subs": ("mobile_subscriptions", "subscriptions"),
            "users": ("mobile_users", "people"),
            "other": ("base_stations", "count"),
        }[kind]
        base = _subs(t) * noise * (0.7 if kind == "users" else 1.0) * (0.001 if kind == "other" else 1.0)
        noun = {"subs": "mobile subscriptions", "users": "mobile phone users", "other": "base stations"}[kind]
        fmt = "{:,.0f}"
    else:
        indicator = {
            "pen": "mobile_penetration_pct",
            "own": "mobile_ownership_pct",
            "hh": "households_with_mobile_pct",
        }[kind]
        unit = "percent"
        base = min(95.0, 100 * _subs(t) / 25e6 * noise * (1.3 if kind == "hh" else 1.0))
        noun = {
            "pen": "subscriptions per 100 people",
            "own": "% of people had a phone",
            "hh": "% of households had a phone",
        }[kind]
        fmt = "{:g}"
    v = _round3(max(base, 1.0))
    q = rng.choice(["exact", "approx", "at_least", "range"], p=[0.4, 0.3, 0.2, 0.1])
    value, low, high = str(v), "", ""
    if q == "exact":
        said = f"there were {fmt.format(v)}"
    elif q == "approx":
        said = f"there were about {fmt.format(v)}"
    elif q == "at_least":
        said, low = f"there were more than {fmt.format(v)}", str(v)
    else:
        lo, hi = _round3(v * 0.9), _round3(v * 1.1)
        value, low, high = "", str(lo), str(hi)
        said = f"there were between {fmt.format(lo)} and {fmt.format(hi)}"
    where = {
        "national": "in the country",
        "operator:koryolink": "on Koryolink",
        "city:pyongyang": "in Pyongyang",
    }[scope]
    who = " among people aged 20-50" if subgroup else ""
    quote = f"{ref} {when.capitalize()} {said} {noun} {where}{who}."
    row = {
        "obs_id": f"{k:03d}-{i:03d}",
        "source_id": f"{k:03d}_synthetic",
        "quote": quote,
        "date_text": when,
        "period_start": start,
        "period_end": end,
        "indicator": indicator,
        "scope": scope,
        "subgroup": subgroup,
        "value": value,
        "value_low": low,
        "value_high": high,
        "qualifier": str(q),
        "unit": unit,
        "note": "synthetic",
    }
    return row, quote


def make_project(n: int, directory: Path, seed: int = SEED) -> Path:
    """Write a synthetic ``observations.csv`` of ``n`` rows with its sources; returns the observations path.

    Layout in ``directory``: ``observations.csv``, ``indicators.csv`` (the real one) and ``sources/``
    (``sources.csv`` and one text per source).
    """
    rng = np.random.default_rng(seed)
    directory = Path(directory)
    (directory / "sources").mkdir(parents=True, exist_ok=True)
    shutil.copy(config.RAW / "indicators.csv", directory / "indicators.csv")
    rows, texts = [], {}
    n_sources = max(1, math.ceil(n / ROWS_PER_SOURCE))
    for j in range(n):
        k, i = j % n_sources, j // n_sources + 1
        row, sentence = _row(rng, k, i)
        sid = row["source_id"]
        texts.setdefault(sid, []).append(sentence)
        rows.append(row)
    obs = pd.DataFrame(rows, columns=list(COLUMNS))
    obs.to_csv(directory / "observations.csv", index=False, lineterminator="\n")
    cat = []
    for sid, sentences in texts.items():
        (directory / "sources" / f"{sid}.txt").write_text(
            "Synthetic document.\n\n" + "\n".join(sentences) + "\n"
        )
        cat.append(
            {
                "source_id": sid,
                "file": f"{sid}.txt",
                "title": f"Synthetic document {sid}",
                "author_publisher": "benchmark",
                "date_text": "not dated",
                "date_start": "2024-01-01",
                "date_end": "2024-12-31",
                "kind": "synthetic",
                "url_or_origin": "benchmarks/bench_scale.py",
                "notes": "",
            }
        )
    pd.DataFrame(cat, columns=list(SOURCE_COLUMNS)).to_csv(
        directory / "sources" / "sources.csv", index=False, lineterminator="\n"
    )
    return directory / "observations.csv"


def validate(directory: Path) -> pd.DataFrame:
    """The synthetic observations through :func:`load_observations` (every check)."""
    return load_observations(
        directory / "observations.csv",
        sources_csv=directory / "sources" / "sources.csv",
        sources_dir=directory / "sources",
        indicators_csv=directory / "indicators.csv",
    )


def clean(obs: pd.DataFrame, itu: pd.DataFrame, population: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Step 01's computations with its default rules (the notebook's calls, without figures)."""
    rules = cleaning.DEFAULT_RULES
    classified = cleaning.classify_usability(cleaning.add_reference_dates(obs), rules)
    return {
        "observations": cleaning.observations_table(classified),
        "series": national.national_series_table(classified, itu, population, rules),
        "penetration": national.penetration_table(classified, itu, population, rules),
        "reconciliation": reconcile.reconcile_sources(obs, itu, population),
    }


def run(n: int = N_ROWS) -> dict[str, float | int]:
    itu = external.itu_mobile("PRK")
    population = external.population("PRK")
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
        make_project(n, Path(tmp))
        t0, c0 = time.perf_counter(), time.process_time()
        obs = validate(Path(tmp))
        t1, c1 = time.perf_counter(), time.process_time()
        out = clean(obs, itu, population)
        t2, c2 = time.perf_counter(), time.process_time()
    return {
        "scale_rows": n,
        "scale_validate_seconds": round(t1 - t0, 2),
        "scale_clean_seconds": round(t2 - t1, 2),
        "scale_reconciliation_pairs": len(out["reconciliation"]),
        "scale_total_seconds": round(t2 - t0, 2),
        # CPU time of this process: what the wall times would be on an idle machine (shared cores inflate them)
        "scale_validate_cpu_seconds": round(c1 - c0, 2),
        "scale_clean_cpu_seconds": round(c2 - c1, 2),
    }


if __name__ == "__main__":
    for key, value in run(int(sys.argv[1]) if len(sys.argv) > 1 else N_ROWS).items():
        print(f"{key:>36}: {value}")
