"""Customer attributes drawn at creation: fast paths agree with the exact distributions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import betaincinv

from sim.population import affinity_quantile


@pytest.mark.parametrize("mean", [0.05, 0.3, 0.5, 0.62, 0.95])
def test_affinity_is_within_1e6_of_the_exact_beta_quantile(mean):
    u = np.random.default_rng(1).random(300_000)
    u = np.concatenate([u, [0.0, 1e-12, 1e-6, 0.00999, 0.01, 0.5, 0.99, 0.99001, 1 - 1e-12]])
    exact = betaincinv(4 * mean, 4 * (1 - mean), u)
    fast = affinity_quantile(mean, u)
    assert np.max(np.abs(fast - exact)) < 1e-6
    assert np.all((fast >= 0) & (fast <= 1))
    assert np.all(np.diff(fast[np.argsort(u)]) >= 0)  # still a quantile function: monotone in u
