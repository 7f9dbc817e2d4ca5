"""Asset input models and the asset object as the API shows it (shaped like FlexMeasures' asset schema)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator

from services.gateway.schemas.fields import (
    NUL_TEXT,
    Attributes,
    Bool,
    Float,
    Int,
    has_nul,
    no_constant,
    not_null,
    string,
)
from services.gateway.sql.assets import AssetRelations, AssetRow

NOT_NULL = BeforeValidator(not_null)


def _between(low: float, high: float, what: str) -> AfterValidator:
    def check(value: float | None) -> float | None:
        if value is not None and not low <= value <= high:
            raise ValueError(f"{what} {value} is outside the range [{low}, {high}] degrees.")
        return value

    return AfterValidator(check)


def to_sensors_to_show(value: Any) -> list[Any]:
    """A JSON list, sent as FlexMeasures does (a string containing JSON) or directly as a list."""
    if isinstance(not_null(value), str):
        try:
            value = json.loads(value, parse_constant=no_constant)
        except (ValueError, RecursionError):
            raise ValueError("Invalid JSON string.") from None
    if not isinstance(value, list):
        raise ValueError("sensors_to_show should be a list.")
    if has_nul(value):
        raise ValueError(NUL_TEXT)
    return value


SensorsToShow = Annotated[
    list[Any],
    BeforeValidator(to_sensors_to_show),
    WithJsonSchema({"description": "A JSON list, preferably JSON-encoded as a string.",
                    "anyOf": [{"type": "string", "examples": ["[1, 2]"]}, {"type": "array"}]}),
]  # fmt: skip


class AssetListQuery(BaseModel):
    """Query string of ``GET /api/v3_0/assets``."""

    model_config = ConfigDict(extra="ignore")

    account_id: Int | None = Field(None, description="List this account's assets (default: your own).")
    include_public: Bool = Field(False, description="Add the public assets (without account).")


class AssetCreate(BaseModel):
    """Body of ``POST /api/v3_0/assets``. Give the type by id or by name (a new name creates the type)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, string(80), Field(json_schema_extra={"maxLength": 80})]
    generic_asset_type_id: Int | None = None
    generic_asset_type: Annotated[str | None, NOT_NULL, string(80)] = Field(
        None, description="Asset type name, instead of generic_asset_type_id."
    )
    account_id: Int | None = Field(
        None, description="Owning account; left out: your own account; null: a public asset (admins only)."
    )
    parent_asset_id: Int | None = None
    latitude: Annotated[Float | None, _between(-90, 90, "Latitude")] = None
    longitude: Annotated[Float | None, _between(-180, 180, "Longitude")] = None
    attributes: Annotated[Attributes, NOT_NULL] = Field(default_factory=dict)
    flex_context: Annotated[Attributes, NOT_NULL] = Field(default_factory=dict)
    sensors_to_show: Annotated[SensorsToShow, NOT_NULL] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_type(self) -> AssetCreate:
        if (self.generic_asset_type_id is None) == (self.generic_asset_type is None):
            raise ValueError("Give the asset type either by generic_asset_type_id or by generic_asset_type (its name).")
        return self


class AssetUpdate(BaseModel):
    """Body of ``PATCH /api/v3_0/assets/<id>``: any subset of these fields (``id``/``account_id``: unknown)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, string(80), Field(json_schema_extra={"maxLength": 80})] = ""
    generic_asset_type_id: Annotated[Int, NOT_NULL] = 0
    parent_asset_id: Int | None = None
    latitude: Annotated[Float | None, _between(-90, 90, "Latitude")] = None
    longitude: Annotated[Float | None, _between(-180, 180, "Longitude")] = None
    attributes: Annotated[Attributes, NOT_NULL] = Field(default_factory=dict)
    flex_context: Annotated[Attributes, NOT_NULL] = Field(default_factory=dict)
    sensors_to_show: Annotated[SensorsToShow, NOT_NULL] = Field(default_factory=list)

    def changes(self) -> dict[str, Any]:
        """The fields the request sent, with their new values."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class AssetTypeOut(BaseModel):
    id: int
    name: str


class AssetTypeListItem(BaseModel):
    id: int
    name: str
    description: str | None


class OwnerOut(BaseModel):
    id: int
    name: str


class ChildAssetOut(BaseModel):
    id: int
    name: str
    account_id: int | None
    generic_asset_type: AssetTypeOut


class SensorRefOut(BaseModel):
    id: int
    name: str


class AssetOut(BaseModel):
    """The asset object. ``attributes``, ``flex_context`` and ``sensors_to_show`` are JSON-encoded strings;
    ``owner`` is null for a public asset; ``child_assets`` are the direct children, ``sensors`` the asset's own."""

    id: int
    name: str
    account_id: int | None
    owner: OwnerOut | None
    generic_asset_type_id: int
    generic_asset_type: AssetTypeOut
    parent_asset_id: int | None
    child_assets: list[ChildAssetOut]
    sensors: list[SensorRefOut]
    latitude: float | None
    longitude: float | None
    attributes: str
    flex_context: str
    sensors_to_show: str


def asset_json(row: AssetRow, relations: AssetRelations) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "account_id": row.account_id,
        "owner": None if row.account_id is None else {"id": row.account_id, "name": relations.owner_name},
        "generic_asset_type_id": row.generic_asset_type_id,
        "generic_asset_type": {"id": row.generic_asset_type_id, "name": row.generic_asset_type_name},
        "parent_asset_id": row.parent_asset_id,
        "child_assets": relations.child_assets,
        "sensors": relations.sensors,
        "latitude": row.latitude,
        "longitude": row.longitude,
        "attributes": json.dumps(row.attributes),
        "flex_context": json.dumps(row.flex_context),
        "sensors_to_show": json.dumps(row.sensors_to_show),
    }
