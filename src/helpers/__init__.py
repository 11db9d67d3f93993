"""Importable, tested logic behind the North Korea telecom notebooks.

Notebooks stay thin; everything they compute comes from modules here:

- :mod:`helpers.config`       every project path, built from the project root
- :mod:`helpers.params`       loading the YAML parameter files papermill receives
- :mod:`helpers.data`         the data layer: observations (schema, validation, CLI), events, the external
                              readers (``data/external``), step 01's cleaning, series, reconciliation, figures
- :mod:`helpers.models`       the model registry (one entry per growth model) and the one batched solver
- :mod:`helpers.growth`       fitting, uncertainty, model selection, backtests (national series)
- :mod:`helpers.panel`        batched fits for every country in the ITU panel
- :mod:`helpers.steps`        what notebooks 02 and 03 compute: tables, intervals, checks, figures, summaries, and
                              the typed contracts between steps (``GrowthSummary``, ``PeerSummary``)
- :mod:`helpers.render`       the render layer: notebook -> offline HTML, Typst PDF, Quarto edition
"""

__all__ = ["config"]
