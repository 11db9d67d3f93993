"""The models layer: growth-model registry, solver, national fits (least squares, censored MLE), uncertainty, panel.

- :mod:`~helpers.models.registry`   :class:`~helpers.models.registry.Model` entries (function, Jacobian, bounds,
  start grid, inflection, speed, display name, colour, LaTeX)
- :mod:`~helpers.models.solver`     the batched Levenberg-Marquardt solver shared by the national fits and the panel
- :mod:`~helpers.models.inputs`     validated observations, parameter bounds, self-starting values
- :mod:`~helpers.models.growth`     :func:`~helpers.models.growth.fit` and :class:`~helpers.models.growth.FitResult`
  (public facade: :mod:`helpers.growth`)
- :mod:`~helpers.models.derived`    saturation, inflection, year reaching a level, percentile intervals
- :mod:`~helpers.models.bootstrap`  bootstrap of a fit, prediction intervals
- :mod:`~helpers.models.selection`  model comparison and backtests
- :mod:`~helpers.models.censored`   the censored log-normal log-likelihood; :mod:`~helpers.models.likelihood` its
  maximum; :mod:`~helpers.models.batch_mle` the batched Newton; :mod:`~helpers.models.profile` profile intervals
- :mod:`~helpers.models.simulation` parametric bootstrap and coverage study; :mod:`~helpers.models.averaging`
  Akaike weights and model-averaged draws
- :mod:`~helpers.models.panel`      fits for every country of the ITU panel (parallel map); :mod:`~helpers.models.panel_fit`
  the batched engine (options, bounds, LM, starts, bootstrap); :mod:`~helpers.models.panel_peers` notebook 03's
  comparisons (aligned series, rank table, counterfactual)
- :mod:`~helpers.models.nist`       NIST StRD problems in this project's parameterisations
"""

from helpers.models.registry import CUMULATIVE_MODELS, MODELS, Model, get_model, register, unregister

__all__ = ["CUMULATIVE_MODELS", "MODELS", "Model", "get_model", "register", "unregister"]
