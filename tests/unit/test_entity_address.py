"""Entity addresses (see docs/api.md): building for a request host, parsing the sensor id back out."""

from __future__ import annotations

from datetime import date

import pytest

from services.gateway.rules.entity_address import NO_ADDRESS, EntityAddressError, build, first_month_after, parse

HOSTS = {"flexmeasures.io": "2021-01", "company.flexmeasures.io": "2022-05"}
TODAY = date(2024, 3, 15)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("flexmeasures.io", "ea1.2021-01.io.flexmeasures:fm1.42"),
        ("www.flexmeasures.io", "ea1.2021-01.io.flexmeasures:fm1.42"),  # leading w/. stripped
        ("flexmeasures.io:8443", "ea1.2021-01.io.flexmeasures:fm1.42"),  # port ignored
        ("company.flexmeasures.io", "ea1.2022-05.io.flexmeasures.company:fm1.42"),
        ("localhost", "ea1.2024-04.localhost:fm1.42"),  # first month after today
        ("127.0.0.1:8000", "ea1.2024-04.127.0.0.1:fm1.42"),  # IPs are not reversed (as FlexMeasures' tldextract)
        ("unknown.example.com", NO_ADDRESS),
        ("", NO_ADDRESS),
    ],
)
def test_build(host: str, expected: str) -> None:
    assert build(42, host, HOSTS, TODAY) == expected


def test_a_malformed_configured_month_gives_no_address() -> None:
    assert build(1, "example.com", {"example.com": "2021-13"}, TODAY) == NO_ADDRESS


def test_first_month_after_wraps_the_year() -> None:
    assert first_month_after(date(2024, 12, 31)) == "2025-01"
    assert first_month_after(date(2024, 1, 1)) == "2024-02"


@pytest.mark.parametrize(
    ("address", "sensor_id"),
    [
        ("ea1.2021-01.io.flexmeasures:fm1.1", 1),
        ("ea1.2018-06.localhost:fm1.123", 123),
        ("ea1.1999-12.com.example.whatever:fm1.7", 7),  # date and authority are not checked against this server
    ],
)
def test_parse(address: str, sensor_id: int) -> None:
    assert parse(address) == sensor_id


@pytest.mark.parametrize(
    ("address", "fragment"),
    [
        ("ea2.2021-01.io.flexmeasures:fm1.1", "starts with 'ea1'"),
        ("ea1.2021-13.io.flexmeasures:fm1.1", "invalid date"),
        ("ea1.21-01.io.flexmeasures:fm1.1", "invalid date"),
        ("ea1.2021-01.io.flexmeasures.fm1.1", "no ':'"),  # FlexMeasures crashes (500) here
        ("ea1.2021-01.io.flexmeasures:fm0.1:2:3", "fm0"),
        ("ea1.2021-01.io.flexmeasures:fm2.1", "fm1 scheme"),
        ("ea1.2021-01.io.flexmeasures:fm1.x", "Could not parse"),
        ("ea1.2021-01.io.flexmeasures:fm1.", "Could not parse"),
        ("ea1.2021-01.:fm1.1", "Could not parse"),
    ],
)
def test_parse_errors(address: str, fragment: str) -> None:
    with pytest.raises(EntityAddressError, match=fragment):
        parse(address)


def test_round_trip() -> None:
    assert parse(build(987, "company.flexmeasures.io", HOSTS, TODAY)) == 987
