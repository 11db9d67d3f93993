"""The report's tables: pipeline products formatted as strings ready to display, and a DataFrame as an HTML table
with its caption and column widths (cell text is escaped)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from helpers.report.provenance import finite, model_name, short_source, value_text
from helpers.steps.contracts import GrowthSummary, Interval


def sources_table(sources: pd.DataFrame) -> pd.DataFrame:
    """The source documents: short id, title, author or publisher, date as stated, kind."""
    out = pd.DataFrame(
        {
            "id": sources["source_id"].map(short_source),
            "title": sources["title"],
            "author / publisher": sources["author_publisher"],
            "date": sources["date_text"],
            "kind": sources["kind"].str.replace("_", " "),
        }
    )
    return out.reset_index(drop=True)


USE_TEXT = {"value": "fit: value", "lower_bound": "fit: lower bound", "upper_bound": "fit: upper bound"}


def observations_table(obs: pd.DataFrame) -> pd.DataFrame:
    """The curated observations as read: id, date words, what (indicator, scope), value, use, quote.

    ``obs`` is ``observations_clean.csv``; the id's prefix is the source (``000-004``: source 000); the value
    carries the qualifier (≈, ≥, ≤, a range); ``use`` says whether and how the fit uses the figure.
    """
    use = [
        USE_TEXT.get(u, f"fit: {u}") if bool(ok) else "not used"
        for ok, u in zip(obs["usable_national_subs"], obs["use_as"], strict=True)
    ]
    date = obs["date_text"].where(obs["date_text"].notna() & (obs["date_text"].astype(str).str.strip() != ""))
    date = date.fillna(
        "undated ("
        + obs["period_start"].astype(str).str[:4]
        + "–"
        + obs["period_end"].astype(str).str[:4]
        + ")"
    )
    what = obs["indicator"].str.replace("_pct", " %").str.replace("_", " ")
    scope = obs["scope"].str.replace("operator:", "operator ").str.replace("city:", "city ")
    what = what.where(scope == "national", what + " (" + scope.str.replace("koryolink", "Koryolink") + ")")
    sub = obs["subgroup"].fillna("") if "subgroup" in obs.columns else pd.Series("", index=obs.index)
    what = what.where(sub == "", what + ", " + sub.astype(str))
    return pd.DataFrame(
        {
            "id": obs["obs_id"],
            "date in the source": date,
            "what": what,
            "value": [value_text(r) for _, r in obs.iterrows()],
            "use": use,
            "quote": obs["quote"],
        }
    ).reset_index(drop=True)


def is_mobile_indicator(indicator: pd.Series) -> pd.Series:
    """True for indicators about mobile phones (subscriptions, users, shares, households with a phone)."""
    return indicator.str.startswith("mobile") | indicator.str.contains("with_mobile")


def exclusion_table(obs: pd.DataFrame) -> pd.DataFrame:
    """Observations by use / exclusion reason: ``status, reason, count, observations`` (ids listed).

    Reasons are grouped as :func:`helpers.data.cleaning.usability_summary` groups them, except the observations
    excluded by name (rule ``exclude_obs``), whose individual reasons are listed, since no other table shows
    them.
    """
    used = obs["usable_national_subs"].astype(bool)
    key = pd.Series("", index=obs.index)
    key[used] = obs.loc[used, "use_as"].map(lambda u: {"value": "as a value", "lower_bound": "as a lower bound"}
                                            .get(u, f"as {u}"))  # fmt: skip
    exc = _exclusion_key(obs["exclusion_reason"])
    by_name = obs["exclusion_reason"].fillna("").str.startswith("excluded by name: ")
    exc[by_name] = "by name: " + obs.loc[by_name, "exclusion_reason"].str.replace("excluded by name: ", "")
    key[~used] = exc[~used].str.replace("restates another obs", "restates another figure", regex=False)
    rows = []
    for (is_used, reason), g in obs.groupby([used, key], sort=False):
        rows.append(
            {
                "status": "used in the fit" if is_used else "excluded",
                "reason": reason,
                "count": len(g),
                "observations": ", ".join(sorted(g["obs_id"])),
            }
        )
    out = pd.DataFrame(rows)
    out["_u"] = out["status"] == "used in the fit"
    out["_n"] = out["reason"].str.startswith("by name")
    out = out.sort_values(
        ["_u", "_n", "count", "reason"], ascending=[False, True, False, True], kind="stable"
    )
    return out.drop(columns=["_u", "_n"]).reset_index(drop=True)


def _exclusion_key(reasons: pd.Series) -> pd.Series:
    """The grouping :func:`helpers.data.cleaning.usability_summary` applies to exclusion reasons."""
    exc = reasons.fillna("").str.replace(r"^restates obs \S+", "restates another obs", regex=True)
    exc = exc.str.replace(r"\(indicator \w+\)$", "(other indicators)", regex=True)
    exc = exc.str.replace(r"^a (\w+) figure is not national \(scope .*\)$", r"a city (\1) figure is not national",
                          regex=True)  # fmt: skip
    exc = exc.str.replace(r"^refers to a subgroup \(.*\)", "refers to a subgroup", regex=True)
    return exc.str.replace(r"^excluded by name: .*", "excluded by name (rule exclude_obs; reasons in the table)",
                           regex=True)  # fmt: skip


def period_text(period: str) -> str:
    """``2013-01-01..2013-12-31`` -> ``2013``; ``2013-01-01..2013-03-13`` -> ``1 Jan–13 Mar 2013``;
    ``2012-12-31`` -> ``31 Dec 2012``; ``2010-05-01..2010-05-31`` -> ``May 2010``."""
    parts = str(period).split("..")
    try:
        a = pd.Timestamp(parts[0])
        b = pd.Timestamp(parts[-1])
    except ValueError:
        return str(period)

    def day(t: pd.Timestamp) -> str:
        return f"{t.day} {t:%b}"

    if a == b:
        return f"{day(a)} {a.year}"
    if a == pd.Timestamp(year=a.year, month=1, day=1) and b == pd.Timestamp(year=b.year, month=12, day=31):
        return str(a.year) if a.year == b.year else f"{a.year}–{b.year}"
    if a.day == 1 and b == b + pd.offsets.MonthEnd(0):
        if (a.year, a.month) == (b.year, b.month):
            return f"{a:%b} {a.year}"
        return f"{a:%b}–{b:%b} {a.year}" if a.year == b.year else f"{a:%b} {a.year}–{b:%b} {b.year}"
    return f"{day(a)}–{day(b)} {a.year}" if a.year == b.year else f"{day(a)} {a.year}–{day(b)} {b.year}"


def _fmt_compared(x: float, unit: str) -> str:
    if pd.isna(x):
        return ""
    return f"{x:,.1f} per 100" if unit != "count" else f"{x:,.0f}"


def reconciliation_table(
    rec: pd.DataFrame, verdicts: Iterable[str] = ("conflict", "definitional")
) -> pd.DataFrame:
    """Pairs of figures with the given verdicts: period, verdict, the two figures, ratio, explanation."""
    keep = rec[rec["verdict"].isin(list(verdicts))]
    order = {v: i for i, v in enumerate(verdicts)}
    keep = keep.assign(_o=keep["verdict"].map(order)).sort_values(["_o", "period", "obs_a"], kind="stable")

    def fig(r: pd.Series, side: str) -> str:
        val = _fmt_compared(r[f"compared_{side}"], r["common_unit"])
        return f"{r[f'obs_{side}']}: {val} ({period_text(r[f'period_{side}'])})"

    return pd.DataFrame(
        {
            "period": keep["period"].astype(str),
            "verdict": keep["verdict"],
            "figure A": [fig(r, "a") for _, r in keep.iterrows()],
            "figure B": [fig(r, "b") for _, r in keep.iterrows()],
            "ratio": keep["ratio"].map(lambda x: f"{x:.2f}×"),
            "explanation": keep["explanation"].str.replace(r"^(conflict|definitional): ", "", regex=True),
        }
    ).reset_index(drop=True)


def events_table(events: pd.DataFrame) -> pd.DataFrame:
    """The events as stated: id, date, event, source, quote, note."""
    from helpers.data.events import date_label

    return pd.DataFrame(
        {
            "id": events["event_id"],
            "date": [date_label(d, e) for d, e in zip(events["date"], events["date_end"], strict=True)],
            "event": events["event"],
            "source": events["source_id"].map(short_source),
            "quote": events["quote"],
            "note": events["note"].fillna(""),
        }
    ).reset_index(drop=True)


def parameters_table(fits: pd.DataFrame) -> pd.DataFrame:
    """Each model's parameters (``growth_fit.csv``): estimate and standard error, 4 significant digits."""

    def g(x: float) -> str:
        if not finite(x):
            return ""
        return f"{x:,.0f}" if abs(x) >= 1e4 else f"{x:.4g}"

    at_bound = fits.get("at_bound", pd.Series(False, index=fits.index)).astype(str).str.lower() == "true"
    return pd.DataFrame(
        {
            "model": fits["model"].map(model_name),
            "parameter": fits["param"].map(lambda x: {"t0": "τ₀", "nu": "ν"}.get(x, x)),
            "estimate": fits["estimate"].map(g),
            "standard error": [
                ("— (at a bound)" if b else g(se)) for se, b in zip(fits["stderr"], at_bound, strict=True)
            ],
            "relative s.e.": [
                ("" if b or not finite(x) else f"{100 * x:.0f}%")
                for x, b in zip(fits["rel_stderr"], at_bound, strict=True)
            ],
        }
    ).reset_index(drop=True)


