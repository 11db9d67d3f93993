"""Growth models: the registry (one entry per model) and the one batched Levenberg-Marquardt solver.

:mod:`helpers.models.registry` -- :class:`~helpers.models.registry.Model` entries (function, Jacobian,
bounds, start grid, inflection, speed, display name, colour, LaTeX); :mod:`helpers.models.solver` -- the
batched solver shared by the national fits (:mod:`helpers.growth`) and the panel (:mod:`helpers.panel`).
"""

from helpers.models.registry import CUMULATIVE_MODELS, MODELS, Model, get_model, register, unregister

__all__ = ["CUMULATIVE_MODELS", "MODELS", "Model", "get_model", "register", "unregister"]
