"""Turning pydantic validation failures into FlexMeasures' E1 body (docs/api.md, "Conventions").

``parse(Model, data, location)`` validates and raises ``ApiError`` 422 with
``{"message": {location: {field: [text, ...]}}, "result": "Rejected", "status": "UNPROCESSABLE_ENTITY"}``.
Unknown keys (models with ``extra="forbid"``) read ``"Unknown field."``, missing ones
``"Missing data for required field."``; errors of the whole object go under ``_schema``.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from services.gateway.http.responses import validation_error

M = TypeVar("M", bound=BaseModel)

_TEXTS = {
    "extra_forbidden": "Unknown field.",
    "missing": "Missing data for required field.",
}


def error_text(error: Any) -> str:
    if error["type"] in _TEXTS:
        return _TEXTS[error["type"]]
    message = str(error["msg"])
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def errors_by_field(exc: ValidationError) -> dict[str, Any]:
    """Nested like marshmallow: ``{"field": ["text"]}``, list indices as string keys."""
    out: dict[str, Any] = {}
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]] or ["_schema"]
        node = out
        for part in loc[:-1]:
            node = node.setdefault(part, {})
        node.setdefault(loc[-1], []).append(error_text(error))
    return out


def parse(model: type[M], data: Any, location: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error({location: errors_by_field(exc)}) from None
