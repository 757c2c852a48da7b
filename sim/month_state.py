"""What one month's stages hand to each other: arrays over the customers active at its start."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class MonthState:
    month: int  # the model's clock (0 = first warm-up month): what streams and state stamps use
    act: np.ndarray  # slots active at the start of the month (sorted); row i of every array below
    n_needs: int
    n_channels: int
    needs: np.ndarray = field(init=False)  # (n_act, n_needs) occurrences this month
    contacts: np.ndarray = field(init=False)  # (n_act, n_channels) contacts started per channel
    phone_calls: np.ndarray = field(init=False)  # first phone contacts, incl. self-service spills
    phone_calls_total: np.ndarray = field(init=False)  # incl. repeat calls for unresolved issues
    phone_offset_sum: np.ndarray = field(init=False)  # sum of need offsets over phone contacts
    touch_sum: np.ndarray = field(init=False)  # sum of experience scores over touches
    touch_n: np.ndarray = field(init=False)  # number of touches
    experience: np.ndarray = field(init=False)  # the month's experience score (NaN: no touch)
    sat_start: np.ndarray = field(init=False)  # satisfaction before this month's touches
    run_month: int = 0  # the reported month: negative during warm-up; programmes and discounting use it
    kpis: dict[str, float] = field(default_factory=dict)
    new_adopters: dict[str, np.ndarray] = field(default_factory=dict)  # behaviour -> slots this month
    joined: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))  # slots acquired this month

    def __post_init__(self) -> None:
        n = len(self.act)
        # column-major: stages read one need type (a column) at a time
        self.needs = np.zeros((n, self.n_needs), dtype=np.int32, order="F")
        self.contacts = np.zeros((n, self.n_channels), dtype=np.int32)
        self.phone_calls = np.zeros(n, dtype=np.int32)
        self.phone_calls_total = np.zeros(n, dtype=np.int32)
        self.phone_offset_sum = np.zeros(n)
        self.touch_sum = np.zeros(n)
        self.touch_n = np.zeros(n, dtype=np.int32)
        self.experience = np.full(n, np.nan)
        self.sat_start = np.zeros(n)

    @property
    def n_act(self) -> int:
        return len(self.act)
