"""Store operations of the compliance gate: DNC entries, consent records, registry records, the
facts the gate needs per batch (consents, abandon counts), campaign holds and the audit export.

Portable SQL (PostgreSQL later); bulk work runs in one hop on the database thread. Every change a
person makes (DNC add/remove, consent add/revoke, registry import) also writes an audit row with
the number's keyed hash and masked form, never the number itself.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from dialer.compliance.model import AbandonStats, Channel, ConsentRecord
from dialer.compliance.opening import utc_iso
from dialer.numbers import mask, number_hash
from dialer.outcome import LIVE_ANSWER, Disposition
from dialer.store import compliance_journal as journal
from dialer.store.db import Row, Tx

DAY_S = 86_400.0
_CHUNK = 500  # numbers per IN (...) list: far below every database's parameter limit


class DncKind(StrEnum):
    """The DNC lists the store keeps (national registries live in files, see `registries`)."""

    INTERNAL = "internal"
    CAMPAIGN = "campaign"
    OPTOUT = "optout"


@dataclass(frozen=True, slots=True)
class NewDncEntry:
    """A number to put on a list. `campaign`: the campaign list, or an opt-out's scope (None = all)."""

    number: str
    kind: DncKind
    campaign: str | None
    source: str
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class DncEntry:
    """One stored DNC entry (removed ones too, for `dnc list --all`)."""

    id: int
    number: str
    kind: DncKind
    campaign: str | None
    source: str
    added_at: float
    expires_at: float | None
    removed_at: float | None
    actor: str


@dataclass(frozen=True, slots=True)
class DncState:
    """Whether one (list, campaign, number) blocks, and until when (None = for good)."""

    kind: DncKind
    campaign: str | None
    number: str
    active: bool
    expires_at: float | None


@dataclass(frozen=True, slots=True)
class ChangeStamp:
    """Who changes the compliance facts, when, and the key to hash numbers for the audit."""

    actor: str
    now: float
    hash_key: bytes


# -- DNC entries --------------------------------------------------------------------------------


def _next_revision(conn: sqlite3.Connection) -> int:
    conn.execute("UPDATE compliance_revision SET revision = revision + 1 WHERE id = 1")
    row = conn.execute("SELECT revision FROM compliance_revision WHERE id = 1").fetchone()
    return int(row[0])


def _audit_change(conn: sqlite3.Connection, stamp: ChangeStamp, kind: str, number: str | None,
                  campaign: str | None, rule: str, detail: str) -> None:
    conn.execute(
        "INSERT INTO audit (at, kind, campaign_id, number_hash, number_masked, verdict, rule, detail, actor) "
        "VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?)",
        (stamp.now, kind, campaign, number_hash(number, stamp.hash_key) if number else None,
         mask(number) if number else None, rule, detail, stamp.actor),
    )


@dataclass(frozen=True, slots=True)
class DncAdded:
    """What an add did: entries added, entries already in force unchanged, expiries extended."""

    added: int
    unchanged: int
    extended: int
    revision: int


async def add_dnc(tx: Tx, entries: Sequence[NewDncEntry], stamp: ChangeStamp) -> int:
    """Put numbers on DNC lists (one audit row each); returns the revision of the change."""
    return (await add_dnc_entries(tx, entries, stamp)).revision


async def add_dnc_entries(tx: Tx, entries: Sequence[NewDncEntry], stamp: ChangeStamp) -> DncAdded:
    """Put numbers on DNC lists. A number already on that list (same scope, in force) is left as it is,
    unless the new entry lasts longer: then the entry in force gets the later expiry (one audit row)."""
    added: DncAdded = await tx.run(_add_dnc, entries, stamp)
    return added


def add_dnc_in(conn: sqlite3.Connection, entries: Sequence[NewDncEntry], stamp: ChangeStamp) -> DncAdded:
    """`add_dnc_entries` inside a transaction already open on `conn` (an engine tx hook)."""
    return _add_dnc(conn, entries, stamp)


