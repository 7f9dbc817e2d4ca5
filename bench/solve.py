"""Model build and solve time of ``services.scheduler.solve`` alone (no services), one battery at 15 minutes.

    .venv/bin/python -m bench.solve [--runs 15]

Prints the median and the slowest of ``--runs`` solves (10 s time limit each) per case, wall clock (build, solve)
and CPU time of the whole call (less sensitive to other load on the machine): 48 hours and 7 days,
with equal consumption and production prices (LP only), with a lower production price, and with six hours of
negative prices a day, more than the battery can absorb, so the LP relaxation charges and discharges at once and
the MILP runs. Each case is solved twice per run, interleaved, so both share the machine's load: ``tuned`` is
``solve`` as the scheduler calls it, ``plain`` is ``solve(..., plain=True)`` (see docs/scheduling.md, "LP first,
MILP when needed"); the last column is the largest relative difference between their objectives.
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
        "| case | formulation | build p50 (ms) | solve p50 (ms) | build max | solve max | CPU p50 (ms) | MILP "
        "| optimal | objectives differ by |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, n in (("48 h", 192), ("7 days", 672)):
        for kind, spread, negative in (
            ("equal prices", 0.0, False),
            ("production price 5 lower", 5.0, False),
            ("negative prices", 5.0, True),
        ):
            solutions: dict[str, list[Solution]] = {"tuned": [], "plain": []}
            cpu: dict[str, list[float]] = {"tuned": [], "plain": []}
            for seed in range(args.runs):
                made = battery_program(n, seed=seed, spread=spread, negative=negative)
                for name in solutions:
                    before = time.process_time()
                    solutions[name].append(solve(made, plain=name == "plain"))
                    cpu[name].append(1000 * (time.process_time() - before))
            differ = max(
                abs(a.objective - b.objective) / max(1.0, abs(b.objective))
                for a, b in zip(solutions["tuned"], solutions["plain"], strict=True)
            )
            for name, solved in solutions.items():
                optimal = sum(s.status == "optimal" for s in solved)
                build = [1000 * s.build_seconds for s in solved]
                took = [1000 * s.solve_seconds for s in solved]
                milp = sum(s.used_milp for s in solved)
                lines.append(
                    f"| {label}, {kind} | {name} | {statistics.median(build):.1f} | {statistics.median(took):.1f} "
                    f"| {max(build):.1f} | {max(took):.1f} | {statistics.median(cpu[name]):.1f} "
                    f"| {milp}/{len(solved)} | {optimal}/{len(solved)} | {differ:.1e} |"
                )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    sys.stdout.write("\n".join(lines) + f"\n\nload average during the run: {load}\n")


if __name__ == "__main__":
    main()
