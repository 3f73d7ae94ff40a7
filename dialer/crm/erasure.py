"""Erasure on request (`dialer forget NUMBER`): the person's data goes, their history's shape stays.

What goes, for the contact owning the number (every number of theirs) or for the number alone:
- the contact's name, attributes, tags and notes; the bodies of messages to and from them;
- each number in clear, wherever the dialer wrote it: phone_numbers, leads, attempts (and the
  Asterisk channel names and details that may contain it), SMS rows, DNC and consent records,
  audit rows (their masked form too), unpublished and published outbox payloads;
- recordings: the files and their rows (once the recordings table exists), except those under a
  legal hold, which are kept and counted in the audit row (a hold is there to keep evidence). The
  files go after the commit, and only inside the archive or the spool (`recordings.removal`);
- survey answers given in calls to the number (table survey_answers): deleted, as what the person said.

What stays: every lead, attempt and audit row, with its outcome, times and campaign, keyed by the
pseudonym `erased:<keyed hash>` instead of the number, so reports count exactly what they counted
before. The hash also goes on the suppression list, which the gate checks for every number: the
number is never called or texted again, even if a later import brings it back. One audit row
(kind `forget`) says when and by whom.

The work is one transaction with SQLite's `secure_delete` on, so overwritten values are zeroed in
the file rather than left in free space; a checkpoint afterwards moves the pages out of the WAL.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field

import phonenumbers

from dialer.numbers import GROUP_SEPARATOR, MIN_MASKED_DIGITS, number_hash
from dialer.store import compliance as compliance_store
from dialer.store import erasure as erasure_store
from dialer.store import surveys as survey_store

PSEUDONYM_PREFIX = "erased:"


@dataclass(slots=True)
class ErasureResult:
    """What `forget` did (counts; no personal data)."""

    contact_id: int | None
    numbers: int
    hashes: list[str] = field(default_factory=list)
    leads: int = 0
    attempts: int = 0
    messages: int = 0
    notes: int = 0
    dnc_entries: int = 0
    consents: int = 0
    audit_rows: int = 0
    outbox_rows: int = 0
    recording_files: list[str] = field(default_factory=list)  # to delete once the transaction committed
    recording_rows: int = 0
    recordings_held: int = 0  # under a legal hold: kept, and said so
    survey_answers: int = 0

    def summary(self) -> str:
        """One line for the audit row and the command's output."""
        who = f"contact #{self.contact_id}" if self.contact_id is not None else "a number with no contact"
        return (f"erased {who} ({self.numbers} number(s)): {self.leads} lead(s), {self.attempts} attempt(s), "
                f"{self.messages} message(s), {self.notes} note(s), {self.dnc_entries} DNC and {self.consents} "
                f"consent record(s), {self.audit_rows} audit row(s), {self.outbox_rows} outbox row(s), "
                f"{self.recording_rows} recording(s), {self.survey_answers} survey answer(s)"
                + (f" ({self.recordings_held} under legal hold kept)" if self.recordings_held else "")
                + "; history kept under pseudonyms, numbers on the suppression list")


def pseudonym(number_hash_hex: str) -> str:
    """What replaces an erased number: never E.164, so it can never reach a dial string."""
    return PSEUDONYM_PREFIX + number_hash_hex


def forms(e164: str) -> list[str]:
    """The digit strings a number is written with: E.164 (with and without +), the national
    significant number, and the national form with its trunk prefix (`02079460018` in the UK)."""
    found = [e164, e164[1:]]
    try:
        parsed = phonenumbers.parse(e164, None)
        national = phonenumbers.national_significant_number(parsed)
        dialled = _digits(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL))
        found += [form for form in (national, dialled) if len(form) >= MIN_MASKED_DIGITS]
    except phonenumbers.NumberParseException:
        pass
    return sorted(set(found), key=len, reverse=True)


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


# What people put between the digits of a number (`415-555-0123`, `(415) 555-0123`, `+1 415 555 0123`,
# `415.555.0123`): the separators `dialer.numbers.mask_text` allows, at most three in a row.
_SEPARATOR = GROUP_SEPARATOR + "{0,3}"


# The separators as a str.translate table that deletes them (whitespace ends at U+3000): with them
# gone, any spelling of the number is one of its forms in a row, which `in` finds at C speed.
_DROP_SEPARATORS = {c: None for c in range(0x3001) if re.fullmatch(GROUP_SEPARATOR, chr(c))}
_ASCII_SEPARATORS = bytes(c for c in _DROP_SEPARATORS if c < 128)


