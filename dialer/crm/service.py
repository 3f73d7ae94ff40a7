"""What the CRM commands do with the store: one function per command, each one transaction.

Plain async functions over a Database, so the command line, tests (and an MQTT command later) use
the same code.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TextIO

import structlog

from dialer import csv_safe
from dialer.crm import callbacks, erasure
from dialer.crm import store as crm
from dialer.numbers import PhoneNumber, mask
from dialer.recordings import removal
from dialer.recordings.config import RecordingsConfig
from dialer.store import Database
from dialer.store import crm as crm_store

log = structlog.get_logger("dialer.crm")
EXPORT_PAGE = 200


async def history(db: Database, kind: str, key: str | int, now: float) -> crm.ContactHistory:
    """The contact named by a number or an id, with its whole history (ContactNotFound if none)."""
    hash_key = await db.hash_key()
    async with db.read() as tx:
        contact_id = await crm.contact_id_for(tx, kind, key)
        return await crm.contact_history(tx, contact_id, hash_key, now)


async def note(db: Database, kind: str, key: str | int, body: str, author: str, now: float) -> int:
    """Add a note; returns the contact id."""
    async with db.write() as tx:
        contact_id = await crm.contact_id_for(tx, kind, key)
        await crm.add_note(tx, contact_id, body, author, now)
    return contact_id


async def tag(db: Database, kind: str, key: str | int, tags: list[str], actor: str, now: float, *,
              remove: bool = False) -> tuple[int, int]:
    """Add (or remove) tags; returns (contact id, how many changed)."""
    async with db.write() as tx:
        contact_id = await crm.contact_id_for(tx, kind, key)
        if remove:
            return contact_id, await crm.remove_tags(tx, contact_id, tags, now)
        return contact_id, await crm.add_tags(tx, contact_id, tags, actor, now)


async def _pages(db: Database, tag: str | None, now: float) -> AsyncIterator[list[crm.ContactHistory]]:
    hash_key = await db.hash_key()
    after = 0
    while True:
        async with db.read() as tx:
            ids = await crm.contact_ids_page(tx, after, EXPORT_PAGE, tag)
            if not ids:
                return
            page = await crm.contact_histories(tx, ids, hash_key, now)
        after = ids[-1]
        yield page


async def export_json(db: Database, out: TextIO, now: float, tag: str | None = None) -> int:
    """Write `[contact, ...]` with each contact's history; returns how many contacts."""
    count = 0
    out.write("[")
    async for page in _pages(db, tag, now):
        for contact in page:
            out.write(("," if count else "") + "\n" + json.dumps(contact.to_json(), ensure_ascii=False))
            count += 1
    out.write("\n]\n")
    return count


async def export_csv(db: Database, out: TextIO, now: float, tag: str | None = None) -> int:
    """Write one CSV row per attempt or blocking decision (contact columns repeated); returns contacts."""
    from dialer.crm.render import CSV_COLUMNS, csv_rows

    writer = csv_safe.writer(out)  # formula cells neutralised (OWASP CSV injection)
    writer.writerow(CSV_COLUMNS)
    count = 0
    async for page in _pages(db, tag, now):
        for contact in page:
            writer.writerows(csv_rows(contact))
            count += 1
    return count


@dataclass(frozen=True, slots=True)
class ScheduledCallback:
    """What `dialer callback` did."""

    callback_id: int
    lead_id: int
    campaign: str
    due_at: float
    new_lead: bool


async def schedule_callback(db: Database, number: PhoneNumber, campaign: str | None, due_at: float, actor: str,
                            now: float, call_campaigns: set[str]) -> ScheduledCallback:
    """Schedule a callback of `number` in `campaign` (or the campaign of its latest lead).

    A number not yet queued in the campaign gets a lead (and a contact if it has none). Raises
    LookupError with a reason a person can act on.
    """
    async with db.write() as tx:
        if campaign is None:
            campaign = await crm_store.latest_campaign(tx, number.e164)
            if campaign is None:
                raise LookupError("the number is in no campaign: name one with --campaign")
        if campaign not in call_campaigns:
            raise LookupError(f"campaign {campaign!r} is not a call campaign in the config")
        existing = await crm_store.lead_id(tx, campaign, number.e164)
        new_lead = existing is None
        lead_id = await crm_store.new_lead(tx, number, campaign, now) if existing is None else existing
        request = callbacks.CallbackRequest(lead_id, due_at, "cli", actor)
        callback_id = await tx.run(callbacks.schedule, request, now)
    log.info("callback_scheduled", number=mask(number.e164), campaign=campaign, lead=lead_id, due_at=due_at,
             by=actor)
    return ScheduledCallback(int(callback_id), lead_id, campaign, due_at, new_lead)


async def forget(db: Database, e164: str, actor: str, now: float, recordings: RecordingsConfig,
                 ) -> tuple[erasure.ErasureResult, list[removal.NotDeleted]]:
    """Erase a person (see dialer.crm.erasure); returns the result and the recording files not deleted
    (only files inside `recordings`' archive or spool are ever deleted)."""
    key = await db.hash_key()
    async with db.read() as tx:
        # Overwritten and deleted values are zeroed in the file, not left in its free space.
        await tx.execute("PRAGMA secure_delete = ON")
    try:
        async with db.write() as tx:
            result: erasure.ErasureResult = await tx.run(erasure.forget, e164, actor, now, key)
        async with db.read() as tx:
            # Out of the WAL into the main file (a reader holding an old snapshot may delay part of it).
            await tx.fetchone("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        async with db.read() as tx:
            await tx.execute("PRAGMA secure_delete = OFF")
    failed = await asyncio.to_thread(removal.delete_files, recordings, result.recording_files)
    log.info("forgotten", number=mask(e164), contact=result.contact_id, numbers=result.numbers,
             attempts=result.attempts, recordings=result.recording_rows, by=actor)
    return result, failed
