"""``flexstream``: the operator's command line (accounts, users, assets, sensors, tokens, demo data).

Exit codes: 0 done, 1 refused (bad input, duplicate, unknown reference; the message says which),
2 usage error (typer's own).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import psycopg
import typer
from psycopg import AsyncConnection

from services.gateway import auth
from services.gateway.sql import accounts, assets, sensors, users
from shared import db
from shared.settings import GatewaySettings

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
    except psycopg.OperationalError as exc:
        typer.echo(f"error: cannot reach the database: {exc}", err=True)
        raise typer.Exit(1) from None


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

    result = _run(work)
    if as_json:
        typer.echo(json.dumps(result))
    else:
        for key, value in result.items():
            typer.echo(f"{key}: {value}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