def _add_dnc(conn: sqlite3.Connection, entries: Sequence[NewDncEntry], stamp: ChangeStamp) -> DncAdded:
    revision = _next_revision(conn)
    fresh: list[NewDncEntry] = []
    unchanged = extended = 0
    for e in dict.fromkeys(entries):  # the same entry twice in one call counts once
        scope = "campaign_id IS NULL" if e.campaign is None else "campaign_id = ?"
        params: tuple[object, ...] = (e.number, e.kind.value, *((e.campaign,) if e.campaign is not None else ()),
                                      stamp.now)
        current = conn.execute(
            f"SELECT id, expires_at FROM dnc_entries WHERE number = ? AND list = ? AND {scope} "
            "AND removed_at IS NULL AND (expires_at IS NULL OR expires_at > ?) "
            "ORDER BY expires_at IS NULL DESC, expires_at DESC LIMIT 1", params).fetchone()
        if current is None:
            fresh.append(e)
            continue
        entry_id, expires_at = current
        if expires_at is None or (e.expires_at is not None and e.expires_at <= expires_at):
            unchanged += 1
            continue
        conn.execute("UPDATE dnc_entries SET expires_at = ?, revision = ? WHERE id = ?", (e.expires_at, revision,
                                                                                           entry_id))
        until = "no expiry" if e.expires_at is None else f"until {utc_iso(e.expires_at)}"
        _audit_change(conn, stamp, "dnc_extend", e.number, e.campaign, f"dnc.{e.kind.value}",
                      f"extended to {until} from {e.source}")
        extended += 1
    conn.executemany(
        "INSERT INTO dnc_entries (number, list, campaign_id, source, added_at, expires_at, actor, revision) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(e.number, e.kind.value, e.campaign, e.source, stamp.now, e.expires_at, stamp.actor, revision)
         for e in fresh],
    )
    for e in fresh:
        until = "" if e.expires_at is None else f" until {utc_iso(e.expires_at)}"
        _audit_change(conn, stamp, "dnc_add", e.number, e.campaign, f"dnc.{e.kind.value}",
                      f"added from {e.source}{until}")
    items = [{"number": e.number, "hash": number_hash(e.number, stamp.hash_key), "list": e.kind.value,
              "campaign": e.campaign, "source": e.source, "expires_at": e.expires_at} for e in entries]
    journal.record_all(conn, "dnc_add", stamp.now, stamp.actor,
                       [{"entries": items[i:i + journal.CHUNK]} for i in range(0, len(items), journal.CHUNK)])
    return DncAdded(len(fresh), unchanged, extended, revision)


async def optouts_stored(tx: Tx, call_ids: Sequence[str]) -> set[str]:
    """Of these calls, those whose opt-out is on record (source `call:<id>`, removed since or not)."""
    found: set[str] = set()
    for chunk in chunks([f"call:{c}" for c in call_ids]):
        marks = ",".join("?" * len(chunk))
        rows = await tx.fetchall(
            f"SELECT source FROM dnc_entries WHERE list = 'optout' AND source IN ({marks})", tuple(chunk))
        found |= {str(row[0])[len("call:"):] for row in rows}
    return found


async def remove_dnc(tx: Tx, numbers: Sequence[str], kind: DncKind, campaign: str | None,
                     stamp: ChangeStamp) -> int:
    """Take numbers off one list (their active entries get `removed_at`); returns how many entries."""
    removed: int = await tx.run(_remove_dnc, numbers, kind, campaign, stamp)
    return removed


