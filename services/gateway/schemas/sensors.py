"""Sensor input models and the sensor object as the API shows it (docs/api.md, "Sensors")."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from services.gateway.rules import entity_address
from services.gateway.schemas.fields import (
    Attributes,
    Bool,
    Int,
    Page,
    PerPage,
    QueryUnit,
    Resolution,
    SearchTerms,
    Timezone,
    Unit,
    not_null,
    string,
)
from services.gateway.sql.sensors import SensorRow
from shared.time import format_duration_days

NOT_NULL = BeforeValidator(not_null)
Name = Annotated[str, string(120), Field(json_schema_extra={"maxLength": 120})]


class SensorListQuery(BaseModel):
    """Query string of ``GET /api/v3_0/sensors``. Unknown parameters are ignored (as FlexMeasures does)."""

    model_config = ConfigDict(extra="ignore")

    account_id: Int | None = Field(None, description="List the sensors of this account (default: your own).")
    asset_id: Int | None = Field(None, description="List the sensors of this asset and all its descendants.")
    include_consultancy_clients: Bool = Field(False, description="Consultants: add the client accounts' sensors.")
    include_public_assets: Bool = Field(False, description="Add the sensors of public assets.")
    page: Page | None = Field(None, description="Switches on the paginated response shape.")
    per_page: PerPage = Field(10, description="Page size (with page).")
    filter: SearchTerms | None = Field(None, description="Keep sensors whose name, asset or account contains a term.")
    unit: QueryUnit | None = Field(None, description="Keep sensors with exactly this unit.")


class SensorCreate(BaseModel):
    """Body of ``POST /api/v3_0/sensors``."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    unit: Unit
    event_resolution: Resolution
    generic_asset_id: Int
    timezone: Timezone = "UTC"
    attributes: Attributes = Field(default_factory=dict)


class SensorUpdate(BaseModel):
    """Body of ``PATCH /api/v3_0/sensors/<id>``: any subset; ``attributes`` replaces the whole dict."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[Name | None, NOT_NULL] = None
    unit: Annotated[Unit | None, NOT_NULL] = None
    event_resolution: Annotated[Resolution | None, NOT_NULL] = None
    timezone: Annotated[Timezone | None, NOT_NULL] = None
    attributes: Annotated[Attributes | None, NOT_NULL] = None


class SensorOut(BaseModel):
    """The sensor object (docs/api.md, "Sensors"); GET/PATCH add ``"status": 200``."""

    id: int
    name: str
    unit: str
    timezone: str
    event_resolution: str = Field(examples=["PT15M"])
    entity_address: str = Field(examples=["ea1.2021-01.io.flexmeasures:fm1.42"])
    attributes: str = Field(description="The attributes dict, JSON-encoded.", examples=['{"capacity_in_mw": 0.5}'])
    generic_asset_id: int


class SensorPage(BaseModel):
    """The paginated shape of ``GET /api/v3_0/sensors`` (with ``page``)."""

    data: list[SensorOut]
    num_records: int = Field(alias="num-records")
    filtered_records: int = Field(alias="filtered-records")
    status: int


def sensor_json(row: SensorRow, host: str, hosts_and_auth_start: dict[str, str], today: date) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "unit": row.unit,
        "timezone": row.timezone,
        "event_resolution": format_duration_days(row.event_resolution),
        "entity_address": entity_address.build(row.id, host, hosts_and_auth_start, today),
        "attributes": json.dumps(row.attributes),
        "generic_asset_id": row.generic_asset_id,
    }


def changed_fields(update: SensorUpdate) -> dict[str, Any]:
    """The fields the client sent (explicit nulls were already refused)."""
    return {name: getattr(update, name) for name in update.model_fields_set}