def spellings(e164: str) -> re.Pattern[str]:
    """A pattern for the number however it is spelled in free text: any of its `forms`, digit by digit
    with separators between, a leading + or (, not glued to further digits on either side (then it is
    part of another, longer number). Digits-only comparison, as `mask_text` finds numbers."""
    alternatives = dict.fromkeys(r"\+?\(?" + _SEPARATOR.join(_digits(form)) for form in forms(e164))
    # [0-9], not \d: a digit of another script next to it must not hide the number.
    return re.compile(rf"(?<![0-9])(?:{'|'.join(alternatives)})(?![0-9])")


def forget(conn: sqlite3.Connection, e164: str, actor: str, now: float, key: bytes) -> ErasureResult:
    """Erase the person owning `e164` (see the module docstring). Runs inside the caller's write
    transaction, on the database thread."""
    contact_id = erasure_store.contact_of(conn, e164)
    numbers = [e164]
    if contact_id is not None:
        numbers = erasure_store.numbers_of(conn, contact_id) or [e164]
    result = ErasureResult(contact_id, len(numbers))
    names: list[str] = []
    if contact_id is not None:
        names = _erase_contact(conn, contact_id, now, result)
    for number in numbers:
        digest = number_hash(number, key)
        result.hashes.append(digest)
        _erase_number(conn, number, digest, names, now, result)
    compliance_store.add_suppressions(conn, result.hashes, now, actor)
    erasure_store.add_forget_audit(conn, number_hash(e164, key), result.summary(), actor, now)
    return result


def _erase_contact(conn: sqlite3.Connection, contact_id: int, now: float, result: ErasureResult) -> list[str]:
    """Clear the contact's fields; returns the texts (name and its parts) to scrub elsewhere."""
    fields = erasure_store.contact_fields(conn, contact_id)
    texts: list[str] = []
    if fields is not None:
        name = (fields.name or "").strip()
        if name:
            texts.append(name)
            texts += [part for part in name.split() if len(part) >= 3]
        texts += [str(v).strip() for v in fields.attributes.values() if len(str(v).strip()) >= 3]
    result.notes = conn.execute("DELETE FROM contact_notes WHERE contact_id = ?", (contact_id,)).rowcount
    conn.execute("DELETE FROM contact_tags WHERE contact_id = ?", (contact_id,))
    erasure_store.clear_contact(conn, contact_id, now)
    return sorted(set(texts), key=len, reverse=True)


def _erase_number(conn: sqlite3.Connection, number: str, digest: str, names: list[str], now: float,
                  result: ErasureResult) -> None:
    alias = pseudonym(digest)
    scrub = Scrub(number, names, alias)
    # Answers are what the person said: deleted, not kept under the pseudonym (reports count them no more).
    result.survey_answers += survey_store.erase_for_number(conn, number)
    # Queued leads of an erased person are never dialled: blocked (the gate would block them anyway).
    result.leads += erasure_store.replace_in_leads(conn, number, alias, now)
    call_ids = erasure_store.replace_in_attempts(conn, number, alias)
    result.attempts += len(call_ids)
    for call_id in call_ids:
        _scrub_row(conn, "attempts", "call_id", call_id, ("channel", "detail"), scrub)
    result.messages += conn.execute(
        "UPDATE sms_messages SET number = ?, body = NULL WHERE number = ?", (alias, number)).rowcount
    result.dnc_entries += conn.execute(
        "UPDATE dnc_entries SET number = ?, removed_at = COALESCE(removed_at, ?) WHERE number = ?",
        (alias, now, number)).rowcount
    result.consents += conn.execute("UPDATE consents SET number = ? WHERE number = ?", (alias, number)).rowcount
    audit_ids = erasure_store.unmask_audit(conn, digest)
    result.audit_rows += len(audit_ids)
    for audit_id in audit_ids:
        _scrub_row(conn, "audit", "id", audit_id, ("detail",), scrub)
    for table in ("dnc_entries", "consents"):
        for (row_id,) in conn.execute(f"SELECT id FROM {table} WHERE number = ?", (alias,)).fetchall():
            _scrub_row(conn, table, "id", row_id, ("source",), scrub)
    result.outbox_rows += _scrub_outbox(conn, scrub)
    _erase_recordings(conn, call_ids, result)


