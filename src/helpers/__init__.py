"""Importable, tested logic behind the North Korea telecom notebooks.

Notebooks stay thin; everything they compute comes from modules here:

- :mod:`helpers.config`       every project path, built from the project root
- :mod:`helpers.params`       loading the YAML parameter files papermill receives
- :mod:`helpers.external`     reading the ITU / World Bank / Gapminder / UN files in ``data/external``
- :mod:`helpers.observations` the curated observations: schema, validation, CLI
- :mod:`helpers.cleaning`     reference dates, usability rules, national series, reconciliation
- :mod:`helpers.models`       the model registry (one entry per growth model) and the one batched solver
- :mod:`helpers.growth`       fitting, uncertainty, model selection, backtests (national series)
- :mod:`helpers.panel`        batched fits for every country in the ITU panel
- :mod:`helpers.render`       notebook -> offline HTML and notebook -> Typst PDF
"""

__all__ = ["config"]
