"""Akaike model averaging: AICc weights (``k`` counts ``sigma``) and the mixture of per-model bootstrap draws."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

# --------------------------------------------------------------------------------------------------------
# Model averaging
# --------------------------------------------------------------------------------------------------------


def akaike_weights(aicc: Mapping[str, float]) -> dict[str, float]:
    """``w_m = exp(-delta_m / 2) / sum exp(-delta / 2)`` over the finite AICc values (others get 0)."""
    vals = {m: float(v) for m, v in aicc.items() if v is not None and np.isfinite(v)}
    if not vals:
        return {m: 0.0 for m in aicc}
    best = min(vals.values())
    raw = {m: math.exp(-0.5 * (v - best)) for m, v in vals.items()}
    tot = sum(raw.values())
    return {m: raw.get(m, 0.0) / tot for m in aicc}


def model_average_draws(
    draws: Mapping[str, np.ndarray], weights: Mapping[str, float], *, n: int | None = None, seed: int = 0
) -> np.ndarray:
    """A mixture sample: from each model's bootstrap draws (NaN = failed refit, dropped) take a share of
    ``n`` draws proportional to its Akaike weight (with replacement, seeded).  Quantiles of the result are the
    model-averaged interval (parameter and model uncertainty together)."""
    rng = np.random.default_rng(seed)
    clean = {m: np.asarray(v, dtype=float)[~np.isnan(np.asarray(v, dtype=float))] for m, v in draws.items()}
    clean = {m: v for m, v in clean.items() if v.size and weights.get(m, 0.0) > 0}
    if not clean:
        return np.array([])
    tot_w = sum(weights[m] for m in clean)
    n = n or int(sum(v.size for v in clean.values()))
    parts = []
    for m, v in clean.items():
        k = int(round(n * weights[m] / tot_w))
        if k:
            parts.append(rng.choice(v, size=k, replace=True))
    return np.concatenate(parts) if parts else np.array([])