def selection_table(sel: pd.DataFrame) -> pd.DataFrame:
    """Model selection: parameters, AICc, ΔAICc, Akaike weight, BIC, converged, parameters at a bound."""
    return pd.DataFrame(
        {
            "model": sel["model"].map(model_name),
            "parameters": sel["n_params"].astype(int),
            "AICc": sel["aicc"].map(lambda x: f"{x:.2f}"),
            "ΔAICc": sel["delta_aicc"].map(lambda x: "" if pd.isna(x) else f"{x:.2f}"),
            "Akaike weight": sel["akaike_weight"].map(lambda x: "" if pd.isna(x) else f"{x:.2f}"),
            "BIC": sel["bic"].map(lambda x: f"{x:.2f}"),
            "converged": sel["converged"].map(lambda b: "yes" if bool(b) else "no"),
            "at a bound": sel.get("at_bound", pd.Series([""] * len(sel)))
            .fillna("")
            .astype(str)
            .str.replace("nu", "ν")
            .str.replace("t0", "τ₀"),
        }
    ).reset_index(drop=True)


QUANTITIES = {
    "saturation": ("saturation, millions", 1e6, "{:.1f}"),
    "ceiling_per100": ("ceiling per 100 inhabitants", 1.0, "{:.0f}"),
    "inflection": ("inflection (year of fastest growth)", 1.0, "{:.1f}"),
    "value_2030": ("subscriptions in 2030, millions", 1e6, "{:.1f}"),
    "per100_2030": ("per 100 inhabitants in 2030", 1.0, "{:.0f}"),
}


