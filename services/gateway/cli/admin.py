"""``flexstream``: the operator's command line (accounts, users, assets, sensors, tokens, demo data).

Exit codes: 0 done, 1 refused (bad input, duplicate, unknown reference; the message says which),
2 usage error (typer's own).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import timedelta
from typing import Any, TypeVar

import psycopg
import typer
from aiokafka.errors import KafkaError
from psycopg import AsyncConnection
from psycopg.errors import UniqueViolation

from services.gateway import auth
from services.gateway.cli import kafka_access
from services.gateway.cli import upload as cli_upload
from services.gateway.rules import sensor_events
from services.gateway.schemas import fields
from services.gateway.sql import accounts, assets, sensors, users
from shared import db, kafka_admin
from shared.settings import GatewaySettings
from shared.time import format_duration_days

app = typer.Typer(help="FlexStream administration.", no_args_is_help=True, add_completion=False)
T = TypeVar("T")

DEMO_PASSWORD = "flexstream-demo"


@app.callback()
def _commands() -> None:
    """FlexStream administration (settings from FLEXSTREAM_* environment variables)."""


def _run(work: Callable[[AsyncConnection[Any], GatewaySettings], Awaitable[T]]) -> T:
    settings = GatewaySettings()

    async def go() -> T:
        async with await AsyncConnection.connect(db.database_url(settings)) as conn:
            result = await work(conn, settings)
            await conn.commit()
            return result

    try:
        return asyncio.run(go())
    except Refused as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except psycopg.OperationalError as exc:
        typer.echo(f"error: cannot reach the database: {exc}", err=True)
        raise typer.Exit(1) from None


class Refused(Exception):
    """Bad input or a conflict: the message tells the operator which; exit code 1."""


def _echo(result: Any, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(result, default=str))
    elif isinstance(result, list):
        for row in result:
            typer.echo("\t".join(f"{key}={value}" for key, value in row.items()))
    else:
        for key, value in result.items():
            typer.echo(f"{key}: {value}")


async def _account(conn: AsyncConnection[Any], ref: str) -> accounts.AccountRow:
    """An account by id or by name."""
    account = None
    if ref.isdigit():
        account = await accounts.account_by_id(conn, int(ref))
    if account is None:
        found = await accounts.account_id(conn, ref)
        account = await accounts.account_by_id(conn, found) if found is not None else None
    if account is None:
        raise Refused(f"unknown account {ref!r} (give its id or name; see list-accounts)")
    return account


def _valid(check: Callable[[Any], T], value: Any, what: str) -> T:
    try:
        return check(value)
    except ValueError as exc:
        raise Refused(f"{what}: {exc}") from None


JSON_OPTION = typer.Option(False, "--json", help="Print the result as JSON.")
ROLE_OPTION = typer.Option(None, "--role", help="Role, repeatable: admin, admin-reader, account-admin, consultant.")


@app.command()
def demo(
    email: str = typer.Option("demo@flexstream.local", help="Demo user's email."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Create (once) a demo account, account-admin user, battery asset with power and price sensors; issue a token."""

    async def work(conn: AsyncConnection[Any], settings: GatewaySettings) -> dict[str, Any]:
        account = await accounts.account_id(conn, "Demo account") or await accounts.create_account(conn, "Demo account")
        user = await users.user_by_email(conn, email)
        user_id = user.id if user else await accounts.create_user(
            conn, email=email, username="Demo User", password_hash=auth.hash_password(DEMO_PASSWORD),
            account_id=account, roles=["account-admin"],
        )  # fmt: skip
        asset = await assets.asset_id(conn, "demo battery", account) or await assets.create_asset(
            conn, name="demo battery", asset_type="battery", account_id=account,
            attributes={"capacity_in_mw": 0.5, "min_soc_in_mwh": 0.05, "max_soc_in_mwh": 0.45},
        )  # fmt: skip
        power = await sensors.sensor_id(conn, "power", asset) or await sensors.create_sensor(
            conn, name="power", unit="kW", event_resolution=timedelta(minutes=15), generic_asset_id=asset,
            timezone="Europe/Amsterdam", attributes={"consumption_is_positive": True},
        )  # fmt: skip
        price = await sensors.sensor_id(conn, "day-ahead prices", asset) or await sensors.create_sensor(
            conn, name="day-ahead prices", unit="EUR/MWh", event_resolution=timedelta(hours=1),
            generic_asset_id=asset, timezone="Europe/Amsterdam",
        )  # fmt: skip
        token = await auth.issue_token(conn, user_id, settings.token_max_age)
        return {"account_id": account, "user_id": user_id, "email": email, "password": DEMO_PASSWORD,
                "asset_id": asset, "power_sensor_id": power, "price_sensor_id": price, "auth_token": token}  # fmt: skip

    _echo(_run(work), as_json)


