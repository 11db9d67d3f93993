"""Readers for the reference files in ``data/external`` (ITU via World Bank, Gapminder, UN WPP via OWID).

Every reader takes an optional ``directory`` (default :data:`helpers.config.EXTERNAL`) so tests can point
it at tiny CSVs. Raw reads are cached per absolute path (:func:`functools.lru_cache`); every public function
returns a fresh copy, so callers may mutate what they get.

Country rule (:func:`country_table`)
------------------------------------
The World Bank files mix ~217 economies with ~47 aggregates (``WLD``, ``EAS``, ``HIC``, ``LMY``, ``EUU``,
``OED``, ``ARB``, ...), all with three-letter codes. A code is treated as a **country** iff it appears as
``iso3166_1_alpha3`` in the Gapminder country list (``gapminder_ddf--entities--geo--country.csv``), plus the
explicit, documented exceptions in :data:`NON_ISO_COUNTRIES` (Kosovo: World Bank ``XKX``, Gapminder ``kos``,
OWID ``OWID_KOS``; it has no ISO 3166 alpha-3 code). With the staged files this drops exactly the codes in
:data:`WB_DROPPED_CODES` (47 aggregates from the indicator files, plus ``CHI`` "Channel Islands", which only
the population file has and which is the sum of Jersey and Guernsey). ``tests/test_external.py`` checks that
list against the data.

Gaps
----
Nothing is interpolated or filled: a year that a source does not publish is simply absent from the tables
(e.g. PRK mobile has no 2018 value in either the World Bank or the Gapminder file). Zeros before a service
launched are kept as zeros (they are published values, not missing ones); empty cells are dropped.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import config

__all__ = [
    "FILES",
    "NON_ISO_COUNTRIES",
    "SOURCE_FILES",
    "SOURCE_LABELS",
    "WB_DROPPED_CODES",
    "ExternalDataError",
    "country_table",
    "fixed_tel_per100",
    "gapminder_mobile_total",
    "itu_mobile",
    "itu_mobile_per100",
    "panel",
    "population",
    "population_seam",
    "population_table",
    "verify_file",
    "wb_dropped_codes",
]

#: File names inside ``data/external`` (keys are used in error messages and ``source`` columns).
FILES: dict[str, str] = {
    "wb_mobile_per100": "wb_IT.CEL.SETS.P2_mobile_per100_people.csv",
    "wb_population": "wb_SP.POP.TOTL_population.csv",
    "wb_fixed_per100": "wb_IT.MLT.MAIN.P2_fixed_tel_per100_people.csv",
    "gm_mobile_total": "gapminder_ddf--datapoints--cell_phones_total--by--geo--time.csv",
    "gm_mobile_per100": "gapminder_ddf--datapoints--cell_phones_per_100_people--by--geo--time.csv",
    "gm_countries": "gapminder_ddf--entities--geo--country.csv",
    "owid_population": "owid_population-with-un-projections.csv",
}

_WB_COLUMNS = ("Country Name", "Country Code", "Year", "Value")
_OWID_EST = "Population, total"
_OWID_PROJ = "Population, medium projection (Projected)"

#: Countries without an ISO 3166 alpha-3 code, kept explicitly: project iso3 -> (Gapminder geo, OWID code).
NON_ISO_COUNTRIES: dict[str, tuple[str, str]] = {"XKX": ("kos", "OWID_KOS")}

#: World Bank codes that the country rule drops from the staged files (aggregates and Channel Islands).
WB_DROPPED_CODES: tuple[str, ...] = (
    "AFE", "AFW", "ARB", "CEB", "CHI", "CSS", "EAP", "EAR", "EAS", "ECA", "ECS", "EMU", "EUU", "HIC", "HPC",
    "IBD", "IBT", "IDA", "IDB", "IDX", "LAC", "LCN", "LDC", "LIC", "LMC", "LMY", "LTE", "MEA", "MIC", "MNA",
    "NAC", "OED", "OSS", "PRE", "PSS", "PST", "SAS", "SSA", "SSF", "SST", "TEA", "TEC", "TLA", "TMN", "TSA",
    "TSS", "UMC", "WLD",
)  # fmt: skip

#: ``source`` labels used in output tables (short; :data:`SOURCE_FILES` maps each to its file).
SOURCE_LABELS: dict[str, str] = {
    "wb_mobile_per100": "World Bank IT.CEL.SETS.P2 (ITU)",
    "wb_population": "World Bank SP.POP.TOTL",
    "wb_fixed_per100": "World Bank IT.MLT.MAIN.P2 (ITU)",
    "gm_mobile_total": "Gapminder cell_phones_total (ITU)",
    "gm_mobile_per100": "Gapminder cell_phones_per_100_people (ITU)",
    "owid_estimate": "UN WPP 2024 estimate (OWID)",
    "owid_projection": "UN WPP 2024 medium-variant projection (OWID)",
}

#: label -> file name in ``data/external``.
SOURCE_FILES: dict[str, str] = {
    label: FILES["owid_population" if key.startswith("owid_") else key]
    for key, label in SOURCE_LABELS.items()
}


class ExternalDataError(ValueError):
    """A file in ``data/external`` is missing expected columns or holds unusable values."""


# ----------------------------------------------------------------------------------------------- raw reads
def _dir(directory: Path | str | None) -> Path:
    return Path(directory) if directory is not None else config.EXTERNAL


#: Plausible range of each numeric column, per file (pandera ``in_range``; every failure is listed).
_YEARS = (1900.0, 2100.0)
_PER100 = (0.0, 1000.0)
_POPULATION = (100.0, 2e10)  # the smallest population in the staged files is 501 (Holy See)
RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "wb_mobile_per100": {"Year": _YEARS, "Value": _PER100},
    "wb_fixed_per100": {"Year": _YEARS, "Value": _PER100},
    "wb_population": {"Year": _YEARS, "Value": _POPULATION},
    "gm_mobile_total": {"time": _YEARS, "cell_phones_total": (0.0, 2e10)},
    "gm_mobile_per100": {"time": _YEARS, "cell_phones_per_100_people": _PER100},
    "gm_countries": {},
    "owid_population": {"Year": _YEARS, _OWID_EST: _POPULATION, _OWID_PROJ: _POPULATION},
}
#: Columns that must be filled in every row (a key or a year is never empty).
COMPLETE: dict[str, tuple[str, ...]] = {
    "wb_mobile_per100": ("Country Code", "Year"),
    "wb_fixed_per100": ("Country Code", "Year"),
    "wb_population": ("Country Code", "Year"),
    "gm_mobile_total": ("geo", "time", "cell_phones_total"),
    "gm_mobile_per100": ("geo", "time", "cell_phones_per_100_people"),
    "gm_countries": ("country", "name"),
    "owid_population": ("Entity", "Year"),
}
#: Population series (file key -> entity column, year column, value columns): from one year to the next
#: a country's population changes by less than this factor (largest change in the staged files: 24 %).
MAX_POPULATION_STEP = 1.5
_POPULATION_SERIES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "wb_population": ("Country Code", "Year", ("Value",)),
    "owid_population": ("Entity", "Year", (_OWID_EST, _OWID_PROJ)),
}
_MAX_LISTED = 20


def _line_problems(path: Path, text: str, n_header: int) -> list[str]:
    """Rows with fewer or more fields than the header (a file cut mid-row, an unquoted comma)."""
    import csv
    import io as _stdio

    shown = config.rel(path)
    out = []
    reader = csv.reader(_stdio.StringIO(text, newline=""))
    prev = 0
    try:
        for record in reader:
            start, prev = prev + 1, reader.line_num
            if start == 1 or not record:
                continue
            if len(record) != n_header:
                hint = "the file looks cut off here" if len(record) < n_header else "an unquoted comma?"
                out.append(f"{shown}:{start}: -: row has {len(record)} fields, expected {n_header} ({hint})")
    except csv.Error as exc:  # e.g. a field over the csv module's 128 KiB limit: no plausible cell is
        out.append(f"{shown}:{prev + 1}: -: not a readable CSV row: {exc}")
    return out


def _schema_problems(df: pd.DataFrame, key: str, shown: str) -> list[str]:
    """Required values present and numbers in their plausible range (pandera, lazy: every failure)."""
    import pandera.pandas as pa

    cols: dict[str, pa.Column] = {}
    for c in df.columns:
        checks = []
        if c in RANGES.get(key, {}):
            lo, hi = RANGES[key][c]
            checks.append(pa.Check.in_range(lo, hi, error=f"outside the plausible range [{lo:g}, {hi:g}]"))
        if checks or c in COMPLETE.get(key, ()):
            cols[c] = pa.Column(nullable=c not in COMPLETE.get(key, ()), checks=checks)
    try:
        pa.DataFrameSchema(cols, strict=False).validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        out = []
        for _, fc in exc.failure_cases.iterrows():
            idx = fc["index"]
            line = int(idx) + 2 if idx is not None and not pd.isna(idx) else 1
            if str(fc["check"]) == "not_nullable":
                msg = "required value is empty (row cut off?)"
            else:
                msg = f"{fc['failure_case']!r} is {fc['check']}"
            out.append((line, f"{shown}:{line}: {fc['column']}: {msg}"))
        return [m for _, m in sorted(out)]
    return []


def _population_step_problems(df: pd.DataFrame, key: str, shown: str) -> list[str]:
    """Year-on-year population changes larger than :data:`MAX_POPULATION_STEP` (e.g. a value cut short)."""
    if key not in _POPULATION_SERIES:
        return []
    entity, year, values = _POPULATION_SERIES[key]
    out = []
    for col in values:
        d = df[[entity, year, col]].dropna().sort_values([entity, year], kind="stable")
        prev = d.groupby(entity, sort=False)[col].shift()
        ratio = d[col] / prev
        bad = ratio.notna() & ((ratio > MAX_POPULATION_STEP) | (ratio < 1 / MAX_POPULATION_STEP))
        for idx in d.index[bad]:
            out.append(
                f"{shown}:{int(idx) + 2}: {col}: {d.at[idx, col]:.15g} for {d.at[idx, entity]} "
                f"{int(d.at[idx, year])} is {ratio[idx]:.3g} times the year before ({prev[idx]:.15g}): "
                "not a plausible population (a truncated or edited value?)"
            )
    return out


def _raise_problems(problems: list[str]) -> None:
    if problems:
        more = len(problems) - _MAX_LISTED
        text = "\n".join(problems[:_MAX_LISTED]) + (f"\n... and {more} more" if more > 0 else "")
        raise ExternalDataError(text)


@functools.lru_cache(maxsize=64)
def _read_cached(
    path: str, stamp: tuple[int, int], required: tuple[str, ...], numeric: tuple[str, ...], key: str = ""
) -> pd.DataFrame:
    """Read and check one CSV; ``stamp`` (mtime_ns, size) is part of the cache key so edits are seen.

    Checks, in order: the digest recorded in ``data/SHA256SUMS`` (when the file is listed there), not an
    HTML page, required columns, every row complete (as many fields as the header), numbers parse, required
    values present and numbers in a plausible range (:data:`RANGES`), populations without implausible
    jumps (:data:`MAX_POPULATION_STEP`). Problems are ``file:line: column: what is wrong``.
    """
    from helpers import io as hio

    p = Path(path)
    shown = config.rel(p)
    try:
        hio.verify_sha256(p)
    except hio.ChecksumError as exc:
        raise ExternalDataError(str(exc)) from None
    if hio.sniff_html(p):
        raise ExternalDataError(
            f"{shown}:1: -: this is an HTML page, not a CSV (an error page saved by a failed download?); "
            f"restore the file (`git checkout -- {shown}`) or download it again"
        )
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        line = p.read_bytes()[: exc.start].count(b"\n") + 1
        raise ExternalDataError(
            f"{shown}:{line}: -: not valid UTF-8 ({exc.reason} at byte {exc.start})"
        ) from None
    try:
        df = pd.read_csv(p, dtype={c: "string" for c in required if c not in numeric}, keep_default_na=True)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ExternalDataError(f"{shown}: not a readable CSV: {exc}") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ExternalDataError(f"{p.name}: missing column(s) {missing}; found {list(df.columns)} (file {p})")
    problems = _line_problems(p, text, len(df.columns))
    for c in numeric:
        converted = pd.to_numeric(df[c], errors="coerce")
        bad = converted.isna() & df[c].notna()
        for idx in df.index[bad][:_MAX_LISTED]:
            problems.append(f"{shown}:{int(idx) + 2}: {c}: non-numeric value {str(df.at[idx, c])!r}")
        df[c] = converted
    _raise_problems(problems)
    if key:
        _raise_problems(_schema_problems(df, key, shown) + _population_step_problems(df, key, shown))
    return df


def _read(
    key: str, directory: Path | str | None, required: Sequence[str], numeric: Sequence[str]
) -> pd.DataFrame:
    path = (_dir(directory) / FILES[key]).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"external data file not found: {path.name} (expected in {path.parent})")
    st = path.stat()
    return _read_cached(str(path), (st.st_mtime_ns, st.st_size), tuple(required), tuple(numeric), key).copy()


def verify_file(key: str, directory: Path | str | None = None) -> bool:
    """Run every check of :func:`_read_cached` on one file of :data:`FILES`; True or :class:`ExternalDataError`."""
    _read(key, directory, (), tuple(RANGES[key]))
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m helpers.data.external check``: check every external file; 0 when all pass, 1 otherwise."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m helpers.data.external", description=main.__doc__)
    parser.add_argument("command", choices=["check"])
    parser.add_argument("--directory", default=None)
    args = parser.parse_args(argv)
    failed = 0
    for key in FILES:
        try:
            verify_file(key, args.directory)
        except (ExternalDataError, FileNotFoundError) as exc:
            print(exc, file=sys.stderr)
            failed += 1
    if failed:
        print(f"{failed} external file(s) failed their checks", file=sys.stderr)
        return 1
    print(f"OK: {len(FILES)} external files match data/SHA256SUMS and pass their checks")
    return 0


def _check_years(df: pd.DataFrame, col: str, fname: str) -> pd.Series:
    years = df[col]
    if years.isna().any() or (years != np.floor(years)).any():
        raise ExternalDataError(f"{fname}: column {col!r} holds missing or non-integer years")
    return years.astype("int64")


# ----------------------------------------------------------------------------------------------- countries
def country_table(directory: Path | str | None = None) -> pd.DataFrame:
    """Real countries (no aggregates), from the Gapminder country list.

    Columns: ``iso3`` (ISO 3166 alpha-3, or ``XKX`` for Kosovo as the World Bank codes it), ``name``
    (Gapminder's English name), ``region`` (Gapminder ``world_4region``: africa / americas / asia / europe),
    ``income_group`` (Gapminder ``income_groups``: low_income ... high_income; may be missing for
    territories), ``geo`` (Gapminder geo key, to join Gapminder datapoints), ``un_state`` (bool).
    Gapminder geos without an alpha-3 code (e.g. Abkhazia) are left out, except :data:`NON_ISO_COUNTRIES`.
    """
    cols = ("country", "iso3166_1_alpha3", "name", "income_groups", "world_4region", "un_state")
    g = _read("gm_countries", directory, cols, ())
    by_geo = g.set_index("country")
    rows = g[g["iso3166_1_alpha3"].notna()].copy()
    rows["iso3"] = rows["iso3166_1_alpha3"].str.upper()
    extra = []
    for iso3, (geo, _owid) in NON_ISO_COUNTRIES.items():
        if geo in by_geo.index:
            r = by_geo.loc[[geo]].reset_index()
            r["iso3"] = iso3
            extra.append(r)
    if extra:
        rows = pd.concat([rows, *extra], ignore_index=True)
    out = pd.DataFrame(
        {
            "iso3": rows["iso3"].astype(str),
            "name": rows["name"].astype(str),
            "region": rows["world_4region"].astype("string"),
            "income_group": rows["income_groups"].astype("string"),
            "geo": rows["country"].astype(str),
            "un_state": rows["un_state"].astype(str).str.upper().eq("TRUE"),
        }
    )
    if out["iso3"].duplicated().any():
        dup = out.loc[out["iso3"].duplicated(), "iso3"].tolist()
        raise ExternalDataError(f"{FILES['gm_countries']}: duplicate iso3166_1_alpha3 codes {dup}")
    return out.sort_values("iso3").reset_index(drop=True)


def _country_codes(directory: Path | str | None) -> set[str]:
    return set(country_table(directory)["iso3"])


# ----------------------------------------------------------------------------------------------- World Bank
def _wb_indicator(key: str, directory: Path | str | None, countries_only: bool = True) -> pd.DataFrame:
    """A World Bank indicator file as ``iso3, wb_name, year, value`` (NaN values dropped)."""
    df = _read(key, directory, _WB_COLUMNS, ("Year", "Value"))
    df["Year"] = _check_years(df, "Year", FILES[key])
    df = df.dropna(subset=["Value"])
    out = pd.DataFrame(
        {
            "iso3": df["Country Code"].astype(str),
            "wb_name": df["Country Name"].astype(str),
            "year": df["Year"],
            "value": df["Value"].astype(float),
        }
    )
    if countries_only:
        out = out[out["iso3"].isin(_country_codes(directory))]
    if out.duplicated(["iso3", "year"]).any():
        raise ExternalDataError(f"{FILES[key]}: duplicate (Country Code, Year) rows")
    return out.sort_values(["iso3", "year"]).reset_index(drop=True)


def wb_dropped_codes(directory: Path | str | None = None) -> pd.DataFrame:
    """Codes in the World Bank files that the country rule drops: ``code, wb_name``, sorted."""
    frames = [
        _wb_indicator(k, directory, countries_only=False)[["iso3", "wb_name"]]
        for k in ("wb_mobile_per100", "wb_population", "wb_fixed_per100")
    ]
    allc = pd.concat(frames).drop_duplicates("iso3")
    dropped = allc[~allc["iso3"].isin(_country_codes(directory))]
    return dropped.rename(columns={"iso3": "code"}).sort_values("code").reset_index(drop=True)


def _filter_iso(df: pd.DataFrame, iso3: str | None) -> pd.DataFrame:
    if iso3 is None:
        return df.reset_index(drop=True)
    return df[df["iso3"] == iso3.upper()].reset_index(drop=True)


def itu_mobile_per100(iso3: str | None = None, directory: Path | str | None = None) -> pd.DataFrame:
    """Mobile-cellular subscriptions per 100 people (ITU via World Bank IT.CEL.SETS.P2), countries only.

    Columns ``iso3, year, per100``; one row per published value (zeros before launch kept, empty cells and
    aggregates dropped). ``iso3=None`` gives every country.
    """
    df = _wb_indicator("wb_mobile_per100", directory).rename(columns={"value": "per100"})
    return _filter_iso(df[["iso3", "year", "per100"]], iso3)


def fixed_tel_per100(iso3: str | None = None, directory: Path | str | None = None) -> pd.DataFrame:
    """Fixed-telephone subscriptions per 100 people (World Bank IT.MLT.MAIN.P2): ``iso3, year, per100``."""
    df = _wb_indicator("wb_fixed_per100", directory).rename(columns={"value": "per100"})
    return _filter_iso(df[["iso3", "year", "per100"]], iso3)


# ----------------------------------------------------------------------------------------------- Gapminder
def _gapminder(key: str, value_col: str, directory: Path | str | None) -> pd.DataFrame:
    df = _read(key, directory, ("geo", "time", value_col), ("time", value_col))
    df["time"] = _check_years(df, "time", FILES[key])
    df = df.dropna(subset=[value_col])
    geo_to_iso = country_table(directory).set_index("geo")["iso3"]
    iso = df["geo"].astype(str).map(geo_to_iso)
    out = pd.DataFrame({"iso3": iso, "year": df["time"], "value": df[value_col].astype(float)})
    out = out.dropna(subset=["iso3"])
    return out.sort_values(["iso3", "year"]).reset_index(drop=True)


def gapminder_mobile_total(iso3: str | None = None, directory: Path | str | None = None) -> pd.DataFrame:
    """Mobile-cellular subscriptions, total (Gapminder ``cell_phones_total``): ``iso3, year, subscriptions``.

    Gapminder geos are mapped to ISO3 through the country list (so ``nld_curacao`` -> ``CUW``, ``kos`` ->
    ``XKX``).
    """
    df = _gapminder("gm_mobile_total", "cell_phones_total", directory).rename(
        columns={"value": "subscriptions"}
    )
    return _filter_iso(df, iso3)


def itu_mobile(iso3: str = "PRK", directory: Path | str | None = None) -> pd.DataFrame:
    """One country's mobile series: ``year, subscriptions, per100, source`` (plus per-value source columns).

    ``subscriptions`` comes from Gapminder ``cell_phones_total``; ``per100`` from World Bank IT.CEL.SETS.P2,
    or, in a year the World Bank file lacks, from Gapminder ``cell_phones_per_100_people`` (the same WDI
    series rounded to 6 significant digits). ``subscriptions_source`` / ``per100_source`` give the file name
    each value came from; ``source`` joins them as ``"subscriptions: <file>; per100: <file>"``.
    Years present in neither file are absent (no interpolation).
    """
    iso3 = iso3.upper()
    tot = gapminder_mobile_total(iso3, directory)[["year", "subscriptions"]]
    wb = itu_mobile_per100(iso3, directory)[["year", "per100"]]
    gm = _filter_iso(_gapminder("gm_mobile_per100", "cell_phones_per_100_people", directory), iso3)
    gm = gm[["year", "value"]].rename(columns={"value": "per100_gm"})
    df = tot.merge(wb, on="year", how="outer").merge(gm, on="year", how="outer")
    df["subscriptions_source"] = np.where(df["subscriptions"].notna(), FILES["gm_mobile_total"], None)
    use_gm = df["per100"].isna() & df["per100_gm"].notna()
    df["per100_source"] = np.where(
        df["per100"].notna(),
        FILES["wb_mobile_per100"],
        np.where(use_gm, FILES["gm_mobile_per100"], None),
    )
    df.loc[use_gm, "per100"] = df.loc[use_gm, "per100_gm"]
    df = df.dropna(subset=["subscriptions", "per100"], how="all")

    def _src(r: pd.Series) -> str:
        parts = []
        if isinstance(r["subscriptions_source"], str):
            parts.append("subscriptions: " + r["subscriptions_source"])
        if isinstance(r["per100_source"], str):
            parts.append("per100: " + r["per100_source"])
        return "; ".join(parts)

    df["source"] = df.apply(_src, axis=1) if len(df) else pd.Series(dtype=str)
    df["subscriptions_source"] = df["subscriptions_source"].astype("string")
    df["per100_source"] = df["per100_source"].astype("string")
    cols = ["year", "subscriptions", "per100", "source", "subscriptions_source", "per100_source"]
    return df[cols].sort_values("year").reset_index(drop=True)


# ----------------------------------------------------------------------------------------------- population
def _owid_population(directory: Path | str | None) -> pd.DataFrame:
    req = ("Entity", "Code", "Year", _OWID_EST, _OWID_PROJ)
    df = _read("owid_population", directory, req, ("Year", _OWID_EST, _OWID_PROJ))
    df["Year"] = _check_years(df, "Year", FILES["owid_population"])
    code = df["Code"].astype("string")
    for iso3, (_geo, owid_code) in NON_ISO_COUNTRIES.items():
        code = code.mask(code == owid_code, iso3)
    df["iso3"] = code
    df = df[df["iso3"].notna() & df["iso3"].isin(_country_codes(directory))]
    est = df[["iso3", "Year", _OWID_EST]].dropna().rename(columns={"Year": "year", _OWID_EST: "population"})
    est["source"] = SOURCE_LABELS["owid_estimate"]
    proj = (
        df[["iso3", "Year", _OWID_PROJ]].dropna().rename(columns={"Year": "year", _OWID_PROJ: "population"})
    )
    proj["source"] = SOURCE_LABELS["owid_projection"]
    out = pd.concat([est, proj], ignore_index=True)
    # a year with both an estimate and a projection keeps the estimate
    out = out.drop_duplicates(["iso3", "year"], keep="first")
    return out.astype({"iso3": str})


def population_table(directory: Path | str | None = None) -> pd.DataFrame:
    """Population of every country and year: ``iso3, year, population, source``.

    Rule: World Bank SP.POP.TOTL wherever it has a value (it runs to 2025 in the staged file); any other
    year comes from the OWID copy of UN WPP 2024 -- the estimate where one exists (to 2023; this covers
    countries or years the World Bank lacks, e.g. Taiwan), else the medium-variant projection (2024-2100).
    SP.POP.TOTL is itself built on UN WPP, so the two agree closely at the seam (PRK 2024/2025: < 0.001 %;
    see :func:`population_seam`).
    """
    wb = _wb_indicator("wb_population", directory)[["iso3", "year", "value"]].rename(
        columns={"value": "population"}
    )
    wb["source"] = SOURCE_LABELS["wb_population"]
    un = _owid_population(directory)
    out = pd.concat([wb, un], ignore_index=True).drop_duplicates(["iso3", "year"], keep="first")
    return out.sort_values(["iso3", "year"]).reset_index(drop=True)


def population(
    iso3: str = "PRK", years: Iterable[int] | None = None, directory: Path | str | None = None
) -> pd.DataFrame:
    """One country's population: ``year, population, source`` (see :func:`population_table` for the rule).

    ``years=None`` returns every available year; otherwise exactly the requested years, in the order given
    (duplicates removed) -- a year with no value in any source raises :class:`KeyError` naming it.
    """
    iso3 = iso3.upper()
    tab = population_table(directory)
    tab = tab[tab["iso3"] == iso3][["year", "population", "source"]].reset_index(drop=True)
    if tab.empty:
        raise KeyError(
            f"no population data for {iso3!r} in {FILES['wb_population']} or {FILES['owid_population']}"
        )
    if years is None:
        return tab
    wanted = list(dict.fromkeys(int(y) for y in years))
    missing = sorted(set(wanted) - set(tab["year"]))
    if missing:
        raise KeyError(
            f"no population for {iso3} in year(s) {missing} (available {tab.year.min()}-{tab.year.max()})"
        )
    return tab.set_index("year").loc[wanted].reset_index()


def population_seam(iso3: str = "PRK", directory: Path | str | None = None) -> pd.DataFrame:
    """World Bank vs UN WPP (OWID) population in every year both have: ``year, wb, un, rel_diff``.

    ``rel_diff = wb / un - 1``. Used to check the two sources agree where :func:`population` switches.
    """
    iso3 = iso3.upper()
    wb = _wb_indicator("wb_population", directory)
    wb = wb[wb["iso3"] == iso3][["year", "value"]].rename(columns={"value": "wb"})
    un = _owid_population(directory)
    un = un[un["iso3"] == iso3][["year", "population"]].rename(columns={"population": "un"})
    df = wb.merge(un, on="year", how="inner")
    df["rel_diff"] = df["wb"] / df["un"] - 1.0
    return df.sort_values("year").reset_index(drop=True)


# ----------------------------------------------------------------------------------------------- panel
def panel(
    threshold_per100: float = 1.0, min_year: int | None = None, directory: Path | str | None = None
) -> pd.DataFrame:
    """The cross-country mobile panel, countries only, one row per country-year with a per-100 value.

    Columns: ``iso3, name, region, income_group, year, per100`` (World Bank IT.CEL.SETS.P2),
    ``subscriptions`` (Gapminder total; NaN where Gapminder lacks the year), ``population`` and
    ``population_source`` (:func:`population_table`), ``launch_year`` (first year ``per100 >=
    threshold_per100``; NaN if never reached) and ``years_since_launch`` (``year - launch_year``).

    Gaps are explicit: a year the World Bank does not publish is absent (never interpolated; e.g. PRK
    2018); pre-launch zeros are kept. ``threshold_per100`` only defines ``launch_year`` -- no rows are
    removed by it, so countries that never reach the threshold stay in the table. ``min_year`` drops earlier
    rows (after ``launch_year`` is computed on the full series).
    """
    if not np.isfinite(threshold_per100) or threshold_per100 < 0:
        raise ValueError(f"threshold_per100 must be a non-negative number, got {threshold_per100!r}")
    mob = itu_mobile_per100(None, directory)
    tot = gapminder_mobile_total(None, directory)
    pop = population_table(directory).rename(columns={"source": "population_source"})
    ctry = country_table(directory)[["iso3", "name", "region", "income_group"]]
    df = (
        mob.merge(ctry, on="iso3", how="left")
        .merge(tot, on=["iso3", "year"], how="left")
        .merge(pop, on=["iso3", "year"], how="left")
    )
    launch = df[df["per100"] >= threshold_per100].groupby("iso3")["year"].min().rename("launch_year")
    df = df.merge(launch, on="iso3", how="left")
    df["launch_year"] = df["launch_year"].astype("Int64")
    df["years_since_launch"] = (df["year"] - df["launch_year"]).astype("Int64")
    if min_year is not None:
        df = df[df["year"] >= int(min_year)]
    cols = [
        "iso3", "name", "region", "income_group", "year", "per100", "subscriptions", "population",
        "population_source", "launch_year", "years_since_launch",
    ]  # fmt: skip
    return df[cols].sort_values(["iso3", "year"]).reset_index(drop=True)


if __name__ == "__main__":
    raise SystemExit(main())