def quantities_for(horizon: int) -> dict[str, tuple[str, float, str]]:
    """The rows of :func:`intervals_table` for a horizon year (``value_<horizon>``, ``per100_<horizon>``)."""
    return {
        "saturation": ("saturation, millions", 1e6, "{:.1f}"),
        "ceiling_per100": ("ceiling per 100 inhabitants", 1.0, "{:.0f}"),
        "inflection": ("inflection (year of fastest growth)", 1.0, "{:.1f}"),
        f"value_{horizon}": (f"subscriptions in {horizon}, millions", 1e6, "{:.1f}"),
        f"per100_{horizon}": (f"per 100 inhabitants in {horizon}", 1.0, "{:.0f}"),
    }


def intervals_table(
    intervals: pd.DataFrame, quantities: Mapping[str, tuple[str, float, str]] | None = None
) -> pd.DataFrame:
    """Estimate and bootstrap interval of the key quantities: one row per quantity, one column per model
    (``8.33 M (4.99 M–10.11 M)``), models in the order they appear in ``intervals``.  Without
    ``quantities`` the horizon year is read from the ``value_<year>`` rows present."""
    if quantities is None:
        years = [int(q[6:]) for q in intervals["quantity"].astype(str) if re.fullmatch(r"value_\d{4}", q)]
        quantities = quantities_for(years[0]) if years else QUANTITIES
    models = list(dict.fromkeys(intervals["model"]))
    rows = []
    for q, (name, scale, fmt) in quantities.items():
        row: dict[str, str] = {"quantity": name}
        for m in models:
            r = intervals[(intervals["model"] == m) & (intervals["quantity"] == q)]
            if r.empty:
                row[model_name(m)] = ""
                continue
            r = r.iloc[0]

            def f(x: float, fmt: str = fmt, scale: float = scale) -> str:
                return "" if not finite(x) else fmt.format(float(x) / scale)

            lo, hi = f(r["lo"]), f(r["hi"])
            row[model_name(m)] = f(r["estimate"]) + (f" ({lo}–{hi})" if lo and hi else "")
        rows.append(row)
    return pd.DataFrame(rows)


