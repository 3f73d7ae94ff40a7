"""The transactional outbox: rows written in the same transaction as the change they announce, and
the SQL that reads, marks and bounds them.

The table (migration 1) is `outbox(id, topic, payload, created_at, published_at)`. Rows are published
in id order, which is commit order, so a call's messages leave in the order its changes happened.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import structlog
from pydantic import ValidationError

from dialer.alerts import Alert
from dialer.events import CallEvent
from dialer.mqtt.payloads import alert_payload, call_payload
from dialer.store import Tx

log = structlog.get_logger("dialer.mqtt.outbox")

_INSERT = "INSERT INTO outbox (topic, payload, created_at) VALUES (?, ?, ?)"


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One unpublished message."""

    id: int
    topic: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names under one prefix (`dialer/<node>/` by default)."""

    prefix: str

    def call(self, call_id: str) -> str:
        """`calls/<call_id>`."""
        return f"{self.prefix}calls/{call_id}"

    def campaign_stats(self, campaign: str) -> str:
        """`campaigns/<id>/stats`."""
        return f"{self.prefix}campaigns/{campaign}/stats"

    @property
    def status(self) -> str:
        """`status`."""
        return f"{self.prefix}status"

    @property
    def alerts(self) -> str:
        """`alerts`."""
        return f"{self.prefix}alerts"

    @property
    def commands(self) -> tuple[str, str]:
        """`cmd/+` and `cmd/+/+`: the subscriptions for every verb, without and with a sender level."""
        return f"{self.prefix}cmd/+", f"{self.prefix}cmd/+/+"

    def command(self, topic: str) -> tuple[str, str | None] | None:
        """(verb, sender level or None) of a command topic, or None if the topic is not one."""
        head = f"{self.prefix}cmd/"
        if not topic.startswith(head):
            return None
        verb, _, sender = topic[len(head):].partition("/")
        return verb, (sender if _ else None)

    def reply(self, request_id: str) -> str:
        """`reply/<request_id>`."""
        return f"{self.prefix}reply/{request_id}"


class OutboxWriter:
    """The engine tx hook: one outbox row per call event, inside the transaction that records it."""

    def __init__(self, topics: Topics, node: str, *, include_numbers: bool) -> None:
        self.topics = topics
        self.node = node
        self.include_numbers = include_numbers

    def __call__(self, conn: sqlite3.Connection, events: Sequence[CallEvent]) -> None:
        """Runs on the database thread; must stay fast and must not fail the engine's transaction."""
        rows = []
        for event in events:
            try:
                payload = call_payload(event, self.node, include_numbers=self.include_numbers)
            except ValidationError as exc:
                # A bug in payload building must never stop the engine from recording calls.
                log.error("mqtt_payload_invalid", call_id=event.call_id, state=event.state.value,
                          errors=[e["msg"] for e in exc.errors()])
                continue
            rows.append((self.topics.call(event.call_id), payload.model_dump_json(), event.at))
        conn.executemany(_INSERT, rows)

    def alert_rows(self, alerts: Iterable[Alert]) -> list[tuple[str, str, float]]:
        """Outbox rows for alerts (written by the component's alert writer)."""
        return [(self.topics.alerts, alert_payload(alert, self.node).model_dump_json(), alert.at) for alert in alerts]


def insert_rows(conn: sqlite3.Connection, rows: Sequence[tuple[str, str, float]]) -> None:
    """Append (topic, payload, created_at) rows; for `tx.run` inside a write transaction."""
    conn.executemany(_INSERT, rows)


async def fetch_unpublished(tx: Tx, after_id: int, limit: int) -> list[OutboxRow]:
    """The next `limit` unpublished rows after `after_id`, oldest first (one batch; never the whole table)."""
    rows = await tx.fetchall(
        "SELECT id, topic, payload FROM outbox WHERE published_at IS NULL AND id > ? ORDER BY id LIMIT ?",
        (after_id, limit),
    )
    return [OutboxRow(row[0], row[1], row[2].encode("utf-8")) for row in rows]


async def mark_published(tx: Tx, first_id: int, last_id: int, now: float) -> None:
    """Record that the broker acknowledged every unpublished row from `first_id` to `last_id`.

    A range is exact: rows are sent in id order, every unpublished row in the range was sent, and a
    row committed later has a higher id (the table's largest id is never pruned, see prune_step)."""
    await tx.execute("UPDATE outbox SET published_at = ? WHERE id BETWEEN ? AND ? AND published_at IS NULL",
                     (now, first_id, last_id))


async def backlog(tx: Tx) -> int:
    """How many rows wait to be published (an upper bound: the id span of the unpublished rows)."""
    # The span comes from the partial index in two lookups; COUNT(*) would walk every waiting row.
    row = await tx.fetchone("SELECT MIN(id), MAX(id) FROM outbox WHERE published_at IS NULL")
    if row is None or row[0] is None:
        return 0
    return int(row[1]) - int(row[0]) + 1


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What one prune step did; `more` says another step has work to do."""

    deleted_published: int
    dropped_unpublished: int
    rows_left: int
    more: bool


PRUNE_STEP = 5000


def prune_step(conn: sqlite3.Connection, now: float, retention_s: float, max_rows: int,
               step: int = PRUNE_STEP) -> PruneResult:
    """One bounded step of keeping the table small (for `tx.run`; at most `step` rows per part, so
    the write lock is held briefly): delete published rows older than the retention; then, above
    `max_rows`, the oldest published rows, and only then the oldest unpublished ones (counted, so
    the caller raises an alert). Walks the primary key: never a scan of the whole table."""
    cutoff = now - retention_s
    deleted = 0
    # Rows are published in id order, so the old published rows are a prefix of the table. The row
    # with the largest id always stays: SQLite gives a new row max(id) + 1, so deleting it could hand
    # out an id again, behind the publisher's read position.
    newest = conn.execute("SELECT MAX(id) FROM outbox").fetchone()[0]
    last = None
    for row_id, published_at in conn.execute("SELECT id, published_at FROM outbox ORDER BY id LIMIT ?", (step,)):
        if published_at is None or published_at > cutoff or row_id == newest:
            break
        last = row_id
    if last is not None:
        deleted = conn.execute("DELETE FROM outbox WHERE id <= ?", (last,)).rowcount
    dropped = 0
    total = _row_count(conn)
    if total > max_rows:
        excess = min(total - max_rows, step)
        published = conn.execute(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE published_at IS NOT NULL ORDER BY id "
            "LIMIT ?)", (excess,)).rowcount
        deleted += published
        if excess > published:
            dropped = conn.execute("DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)",
                                   (excess - published,)).rowcount
        total = _row_count(conn)
    return PruneResult(deleted, dropped, total, more=deleted + dropped >= step or total > max_rows)


def _row_count(conn: sqlite3.Connection) -> int:
    # id span of the whole table: ids only grow and deletions take prefixes, so it is close to COUNT(*)
    # without walking the table.
    low, high = conn.execute("SELECT MIN(id), MAX(id) FROM outbox").fetchone()
    return 0 if low is None else int(high) - int(low) + 1
