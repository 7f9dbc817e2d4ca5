"""Model build and solve time of ``services.scheduler.solve`` alone (no services), one battery at 15 minutes.

    .venv/bin/python -m bench.solve [--runs 15]

Prints the median and the slowest of ``--runs`` solves (10 s time limit each) per case, wall clock (build, solve)
and CPU time of the whole call (less sensitive to other load on the machine): 48 hours and 7 days,
with equal consumption and production prices (LP only), with a lower production price, and with six hours of
negative prices a day, more than the battery can absorb, so the LP relaxation charges and discharges at once and
the MILP runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

from services.scheduler import commitments
from services.scheduler.program import Device, Program, Solution
from services.scheduler.solve import solve


def battery_program(n: int, *, seed: int, spread: float, negative: bool) -> Program:
    rng = np.random.default_rng(seed)
    hours = np.arange(n) / 4
    consumption = 60 + 30 * np.sin(2 * np.pi * hours / 24) + rng.normal(0, 8, n)
    if negative:  # six hours of negative prices around noon every day: more than the battery can take in
        consumption[(hours % 24 >= 10) & (hours % 24 < 16)] -= 120
    production = consumption - spread
    soc_lower, soc_upper = np.full(n, 0.2), np.full(n, 2.0)
    soc_lower[-1] = soc_upper[-1] = 1.0  # a target at the end
    device = Device(
        sensor_id=1,
        soc_start=1.0,
        soc_lower=soc_lower,
        soc_upper=soc_upper,
        power_lower=np.full(n, -1.0),
        power_upper=np.full(n, 1.0),
        charging_efficiency=np.full(n, 0.95),
        discharging_efficiency=np.full(n, 0.95),
        storage_efficiency=np.full(n, 0.9999),
        gain=np.zeros(n),
    )
    consumption_eff, production_eff = commitments.effective_prices(consumption, production)
    inflexible = rng.uniform(0.0, 0.8, n)
    return Program(
        n=n,
        tau=0.25,
        devices=(device,),
        inflexible=inflexible,
        site_lower=np.full(n, -1.5),
        site_upper=np.full(n, 1.5),
        commitments=(
            commitments.energy(consumption_eff, production_eff, 0.25),
            commitments.prefer_curtailing_later(consumption_eff),
        ),
        big_m=1.5,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)
    lines = [
        "| case | build p50 (ms) | solve p50 (ms) | build max | solve max | CPU p50 (ms) | MILP | optimal |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, n in (("48 h", 192), ("7 days", 672)):
        for kind, spread, negative in (
            ("equal prices", 0.0, False),
            ("production price 5 lower", 5.0, False),
            ("negative prices", 5.0, True),
        ):
            solutions: list[Solution] = []
            cpu: list[float] = []
            for seed in range(args.runs):
                made = battery_program(n, seed=seed, spread=spread, negative=negative)
                before = time.process_time()
                solutions.append(solve(made))
                cpu.append(1000 * (time.process_time() - before))
            optimal = sum(s.status == "optimal" for s in solutions)
            build = [1000 * s.build_seconds for s in solutions]
            took = [1000 * s.solve_seconds for s in solutions]
            milp = sum(s.used_milp for s in solutions)
            lines.append(
                f"| {label}, {kind} | {statistics.median(build):.1f} | {statistics.median(took):.1f} "
                f"| {max(build):.1f} | {max(took):.1f} | {statistics.median(cpu):.1f} | {milp}/{len(solutions)} "
                f"| {optimal}/{len(solutions)} |"
            )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    sys.stdout.write("\n".join(lines) + f"\n\nload average during the run: {load}\n")


if __name__ == "__main__":
    main()