@app.command("add-account")
def add_account(
    name: str,
    consultancy: str | None = typer.Option(None, help="Consultancy account (id or name) of the new account."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create an account."""

    async def work(conn: AsyncConnection[Any], settings: GatewaySettings) -> dict[str, Any]:
        consultancy_id = (await _account(conn, consultancy)).id if consultancy else None
        if await accounts.account_id(conn, name) is not None:
            raise Refused(f"an account named {name!r} already exists")
        _valid(lambda v: fields.check_string(v, 100), name, "name")
        return {"account_id": await accounts.create_account(conn, name, consultancy_id), "name": name}

    _echo(_run(work), as_json)


@app.command("add-user")
def add_user(
    email: str,
    account: str = typer.Option(..., "--account", help="The user's account (id or name)."),
    password: str = typer.Option(..., prompt=True, hide_input=True, help="Password (asked when left out)."),
    username: str | None = typer.Option(None, help="Unique user name (default: the email)."),
    role: list[str] | None = ROLE_OPTION,
    inactive: bool = typer.Option(False, "--inactive", help="Create the user inactive (cannot authenticate)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a user in an account, with roles."""

    async def work(conn: AsyncConnection[Any], settings: GatewaySettings) -> dict[str, Any]:
        owner = await _account(conn, account)
        roles = sorted(set(role or ()))
        if "@" not in email:
            raise Refused(f"{email!r} is not an email address")
        if await users.user_by_email(conn, email) is not None:
            raise Refused(f"a user with email {email!r} already exists")
        if not password:
            raise Refused("the password may not be empty")
        try:
            async with conn.transaction():
                user_id = await accounts.create_user(
                    conn, email=email, username=username or email, password_hash=auth.hash_password(password),
                    account_id=owner.id, roles=roles, active=not inactive,
                )  # fmt: skip
        except UniqueViolation:
            raise Refused(f"the user name {username or email!r} is taken") from None
        return {"user_id": user_id, "email": email, "account_id": owner.id, "roles": roles}

    _echo(_run(work), as_json)


@app.command("add-asset")
def add_asset(
    name: str,
    account: str | None = typer.Option(None, help="Owning account (id or name); left out: a public asset."),
    asset_type: str = typer.Option("battery", "--type", help="Asset type name (created when new)."),
    parent: int | None = typer.Option(None, help="Parent asset id."),
    latitude: float | None = typer.Option(None),
    longitude: float | None = typer.Option(None),
    attributes: str = typer.Option("{}", help="Attributes as a JSON object."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create an asset."""

    async def work(conn: AsyncConnection[Any], settings: GatewaySettings) -> dict[str, Any]:
        account_id = (await _account(conn, account)).id if account else None
        attrs = _valid(fields.to_attributes, attributes, "attributes")
        _valid(lambda v: fields.check_string(v, 80), name, "name")
        if parent is not None:
            parent_row = await assets.asset_by_id(conn, parent)
            if parent_row is None:
                raise Refused(f"unknown parent asset {parent}")
            if parent_row.account_id != account_id:
                raise Refused(f"parent asset {parent} belongs to another account")
        try:
            async with conn.transaction():
                asset_id = await assets.create_asset(
                    conn, name=name, asset_type=asset_type, account_id=account_id, parent_asset_id=parent,
                    latitude=latitude, longitude=longitude, attributes=attrs,
                )  # fmt: skip
        except UniqueViolation:
            raise Refused(f"an asset named {name!r} already exists under parent asset {parent}") from None
        return {"asset_id": asset_id, "name": name, "account_id": account_id}

    _echo(_run(work), as_json)


@app.command("add-sensor")
def add_sensor(
    name: str,
    asset: int = typer.Option(..., help="The asset (id) the sensor belongs to."),
    unit: str = typer.Option(..., help="Unit, e.g. kW, EUR/MWh."),
    resolution: str = typer.Option("PT15M", help="Event resolution (ISO 8601 duration; PT0M: instantaneous)."),
    timezone: str = typer.Option("UTC", help="IANA timezone."),
    attributes: str = typer.Option("{}", help="Attributes as a JSON object."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a sensor (and its SensorChanged event, published by a running gateway)."""

    async def work(conn: AsyncConnection[Any], settings: GatewaySettings) -> dict[str, Any]:
        _valid(lambda v: fields.check_string(v, 120), name, "name")
        checked_unit = _valid(fields.to_unit, unit, "unit")
        event_resolution = _valid(fields.to_resolution, resolution, "resolution")
        checked_timezone = _valid(fields.to_timezone, timezone, "timezone")
        attrs = _valid(fields.to_attributes, attributes, "attributes")
        if await assets.asset_by_id(conn, asset) is None:
            raise Refused(f"unknown asset {asset}")
        try:
            async with conn.transaction():
                sensor_id = await sensors.create_sensor(
                    conn, name=name, unit=checked_unit, event_resolution=event_resolution, generic_asset_id=asset,
                    timezone=checked_timezone, attributes=attrs,
                )  # fmt: skip
                row = await sensors.sensor_by_id(conn, sensor_id)
                await sensor_events.record(
                    conn, settings.topic_prefix, sensor_events.event_for("created", sensor_id, row)
                )
        except UniqueViolation:
            raise Refused(f"a sensor named {name!r} already exists on asset {asset}") from None
        return {"sensor_id": sensor_id, "name": name, "asset_id": asset, "unit": checked_unit,
                "event_resolution": format_duration_days(event_resolution)}  # fmt: skip

    _echo(_run(work), as_json)


@app.command("issue-token")
def issue_token(email: str, as_json: bool = JSON_OPTION) -> None:
    """Issue an auth token for a user (valid for FLEXSTREAM_TOKEN_MAX_AGE)."""

    async def work(conn: AsyncConnection[Any], settings: GatewaySettings) -> dict[str, Any]:
        user = await users.user_by_email(conn, email)
        if user is None:
            raise Refused(f"no user with email {email!r}")
        if not user.active:
            raise Refused(f"user {email!r} is inactive; a token would authenticate nothing")
        token = await auth.issue_token(conn, user.id, settings.token_max_age)
        return {"user_id": user.id, "auth_token": token}

    _echo(_run(work), as_json)


@app.command("list-accounts")
def list_accounts(as_json: bool = JSON_OPTION) -> None:
    """List all accounts."""

    async def work(conn: AsyncConnection[Any], settings: GatewaySettings) -> list[dict[str, Any]]:
        return [asdict(row) for row in await accounts.all_accounts(conn)]

    _echo(_run(work), as_json)


@app.command("list-users")
def list_users(account: str | None = typer.Option(None, help="Only this account (id or name)."),
               as_json: bool = JSON_OPTION) -> None:  # fmt: skip
    """List users (without password hashes)."""

    async def work(conn: AsyncConnection[Any], settings: GatewaySettings) -> list[dict[str, Any]]:
        account_id = (await _account(conn, account)).id if account else None
        rows = await users.all_users(conn, account_id)
        return [{"id": u.id, "email": u.email, "username": u.username, "account_id": u.account_id,
                 "active": u.active, "roles": sorted(u.roles)} for u in rows]  # fmt: skip

    _echo(_run(work), as_json)


@app.command("list-assets")
def list_assets(account: str | None = typer.Option(None, help="Only this account (id or name)."),
                as_json: bool = JSON_OPTION) -> None:  # fmt: skip
    """List assets."""

    async def work(conn: AsyncConnection[Any], settings: GatewaySettings) -> list[dict[str, Any]]:
        rows = await (assets.select_assets(conn, (await _account(conn, account)).id, False) if account
                      else assets.all_assets(conn))  # fmt: skip
        return [{"id": a.id, "name": a.name, "type": a.generic_asset_type_name, "account_id": a.account_id,
                 "parent_asset_id": a.parent_asset_id} for a in rows]  # fmt: skip

    _echo(_run(work), as_json)


@app.command("list-sensors")
def list_sensors(asset: int | None = typer.Option(None, help="Only this asset and its descendants."),
                 as_json: bool = JSON_OPTION) -> None:  # fmt: skip
    """List sensors."""

    async def work(conn: AsyncConnection[Any], settings: GatewaySettings) -> list[dict[str, Any]]:
        if asset is not None and await assets.asset_by_id(conn, asset) is None:
            raise Refused(f"unknown asset {asset}")
        rows = await (sensors.select_sensors(conn, sensors.SensorSelection(asset_id=asset)) if asset is not None
                      else sensors.all_sensors(conn))  # fmt: skip
        return [{"id": s.id, "name": s.name, "unit": s.unit, "timezone": s.timezone, "asset_id": s.generic_asset_id,
                 "event_resolution": format_duration_days(s.event_resolution)} for s in rows]  # fmt: skip

    _echo(_run(work), as_json)


app.command("upload")(cli_upload.upload)


DEVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@app.command("add-device-credential")
def add_device_credential(
    name: str = typer.Argument(..., help="The device's name (letters, digits, '.', '_', '-'); unique in its account."),
    account: str = typer.Option(..., "--account", help="The device's account (id or name)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a Kafka credential (SASL/SCRAM-SHA-512) for a device of an account, with its ACLs: it may write its
    account's device topic and read its account's schedules. Prints the password once. Needs a Kafka super user in
    FLEXSTREAM_KAFKA_SASL_USERNAME/PASSWORD."""
    if not DEVICE_NAME.fullmatch(name):
        typer.echo(f"error: {name!r} is not a device name (letters, digits, '.', '_', '-'; at most 64)", err=True)
        raise typer.Exit(1)

    async def work(conn: AsyncConnection[Any], settings: GatewaySettings) -> dict[str, Any]:
        owner = await _account(conn, account)
        _require_sasl(settings)
        try:
            credential = await kafka_access.add_device_credential(settings, owner.id, name)
        except (KafkaError, kafka_admin.KafkaAdminFailed) as exc:
            raise Refused(f"the broker refused: {exc}") from None
        return asdict(credential) | {"bootstrap": settings.kafka_bootstrap, "mechanism": "SCRAM-SHA-512"}

    _echo(_run(work), as_json)


@app.command("kafka-acls")
def kafka_acls(as_json: bool = JSON_OPTION) -> None:
    """Create the topics and every service's ACLs (gateway, ingest, scheduler, stats, each its own principal) for
    FLEXSTREAM_TOPIC_PREFIX. Idempotent. Needs a Kafka super user in FLEXSTREAM_KAFKA_SASL_USERNAME/PASSWORD."""
    settings = GatewaySettings()
    try:
        _require_sasl(settings)
        count = asyncio.run(kafka_access.provision_services(settings))
    except (Refused, KafkaError, kafka_admin.KafkaAdminFailed) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    _echo({"acls": count, "topic_prefix": settings.topic_prefix}, as_json)


def _require_sasl(settings: GatewaySettings) -> None:
    if not settings.kafka_sasl or not settings.kafka_sasl_username:
        raise Refused("the broker's credentials are not set (FLEXSTREAM_KAFKA_SECURITY_PROTOCOL, _SASL_USERNAME, ...)")


def main() -> None:
    app()
