"""The contact store: find a contact, read its whole history, search, tags and notes.

A contact is a person: a name, the attributes of the import, one or more numbers (E.164, with the
region and time zones found at import), tags and notes. Its history is every attempt (call or
message) to any of its numbers, each with the gate decision that allowed it, the decisions that
blocked its leads, the DNC and consent facts about its numbers, callbacks and messages. The core
tables (contacts, numbers, leads, attempts, audit) are read through `dialer.store.contacts`; the
CRM's own tables (tags, notes, callbacks, messages) and the compliance and recordings rows here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dialer.numbers import NumberError, normalise, number_hash
from dialer.store import contacts
from dialer.store import surveys as survey_store
from dialer.store.db import Row, Tx

_CHUNK = 500
_ID = re.compile(r"(?:id:|#)?(\d{1,12})")
_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")


class ContactNotFound(LookupError):
    """No contact matches what was asked for."""


@dataclass(frozen=True, slots=True)
class NumberInfo:
    """One of a contact's numbers (or, after erasure, its pseudonym `erased:<hash>`)."""

    number: str
    region: str
    number_type: str
    zones: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GateEntry:
    """An audit row about one of the contact's leads or numbers (a gate decision or a change)."""

    at: float
    kind: str
    campaign: str | None
    lead_id: int | None
    call_id: str | None
    verdict: str | None
    rule: str | None
    detail: str | None
    actor: str | None


@dataclass(frozen=True, slots=True)
class AttemptEntry:
    """One call or message, with the gate decision that allowed it and its recording."""

    call_id: str
    medium: str
    campaign: str
    lead_id: int
    number: str
    state: str
    created_at: float
    answered_at: float | None
    ended_at: float | None
    disposition: str | None
    talk_s: float | None
    detail: str | None
    recording: str | None
    recording_status: str | None
    gate: GateEntry | None


@dataclass(frozen=True, slots=True)
class LeadEntry:
    """One of the contact's leads: a number queued in a campaign."""

    id: int
    campaign: str
    number: str
    status: str
    attempts: int
    next_attempt_at: float
    last_disposition: str | None


@dataclass(frozen=True, slots=True)
class DncEntryInfo:
    """A DNC entry that blocks one of the contact's numbers now."""

    number: str
    list: str
    campaign: str | None
    source: str
    added_at: float
    expires_at: float | None


@dataclass(frozen=True, slots=True)
class ConsentInfo:
    """A consent record of one of the contact's numbers."""

    number: str
    source: str
    granted_at: float
    scope: str | None
    expires_at: float | None
    revoked_at: float | None
    channel: str | None


@dataclass(frozen=True, slots=True)
class SurveyAnswerInfo:
    """One answer the contact gave in a survey call (dialer.surveys)."""

    call_id: str
    campaign: str
    question: str
    keys: str
    meaning: str
    status: str
    answered_at: float


@dataclass(frozen=True, slots=True)
class CallbackInfo:
    """A callback scheduled for one of the contact's leads."""

    id: int
    lead_id: int
    campaign: str
    due_at: float
    source: str
    requested_by: str
    created_at: float
    status: str
    fired_call_id: str | None


@dataclass(frozen=True, slots=True)
class NoteInfo:
    """A free-text note."""

    id: int
    body: str
    author: str
    created_at: float


@dataclass(frozen=True, slots=True)
class MessageInfo:
    """A text message sent to or received from one of the contact's numbers."""

    direction: str
    number: str
    campaign: str | None
    body: str | None
    keyword: str | None
    detail: str | None
    created_at: float


