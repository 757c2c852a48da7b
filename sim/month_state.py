"""What one month's stages hand to each other: arrays over the customers active at its start."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

NEED_COUNT_DTYPE = np.uint8  # one customer's needs of one type in a month


class MonthBuffers:
    """The month's arrays, reused from month to month: refilling memory already touched costs a
    fraction of fresh allocations, which page-fault on first write (15 ms a month at 1M)."""

    def __init__(self):
        self._store: dict[str, np.ndarray] = {}

    def take(self, name: str, shape: tuple[int, ...], dtype, fill, order: str = "C") -> np.ndarray:
        """A contiguous array of ``shape`` filled with ``fill`` (None: left as it was, for arrays
        their first writer fills whole), valid until the next take of ``name``."""
        size = math.prod(shape)  # not np.prod: a few microseconds a call, a dozen calls a month
        buf = self._store.get(name)
        if buf is None or buf.size < size or buf.dtype != np.dtype(dtype):
            buf = np.empty(int(1.05 * size), dtype=dtype)  # room for a base growing a little
            self._store[name] = buf
        out = buf[:size].reshape(shape, order=order)
        if fill is not None:
            out.fill(fill)
        return out


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
    buffers: MonthBuffers | None = None  # where the arrays below come from (fresh ones without)
    billing: Any = None  # economics' per-customer sums, when begun beside acquisition (Economics.start)
    _touched: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        n = len(self.act)
        take = (self.buffers or MonthBuffers()).take
        # column-major: stages read one need type (a column) at a time. A byte a count: a Poisson
        # draw stops at rate + 20 sd + 20 (sim.kernels.poisson_at), 211 at the highest rate sim.config
        # allows (MAX_NEED_RATE, its bound tested in tests/unit/test_kernels.py); left unfilled, as the
        # needs stage writes it all. A channel's contacts sum a customer's needs of every type: 16 bits
        self.needs = take("needs", (n, self.n_needs), NEED_COUNT_DTYPE, None, order="F")
        self.contacts = take("contacts", (n, self.n_channels), np.int16, 0)
        self.phone_calls = take("phone_calls", (n,), np.int32, 0)
        self.phone_calls_total = take("phone_calls_total", (n,), np.int32, 0)
        # scores in 32 bits, as the customers' satisfaction (sim.population): added to in float64
        self.phone_offset_sum = take("phone_offset_sum", (n,), np.float32, 0.0)
        self.touch_sum = take("touch_sum", (n,), np.float32, 0.0)
        self.touch_n = take("touch_n", (n,), np.int32, 0)
        self.experience = take("experience", (n,), np.float32, np.nan)
        self.sat_start = take("sat_start", (n,), np.float32, None)  # CXModel.step copies it in

    @property
    def n_act(self) -> int:
        return len(self.act)

    def touched(self) -> np.ndarray:
        """The rows with a touch this month, ascending; asked for once the contact centre has run
        (touch_n is final from then on) by satisfaction and complaints, and found once."""
        if self._touched is None:
            self._touched = np.flatnonzero(self.touch_n != 0)
        return self._touched
