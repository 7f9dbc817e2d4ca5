"""The process scheduler: place a process of fixed power and duration in the cheapest (or dearest) slots.

Pure: a price per slot, the process' power, the number of slots it needs and a mask of blocked slots (its time
restrictions) in, the power per slot out. Site capacities and inflexible devices play no part.

* ``INFLEXIBLE``: the earliest run of contiguous allowed slots, whatever the prices.
* ``SHIFTABLE``: the contiguous run of allowed slots with the lowest (``MIN``) or highest (``MAX``) total price.
* ``BREAKABLE``: the individually cheapest (``MIN``) or dearest (``MAX``) allowed slots.

Ties are broken towards earlier slots: among runs with equal totals the one that starts first wins, and among
slots with equal prices the earlier ones are taken first.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from services.scheduler.program import Array
from shared.errors import ProcessDoesNotFit
from shared.flex.process import ProcessType

Sense = Literal["MIN", "MAX"]
Mask = npt.NDArray[np.bool_]


def _allowed_starts(blocked: Mask, slots: int) -> npt.NDArray[np.intp]:
    """Every start ``s`` whose run ``s … s+slots−1`` lies in the window and is not blocked anywhere."""
    n = len(blocked)
    if slots > n:
        return np.empty(0, dtype=np.intp)
    blocked_so_far = np.concatenate(([0], np.cumsum(blocked)))
    blocked_in_run = blocked_so_far[slots:] - blocked_so_far[: n - slots + 1]
    return np.flatnonzero(blocked_in_run == 0)


def schedule_process(
    price: Array,
    *,
    power: float,
    slots: int,
    process_type: ProcessType,
    blocked: Mask | Array,
    sense: Sense = "MIN",
) -> Array:
    """``power`` in the ``slots`` chosen slots, 0 elsewhere. Raises ``ProcessDoesNotFit`` when there is no room.

    ``blocked`` is true (or non-zero) in the slots inside a time restriction."""
    n = len(price)
    blocked = np.asarray(blocked, dtype=np.bool_)
    if blocked.shape != (n,):
        raise ValueError("the blocked-slot mask must have one entry per slot")
    schedule = np.zeros(n)
    if slots <= 0:
        return schedule
    sign = 1.0 if sense == "MIN" else -1.0
    if process_type == "BREAKABLE":
        allowed = np.flatnonzero(~blocked)
        if allowed.size < slots:
            raise ProcessDoesNotFit(
                f"The process needs {slots} slots but only {allowed.size} are outside its time restrictions."
            )
        _require_prices(price, allowed)
        order = np.lexsort((allowed, sign * price[allowed]))  # by price, then earlier first
        schedule[allowed[order[:slots]]] = power
        return schedule
    starts = _allowed_starts(blocked, slots)
    if not starts.size:
        raise ProcessDoesNotFit(
            f"The process needs {slots} contiguous slots but the window has no such run outside its time restrictions."
        )
    if process_type == "INFLEXIBLE":
        start = int(starts[0])
    else:
        _require_prices(price, np.flatnonzero(~blocked))
        # Summed window by window (not as differences of a running sum) so equal runs give exactly equal totals.
        totals = np.lib.stride_tricks.sliding_window_view(np.where(blocked, 0.0, price), slots)[starts].sum(axis=1)
        start = int(starts[np.argmin(sign * totals)])  # argmin takes the first of equal totals
    schedule[start : start + slots] = power
    return schedule


def _require_prices(price: Array, slots: npt.NDArray[np.intp]) -> None:
    if not np.all(np.isfinite(price[slots])):
        raise ValueError("prices must be known in every slot outside the time restrictions")
