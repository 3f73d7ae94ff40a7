"""What `dialer restore` re-applies from the compliance journal (`store.compliance_journal`), so that
a restore never undoes an erasure, an opt-out, a DNC change, a consent revocation or a national
registry import (its record: the registry's file is beside the database and survives the restore;
`registry_problems` says when it does not match).

Which entries: those whose mark is not in the backup (the backup was taken before them). Of those,
an entry whose transaction committed has its mark in the database being replaced; one that was
rolled back (the process died, the disk was full) has none there, and is skipped. Without a
readable database to replace (lost, or too damaged to read), the entries that block are re-applied
anyway (an opt-out or an erasure someone asked for is honoured even if it may not have committed)
and DNC removals are not (said so, with what to do).

When restore refuses, and why:
- the database being replaced has marks the journal lacks, or there is no journal while the
  backup or that database shows changes were journaled: the journal was lost or replaced, and
  changes made after the backup would be undone without a trace;
- a line is damaged (not a torn last line: that one is a crash mid-write, never committed);
- an entry's hashes were made with another database's key (the backup is not of this database).
`accept_journal_loss` goes ahead in the first case (the admin takes responsibility; said in the
output).

How: on the restored copy, before it takes the database's name, in one transaction: the same store
functions that made each change make it again (`journal.replaying` gives them the entry's token as
their mark and keeps them from writing a second line), an erasure runs `forget` again on every
number of the restored copy whose keyed hash it lists, and one audit row (kind `restore`) says what
was re-applied. Numbers in the output are masked.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dialer.compliance.model import Channel
from dialer.compliance.opening import utc_iso
from dialer.compliance.registry import RegistryError, file_checksum
from dialer.compliance.settings import REGISTRY_SUFFIX
from dialer.crm import erasure
from dialer.numbers import mask, number_hash
from dialer.store import compliance as store
from dialer.store import compliance_journal as journal
from dialer.store.audit import AuditEntry, add_entry_row
from dialer.store.compliance_journal import Entry, Journal

_NUMBER_TABLES = ("phone_numbers", "leads", "attempts", "dnc_entries", "consents", "sms_messages")


class ReapplyRefused(Exception):
    """Restore must not go ahead: the message says why and what to do."""


@dataclass(slots=True)
class ReapplyPlan:
    """The journal entries to re-apply on a restored copy, and those left out (with why)."""

    journal: Journal
    apply: list[Entry] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def plan(journal_file: Journal, in_backup: set[str], committed: set[str] | None, backup_key_id: str | None, *,
         accept_journal_loss: bool = False) -> ReapplyPlan:
    """Decide what to re-apply. `in_backup`: marks in the backup; `committed`: marks in the database
    being replaced (None: there is none, or it cannot be read)."""
    result = ReapplyPlan(journal_file)
    known = journal_file.tokens
    lost = (committed or set()) - known
    unexplained = not journal_file.exists and bool(in_backup or committed)
    if (lost or unexplained) and not accept_journal_loss:
        what = (f"{len(lost)} compliance change(s) recorded in the current database are not in it" if lost
                else "it does not exist, yet the backup or the current database says changes were journaled")
        raise ReapplyRefused(
            f"{journal_file.path}: the compliance journal is incomplete: {what}. Restoring now could undo "
            "erasures, opt-outs or DNC entries made after the backup. Put the journal back (from the host's "
            "file backups), or run restore again with --accept-journal-loss and re-enter those changes")
    if lost or unexplained:
        result.notes.append(f"the compliance journal {journal_file.path} was incomplete (accepted with "
                            "--accept-journal-loss): changes made after the backup may be undone")
    if journal_file.torn_tail:
        result.notes.append("the journal's last line was cut short by a crash: that change never committed")
    for entry in journal_file.entries:
        if entry.token in in_backup:
            continue
        if entry.key_id is not None and backup_key_id is not None and entry.key_id != backup_key_id:
            raise ReapplyRefused(
                f"{journal_file.path}: line {entry.line}: made with another database's number hash key than the "
                "backup's: the backup is not a copy of this database (restore it beside another journal)")
        if committed is not None:
            if entry.token in committed:
                result.apply.append(entry)
            else:
                result.skipped.append(f"{describe(entry)}: its transaction never committed")
        elif entry.blocks:
            result.apply.append(entry)
        else:
            again = (f"the registry again with `dialer dnc remove --registry {entry.data.get('name')}`"
                     if entry.kind == "registry_remove" else "the entry again with `dialer dnc remove`")
            result.skipped.append(
                f"{describe(entry)}: not re-applied (there is no current database to confirm it committed); "
                f"remove {again} if it is still wanted")
    return result


def describe(entry: Entry) -> str:
    """One line about an entry, numbers masked."""
    data = entry.data
    when = _iso(entry.at)
    if entry.kind == "erase":
        return f"{when} erasure of {len(data['hashes'])} number(s) by {entry.actor}"
    if entry.kind in ("dnc_add", "dnc_remove"):
        items = data["entries"] if entry.kind == "dnc_add" else data["numbers"]
        shown = ", ".join(_shown(item) for item in items[:3]) + (f" and {len(items) - 3} more" if len(items) > 3
                                                                  else "")
        lists = sorted({item.get("list", data.get("list")) for item in items} - {None})
        verb = "DNC add" if entry.kind == "dnc_add" else "DNC removal"
        return f"{when} {verb} ({', '.join(lists)}) of {shown} by {entry.actor}"
    if entry.kind == "registry_import":
        return (f"{when} import of the national registry {data['name']!r} ({int(data['count']):,} numbers from "
                f"{data['source_file']}) by {entry.actor}")
    if entry.kind == "registry_remove":
        return f"{when} removal of the national registry {data['name']!r} by {entry.actor}"
    if entry.kind == "consent_revoke":
        return f"{when} consent revocation of {_shown(data)} ({data.get('scope') or 'all campaigns'}) by {entry.actor}"
    consents = data["consents"]
    return f"{when} {len(consents)} revoked consent record(s) ({_shown(consents[0])}, ...) by {entry.actor}"


def _shown(item: Mapping[str, object]) -> str:
    number = item.get("number")
    return mask(str(number)) if number else "an erased number"


def _iso(at: float) -> str:
    return utc_iso(at)


@dataclass(slots=True)
class Reapplied:
    """What `apply` did."""

    lines: list[str] = field(default_factory=list)
    recording_files: list[str] = field(default_factory=list)  # of re-erased people, to delete after the commit


def apply(conn: sqlite3.Connection, entries: Iterable[Entry], now: float) -> Reapplied:
    """Re-apply the entries, in order, inside the caller's transaction on the restored copy."""
    done = Reapplied()
    row = conn.execute("SELECT value FROM meta WHERE key = 'number_hash_key'").fetchone()
    key = bytes.fromhex(row[0])
    by_hash: dict[str, str] | None = None

    def number_of(item: Mapping[str, object]) -> str | None:
        nonlocal by_hash
        if item.get("number"):
            return str(item["number"])
        if by_hash is None:
            by_hash = _numbers_by_hash(conn, key)
        return by_hash.get(str(item.get("hash")))

    for entry in entries:
        stamp = store.ChangeStamp(f"{entry.actor} (re-applied at restore)", entry.at, key)
        data = entry.data
        with journal.replaying(entry.token):
            if entry.kind == "dnc_add":
                wanted = [(number_of(item), item) for item in data["entries"]]
                new = [store.NewDncEntry(number, store.DncKind(item["list"]), item["campaign"], item["source"],
                                         item["expires_at"]) for number, item in wanted if number is not None]
                if new:
                    store.add_dnc_rows(conn, new, stamp)
                else:
                    journal.record(conn, entry.kind, entry.at, entry.actor, data)  # the mark only
            elif entry.kind == "dnc_remove":
                numbers = [n for n in (number_of(item) for item in data["numbers"]) if n is not None]
                store.remove_dnc_rows(conn, numbers, store.DncKind(data["list"]), data["campaign"], stamp)
                journal.record(conn, entry.kind, entry.at, entry.actor, data)  # the mark, even if nothing was left
            elif entry.kind == "consent_revoke":
                number = number_of(data)
                if number is not None:
                    store.revoke_consent_rows(conn, number, data["scope"], data["source"], stamp)
                else:
                    journal.record(conn, entry.kind, entry.at, entry.actor, data)
            elif entry.kind == "consent_revoked":
                records = [store.NewConsent(n, c["source"], c["granted_at"], c["scope"], c["expires_at"],
                                            Channel(c["channel"]) if c["channel"] else None, c["revoked_at"])
                           for c in data["consents"] if (n := number_of(c)) is not None]
                if records:
                    store.add_consent_rows(conn, records, stamp)
                else:
                    journal.record(conn, entry.kind, entry.at, entry.actor, data)
            elif entry.kind == "registry_import":
                store.record_registry_row(conn, store.registry_from_journal(data, stamp.actor), stamp)
            elif entry.kind == "registry_remove":
                store.remove_registry_row(conn, str(data["name"]), stamp)
                journal.record(conn, entry.kind, entry.at, entry.actor, data)  # the mark, even if it was not there
            else:
                hashes = list(data["hashes"])
                store.add_suppressions(conn, hashes, entry.at, stamp.actor)
                if by_hash is None:
                    by_hash = _numbers_by_hash(conn, key)
                for digest in hashes:
                    number = by_hash.pop(digest, None)
                    if number is not None:
                        result = erasure.forget(conn, number, stamp.actor, now, key)
                        done.recording_files += result.recording_files
                        for other in result.hashes:
                            by_hash.pop(other, None)
        done.lines.append(describe(entry))
    if done.lines:
        add_entry_row(conn, AuditEntry(now, "restore", "restore", f"re-applied {len(done.lines)} compliance "
                                       "change(s) made after the backup, from the compliance journal"))
    return done