def backtest_table(bt: pd.DataFrame) -> pd.DataFrame:
    """MAPE of exact later figures (percent) by model (rows) and forecast origin (columns)."""
    col = "mape_exact" if "mape_exact" in bt.columns else "mape"
    wide = bt.pivot_table(index="model", columns="origin", values=col, aggfunc="first")
    wide = wide.map(lambda x: "" if pd.isna(x) else f"{x:.1f}")
    wide.columns = [f"origin {int(c)}" for c in wide.columns]
    wide.index = wide.index.map(model_name)
    return wide.reset_index()


def scenarios_table(sc: pd.DataFrame) -> pd.DataFrame:
    """The sensitivity sweep, one row per scenario: its settings, the chosen model, and the saturation level,
    the ceiling per 100 and the inflection with their intervals."""
    out = pd.DataFrame(index=sc.index)
    for c in scenario_settings(sc):
        out[c.replace("_", " ")] = sc[c].map(
            lambda v: "yes" if v in (True, "True") else "no" if v in (False, "False") else v
        )

    def rng(key: str, scale: float, fmt: str) -> list[str]:
        if f"{key}.estimate" not in sc.columns:
            return [""] * len(sc)
        vals = []
        for _, r in sc.iterrows():
            e, lo, hi = r.get(f"{key}.estimate"), r.get(f"{key}.lo"), r.get(f"{key}.hi")
            txt = fmt.format(e / scale) if finite(e) else "—"
            if finite(lo) and finite(hi):
                txt += f" ({fmt.format(lo / scale)}–{fmt.format(hi / scale)})"
            vals.append(txt)
        return vals

    if "model.chosen" in sc.columns:
        out["chosen curve"] = sc["model.chosen"].map(model_name)
    out["saturation, M (interval)"] = rng("saturation", 1e6, "{:.1f}")
    out["ceiling per 100 (interval)"] = rng("ceiling_per100", 1.0, "{:.0f}")
    out["inflection (interval)"] = rng("inflection", 1.0, "{:.1f}")
    return out.reset_index(drop=True)


