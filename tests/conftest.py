"""Shared test helpers.

``small_config(*overrides)`` composes the shipped configs for a small, quick run (a few thousand
customers over two years, no progress bar); later overrides win, so any default can be replaced:

    def test_something(small_config):
        cfg = small_config("seed=3", "churn.rate_other=0.01")
"""

from __future__ import annotations

import pytest

from sim import load_config

SMALL_DEFAULTS = ("population.n_customers=3000", "years=2", "progress=false")


def make_small_config(*overrides: str):
    """A validated RunConfig for a small run; ``overrides`` are Hydra-style ``key=value``."""
    return load_config([*SMALL_DEFAULTS, *overrides])


@pytest.fixture(scope="session")
def small_config():
    """The factory :func:`make_small_config`, as a fixture (usable from fixtures of any scope)."""
    return make_small_config