def _numbers_by_hash(conn: sqlite3.Connection, key: bytes) -> dict[str, str]:
    """Every number in clear in the restored copy, by keyed hash (an erasure's line has only hashes)."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    numbers: set[str] = set()
    for table in _NUMBER_TABLES:
        if table in tables:
            numbers.update(row[0] for row in conn.execute(
                f"SELECT DISTINCT number FROM {table} WHERE number IS NOT NULL AND number NOT LIKE 'erased:%'"))
    return {number_hash(number, key): number for number in numbers}


def read_marks(path: Path | None) -> set[str] | None:
    """The marks in a database file, or None when there is none or it cannot be read."""
    if path is None or not path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            return journal.marks(conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return None


def registry_problems(conn: sqlite3.Connection, folder: Path | None) -> list[str]:
    """What a person must re-import after a restore: a registry on record whose file is missing or is
    not the one imported (a change the journal did not hold), and a registry file in `folder` that
    the restored database does not know (imported after the backup, by a dialer before the journal
    held registries). One line each, with the command."""
    problems = []
    known: set[Path] = set()
    for record in store.registry_rows(conn):
        path = Path(record.path)
        known.add(path.absolute())
        again = f"re-import its source with `dialer dnc import FILE --source {record.name}`"
        try:
            checksum = file_checksum(path)
        except FileNotFoundError:
            problems.append(f"national registry {record.name!r}: its file {path} is missing, so the daemon blocks "
                            f"every number it covers; {again}")
            continue
        except (OSError, RegistryError) as exc:
            problems.append(f"national registry {record.name!r}: its file {path} cannot be read ({exc}); {again}")
            continue
        if checksum != record.checksum:
            problems.append(f"national registry {record.name!r}: its file {path} is not the one on record "
                            f"({checksum}, the record says {record.checksum}: imported again after the backup?); "
                            f"the daemon uses the file; {again} to bring the record in line")
    if folder is not None and folder.is_dir():
        for path in sorted(folder.glob(f"*{REGISTRY_SUFFIX}")):
            if path.absolute() not in known:
                name = path.name[:-len(REGISTRY_SUFFIX)]
                problems.append(f"national registry file {path} is not on record in the restored database, so the "
                                f"daemon does not use it; if it is still wanted, re-import its source with "
                                f"`dialer dnc import FILE --source {name}`")
    return problems
