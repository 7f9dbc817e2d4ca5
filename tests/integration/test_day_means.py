"""A day-resolution read (``resolution=P1D``) over days holding several posts: belief times, two sources, nulls,
a post in kWh to a MW sensor. Each day's value is the mean of the values chosen per event (docs/api.md, "Reads":
the latest belief per event and source, then the best source), computed here independently of the SQL.

FlexMeasures 0.27.4 answers [6.0, null] for these beliefs instead of [20.5, 7.0]: once the chosen values
come from more than one source it averages each source separately and labels each average with that source's
first event, so its window filter keeps only the source that happens to hold the day's first slot, and a day
whose first slot is empty reads null. docs/api.md ("Sensor data", differences) says why FlexStream does not copy
that.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from statistics import mean

import httpx

from tests.integration.conftest import Factory, UserHandle

DAY = datetime(2025, 3, 10, tzinfo=UTC)
STEP = timedelta(hours=6)
HOURS = STEP / timedelta(hours=1)


@dataclass(frozen=True)
class Post:
    user: str
    belief_time: datetime
    first_slot: datetime
    values_mw: list[float | None]
    unit: str = "MW"


def body(post: Post) -> dict[str, object]:
    factor = 1000 * HOURS if post.unit == "kWh" else 1.0  # MW averaged over 6 h → kWh per slot
    return {
        "start": post.first_slot.isoformat(), "duration": f"PT{6 * len(post.values_mw)}H", "unit": post.unit,
        "values": [None if v is None else v * factor for v in post.values_mw], "prior": post.belief_time.isoformat(),
    }  # fmt: skip


def chosen_values(posts: list[Post]) -> dict[datetime, float]:
    """Per event: each source's latest belief, then the latest of those (both sources are unversioned users)."""
    latest: dict[tuple[datetime, str], tuple[datetime, float]] = {}
    for post in posts:
        for i, value in enumerate(post.values_mw):
            key = (post.first_slot + i * STEP, post.user)
            if value is not None and (key not in latest or latest[key][0] < post.belief_time):
                latest[key] = (post.belief_time, value)
    per_event: dict[datetime, tuple[datetime, float]] = {}
    for (event, _), (belief_time, value) in latest.items():
        if event not in per_event or per_event[event][0] < belief_time:
            per_event[event] = (belief_time, value)
    return {event: value for event, (_, value) in per_event.items()}


def day_means(values: dict[datetime, float], days: int) -> list[float | None]:
    means: list[float | None] = []
    for d in range(days):
        inside = [v for e, v in values.items() if DAY + timedelta(days=d) <= e < DAY + timedelta(days=d + 1)]
        means.append(mean(inside) if inside else None)
    return means


async def test_day_mean_over_sources_belief_times_nulls_and_units(http: httpx.Client, factory: Factory) -> None:
    account = await factory.account()
    users: dict[str, UserHandle] = {name: await factory.user(account) for name in ("alice", "bob")}
    sensor = await factory.sensor(await factory.asset(account), unit="MW", resolution=STEP)
    t1, t2, t3 = (DAY + timedelta(days=n) for n in (3, 4, 5))
    posts = [
        Post("alice", t1, DAY, [1, 2, 3, 4]),
        Post("bob", t2, DAY + 2 * STEP, [30, 40], unit="kWh"),  # later: wins the afternoon
        Post("alice", t3, DAY, [10, None]),  # later still: a new morning value; the null leaves 2 standing
        Post("alice", t1, DAY + 4 * STEP, [None, 5, 7, 9]),  # the next day, without its first slot
    ]
    for post in posts:
        answer = http.post(f"/api/v3_0/sensors/{sensor}/data", json=body(post), headers=users[post.user].headers)
        assert answer.status_code == 200, answer.text

    expected = day_means(chosen_values(posts), days=2)
    assert expected == [20.5, 7.0]  # (10 + 2 + 30 + 40) / 4 and (5 + 7 + 9) / 3
    query = {"start": DAY.isoformat(), "duration": "P2D", "resolution": "P1D", "unit": "MW"}
    read = http.get(f"/api/v3_0/sensors/{sensor}/data", params=query, headers=users["alice"].headers)
    assert read.status_code == 200, read.text
    assert read.json()["values"] == expected
    quarter = http.get(
        f"/api/v3_0/sensors/{sensor}/data", params={**query, "duration": "P1D", "resolution": "PT6H"},
        headers=users["bob"].headers,
    ).json()  # fmt: skip
    assert quarter["values"] == [10.0, 2.0, 30.0, 40.0]
