"""Fan-out of the wallboard's updates to the open pages (Server-Sent Events).

Each page has a bounded queue. `publish` encodes an update once and puts the same bytes in every
queue without waiting; a page whose queue is full is too slow (or gone without a word): it is
dropped, its stream closed, and EventSource reconnects it with a fresh snapshot. So the event
loop never waits for a client, and a stuck client holds at most `queue_size` updates in memory.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any

import structlog

log = structlog.get_logger("dialer.web.stream")

RETRY_MS = 1000  # how soon EventSource reconnects after the stream ends (a restart, a dropped page)
_CLOSE = b""  # put in a queue to end that page's stream


def sse_message(event: str, data: Mapping[str, Any], event_id: int | None = None) -> bytes:
    """One Server-Sent Events message (JSON data has no line breaks, so one `data:` line)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    body = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return f"{head}event: {event}\ndata: {body}\n\n".encode()


# An event, not a comment: EventSource hides comments from the page, which must see that the dialer is there.
HEARTBEAT = b"event: ping\ndata: {}\n\n"


class Client:
    """One open page: its queue of encoded messages."""

    def __init__(self, queue_size: int) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=queue_size)
        self.dropped = False
        # Set by the server: ends the connection at once (a page stuck in a write never reads its queue).
        self.abort: Callable[[], None] | None = None

    async def next(self) -> bytes:
        """The next message to write; empty bytes means the stream is over."""
        return await self.queue.get()


class Fanout:
    """The set of open pages, and the counters a benchmark reads."""

    def __init__(self, queue_size: int, max_clients: int) -> None:
        self.queue_size = queue_size
        self.max_clients = max_clients
        self._clients: set[Client] = set()
        self.published = 0
        self.dropped = 0
        self._next_id = 0

    def __len__(self) -> int:
        return len(self._clients)

    def join(self) -> Client | None:
        """A new page's client, or None when `max_clients` pages are open already."""
        if len(self._clients) >= self.max_clients:
            return None
        client = Client(self.queue_size)
        self._clients.add(client)
        return client

    def leave(self, client: Client) -> None:
        """The page's stream ended (it closed, or it was dropped)."""
        self._clients.discard(client)

    def publish(self, event: str, data: Mapping[str, Any]) -> int:
        """Queue one update for every page; returns how many pages were dropped for being too slow."""
        self._next_id += 1
        message = sse_message(event, data, self._next_id)
        return self.send(message)

    def heartbeat(self) -> int:
        """Queue a heartbeat comment for every page (dropping the ones that are too slow)."""
        return self.send(HEARTBEAT)

    def send(self, message: bytes) -> int:
        """Queue already encoded bytes for every page, without waiting."""
        self.published += 1
        slow: list[Client] = []
        for client in self._clients:
            try:
                client.queue.put_nowait(message)
            except asyncio.QueueFull:
                slow.append(client)
        for client in slow:
            self._drop(client)
        return len(slow)

    def _drop(self, client: Client) -> None:
        client.dropped = True
        self._clients.discard(client)
        self.dropped += 1
        # Make room for the end marker: what it had not taken is lost anyway (it reconnects).
        while not client.queue.empty():
            client.queue.get_nowait()
        client.queue.put_nowait(_CLOSE)
        if client.abort is not None:
            client.abort()
        log.info("web_client_dropped", reason="too slow", queue=self.queue_size)

    def close_all(self) -> None:
        """End every stream (the daemon stops): pages see the connection close and show they are stale."""
        for client in list(self._clients):
            self._clients.discard(client)
            while not client.queue.empty():
                client.queue.get_nowait()
            client.queue.put_nowait(_CLOSE)