def _remove_dnc(conn: sqlite3.Connection, numbers: Sequence[str], kind: DncKind, campaign: str | None,
                stamp: ChangeStamp) -> int:
    revision = _next_revision(conn)
    removed = 0
    scope = "campaign_id IS NULL" if campaign is None else "campaign_id = ?"
    for number in numbers:
        params: tuple[object, ...] = (stamp.now, revision, number, kind.value)
        if campaign is not None:
            params += (campaign,)
        cursor = conn.execute(
            f"UPDATE dnc_entries SET removed_at = ?, revision = ? "
            f"WHERE number = ? AND list = ? AND {scope} AND removed_at IS NULL",
            params,
        )
        if cursor.rowcount:
            removed += cursor.rowcount
            _audit_change(conn, stamp, "dnc_remove", number, campaign, f"dnc.{kind.value}",
                          f"removed {cursor.rowcount} entr{'y' if cursor.rowcount == 1 else 'ies'}")
    if removed:
        items = [{"number": n, "hash": number_hash(n, stamp.hash_key)} for n in numbers]
        journal.record_all(conn, "dnc_remove", stamp.now, stamp.actor,
                           [{"numbers": items[i:i + journal.CHUNK], "list": kind.value, "campaign": campaign}
                            for i in range(0, len(items), journal.CHUNK)])
    return removed


async def dnc_revision(tx: Tx) -> int:
    """The revision of the last change to any DNC entry."""
    row = await tx.fetchone("SELECT revision FROM compliance_revision WHERE id = 1")
    return int(row[0]) if row else 0


_STATE_SQL = (
    "SELECT list, campaign_id, number, MAX(CASE WHEN expires_at IS NULL THEN 1 ELSE 0 END) AS forever, "
    "MAX(expires_at) AS expires_at FROM dnc_entries WHERE removed_at IS NULL {where} "
    "GROUP BY list, campaign_id, number"
)


def _state(row: Row | tuple[object, ...]) -> DncState:
    kind, campaign, number, forever, expires_at = tuple(row)
    return DncState(DncKind(str(kind)), campaign, str(number), True,
                    None if forever else float(expires_at))


async def active_dnc(tx: Tx, now: float) -> tuple[int, list[DncState]]:
    """(revision, every entry that blocks at `now`), merged per list, campaign and number."""
    revision = await dnc_revision(tx)
    rows = await tx.fetchall(_STATE_SQL.format(where="AND (expires_at IS NULL OR expires_at > ?)"), (now,))
    return revision, [_state(row) for row in rows]


async def dnc_changes(tx: Tx, since: int) -> tuple[int, list[DncState]]:
    """(revision, the state of every (list, campaign, number) changed after revision `since`)."""
    revision = await dnc_revision(tx)
    if revision == since:
        return revision, []
    states: list[DncState] = await tx.run(_dnc_changes, since)
    return revision, states


def _dnc_changes(conn: sqlite3.Connection, since: int) -> list[DncState]:
    keys = conn.execute(
        "SELECT DISTINCT list, campaign_id, number FROM dnc_entries WHERE revision > ?", (since,)
    ).fetchall()
    states: dict[tuple[str, str | None, str], DncState] = {
        (k, c, n): DncState(DncKind(k), c, n, False, None) for k, c, n in keys
    }
    numbers = sorted({n for _, _, n in keys})
    for start in range(0, len(numbers), _CHUNK):
        chunk = numbers[start:start + _CHUNK]
        where = f"AND number IN ({','.join('?' * len(chunk))})"
        for row in conn.execute(_STATE_SQL.format(where=where), chunk):
            state = _state(row)
            key = (state.kind.value, state.campaign, state.number)
            if key in states:
                states[key] = state
    return list(states.values())


async def list_dnc(tx: Tx, kind: DncKind | None = None, campaign: str | None = None, *,
                   include_removed: bool = False, number: str | None = None) -> list[DncEntry]:
    """Stored entries, newest first."""
    where = ["1 = 1"]
    params: list[object] = []
    if kind is not None:
        where.append("list = ?")
        params.append(kind.value)
    if campaign is not None:
        where.append("campaign_id = ?")
        params.append(campaign)
    if number is not None:
        where.append("number = ?")
        params.append(number)
    if not include_removed:
        where.append("removed_at IS NULL")
    rows = await tx.fetchall(
        "SELECT id, number, list, campaign_id, source, added_at, expires_at, removed_at, actor FROM dnc_entries "
        f"WHERE {' AND '.join(where)} ORDER BY id DESC", params)
    return [DncEntry(r["id"], r["number"], DncKind(r["list"]), r["campaign_id"], r["source"], r["added_at"],
                     r["expires_at"], r["removed_at"], r["actor"]) for r in rows]


