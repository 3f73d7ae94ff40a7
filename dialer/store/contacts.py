"""The `contacts` and `phone_numbers` tables as the dialing side reads them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from dialer.store.db import Tx

_CHUNK = 500  # numbers per statement (SQLite's default limit is 32766 variables; smaller pages stay quick)


async def template_fields(tx: Tx, numbers: Sequence[str]) -> dict[str, tuple[str | None, Mapping[str, str]]]:
    """Name and attributes of the contact owning each number (for a message template)."""
    found: dict[str, tuple[str | None, Mapping[str, str]]] = {}
    for start in range(0, len(numbers), _CHUNK):
        chunk = numbers[start:start + _CHUNK]
        rows = await tx.fetchall(
            "SELECT p.number, c.name, c.attributes FROM phone_numbers p JOIN contacts c ON c.id = p.contact_id "
            f"WHERE p.number IN ({','.join('?' * len(chunk))})", chunk)
        for r in rows:
            found[r["number"]] = (r["name"], json.loads(r["attributes"] or "{}"))
    return found
