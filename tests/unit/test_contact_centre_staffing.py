"""Shrinkage: the roster is larger than the agents on the phone, and only the roster costs more."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim import ConfigError, load_config, run
from sim.contact_centre import rostered_agents

BASE = ["population.n_customers=20000", "years=1", "warmup_years=0", "progress=false"]


def test_the_roster_covers_the_phone_after_shrinkage_in_whole_people():
    assert rostered_agents(7, 0.3) == 10  # 7 / 0.7 is 10 up to float rounding: not 11
    assert rostered_agents(8, 0.3) == 12  # 11.43 -> 12
    assert rostered_agents(5, 0.0) == 5
    assert rostered_agents(np.array([0, 1, 14]), 0.3).tolist() == [0, 2, 20]


@pytest.mark.parametrize("mode", ["erlang_c", "des"])
def test_shrinkage_rosters_more_people_for_the_same_phone_cover(mode):
    base = BASE + [f"contact_centre.mode={mode}"]
    plain = run(load_config(base)).monthly
    shrunk = run(load_config(base + ["contact_centre.p_shrinkage=0.3"])).monthly
    # the phone sees the same people, so every caller waits the same and nothing else moves
    for col in ("agents_staffed", "agent_hours", "asa_s", "service_level", "abandon_rate", "calls_offered",
                "customers", "nps"):
        np.testing.assert_array_equal(shrunk[col], plain[col], err_msg=col)
    assert (plain["agents_rostered"] == plain["agents_staffed"]).all()
    assert (plain["agent_hours_rostered"] == plain["agent_hours"]).all()
    if mode == "erlang_c":  # one head count a month
        assert (shrunk["agents_rostered"] == np.ceil(shrunk["agents_staffed"] / 0.7 - 1e-9)).all()
    ratio = shrunk["agent_hours_rostered"] / shrunk["agent_hours"]
    assert ((ratio >= 1 / 0.7 - 1e-9) & (ratio < 1 / 0.7 + 1 / shrunk["agents_staffed"].min())).all()
    # only the roster is paid: staffing cost is rostered hours at the hourly cost, and it is all
    # that changes in the money
    np.testing.assert_allclose(shrunk["staffing_cost"], shrunk["agent_hours_rostered"] * 85.0)
    extra = shrunk["staffing_cost"] - plain["staffing_cost"]
    np.testing.assert_allclose(plain["profit"] - shrunk["profit"], extra, rtol=1e-9)
    assert extra.min() > 0


def test_a_shrinkage_of_one_is_refused():
    with pytest.raises(ConfigError, match=r"contact_centre.p_shrinkage.*1.*\[0, 1\)"):
        load_config(BASE + ["contact_centre.p_shrinkage=1"])
    assert math.isclose(load_config(BASE).contact_centre.p_shrinkage, 0.0)