# -- the suppression list (erased numbers) -----------------------------------------------------------


def add_suppressions(conn: sqlite3.Connection, hashes: Sequence[str], now: float, actor: str = "dialer") -> int:
    """Put number hashes on the suppression list (on the database thread, inside the caller's
    transaction); they take a DNC revision, so a running daemon applies them before its next claim."""
    revision = _next_revision(conn)
    conn.executemany(
        "INSERT INTO suppressions (number_hash, added_at, revision) VALUES (?, ?, ?) "
        "ON CONFLICT (number_hash) DO NOTHING",
        [(h, now, revision) for h in hashes],
    )
    # An erasure survives a restore: its line holds only the hashes, and the journal forgets the numbers.
    journal.record(conn, "erase", now, actor, {"hashes": list(hashes)})
    journal.scrub(conn, hashes)
    return revision


async def suppressed_hashes(tx: Tx, since_revision: int = 0) -> list[str]:
    """Hashes on the suppression list (those added after `since_revision`)."""
    rows = await tx.fetchall("SELECT number_hash FROM suppressions WHERE revision > ?", (since_revision,))
    return [row[0] for row in rows]


# -- consent records ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewConsent:
    """A consent to record for a number."""

    number: str
    source: str
    granted_at: float
    scope: str | None = None
    expires_at: float | None = None
    channel: Channel | None = None
    revoked_at: float | None = None


async def add_consents(tx: Tx, consents: Sequence[NewConsent], stamp: ChangeStamp) -> int:
    """Record consents (one audit row each); returns how many."""
    count: int = await tx.run(_add_consents, consents, stamp)
    return count


def _add_consents(conn: sqlite3.Connection, consents: Sequence[NewConsent], stamp: ChangeStamp) -> int:
    conn.executemany(
        "INSERT INTO consents (number, source, granted_at, scope, expires_at, revoked_at, channel, actor, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(c.number, c.source, c.granted_at, c.scope, c.expires_at, c.revoked_at,
          c.channel.value if c.channel else None, stamp.actor, stamp.now) for c in consents],
    )
    for c in consents:
        _audit_change(conn, stamp, "consent_add", c.number, c.scope, "consent",
                      f"consent from {c.source}" + (" (revoked)" if c.revoked_at is not None else ""))
    revoked = [{"number": c.number, "hash": number_hash(c.number, stamp.hash_key), "source": c.source,
                "granted_at": c.granted_at, "scope": c.scope, "expires_at": c.expires_at,
                "channel": c.channel.value if c.channel else None, "revoked_at": c.revoked_at}
               for c in consents if c.revoked_at is not None]
    if revoked:  # a revocation on record survives a restore; a consent given may be lost with it (safe)
        journal.record_all(conn, "consent_revoked", stamp.now, stamp.actor,
                           [{"consents": revoked[i:i + journal.CHUNK]} for i in range(0, len(revoked), journal.CHUNK)])
    return len(consents)


async def revoke_consent(tx: Tx, number: str, scope: str | None, source: str, stamp: ChangeStamp) -> int:
    """Revoke a number's consents (of one campaign, or all); returns how many records were revoked.

    With nothing to revoke, a revocation record is stored anyway: the person said stop, and the
    consent rule blocks on a revocation even where consent is not required.
    """
    revoked: int = await tx.run(_revoke_consent, number, scope, source, stamp)
    return revoked


def _revoke_consent(conn: sqlite3.Connection, number: str, scope: str | None, source: str,
                    stamp: ChangeStamp) -> int:
    where = "" if scope is None else " AND scope = ?"
    params: tuple[object, ...] = (stamp.now, number) + ((scope,) if scope is not None else ())
    revoked = conn.execute(
        f"UPDATE consents SET revoked_at = ? WHERE number = ? AND revoked_at IS NULL{where}", params
    ).rowcount
    if not revoked:
        conn.execute(
            "INSERT INTO consents (number, source, granted_at, scope, revoked_at, actor, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (number, source, stamp.now, scope, stamp.now, stamp.actor, stamp.now),
        )
    _audit_change(conn, stamp, "consent_revoke", number, scope, "consent",
                  f"revoked {revoked} consent record(s) ({source})")
    journal.record(conn, "consent_revoke", stamp.now, stamp.actor,
                   {"number": number, "hash": number_hash(number, stamp.hash_key), "scope": scope, "source": source})
    return revoked


