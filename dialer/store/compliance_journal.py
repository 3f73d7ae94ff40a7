"""The compliance journal: every change that protects a person (an erasure, an opt-out, a DNC entry
added or removed, a consent revoked, a national registry imported or removed) is also appended to a
file beside the database, which a restore does not overwrite, so `dialer restore` can re-apply what
a backup does not have (`ops.reapply`).

Where and when: `<database>.compliance.jsonl`, mode 0640, written by the store function that makes
the change, on the database thread, inside the change's transaction and before its COMMIT: the line
is appended with one write() and fsynced, and a mark (`compliance_journal` table, migration 6) with
the same token is inserted in the transaction. If the journal cannot be written the change fails
with it (an sqlite3.OperationalError naming the file): a change that protects someone is never
committed without its journal line. A line whose transaction then rolls back has no mark anywhere;
restore tells those apart by the marks in the database it replaces.

What a line holds: JSON with `token`, `kind`, `at`, `actor`, `key_id` (which database's hash key
the hashes are made with), `data` and `crc` (SHA-256 of the rest, to tell a damaged line from a
good one). Numbers are in clear only while they are needed to re-apply a DNC entry or a revocation;
each comes with its keyed hash (the one the suppression list uses). An erasure's line holds only
hashes, and writing it rewrites the journal with every earlier mention of those numbers replaced by
their hash (`scrub`), so the journal never keeps an erased person's number.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import stat
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUFFIX = ".compliance.jsonl"
FILE_MODE = 0o640
FORMAT = 1
BLOCKING_KINDS = frozenset({"dnc_add", "erase", "consent_revoke", "consent_revoked", "registry_import"})
KINDS = BLOCKING_KINDS | {"dnc_remove", "registry_remove"}
CHUNK = 1000  # numbers per journal line

_replay = threading.local()


class JournalError(Exception):
    """The journal cannot be read as a whole: names the file and the line."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One journaled change."""

    line: int
    token: str
    kind: str
    at: float
    actor: str
    key_id: str | None
    data: Mapping[str, Any]

    @property
    def blocks(self) -> bool:
        """True for a change that protects someone (anything but a DNC removal)."""
        return self.kind in BLOCKING_KINDS


def journal_path(database: Path) -> Path:
    """The journal of the database at `database`."""
    return database.with_name(database.name + SUFFIX)


def key_id(key: bytes) -> str:
    """A short, non-secret name of a hash key (to tell whose hashes a line holds)."""
    return hashlib.sha256(b"dialer number hash key id\0" + key).hexdigest()[:16]


def _database_file(conn: sqlite3.Connection) -> Path | None:
    for _seq, name, file in conn.execute("PRAGMA database_list"):
        if name == "main":
            return Path(file) if file else None
    return None


