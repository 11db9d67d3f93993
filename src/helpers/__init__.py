"""Importable, tested logic behind the North Korea telecom notebooks.

Notebooks stay thin; everything they compute comes from modules here:

- :mod:`helpers.config`       every project path, built from the project root
- :mod:`helpers.data`         the data layer: observations (schema, validation, CLI), events, the external
                              readers (``data/external``), step 01's cleaning, series, reconciliation, figures
- :mod:`helpers.models`       the model registry (one entry per growth model) and the one batched solver
- :mod:`helpers.growth`       fitting, uncertainty, model selection, backtests (national series)
- :mod:`helpers.panel`        batched fits for every country in the ITU panel
- :mod:`helpers.render`       the render layer: notebook -> offline HTML, Typst PDF, Quarto edition
- :mod:`helpers.pipeline`     the pipeline layer: make rules, parameter schema (the YAML files papermill
                              receives), staged runs, content manifests, scenario sweep, publishing
"""

__all__ = ["config"]
