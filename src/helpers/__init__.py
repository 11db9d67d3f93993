"""Importable, tested logic behind the North Korea telecom notebooks.

Notebooks stay thin; everything they compute comes from modules here:

- :mod:`helpers.config`       every project path, built from the project root
- :mod:`helpers.io`           the one writer of CSV, JSON and figure products (atomic, deterministic)
- :mod:`helpers.data`         the data layer: observations (schema, validation, CLI), events, the external
                              readers (``data/external``), step 01's cleaning, series, reconciliation, figures
- :mod:`helpers.models`       the models layer: registry, solver, least-squares and censored-likelihood fits,
                              bootstrap, profile intervals, model selection, backtests, the panel of every country
- :mod:`helpers.growth`       the public entry point for fitting (``helpers.growth.fit``): re-exports helpers.models
- :mod:`helpers.steps`        what notebooks 02 and 03 compute: tables, intervals, checks, figures, summaries, and
                              the typed contracts between steps (``GrowthSummary``, ``PeerSummary``)
- :mod:`helpers.report`       notebook 04: provenance register, tables, the prose as Markdown/Jinja templates,
                              build metadata, the report's HTML additions and the figures' house style
- :mod:`helpers.render`       the render layer: notebook -> offline HTML, Typst PDF, Quarto edition
- :mod:`helpers.pipeline`     the pipeline layer: make rules, parameter schema (the YAML files papermill
                              receives), staged runs, content manifests, scenario sweep, publishing
"""

__all__ = ["config"]
