"""The outcome journal: call outcomes the daemon could not write to the database (at its stop, or
while a storage outage lasts), kept in a file beside it (`<database>.outcome-journal`) and applied
at the next start, exactly once.

Why: a full disk (or an I/O error) at SIGTERM used to lose every outcome still in memory; after the
restart those attempts were reconciled as `unknown_after_restart` and their leads dialled again,
answered calls and opt-outs included.

- Space for it is taken at start (`reserve`: real zero blocks, not a sparse file), so writing it
  when the disk has filled up since only overwrites blocks the file already has. That holds on
  ext4, XFS and tmpfs; a copy-on-write file system (btrfs, ZFS) needs new blocks for any write, so
  there a full disk can still defeat it (`write` then writes what fits, most important first).
- The file is 0600 (it holds numbers), fsynced (and its folder) before `write` returns.
- One line per record: `<crc32 hex> <json>`; the header line carries the journal's id. A line
  whose checksum fails (a write torn by a crash or a power loss) is skipped, never applied half.
  Records go opt-outs first, then final outcomes, then state changes: if the space runs out, what
  is left out matters least.
- `apply_journal` records everything in ONE transaction that also inserts the id into
  `outcome_journals`; only after its commit is the file zeroed. A crash before the commit leaves the
  database as it was and the file whole (applied again next time, once); a crash after it leaves
  the id in the database, so the next start skips the file and zeroes it. Final outcomes are
  idempotent anyway (`WHERE state <> 'ended'`); the id keeps the tx hooks (MQTT outbox rows, pending
  recordings) and the opt-outs from running twice.
"""

from __future__ import annotations

import json
import os
import secrets
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Protocol

from dialer.events import CallEvent
from dialer.outcome import Disposition
from dialer.store import compliance as compliance_store
from dialer.store.calls import FinalUpdate, StateUpdate
from dialer.store.db import Database, Tx
from dialer.tracker import CallState

FORMAT = 1
SUFFIX = ".outcome-journal"
RESERVE_PER_CALL_BYTES = 4096  # a final outcome and its event take ~1 KB; a live call has up to 3 changes
RESERVE_MIN_BYTES = 256 * 1024
_CHUNK = 64 * 1024


class JournalError(Exception):
    """The journal file cannot be read or written; the message names it and says what to do."""


@dataclass(frozen=True, slots=True)
class HeldChange:
    """One call change not yet in the database: its event, and its state update or final outcome."""

    event: CallEvent
    state: StateUpdate | None = None
    final: FinalUpdate | None = None


@dataclass(frozen=True, slots=True)
class HeldOptout:
    """A callee's opt-out during a call, maybe not yet on the DNC list (stored as source `call:<id>`)."""

    number: str
    campaign_id: str
    call_id: str


@dataclass(frozen=True, slots=True)
class HeldOutcomes:
    """What the engine holds in memory that the database does not have."""

    changes: tuple[HeldChange, ...] = ()
    optouts: tuple[HeldOptout, ...] = ()

    def __len__(self) -> int:
        return len(self.changes) + len(self.optouts)

    @property
    def finals(self) -> int:
        """How many of the changes are final outcomes."""
        return sum(1 for c in self.changes if c.final is not None)


@dataclass(frozen=True, slots=True)
class JournalContents:
    """A journal read back: its id, what it holds, and whether it was read whole."""

    id: str
    written_at: float
    held: HeldOutcomes
    complete: bool  # the trailer was found: nothing was torn off
    damaged_lines: int


@dataclass(frozen=True, slots=True)
class AppliedJournal:
    """What `apply_journal` did."""

    id: str
    finals: int
    recorded: int  # final outcomes written now (the others were final already)
    optouts_added: int
    already_applied: bool
    complete: bool
    damaged_lines: int


class OutcomeWriter(Protocol):
    """What `apply_journal` needs of the engine: record changes as its flush would, inside `tx`."""

    async def record_held(self, tx: Tx, changes: Sequence[HeldChange]) -> tuple[list[str], list[CallEvent]]:
        """Write the updates, run the tx hooks; returns (call ids whose final was written, events)."""
        ...

    def notify(self, events: Sequence[CallEvent]) -> None:
        """Hand committed events to the event hooks."""
        ...


def journal_path(database: Path) -> Path:
    """The journal file beside a database (not `-journal`: that name is SQLite's)."""
    return database.with_name(database.name + SUFFIX)


def reserve_bytes(max_concurrent_calls: int) -> int:
    """The space to keep for the journal: enough for every live call's changes."""
    return max(RESERVE_MIN_BYTES, max_concurrent_calls * RESERVE_PER_CALL_BYTES)


# -- records <-> JSON ------------------------------------------------------------------------------

def _event_json(event: CallEvent) -> dict[str, Any]:
    return asdict(event)


