"""Asset input models and the asset object as the API shows it (shaped like FlexMeasures' asset schema)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from services.gateway.schemas.fields import Attributes, Bool, Float, Int, not_null, string
from services.gateway.sql.assets import AssetRow

NOT_NULL = BeforeValidator(not_null)


def _between(low: float, high: float, what: str) -> AfterValidator:
    def check(value: float | None) -> float | None:
        if value is not None and not low <= value <= high:
            raise ValueError(f"{what} {value} is outside the range [{low}, {high}] degrees.")
        return value

    return AfterValidator(check)


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

    @model_validator(mode="after")
    def _one_type(self) -> AssetCreate:
        if (self.generic_asset_type_id is None) == (self.generic_asset_type is None):
            raise ValueError("Give the asset type either by generic_asset_type_id or by generic_asset_type (its name).")
        return self


class AssetTypeOut(BaseModel):
    id: int
    name: str


class AssetOut(BaseModel):
    """The asset object. ``attributes``, ``flex_context`` and ``sensors_to_show`` are JSON-encoded strings."""

    id: int
    name: str
    account_id: int | None
    generic_asset_type_id: int
    generic_asset_type: AssetTypeOut
    parent_asset_id: int | None
    latitude: float | None
    longitude: float | None
    attributes: str
    flex_context: str
    sensors_to_show: str


def asset_json(row: AssetRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "account_id": row.account_id,
        "generic_asset_type_id": row.generic_asset_type_id,
        "generic_asset_type": {"id": row.generic_asset_type_id, "name": row.generic_asset_type_name},
        "parent_asset_id": row.parent_asset_id,
        "latitude": row.latitude,
        "longitude": row.longitude,
        "attributes": json.dumps(row.attributes),
        "flex_context": json.dumps(row.flex_context),
        "sensors_to_show": json.dumps(row.sensors_to_show),
    }
