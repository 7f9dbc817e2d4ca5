"""Small solver programs for the unit tests: one battery, and a program around it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from services.scheduler.program import Commitment, Device, Program


def battery(n: int, *, soc_start: float = 0.0, soc_max: float = 10.0, power: float = 1.0, **changes: object) -> Device:
    """A lossless battery from empty (or ``soc_start``) up to ``soc_max`` MWh, ±``power`` MW in every slot."""
    device = Device(
        sensor_id=1,
        soc_start=soc_start,
        soc_lower=np.zeros(n),
        soc_upper=np.full(n, soc_max),
        power_lower=np.full(n, -power),
        power_upper=np.full(n, power),
        charging_efficiency=np.ones(n),
        discharging_efficiency=np.ones(n),
        storage_efficiency=np.ones(n),
        gain=np.zeros(n),
    )
    return replace(device, **changes)  # type: ignore[arg-type]


def alone(device: Device, *, tau: float = 1.0, commitments: tuple[Commitment, ...] = ()) -> Program:
    """``device`` as the only device of a site without limits or inflexible load."""
    n = len(device.gain)
    return Program(
        n=n,
        tau=tau,
        devices=(device,),
        inflexible=np.zeros(n),
        site_lower=np.full(n, -np.inf),
        site_upper=np.full(n, np.inf),
        commitments=commitments,
    )