async def consents_for(tx: Tx, numbers: Sequence[str]) -> dict[str, tuple[ConsentRecord, ...]]:
    """Every consent record (revoked and expired ones too: the rule needs them) per number."""
    found: dict[str, list[ConsentRecord]] = {}
    unique = list(dict.fromkeys(numbers))
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start:start + _CHUNK]
        rows = await tx.fetchall(
            "SELECT number, source, granted_at, scope, expires_at, revoked_at, channel FROM consents "
            f"WHERE number IN ({','.join('?' * len(chunk))}) ORDER BY id", chunk)
        for r in rows:
            found.setdefault(r["number"], []).append(ConsentRecord(
                r["source"], r["granted_at"], r["scope"], r["expires_at"], r["revoked_at"],
                Channel(r["channel"]) if r["channel"] else None))
    return {number: tuple(records) for number, records in found.items()}


# -- registries ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegistryRecord:
    """A national registry on record: where its compact file is and what it held when imported."""

    name: str
    path: str
    data_as_of: float
    loaded_at: float
    count: int
    checksum: str
    country_code: int
    regions: tuple[str, ...]
    source_file: str
    actor: str


_REGISTRY_COLUMNS = ("name, path, data_as_of, loaded_at, count, checksum, country_code, regions, source_file, "
                     "actor")


async def record_registry(tx: Tx, record: RegistryRecord, stamp: ChangeStamp) -> None:
    """Insert or replace a registry's record (after its file was swapped in), with an audit row and a
    compliance journal line (a restore re-applies it)."""
    await tx.run(record_registry_row, record, stamp)


def record_registry_row(conn: sqlite3.Connection, record: RegistryRecord, stamp: ChangeStamp) -> None:
    """`record_registry` on the database thread."""
    conn.execute(
        f"INSERT INTO registries ({_REGISTRY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) "
        "DO UPDATE SET path = excluded.path, data_as_of = excluded.data_as_of, loaded_at = excluded.loaded_at, "
        "count = excluded.count, checksum = excluded.checksum, country_code = excluded.country_code, "
        "regions = excluded.regions, source_file = excluded.source_file, actor = excluded.actor",
        (record.name, record.path, record.data_as_of, record.loaded_at, record.count, record.checksum,
         record.country_code, " ".join(record.regions), record.source_file, stamp.actor),
    )
    _audit_change(conn, stamp, "registry_import", None, None, "dnc.registry",
                  f"registry {record.name!r}: {record.count} numbers from {record.source_file}, "
                  f"checksum {record.checksum}")
    journal.record(conn, "registry_import", stamp.now, stamp.actor, {
        "name": record.name, "path": record.path, "data_as_of": record.data_as_of, "loaded_at": record.loaded_at,
        "count": record.count, "checksum": record.checksum, "country_code": record.country_code,
        "regions": list(record.regions), "source_file": record.source_file})


def registry_from_journal(data: Mapping[str, Any], actor: str) -> RegistryRecord:
    """The record a `registry_import` journal line holds."""
    return RegistryRecord(str(data["name"]), str(data["path"]), float(data["data_as_of"]), float(data["loaded_at"]),
                          int(data["count"]), str(data["checksum"]), int(data["country_code"]),
                          tuple(str(r) for r in data["regions"]), str(data["source_file"]), actor)


def _registry(r: Sequence[Any]) -> RegistryRecord:
    # By position: on the database thread of a restore the rows are plain tuples.
    return RegistryRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], tuple(str(r[7]).split()), r[8], r[9])


async def registries(tx: Tx) -> list[RegistryRecord]:
    """Every registry on record."""
    return [_registry(r) for r in await tx.fetchall(f"SELECT {_REGISTRY_COLUMNS} FROM registries ORDER BY name")]


