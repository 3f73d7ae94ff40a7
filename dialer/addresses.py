"""The listen address of a server the daemon runs (metrics, the wallboard): an IP address or
`localhost`, never a host name that would be resolved at start."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import AfterValidator


def listen_address(value: str) -> str:
    """`value` if it is an IP address (or localhost); a field error saying what to write otherwise."""
    if value != "localhost":
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError("must be an IP address such as 127.0.0.1 or ::1 (or localhost)") from None
    return value


ListenAddress = Annotated[str, AfterValidator(listen_address)]
