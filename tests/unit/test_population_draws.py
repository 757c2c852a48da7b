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


def _weighted_normal_cdf(mean, sd, weight, at):
    """CDF at ``at`` of the disposition clip(mean + sd z, 0, 10), z ~ N(0, 1) weighted by
    weight(disposition): by quadrature over 400,001 points in z."""
    from scipy.stats import norm

    z = np.linspace(-9.0, 9.0, 400_001)
    disposition = np.clip(mean + sd * z, 0.0, 10.0)
    density = norm.pdf(z) * weight(disposition)
    cdf = np.cumsum(density)
    cdf /= cdf[-1]
    return np.interp(at, disposition, cdf, left=0.0, right=1.0)


@pytest.mark.parametrize("compiled", [True, False])
def test_starting_base_holds_dispositions_in_proportion_to_expected_stay(compiled, monkeypatch):
    """The settled start draws each segment's normal weighted by stay exactly (one uniform a
    customer, inverted through a tabulated CDF), not approximately by resampling. Tolerance:
    the empirical CDF within 2.5 / sqrt(n) of the exact one at 25 points, for a segment's n
    draws: above the 1.95 / sqrt(n) Kolmogorov bound that holds with 99.9% probability."""
    import sim.population
    from sim import load_config
    from sim.population import Population
    from sim.rng import Streams

    monkeypatch.setattr(sim.population, "COMPILED", compiled and sim.population.COMPILED)
    cfg = load_config(["population.n_agents=300000", "population.n_customers=300000"])
    pop = Population(cfg, Streams(8))

    def stay(disposition):  # steep, like 1 / hazard: low dispositions leave fast
        return 1.0 / (0.002 + 0.05 * np.clip(7.5 - disposition, 0.0, None) ** 2)

    pop.add(300_000, month=-1, stay_weight=lambda sat, seg: stay(sat))
    at = np.linspace(3.0, 10.0, 25, endpoint=False)
    for k, name in enumerate(pop.segment_names):
        mine = pop.satisfaction[pop.segment == k]
        assert len(mine) > 20_000, name
        seg = cfg.population.segments[name]
        exact = _weighted_normal_cdf(seg.sat_mean, seg.sat_sd, stay, at)
        empirical = np.searchsorted(np.sort(mine), at, side="right") / len(mine)
        assert np.max(np.abs(empirical - exact)) < 2.5 / np.sqrt(len(mine)), name
        # and the weighting is strong enough to matter: the unweighted normal is far off
        unweighted = _weighted_normal_cdf(seg.sat_mean, seg.sat_sd, np.ones_like, at)
        assert np.max(np.abs(unweighted - exact)) > 0.05, name


def test_guided_lookup_is_searchsorted():
    from sim.population import _guide, _last_at_or_below

    rng = np.random.default_rng(4)
    for table in (np.cumsum(rng.random(4097)), np.concatenate([[0.0], np.cumsum(rng.random(300) ** 4)]),
                  np.array([0.0, 0.0, 1.0, 1.0, 1.0, 2.5]), np.array([0.3])):
        guide, scale = _guide(table)
        x = np.concatenate([table, rng.uniform(table[0], table[-1], 3000), [table[-1] + 1.0]])
        found = np.array([_last_at_or_below(table, guide, scale, v) for v in x])
        assert np.array_equal(found, np.searchsorted(table, x, side="right") - 1)