def _event_from(data: dict[str, Any]) -> CallEvent:
    known = {f.name for f in fields(CallEvent)}
    values = {k: v for k, v in data.items() if k in known}
    values["state"] = CallState(values["state"])
    if values.get("disposition") is not None:
        values["disposition"] = Disposition(values["disposition"])
    return CallEvent(**values)


def _final_from(data: dict[str, Any]) -> FinalUpdate:
    retry_as = data.get("retry_as")
    return FinalUpdate(**{**data, "disposition": Disposition(data["disposition"]),
                          "retry_as": Disposition(retry_as) if retry_as is not None else None})


def _records(held: HeldOutcomes) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"t": "optout", **asdict(o)} for o in held.optouts]
    finals = [c for c in held.changes if c.final is not None]
    states = [c for c in held.changes if c.final is None]
    for change in (*finals, *states):
        record: dict[str, Any] = {"t": "change", "event": _event_json(change.event)}
        if change.final is not None:
            record["final"] = asdict(change.final)
        if change.state is not None:
            record["state"] = asdict(change.state)
        out.append(record)
    return out


def _line(record: dict[str, Any]) -> bytes:
    body = json.dumps(record, separators=(",", ":"), allow_nan=False).encode()
    return b"%08x %s\n" % (zlib.crc32(body), body)


def _parse_line(line: bytes) -> dict[str, Any] | None:
    crc, _, body = line.partition(b" ")
    try:
        if len(crc) != 8 or int(crc, 16) != zlib.crc32(body):
            return None
        record = json.loads(body)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


# -- the file ---------------------------------------------------------------------------------------

class OutcomeJournal:
    """The journal file of one database."""

    def __init__(self, database: Path) -> None:
        self.path = journal_path(database)

    def _open(self, flags: int) -> int:
        # O_NOFOLLOW: a symlink planted in the state folder must not redirect what we write.
        return os.open(self.path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)

    def _fsync_folder(self) -> None:
        fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def reserve(self, size: int) -> None:
        """Make the file (0600) at least `size` bytes of real zero blocks; what it holds is kept."""
        try:
            fd = self._open(os.O_RDWR | os.O_CREAT)
        except OSError as exc:
            raise JournalError(f"{self.path}: cannot create the outcome journal: {exc.strerror}") from None
        try:
            os.fchmod(fd, 0o600)
            have = os.fstat(fd).st_size
            zeros = bytes(_CHUNK)
            while have < size:
                n = os.pwrite(fd, zeros[:min(_CHUNK, size - have)], have)
                have += n
            os.fsync(fd)
        except OSError as exc:
            raise JournalError(f"{self.path}: cannot reserve {size} bytes for the outcome journal: "
                               f"{exc.strerror} (free space on this file system)") from None
        finally:
            os.close(fd)
        self._fsync_folder()

    def write(self, held: HeldOutcomes, *, node: str, now: float) -> int:
        """Write `held` over the reserved space and fsync it; returns how many records are on disk.

        Raises JournalError (with how many records could not be written) if not all of them fit.
        """
        header = {"journal": FORMAT, "id": secrets.token_hex(8), "written_at": now, "node": node,
                  "records": len(held)}
        lines = [_line(header), *(_line(r) for r in _records(held)), _line({"end": len(held)})]
        try:
            fd = self._open(os.O_RDWR | os.O_CREAT)
        except OSError as exc:
            raise JournalError(f"{self.path}: cannot open the outcome journal: {exc.strerror}; "
                               f"{len(held)} held outcomes are lost") from None
        written = 0  # records (not header/trailer) fully on disk
        offset = 0
        failure: OSError | None = None
        try:
            os.fchmod(fd, 0o600)
            # Rewritten while the daemon runs: what an earlier, longer write left after this one's
            # trailer is zeroed below, or it would be read back as records of this journal.
            used = len(_read_until_nul(fd))
            for index, line in enumerate(lines):
                try:
                    done = os.pwrite(fd, line, offset)
                except OSError as exc:
                    failure = exc
                    break
                if done != len(line):  # out of space mid-line: the line's checksum fails, it is skipped
                    failure = OSError(28, "No space left on device")
                    break
                offset += done
                if 0 < index < len(lines) - 1:
                    written += 1
            if failure is None:
                zeros = bytes(_CHUNK)
                tail = offset
                while tail < used:  # overwriting blocks the file has: needs no new space
                    tail += os.pwrite(fd, zeros[:min(_CHUNK, used - tail)], tail)
            os.fsync(fd)
        except OSError as exc:
            failure = failure or exc
        finally:
            os.close(fd)
        self._fsync_folder()
        if failure is not None:
            raise JournalError(f"{self.path}: only {written} of {len(held)} held outcomes written "
                               f"({failure.strerror or failure}); the others are reconciled as unknown at the "
                               "next start")
        return written

    def read(self) -> JournalContents | None:
        """What the journal holds (None: nothing). Raises JournalError if it cannot be trusted."""
        try:
            fd = self._open(os.O_RDONLY)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise JournalError(f"{self.path}: cannot read the outcome journal: {exc.strerror}") from None
        try:
            data = _read_until_nul(fd)
        finally:
            os.close(fd)
        if not data:
            return None
        lines = data.split(b"\n")
        header = _parse_line(lines[0])
        if header is None or header.get("journal") != FORMAT or not isinstance(header.get("id"), str):
            raise JournalError(
                f"{self.path}: not an outcome journal this dialer can read (damaged header); move it aside "
                "to start without it (its outcomes are then reconciled as unknown)")
        changes: list[HeldChange] = []
        optouts: list[HeldOptout] = []
        damaged = 0
        complete = False
        for raw in lines[1:]:
            if not raw:
                continue
            record = _parse_line(raw)
            if record is None:
                damaged += 1
                continue
            try:
                if "end" in record:
                    complete = True
                elif record.get("t") == "optout":
                    optouts.append(HeldOptout(str(record["number"]), str(record["campaign_id"]),
                                              str(record["call_id"])))
                elif record.get("t") == "change":
                    final = record.get("final")
                    state = record.get("state")
                    changes.append(HeldChange(
                        event=_event_from(record["event"]),
                        state=StateUpdate(**state) if state is not None else None,
                        final=_final_from(final) if final is not None else None,
                    ))
                else:
                    damaged += 1
            except (KeyError, TypeError, ValueError):
                damaged += 1
        return JournalContents(header["id"], float(header.get("written_at", 0.0)),
                               HeldOutcomes(tuple(changes), tuple(optouts)), complete, damaged)

    def reset(self) -> None:
        """Zero what the file holds (keeping its blocks as the reservation) and fsync it."""
        try:
            fd = self._open(os.O_RDWR)
        except FileNotFoundError:
            return
        try:
            used = len(_read_until_nul(fd))
            zeros = bytes(_CHUNK)
            offset = 0
            while offset < used:
                offset += os.pwrite(fd, zeros[:min(_CHUNK, used - offset)], offset)
            os.fsync(fd)
        except OSError as exc:
            raise JournalError(f"{self.path}: applied, but cannot be cleared: {exc.strerror} (it is skipped "
                               "at the next start: its id is recorded)") from None
        finally:
            os.close(fd)


