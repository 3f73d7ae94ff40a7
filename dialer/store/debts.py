"""Per-debt attempt history for presets that cap calls per debt (Regulation F: 7 calls in 7 days).

A lead's debt is its contact's `debt_id` attribute (a column of the lead list). Regulation F counts
calls to a person about a debt, whichever of their numbers is called, so the attempts counted are
those to every number of the contact within the window. The queries follow the contact index
(phone_numbers_contact) and the attempts' (number, created_at) index.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from dialer.compliance.model import NumberHistory
from dialer.store.db import Tx

WINDOW_S = 7 * 86_400.0
_CHUNK = 500


async def with_debts(tx: Tx, histories: Mapping[str, NumberHistory], now: float, *,
                     window_s: float = WINDOW_S) -> dict[str, NumberHistory]:
    """`histories` with each number's debt_id and the attempts about that debt in the window."""
    numbers = list(histories)
    contact_of: dict[str, tuple[int, str | None]] = {}
    for start in range(0, len(numbers), _CHUNK):
        chunk = numbers[start:start + _CHUNK]
        rows = await tx.fetchall(
            "SELECT p.number, p.contact_id, json_extract(c.attributes, '$.debt_id') AS debt_id "
            f"FROM phone_numbers p JOIN contacts c ON c.id = p.contact_id WHERE p.number IN ({_marks(chunk)})",
            tuple(chunk))
        for row in rows:
            debt = row["debt_id"]
            contact_of[row["number"]] = (row["contact_id"], None if debt in (None, "") else str(debt))
    contacts = sorted({contact for contact, debt in contact_of.values() if debt is not None})
    times: dict[int, list[float]] = {}
    for start in range(0, len(contacts), _CHUNK):
        chunk_ids = contacts[start:start + _CHUNK]
        rows = await tx.fetchall(
            "SELECT p.contact_id, a.created_at FROM phone_numbers p JOIN attempts a ON a.number = p.number "
            f"WHERE p.contact_id IN ({_marks(chunk_ids)}) AND a.created_at >= ? AND a.medium = 'call'",
            (*chunk_ids, now - window_s))
        for row in rows:
            times.setdefault(row["contact_id"], []).append(row["created_at"])
    result: dict[str, NumberHistory] = {}
    for number, history in histories.items():
        contact, debt = contact_of.get(number, (0, None))
        result[number] = dataclasses.replace(
            history, debt_id=debt, debt_attempt_times=tuple(sorted(times.get(contact, ()))) if debt else ())
    return result


def _marks(items: Sequence[object]) -> str:
    return ",".join("?" * len(items))