def _key_id_of(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = 'number_hash_key'").fetchone()
    return key_id(bytes.fromhex(row[0])) if row else None


@contextlib.contextmanager
def replaying(token: str) -> Iterator[None]:
    """Within this block, changes re-applied at restore get their original `token` as their mark and
    no new journal line (the line is there already). On the database thread that does the work."""
    _replay.token = token
    try:
        yield
    finally:
        _replay.token = None


def record(conn: sqlite3.Connection, kind: str, at: float, actor: str, data: Mapping[str, Any]) -> str:
    """Journal one change inside the caller's transaction (see the module docstring); returns its token."""
    return record_all(conn, kind, at, actor, [data])[0]


def record_all(conn: sqlite3.Connection, kind: str, at: float, actor: str,
               parts: Sequence[Mapping[str, Any]]) -> list[str]:
    """Journal a change in several lines (a big DNC list, CHUNK numbers a line): one write, one fsync."""
    assert kind in KINDS, kind
    replay = getattr(_replay, "token", None)
    tokens = [replay if replay is not None else uuid.uuid4().hex for _ in parts]
    conn.executemany("INSERT INTO compliance_journal (token, kind, at) VALUES (?, ?, ?) "
                     "ON CONFLICT (token) DO NOTHING", [(token, kind, at) for token in dict.fromkeys(tokens)])
    if replay is not None:
        return tokens
    database = _database_file(conn)
    if database is None:
        return tokens  # an in-memory database: nothing survives it anyway
    key = _key_id_of(conn)
    lines = b"".join(encode({"v": FORMAT, "token": token, "kind": kind, "at": at, "actor": actor, "key_id": key,
                             "data": dict(data)}) for token, data in zip(tokens, parts, strict=True))
    path = journal_path(database)
    try:
        _append(path, lines)
    except OSError as exc:
        # As a database error: every caller already treats those as "the change did not happen".
        raise sqlite3.OperationalError(f"compliance journal {path}: {exc.strerror or exc}") from exc
    return tokens


def encode(fields: Mapping[str, Any]) -> bytes:
    """One journal line (with its crc and the newline)."""
    body = {k: v for k, v in fields.items() if k != "crc"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    crc = hashlib.sha256(text.encode()).hexdigest()[:16]
    return (json.dumps({**body, "crc": crc}, sort_keys=True, separators=(",", ":"), allow_nan=False)
            + "\n").encode()


def _private(fd: int) -> None:
    if stat.S_IMODE(os.fstat(fd).st_mode) not in (0o600, FILE_MODE):
        os.fchmod(fd, FILE_MODE)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _append(path: Path, line: bytes) -> None:
    created = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    try:
        _private(fd)
        written = os.write(fd, line)  # one write: O_APPEND keeps a line whole next to other writers
        if written != len(line):
            raise OSError(f"short write ({written} of {len(line)} bytes)")
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        _fsync_dir(path.parent)


@dataclass(frozen=True, slots=True)
class Journal:
    """A journal as read: its entries, and whether its last line was cut short (a crash mid-append,
    whose transaction therefore never committed)."""

    path: Path
    exists: bool
    entries: tuple[Entry, ...]
    torn_tail: bool

    @property
    def tokens(self) -> set[str]:
        """Every entry's token."""
        return {entry.token for entry in self.entries}


def read(path: Path) -> Journal:
    """Read and check the journal; raises JournalError for a damaged line other than a torn last one."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Journal(path, False, (), False)
    except OSError as exc:
        raise JournalError(f"{path}: cannot read: {exc.strerror}") from None
    lines = raw.split(b"\n")
    torn = lines[-1] != b""
    entries = []
    for number, text in enumerate(lines[:-1], start=1):
        entries.append(_decode(path, number, text))
    if torn:
        try:
            entries.append(_decode(path, len(lines), lines[-1]))
            torn = False  # complete but for its newline
        except JournalError:
            pass
    return Journal(path, True, tuple(entries), torn)


def _decode(path: Path, number: int, text: bytes) -> Entry:
    try:
        fields = json.loads(text)
        if not isinstance(fields, dict) or encode(fields) != text + b"\n" or fields.get("v") != FORMAT:
            raise ValueError("its checksum does not match (damaged or edited)")
        if fields["kind"] not in KINDS:
            raise ValueError(f"unknown kind {fields['kind']!r}")
        return Entry(number, str(fields["token"]), fields["kind"], float(fields["at"]), str(fields["actor"]),
                     fields.get("key_id"), fields["data"])
    except (ValueError, KeyError, TypeError) as exc:
        raise JournalError(f"{path}: line {number}: not a journal entry ({exc}); the journal cannot be trusted "
                           "as a whole: keep a copy, and look at that line") from None


def scrub(conn: sqlite3.Connection, hashes: Iterable[str]) -> int:
    """Rewrite the journal with every number whose hash is in `hashes` replaced by nothing but its hash
    (and the free text of those entries dropped); returns how many entries changed. Inside the
    erasure's transaction, like `record`."""
    database = _database_file(conn)
    if database is None or getattr(_replay, "token", None) is not None:
        return 0
    path = journal_path(database)
    erased = set(hashes)
    try:
        journal = read(path)
    except JournalError:
        # A damaged journal is still scrubbed line by line: the lines that parse are rewritten,
        # the others are kept as they are (they are what a person must look at).
        journal = None
    if journal is not None and not journal.exists:
        return 0
    raw_lines = path.read_bytes().split(b"\n")
    out: list[bytes] = []
    changed = 0
    for text in raw_lines:
        if not text:
            continue
        try:
            fields = json.loads(text)
            data = fields["data"]
        except (ValueError, KeyError, TypeError):
            out.append(text + b"\n")
            continue
        new = _scrub_data(data, erased)
        if new is not None:
            fields["data"] = new
            changed += 1
            out.append(encode(fields))
        else:
            out.append(text + b"\n")
    if not changed:
        return 0
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
        try:
            _private(fd)
            os.write(fd, b"".join(out))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise sqlite3.OperationalError(f"compliance journal {path}: {exc.strerror or exc}") from exc
    return changed


def _scrub_item(item: dict[str, Any], erased: set[str]) -> dict[str, Any] | None:
    if item.get("hash") in erased and item.get("number") is not None:
        return {**item, "number": None, **({"source": "[erased]"} if "source" in item else {})}
    return None


def _scrub_data(data: dict[str, Any], erased: set[str]) -> dict[str, Any] | None:
    changed = False
    new = dict(data)
    for key in ("entries", "numbers", "consents"):
        if isinstance(data.get(key), list):
            items = []
            for item in data[key]:
                scrubbed = _scrub_item(item, erased) if isinstance(item, dict) else None
                changed |= scrubbed is not None
                items.append(scrubbed if scrubbed is not None else item)
            new[key] = items
    scrubbed = _scrub_item(data, erased)
    if scrubbed is not None:
        new = {**new, **scrubbed}
        changed = True
    return new if changed else None


def marks(conn: sqlite3.Connection) -> set[str]:
    """The tokens of the journaled changes this database holds (empty before migration 6)."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'compliance_journal'").fetchone():
        return {row[0] for row in conn.execute("SELECT token FROM compliance_journal")}
    return set()