@dataclass(frozen=True, slots=True)
class Scrub:
    """What to take out of free text: the number however spelled (it becomes the pseudonym, so a
    reader still sees which person a line was about) and the person's name and its parts."""

    e164: str
    names: list[str]
    alias: str
    number: re.Pattern[str] = field(init=False)
    digit_forms: tuple[str, ...] = field(init=False)
    _ascii_forms: tuple[bytes, ...] = field(init=False)

    def __post_init__(self) -> None:
        digit_forms = tuple(dict.fromkeys(_digits(f) for f in forms(self.e164)))
        object.__setattr__(self, "number", spellings(self.e164))
        object.__setattr__(self, "digit_forms", digit_forms)
        object.__setattr__(self, "_ascii_forms", tuple(f.encode("ascii") for f in digit_forms))

    def text(self, text: str | None) -> str | None:
        """`text` without the number and the names."""
        if not text:
            return text
        for name in self.names:
            if name in text:
                text = text.replace(name, "[erased]")
        return self.number_only(text)

    def number_only(self, text: str | None) -> str | None:
        """`text` without the number (names stay: a name part could be someone else's)."""
        if not text:
            return text
        if not self._may_hold(text):
            return text
        return self.number.sub(self.alias, text)

    def _may_hold(self, text: str) -> bool:
        # The pattern costs ~15 us a text; this test a few, and most texts (outbox payloads) fail it.
        if text.isascii():  # JSON payloads: bytes.translate is the fastest way to drop the separators
            squeezed = text.encode("ascii").translate(None, _ASCII_SEPARATORS)
            return any(form in squeezed for form in self._ascii_forms)
        squeezed_text = text.translate(_DROP_SEPARATORS)
        return any(form in squeezed_text for form in self.digit_forms)


def _scrub_row(conn: sqlite3.Connection, table: str, key: str, value: object, columns: tuple[str, ...],
               scrub: Scrub) -> None:
    row = conn.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE {key} = ?", (value,)).fetchone()
    if row is None:
        return
    cleaned = [scrub.text(v) for v in row]
    if list(row) != cleaned:
        sets = ", ".join(f"{c} = ?" for c in columns)
        conn.execute(f"UPDATE {table} SET {sets} WHERE {key} = ?", (*cleaned, value))


def _scrub_outbox(conn: sqlite3.Connection, scrub: Scrub) -> int:
    # Payloads carry masked numbers unless mqtt.include_numbers is set; scrub them either way. Only
    # spellings of the number: a name part could match someone else's payload. A formatted spelling
    # has no fixed substring for SQL to look for, so every payload is read (bench/crm.py: 3.7 s for the
    # default max_rows of a million, where LIKE per E.164 spelling took 14.3 s).
    changed = []
    for row_id, payload in conn.execute("SELECT id, payload FROM outbox"):
        cleaned = scrub.number_only(payload)
        if cleaned != payload:
            changed.append((cleaned, row_id))
    conn.executemany("UPDATE outbox SET payload = ? WHERE id = ?", changed)
    return len(changed)


def _erase_recordings(conn: sqlite3.Connection, call_ids: list[str], result: ErasureResult) -> None:
    """Recording rows of these calls go; their files are deleted by the caller after the commit."""
    if not call_ids or conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'recordings'").fetchone() is None:
        return
    columns = {r[1] for r in conn.execute("PRAGMA table_info(recordings)")}
    paths = [c for c in ("path", "source_path") if c in columns]
    holds = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'recording_holds'").fetchone()
    has_status = "recording_status" in {r[1] for r in conn.execute("PRAGMA table_info(attempts)")}
    for chunk_start in range(0, len(call_ids), 500):
        chunk = call_ids[chunk_start:chunk_start + 500]
        marks = ",".join("?" * len(chunk))
        held: set[str] = set()
        if holds:
            held = {r[0] for r in conn.execute(
                f"SELECT r.call_id FROM recordings r WHERE r.call_id IN ({marks}) AND EXISTS (SELECT 1 FROM "
                "recording_holds h WHERE h.released_at IS NULL AND ((h.scope = 'call' AND h.target = r.call_id) "
                "OR (h.scope = 'campaign' AND h.target = r.campaign_id)))", chunk)}
        result.recordings_held += len(held)
        erase = [c for c in chunk if c not in held]
        if not erase:
            continue
        marks = ",".join("?" * len(erase))
        if paths:
            for row in conn.execute(f"SELECT {', '.join(paths)} FROM recordings WHERE call_id IN ({marks})", erase):
                result.recording_files += [p for p in row if p]
        result.recording_rows += conn.execute(f"DELETE FROM recordings WHERE call_id IN ({marks})", erase).rowcount
        if has_status:
            erasure_store.mark_recordings_erased(conn, erase)