def nist_table(nist: pd.DataFrame) -> pd.DataFrame:
    """The NIST comparison formatted for the report."""
    out = nist.copy()
    for c in ("max rel. dev. parameters", "max rel. dev. std. errors", "rel. dev. RSS"):
        out[c] = out[c].map(lambda x: f"{x:.1e}")
    out["model"] = out["model"].map(model_name)
    out["converged"] = out["converged"].map({True: "yes", False: "no"})
    out["pass"] = out["pass"].map({True: "yes", False: "NO"})
    return out.rename(
        columns={
            "max rel. dev. parameters": "parameters",
            "max rel. dev. std. errors": "standard errors",
            "rel. dev. RSS": "RSS",
            "pass": "passes",
        }
    )


def profile_table(summary: Mapping[str, Any] | GrowthSummary) -> pd.DataFrame:
    """Per curve: Akaike weight, σ, and the profile-likelihood intervals of saturation, ceiling and inflection."""
    s = GrowthSummary.coerce(summary)

    def f(iv: Interval, scale: float, fmt: str) -> str:
        if not finite(iv.estimate):
            return ""
        lo = "open" if iv.lo is None else fmt.format(iv.lo / scale)
        hi = "open" if iv.hi is None else fmt.format(iv.hi / scale)
        return f"{fmt.format(iv.estimate / scale)} ({lo}–{hi})"

    rows = []
    for m, q in s.profile.items():
        rows.append(
            {
                "curve": model_name(m),
                "Akaike weight": "" if s.weights.get(m) is None else f"{s.weights[m]:.2f}",
                "σ (log scale)": "" if s.sigma.get(m) is None else f"{s.sigma[m]:.3f}",
                "saturation, M": f(q["saturation"], 1e6, "{:.1f}"),
                "ceiling per 100": f(q["ceiling_per100"], 1.0, "{:.0f}"),
                "fastest growth": f(q["inflection"], 1.0, "{:.1f}"),
            }
        )
    return pd.DataFrame(rows)


def loo_table(summary: Mapping[str, Any] | GrowthSummary) -> pd.DataFrame:
    """Leave-one-out rows: figure left out, its date and value, averaged saturation and horizon-year level."""
    s = GrowthSummary.coerce(summary)
    rows = s.loo.get("rows", [])
    return pd.DataFrame(
        {
            "figure left out": [
                ("none (all figures)" if r["left_out"] == "none" else r["left_out"]) for r in rows
            ],
            "date": ["" if not finite(r.get("t")) else f"{r['t']:.1f}" for r in rows],
            "figure, M": ["" if not finite(r.get("figure")) else f"{r['figure'] / 1e6:.2f}" for r in rows],
            "saturation, M": [
                f"{r['saturation'] / 1e6:.1f}" if finite(r.get("saturation")) else "" for r in rows
            ],
            f"level in {s.horizon}, M": [
                f"{r['value_horizon'] / 1e6:.1f}" if finite(r.get("value_horizon")) else "" for r in rows
            ],
        }
    )


HOLDOUT_NAMES = {
    "averaged": "curves, averaged",
    "loglinear": "log-linear trend",
    "rw_drift": "random walk with drift",
}


def holdout_table(summary: Mapping[str, Any] | GrowthSummary) -> pd.DataFrame:
    """Holdout scores per method: coverage of ITU's counts, interval score, CRPS (millions), MAPE."""
    s = GrowthSummary.coerce(summary)
    rows = []
    for m, r in s.holdout.get("by_method", {}).items():
        rows.append(
            {
                "forecast": HOLDOUT_NAMES.get(m, model_name(m)),
                "ITU counts inside 95% interval": ""
                if r["coverage"] is None
                else f"{100 * r['coverage']:.0f}%",
                "interval score, M": "" if r["interval_score_m"] is None else f"{r['interval_score_m']:.3g}",
                "CRPS, M": "" if r["crps_m"] is None else f"{r['crps_m']:.3g}",
                "MAPE of median": "" if r["mape"] is None else f"{r['mape']:.0f}%",
                "bootstrap refits used": ""
                if r.get("refits_used") is None or r.get("refits_total") is None
                else f"{r['refits_used']:.0f} of {r['refits_total']:.0f}",
            }
        )
    return pd.DataFrame(rows)


