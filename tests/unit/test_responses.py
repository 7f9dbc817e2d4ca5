"""Response bodies: the fast encoding of a data GET's values, and the answers to writes rendered once, give exactly
the reference's pretty-printed text."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.gateway.http.responses import (
    PROCESSED_MESSAGE,
    FlexJSONResponse,
    already_received,
    dumps,
    ok,
    processed,
)


def reference(content: Any) -> str:
    return json.dumps(content, indent=2, sort_keys=True, ensure_ascii=True, allow_nan=False)


@pytest.mark.parametrize(
    "content",
    [
        {"values": [1.0, None, -0.0, 1e300, 2.5e-8, 123456.789, None], "unit": "m\u00b3/h", "start": "2025"},
        {"values": [None, None], "message": "a, b"},
        {"values": [1.0, 2], "status": 200},  # an int: the plain encoder
        {"values": [1.0], "resolution": "PT1H"},
        {"values": [], "a": ["\x00"]},
        {"a": ["\x00"], "values": [1.0, 2.0]},  # the placeholder's text occurs twice: the plain encoder
        {"values": {"x": 1.0}},
        [1.0, 2.0],
    ],
)
def test_dumps_matches_the_reference(content: Any) -> None:
    assert dumps(content) == reference(content)
    assert FlexJSONResponse(content).body == reference(content).encode()


def test_non_finite_values_are_refused_as_before() -> None:
    with pytest.raises(ValueError):
        dumps({"values": [1.0, float("nan")]})


def test_the_rendered_answers_to_writes_are_those_ok_renders() -> None:
    expected = ok({"status": "PROCESSED", "message": PROCESSED_MESSAGE})
    assert (processed().body, processed().raw_headers) == (expected.body, expected.raw_headers)
    received = json.loads(bytes(already_received().body))
    assert received["status"] == "ALREADY_RECEIVED_AND_SUCCESSFULLY_PROCESSED"
    assert already_received().body == ok(received).body
    assert json.loads(bytes(processed(schedule="x").body))["schedule"] == "x"  # answers with more in them are rendered