def _read_until_nul(fd: int) -> bytes:
    parts: list[bytes] = []
    offset = 0
    while True:
        chunk = os.pread(fd, _CHUNK, offset)
        if not chunk:
            break
        end = chunk.find(b"\0")
        if end >= 0:
            parts.append(chunk[:end])
            break
        parts.append(chunk)
        offset += len(chunk)
    return b"".join(parts)


# -- applying it --------------------------------------------------------------------------------------

async def already_applied(tx: Tx, journal_id: str) -> bool:
    """True if a journal with this id was applied to this database."""
    return await tx.fetchone("SELECT 1 FROM outcome_journals WHERE id = ?", (journal_id,)) is not None


async def apply_journal(
    db: Database,
    journal: OutcomeJournal,
    writer: OutcomeWriter,
    *,
    optout_scope: Callable[[str], str | None],
    now: float,
) -> AppliedJournal | None:
    """Apply what the journal holds, exactly once (see the module docstring); None if it holds nothing.

    `optout_scope(campaign)` is the DNC scope of an opt-out (None: every campaign). Raises
    JournalError for a journal that cannot be trusted, StoreError/sqlite3.Error if the database
    cannot take it (the journal is then kept for the next start).
    """
    contents = journal.read()
    if contents is None:
        return None
    held = contents.held
    hash_key = await db.hash_key()
    events: list[CallEvent] = []
    recorded: list[str] = []
    added = 0
    async with db.write(durable=True) as tx:
        done = await already_applied(tx, contents.id)
        if not done:
            recorded, events = await writer.record_held(tx, held.changes)
            stored = await compliance_store.optouts_stored(tx, [o.call_id for o in held.optouts])
            new = [compliance_store.NewDncEntry(o.number, compliance_store.DncKind.OPTOUT,
                                                optout_scope(o.campaign_id), f"call:{o.call_id}")
                   for o in held.optouts if o.call_id not in stored]
            if new:
                stamp = compliance_store.ChangeStamp("dialer", now, hash_key)
                await compliance_store.add_dnc(tx, new, stamp)
            added = len(new)
            await tx.execute(
                "INSERT INTO outcome_journals (id, written_at, applied_at, finals, recorded) VALUES (?, ?, ?, ?, ?)",
                (contents.id, contents.written_at, now, held.finals, len(recorded)))
    if events:
        writer.notify(events)
    journal.reset()
    return AppliedJournal(contents.id, held.finals, len(recorded), added, done, contents.complete,
                          contents.damaged_lines)