@dataclass(slots=True)
class ContactHistory:
    """Everything the dialer knows about one contact."""

    id: int
    name: str | None
    attributes: dict[str, str]
    created_at: float
    updated_at: float
    erased_at: float | None
    numbers: list[NumberInfo] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    notes: list[NoteInfo] = field(default_factory=list)
    leads: list[LeadEntry] = field(default_factory=list)
    attempts: list[AttemptEntry] = field(default_factory=list)
    blocks: list[GateEntry] = field(default_factory=list)  # gate decisions that blocked a lead
    changes: list[GateEntry] = field(default_factory=list)  # DNC, consent and erasure records
    dnc: list[DncEntryInfo] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)  # numbers on the suppression list
    consents: list[ConsentInfo] = field(default_factory=list)
    callbacks: list[CallbackInfo] = field(default_factory=list)
    messages: list[MessageInfo] = field(default_factory=list)
    survey_answers: list[SurveyAnswerInfo] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Plain data (for JSON output and export)."""
        from dataclasses import asdict

        data = asdict(self)
        for entry in data["numbers"]:
            entry["zones"] = list(entry["zones"])
        return data


# -- finding contacts -------------------------------------------------------------------------------


async def has_table(tx: Tx, name: str) -> bool:
    """Whether the schema has this table (the recordings table arrives with its own migration)."""
    return await tx.fetchone("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)) is not None


def parse_key(text: str, region: str) -> tuple[str, str | int]:
    """`NUMBER|ID` from the command line: ("number", e164) if it is a valid number, else ("id", n).

    `id:12` or `#12` is always an id. Raises ContactNotFound if it is neither.
    """
    value = text.strip()
    if value.startswith(("id:", "#")):
        match = _ID.fullmatch(value)
        if match is None:
            raise ContactNotFound(f"{text!r} is not a contact id")
        return "id", int(match.group(1))
    try:
        return "number", normalise(value.translate(str.maketrans("", "", " ()")), region).e164
    except NumberError:
        pass
    match = _ID.fullmatch(value)
    if match is None:
        raise ContactNotFound(f"{text!r} is neither a valid number nor a contact id")
    return "id", int(match.group(1))


async def contact_id_for(tx: Tx, kind: str, key: str | int) -> int:
    """The contact with this id, or owning this number; ContactNotFound otherwise."""
    if kind == "id":
        found = int(key) if await contacts.contact_exists(tx, int(key)) else None
    else:
        found = await contacts.owner_of(tx, str(key))
    if found is None:
        raise ContactNotFound("no contact with that id" if kind == "id" else "no contact has that number")
    return found


# -- history ----------------------------------------------------------------------------------------


def _marks(items: Sequence[object]) -> str:
    return ",".join("?" * len(items))


async def contact_history(tx: Tx, contact_id: int, hash_key: bytes, now: float) -> ContactHistory:
    """The whole history of one contact (ContactNotFound if there is none with this id)."""
    histories = await contact_histories(tx, [contact_id], hash_key, now)
    if not histories:
        raise ContactNotFound("no contact with that id")
    return histories[0]


async def contact_histories(tx: Tx, contact_ids: Sequence[int], hash_key: bytes, now: float) -> list[ContactHistory]:
    """Histories of several contacts at once (for export: a few queries per page, not per contact)."""
    if not contact_ids:
        return []
    ids = list(contact_ids)
    marks = _marks(ids)
    rows = await contacts.contact_rows(tx, ids)
    by_id: dict[int, ContactHistory] = {
        r["id"]: ContactHistory(r["id"], r["name"], json.loads(r["attributes"] or "{}"), r["created_at"],
                                r["updated_at"], r["erased_at"])
        for r in rows
    }
    if not by_id:
        return []
    owner: dict[str, int] = {}
    for r in await contacts.number_rows(tx, ids):
        owner[r["number"]] = r["contact_id"]
        by_id[r["contact_id"]].numbers.append(
            NumberInfo(r["number"], r["region"], r["number_type"], tuple(r["zones"].split())))
    for r in await tx.fetchall(
            f"SELECT contact_id, tag FROM contact_tags WHERE contact_id IN ({marks}) ORDER BY tag", ids):
        by_id[r["contact_id"]].tags.append(r["tag"])
    for r in await tx.fetchall(
            f"SELECT id, contact_id, body, author, created_at FROM contact_notes WHERE contact_id IN ({marks}) "
            "ORDER BY created_at, id", ids):
        by_id[r["contact_id"]].notes.append(NoteInfo(r["id"], r["body"], r["author"], r["created_at"]))
    numbers = list(owner)
    lead_owner: dict[int, int] = {}
    for r in await contacts.lead_rows(tx, numbers):
        lead_owner[r["id"]] = owner[r["number"]]
        by_id[owner[r["number"]]].leads.append(LeadEntry(
            r["id"], r["campaign_id"], r["number"], r["status"], r["attempts"], r["next_attempt_at"],
            r["last_disposition"]))
    await _attempts(tx, numbers, owner, by_id)
    await _audit(tx, numbers, owner, lead_owner, by_id, hash_key)
    await _compliance(tx, numbers, owner, by_id, hash_key, now)
    leads = list(lead_owner)
    for chunk in _chunks(leads):
        for r in await tx.fetchall(
                "SELECT id, lead_id, campaign_id, due_at, source, requested_by, created_at, status, fired_call_id "
                f"FROM callbacks WHERE lead_id IN ({_marks(chunk)}) ORDER BY created_at, id", chunk):
            by_id[lead_owner[r["lead_id"]]].callbacks.append(CallbackInfo(
                r["id"], r["lead_id"], r["campaign_id"], r["due_at"], r["source"], r["requested_by"],
                r["created_at"], r["status"], r["fired_call_id"]))
    for chunk in _chunks(numbers):
        for r in await tx.fetchall(
                "SELECT direction, number, campaign_id, body, keyword, detail, created_at FROM sms_messages "
                f"WHERE number IN ({_marks(chunk)}) ORDER BY created_at, id", chunk):
            by_id[owner[r["number"]]].messages.append(MessageInfo(
                r["direction"], r["number"], r["campaign_id"], r["body"], r["keyword"], r["detail"], r["created_at"]))
    if await has_table(tx, "survey_answers"):
        for a in await survey_store.answers_of_leads(tx, leads):
            by_id[lead_owner[a.lead_id]].survey_answers.append(SurveyAnswerInfo(
                a.call_id, a.campaign_id, a.question, a.keys, a.meaning, a.status, a.answered_at))
    return [by_id[i] for i in ids if i in by_id]


def _chunks(items: Sequence[Any]) -> list[Sequence[Any]]:
    return [items[i:i + _CHUNK] for i in range(0, len(items), _CHUNK)]


def _gate(r: Row, prefix: str = "") -> GateEntry:
    return GateEntry(r[f"{prefix}at"], r[f"{prefix}kind"], r[f"{prefix}campaign_id"], r[f"{prefix}lead_id"],
                     r[f"{prefix}call_id"], r[f"{prefix}verdict"], r[f"{prefix}rule"], r[f"{prefix}detail"],
                     r[f"{prefix}actor"])


async def _attempts(tx: Tx, numbers: list[str], owner: dict[str, int], by_id: dict[int, ContactHistory]) -> None:
    rows = await contacts.attempt_rows(tx, numbers)
    # The recordings table (its own migration) gives each answered call its archived file.
    files = await _recordings(tx, [r["call_id"] for r in rows]) if await has_table(tx, "recordings") else {}
    for r in rows:
        gate = _gate(r, "g_") if r["g_at"] is not None else None
        path, status = files.get(r["call_id"], (None, None))
        by_id[owner[r["number"]]].attempts.append(AttemptEntry(
            r["call_id"], r["medium"], r["campaign_id"], r["lead_id"], r["number"], r["state"], r["created_at"],
            r["answered_at"], r["ended_at"], r["disposition"], r["talk_s"], r["detail"], path, status, gate))


async def _recordings(tx: Tx, call_ids: list[str]) -> dict[str, tuple[str | None, str | None]]:
    """Call id -> (the archived file, else the spool path; the recording's status)."""
    found: dict[str, tuple[str | None, str | None]] = {}
    for chunk in _chunks(call_ids):
        for r in await tx.fetchall(f"SELECT call_id, path, source_path, status FROM recordings "
                                   f"WHERE call_id IN ({_marks(chunk)})", chunk):
            found[r["call_id"]] = (r["path"] or r["source_path"], r["status"])
    return found


async def _audit(tx: Tx, numbers: list[str], owner: dict[str, int], lead_owner: dict[int, int],
                 by_id: dict[int, ContactHistory], hash_key: bytes) -> None:
    # Every audit row about a number carries its keyed hash (indexed): gate decisions and changes alike.
    hashes = {_hash(n, hash_key): owner[n] for n in numbers}
    for r in await contacts.audit_rows(tx, list(hashes)):
        history = by_id[hashes[r["number_hash"]]]
        if r["kind"] in ("gate", "sms"):  # decisions: the allowing ones come with their attempts
            if r["verdict"] == "block" and r["lead_id"] in lead_owner:
                history.blocks.append(_gate(r))
        else:
            history.changes.append(_gate(r))


def _hash(number: str, key: bytes) -> str:
    # An erased number's pseudonym carries its hash: the audit rows about it keep that hash.
    if number.startswith("erased:"):
        return number.removeprefix("erased:")
    return number_hash(number, key)


async def _compliance(tx: Tx, numbers: list[str], owner: dict[str, int], by_id: dict[int, ContactHistory],
                      hash_key: bytes, now: float) -> None:
    for chunk in _chunks(numbers):
        marks = _marks(chunk)
        for r in await tx.fetchall(
                "SELECT number, list, campaign_id, source, added_at, expires_at FROM dnc_entries "
                f"WHERE number IN ({marks}) AND removed_at IS NULL AND (expires_at IS NULL OR expires_at > ?) "
                "ORDER BY added_at, id", (*chunk, now)):
            by_id[owner[r["number"]]].dnc.append(DncEntryInfo(
                r["number"], r["list"], r["campaign_id"], r["source"], r["added_at"], r["expires_at"]))
        for r in await tx.fetchall(
                "SELECT number, source, granted_at, scope, expires_at, revoked_at, channel FROM consents "
                f"WHERE number IN ({marks}) ORDER BY granted_at, id", chunk):
            by_id[owner[r["number"]]].consents.append(ConsentInfo(
                r["number"], r["source"], r["granted_at"], r["scope"], r["expires_at"], r["revoked_at"],
                r["channel"]))
    hashes = {_hash(n, hash_key): n for n in numbers}
    keys = list(hashes)
    for chunk in _chunks(keys):
        for r in await tx.fetchall(
                f"SELECT number_hash FROM suppressions WHERE number_hash IN ({_marks(chunk)})", chunk):
            number = hashes[r["number_hash"]]
            by_id[owner[number]].suppressed.append(number)


# -- search -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContactSummary:
    """One line of a search result."""

    id: int
    name: str | None
    numbers: tuple[str, ...]
    tags: tuple[str, ...]
    attributes: dict[str, str]
    erased: bool


async def search_contacts(tx: Tx, *, name: str | None = None, number: str | None = None, tag: str | None = None,
                          attribute: tuple[str, str] | None = None, limit: int = 50) -> list[ContactSummary]:
    """Contacts matching every criterion given: a name part, a number fragment (digits), a tag, an
    attribute `key=value` (exact); names and values compared in any case, in any script; ordered by id.

    SQL narrows the candidates (its LIKE folds ASCII letters only, so every other character is a
    one-character wildcard there); the exact, Unicode-aware comparison is made here."""
    digits = "".join(ch for ch in number if ch.isdigit()) if number else ""
    query = contacts.ContactQuery(
        name_like=f"%{_like_any_case(name)}%" if name else None,
        number_like=f"+%{digits}%" if number else None,
        tag=tag.lower() if tag else None,
        # Coarse in SQL (some attribute has a value like it), exact in Python below.
        attribute_like=_like_any_case(attribute[1].strip()) if attribute else None,
    )
    found: list[ContactSummary] = []
    after = 0
    while len(found) < limit:
        rows = await contacts.search_page(tx, query, after, max(limit * 4, 200))
        if not rows:
            break
        after = rows[-1]["id"]
        for r in rows:
            attributes = json.loads(r["attributes"] or "{}")
            if attribute and not _attribute_matches(attributes, *attribute):
                continue
            if name and name.casefold() not in (r["name"] or "").casefold():
                continue
            found.append(ContactSummary(r["id"], r["name"], (), (), attributes, r["erased_at"] is not None))
            if len(found) == limit:
                break
    if not found:
        return []
    ids = [c.id for c in found]
    numbers = await contacts.numbers_by_contact(tx, ids)
    tags: dict[int, list[str]] = {}
    for r in await tx.fetchall(f"SELECT contact_id, tag FROM contact_tags WHERE contact_id IN ({_marks(ids)}) "
                               "ORDER BY tag", ids):
        tags.setdefault(r[0], []).append(r[1])
    return [ContactSummary(c.id, c.name, tuple(numbers.get(c.id, ())), tuple(tags.get(c.id, ())), c.attributes,
                           c.erased) for c in found]


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like_any_case(text: str) -> str:
    """A LIKE pattern for `text` that SQLite's ASCII-only case folding cannot make miss a match."""
    return "".join(ch if ch.isascii() else "_" for ch in _like(text))


def _attribute_matches(attributes: dict[str, Any], key: str, value: str) -> bool:
    wanted_key = key.strip().casefold()
    wanted = value.strip().casefold()
    return any(k.casefold() == wanted_key and str(v).strip().casefold() == wanted for k, v in attributes.items())


async def contact_ids_page(tx: Tx, after_id: int, limit: int, tag: str | None = None) -> list[int]:
    """Contact ids after `after_id`, in order (for export), optionally only those with `tag`."""
    return await contacts.contact_ids_page(tx, after_id, limit, tag.lower() if tag else None)


# -- tags and notes ---------------------------------------------------------------------------------


def check_tag(tag: str) -> str:
    """A tag as stored (lower case); ValueError unless it is one word of letters, digits, _ . : -."""
    value = tag.strip().lower()
    if not _TAG.fullmatch(value):
        raise ValueError(f"tag {tag!r}: one word of letters, digits, '_', '.', ':' or '-' (at most 64)")
    return value


async def add_tags(tx: Tx, contact_id: int, tags: Sequence[str], actor: str, now: float) -> int:
    """Tag a contact (tags it already has are kept); returns how many were new."""
    added = 0
    for tag in tags:
        if await tx.fetchone("SELECT 1 FROM contact_tags WHERE contact_id = ? AND tag = ?", (contact_id, tag)):
            continue
        await tx.execute("INSERT INTO contact_tags (contact_id, tag, created_at, actor) VALUES (?, ?, ?, ?)",
                         (contact_id, tag, now, actor))
        added += 1
    await contacts.touch(tx, contact_id, now)
    return added


async def remove_tags(tx: Tx, contact_id: int, tags: Sequence[str], now: float) -> int:
    """Untag a contact; returns how many tags it lost."""
    removed = 0
    for tag in tags:
        removed += await tx.execute("DELETE FROM contact_tags WHERE contact_id = ? AND tag = ?", (contact_id, tag))
    await contacts.touch(tx, contact_id, now)
    return removed


async def add_note(tx: Tx, contact_id: int, body: str, author: str, now: float) -> int:
    """Add a note to a contact; returns its id."""
    note_id = await tx.execute(
        "INSERT INTO contact_notes (contact_id, body, author, created_at) VALUES (?, ?, ?, ?)",
        (contact_id, body, author, now))
    await contacts.touch(tx, contact_id, now)
    return note_id