def peers_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """North Korea and its peers: launch, last figure, ceiling and 10–90% time with intervals, best curve."""

    def rng(v: float, lo: float, hi: float, fmt: str = "{:.0f}") -> str:
        return (
            ""
            if not finite(v)
            else fmt.format(v) + (f" ({fmt.format(lo)}–{fmt.format(hi)})" if finite(lo) else "")
        )

    return pd.DataFrame(
        {
            "country": comparison["name"],
            "launch": comparison["launch_year"].astype("Int64").astype(str),
            "last year": comparison["last_year"].astype("Int64").astype(str),
            "per 100, last year": comparison["last_per100"].map(lambda x: f"{x:.0f}"),
            "ceiling per 100 (interval)": [
                rng(r.ceiling, r.ceiling_lo, r.ceiling_hi) for r in comparison.itertuples()
            ],
            "years 10–90% (interval)": [
                rng(r.speed, r.speed_lo, r.speed_hi) for r in comparison.itertuples()
            ],
            "best curve": comparison["best_model"].map(model_name),
        }
    ).reset_index(drop=True)


SETTING_WORDS = {
    "use_bounds": "whether bounds enter the fit as bounds (yes) or as exact figures (no)",
    "operator_figures": "whether one operator's counts are used as lower bounds (include) or left out (exclude)",
    "loss_scale": "relative (log) or absolute (linear) errors",
    "series": "the figures from the documents (curated) or ITU's counts (itu)",
    "ceiling_population_year": "the population year the ceiling per 100 divides by",
}


def scenarios_caption(sc: pd.DataFrame) -> str:
    """What the sweep varied, in words, for the table caption."""
    parts = [
        f"{c.replace('_', ' ')}: {SETTING_WORDS.get(c, c.replace('_', ' '))}" for c in scenario_settings(sc)
    ]
    return "; ".join(parts)


def scenario_settings(sc: pd.DataFrame) -> list[str]:
    """The grid's columns of ``scenarios.csv``: those the summary also records under ``settings.``."""
    return [c for c in sc.columns if "." not in c and f"settings.{c}" in sc.columns]


def inline_md_to_html(text: str) -> str:
    """Escape ``text`` for HTML, then turn the little Markdown a caption uses (``**bold**``, ``*italic*``,
    ```code```) into tags. The text is trusted prose with data strings already passed through :func:`esc`.
    """
    out = html.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"(?<![\\*])\*(?!\s)(.+?)(?<!\s)\*", r"<em>\1</em>", out)
    return out.replace("\\", "")


def table_html(df: pd.DataFrame, caption: str | None = None, widths: Sequence[float] | None = None) -> str:
    """A DataFrame as an HTML table without the index; cell text is HTML-escaped (``<script>`` stays text).

    ``caption`` (Markdown-lite, see :func:`inline_md_to_html`) becomes the table's ``<caption>``, so it stays
    with the table in the PDF too; ``widths`` (relative, one per column) become a ``<colgroup>`` of
    percentages that both the browser and pandoc honour (long text columns get room, short ones don't wrap).
    """
    body = df.to_html(index=False, escape=True, na_rep="", border=0)
    extra = ""
    if caption:
        extra += f"\n<caption>{inline_md_to_html(caption)}</caption>"
    if widths is not None:
        if len(widths) != df.shape[1]:
            raise ValueError(f"{len(widths)} widths for {df.shape[1]} columns")
        total = float(sum(widths))
        cols = "".join(f'<col style="width: {100 * w / total:.1f}%">' for w in widths)
        extra += f"\n<colgroup>{cols}</colgroup>"
    if not extra:
        return body
    style = ' style="width: 100%"' if widths is not None else ""
    return re.sub(r"^<table([^>]*)>", lambda m: f"<table{m.group(1)}{style}>{extra}", body, count=1)
