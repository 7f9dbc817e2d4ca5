"""Entity addresses of sensors, ``ea1.<YYYY-MM>.<reversed host>:fm1.<sensor id>`` (see docs/api.md).

``build`` renders the read-only ``entity_address`` of a sensor for the host a request came in on;
``parse`` reads the sensor id back out of an address (the date and naming authority are not checked
against this server, as in FlexMeasures).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from datetime import date

NO_ADDRESS = "no entity address available"
LOCAL_HOSTS = ("localhost", "127.0.0.1")

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_FM1 = re.compile(r"^ea1\.\d{4}-(0[1-9]|1[0-2])\.[^:]+:fm1\.(?P<sensor_id>\d+)$")


class EntityAddressError(ValueError):
    """The text is not an fm1 entity address; the message is the client-facing text."""


def first_month_after(today: date) -> str:
    return f"{today.year + 1}-01" if today.month == 12 else f"{today.year}-{today.month + 1:02d}"


def naming_authority(host: str) -> str:
    """``company.flexmeasures.io`` → ``io.flexmeasures.company``. IP addresses stay as they are (as FlexMeasures'
    tldextract-based reversal leaves them)."""
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        return ".".join(reversed(host.split(".")))


def build(sensor_id: int, host: str, hosts_and_auth_start: Mapping[str, str], today: date) -> str:
    """The entity address of ``sensor_id`` as seen on ``host`` (port ignored), or ``NO_ADDRESS``.

    The month comes from ``hosts_and_auth_start`` keyed by the host; ``localhost`` and ``127.0.0.1`` get the
    first month after ``today``; any other host has no address.
    """
    host = host.split(":")[0].lstrip("w.")  # sic: FlexMeasures strips every leading "w" and "." character
    month = hosts_and_auth_start.get(host)
    if month is None and host in LOCAL_HOSTS:
        month = first_month_after(today)
    if not host or month is None or not _MONTH.match(month):
        return NO_ADDRESS
    return f"ea1.{month}.{naming_authority(host)}:fm1.{sensor_id}"


def parse(address: str) -> int:
    """The sensor id in an fm1 entity address, or ``EntityAddressError`` saying what is wrong."""
    if not address.startswith("ea1"):
        raise EntityAddressError(f"A valid type 1 USEF entity address starts with 'ea1', please review {address}")
    if not _MONTH.match(address[4:11]):
        raise EntityAddressError(
            f"{address} contains an invalid date. A valid type 1 USEF entity address must contain a date "
            "formatted as YYYY-MM (month 01-12) after 'ea1.'."
        )
    if ":" not in address:
        raise EntityAddressError(f"{address} has no ':' separating the naming authority from the local part.")
    local = address.split(":", 1)[1]
    if local.startswith("fm0"):
        raise EntityAddressError(f"The fm0 scheme is no longer supported, please use fm1: {address}")
    if not local.startswith("fm1."):
        raise EntityAddressError(f"{address} does not use the fm1 scheme ('fm1.<sensor id>' after the ':').")
    match = _FM1.match(address)
    if match is None:
        raise EntityAddressError(
            f"Could not parse {address}: expected ea1.<YYYY-MM>.<naming authority>:fm1.<sensor id>."
        )
    return int(match.group("sensor_id"))
