"""The phone queue: how long callers wait and whether their issue is resolved.

A contact-centre mode is any class with ``step(model, month_state)`` that reads the month's
phone calls per customer (``phone_calls``, ``phone_offset_sum``), writes each caller's phone
experience into ``touch_sum``/``touch_n``, fills ``phone_calls_total`` and reports the queue
KPIs. The modes share that seam so a discrete-event centre can replace the formula without
touching any other module.
"""

from __future__ import annotations

import numpy as np


def rostered_agents(on_phone, p_shrinkage: float):
    """People to roster so that ``on_phone`` are on the phone when a share ``p_shrinkage`` of
    rostered time goes to breaks, training and absence: on_phone / (1 - p), rounded up."""
    exact = np.asarray(on_phone, dtype=np.float64) / (1.0 - p_shrinkage)
    out = np.ceil(exact - 1e-9).astype(np.int64)
    return int(out) if np.ndim(out) == 0 else out


def make_contact_centre(model):
    mode = model.cfg.contact_centre.mode
    if mode == "erlang_c":
        from sim.contact_centre.erlang_c_mode import ErlangCContactCentre

        return ErlangCContactCentre(model)
    if mode == "des":
        from sim.contact_centre.des_mode import DESContactCentre

        return DESContactCentre(model)
    raise ValueError(f"contact_centre.mode={mode!r} is not implemented")
