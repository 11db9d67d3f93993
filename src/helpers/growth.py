"""Public entry point for growth-curve fitting: ``import helpers.growth; helpers.growth.fit(...)``.

A facade, kept so that notebooks and users have one stable import: it re-exports the public API of the models
layer (:mod:`helpers.models`), and defines nothing itself.  The code lives in

- :mod:`helpers.models.growth`     :func:`fit`, :class:`FitResult` (least squares, or censored maximum likelihood
  with ``method="mle"``; the module docstring documents the models, estimation and censored observations)
- :mod:`helpers.models.registry`   the models: :data:`MODELS`, :data:`CUMULATIVE_MODELS`, :class:`Model`,
  :func:`get_model`
- :mod:`helpers.models.inputs`     :func:`naive_points`, :data:`DEFAULT_BOUNDS`
- :mod:`helpers.models.derived`    :func:`saturation`, :func:`inflection`, :func:`year_reaching`,
  :func:`percentile_interval`
- :mod:`helpers.models.bootstrap`  :func:`bootstrap`, :class:`BootstrapResult`, :func:`prediction_interval`
- :mod:`helpers.models.selection`  :func:`compare_models`, :func:`backtest`

Code inside the project imports from those modules directly.
"""

from __future__ import annotations

from helpers.models.bootstrap import BootstrapResult, bootstrap, prediction_interval
from helpers.models.derived import inflection, percentile_interval, saturation, year_reaching
from helpers.models.growth import FitResult, fit
from helpers.models.inputs import DEFAULT_BOUNDS, naive_points
from helpers.models.registry import CUMULATIVE_MODELS, MODELS, Model, get_model
from helpers.models.selection import backtest, compare_models

__all__ = [
    "CUMULATIVE_MODELS",
    "DEFAULT_BOUNDS",
    "MODELS",
    "BootstrapResult",
    "FitResult",
    "Model",
    "backtest",
    "bootstrap",
    "compare_models",
    "fit",
    "get_model",
    "inflection",
    "naive_points",
    "percentile_interval",
    "prediction_interval",
    "saturation",
    "year_reaching",
]