def registry_rows(conn: sqlite3.Connection) -> list[RegistryRecord]:
    """`registries` on the database thread."""
    return [_registry(r) for r in conn.execute(f"SELECT {_REGISTRY_COLUMNS} FROM registries ORDER BY name")]


async def remove_registry(tx: Tx, name: str, stamp: ChangeStamp) -> RegistryRecord | None:
    """Take a registry off record (the caller deletes its file), journaled; returns what it was."""
    removed: RegistryRecord | None = await tx.run(remove_registry_row, name, stamp)
    return removed


def remove_registry_row(conn: sqlite3.Connection, name: str, stamp: ChangeStamp) -> RegistryRecord | None:
    """`remove_registry` on the database thread."""
    row = conn.execute(f"SELECT {_REGISTRY_COLUMNS} FROM registries WHERE name = ?", (name,)).fetchone()
    if row is None:
        return None
    conn.execute("DELETE FROM registries WHERE name = ?", (name,))
    _audit_change(conn, stamp, "registry_remove", None, None, "dnc.registry", f"registry {name!r} removed")
    journal.record(conn, "registry_remove", stamp.now, stamp.actor, {"name": name})
    return _registry(row)


# -- gate facts ---------------------------------------------------------------------------------

_LIVE = tuple(sorted(d.value for d in LIVE_ANSWER))


async def abandon_stats(tx: Tx, campaign: str, now: float) -> AbandonStats:
    """A campaign's abandoned and live-answered calls that ended in the last 24 h and 30 days."""
    live = ",".join("?" * len(_LIVE))
    row = await tx.fetchone(
        "SELECT "
        "SUM(CASE WHEN disposition = ? AND ended_at >= ? THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN disposition IN ({live}) AND ended_at >= ? THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN disposition = ? THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN disposition IN ({live}) THEN 1 ELSE 0 END) "
        "FROM attempts WHERE campaign_id = ? AND ended_at >= ?",
        (Disposition.ABANDONED.value, now - DAY_S, *_LIVE, now - DAY_S, Disposition.ABANDONED.value, *_LIVE,
         campaign, now - 30 * DAY_S),
    )
    values = [int(v or 0) for v in (row or (0, 0, 0, 0))]
    return AbandonStats(*values)


# -- campaign holds and the audit export ----------------------------------------------------------


async def record_hold(tx: Tx, campaign: str, rule: str, detail: str, now: float) -> int:
    """One audit row for a campaign-wide block (its leads are left as they are)."""
    return await tx.execute(
        "INSERT INTO audit (at, kind, campaign_id, verdict, rule, detail, actor) "
        "VALUES (?, 'campaign_hold', ?, 'block', ?, ?, 'dialer')",
        (now, campaign, rule, detail),
    )


AUDIT_COLUMNS = ("id", "at", "kind", "campaign_id", "lead_id", "call_id", "number_masked", "number_hash",
                 "verdict", "rule", "detail", "actor")


async def audit_page(tx: Tx, after_id: int, since: float | None, until: float | None,
                     limit: int = 5000) -> list[Row]:
    """Audit rows with id > `after_id` in [since, until), oldest first (page through with the last id)."""
    where = ["id > ?"]
    params: list[object] = [after_id]
    if since is not None:
        where.append("at >= ?")
        params.append(since)
    if until is not None:
        where.append("at < ?")
        params.append(until)
    return await tx.fetchall(
        f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit WHERE {' AND '.join(where)} ORDER BY id LIMIT ?",
        (*params, limit))


def chunks(items: Sequence[str], size: int = _CHUNK) -> Iterable[Sequence[str]]:
    """`items` in slices of at most `size` (for IN lists)."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


# -- the same changes for work already on the database thread ---------------------------------------
# (restore re-applies journaled changes with these on the restored copy, in one sqlite3 transaction)

add_dnc_rows = _add_dnc
remove_dnc_rows = _remove_dnc
add_consent_rows = _add_consents
revoke_consent_rows = _revoke_consent
