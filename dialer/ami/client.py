"""The AMI client: one TCP session at a time, reconnected by an explicit loop the client owns.

Why not panoramisk (the library the design started from): version 1.4 re-sends unanswered actions
after a reconnect (a double dial for Originate), never checks Ping replies (a half-open socket goes
unnoticed), raises nothing on a failed login, keeps its reconnect loop alive after close(), crashes
on an Originate without Async, and builds a case-insensitive dict plus callback matching for every
one of the ~60 messages a read=all user gets per call. Each needed a workaround, and the per-message
cost alone put the dialer over its CPU budget (bench/throughput.py). This client is ~300 lines on
asyncio streams and has none of those behaviours:

- an action is written once; if the session drops before its response, the caller gets
  AmiDisconnected and decides (Originate is never re-sent);
- a Ping watchdog closes a session whose Pong does not come back within `ping_timeout_s`;
- a refused login raises AmiLoginError naming the user and host, and is not retried;
- `close()` cancels the supervisor, the reader and the pinger: nothing keeps running;
- reconnects use capped exponential backoff with jitter, and `on_connected` runs after each login
  so the owner can resynchronise (CoreShowChannels);
- a list answer keeps at most `max_list_items` items (Asterisk's action_coreshowchannels() in
  main/manager.c, 18 to 22, lists every channel with no limit): a CoreShowChannels with 1 M items
  took the daemon to 487 MB before; now the caller gets AmiListCapped as soon as the cap is passed (not a
  partial list it could mistake for the whole), `on_list_capped` raises the alert, and the rest of
  the list is read and dropped until its Complete event.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from dialer.ami.errors import AmiDisconnected, AmiError, AmiListCapped, AmiLoginError, AmiProtocolError, AmiTimeout
from dialer.ami.frames import GREETING_PREFIX, FrameParser, Message, encode_action

log = structlog.get_logger("dialer.ami")

Fields = Sequence[tuple[str, str]]
EventHandler = Callable[[Message], None]
ListCappedHandler = Callable[[str, int], None]  # (action, max_list_items)


@dataclass(frozen=True, slots=True)
class AmiSettings:
    """Where and how to connect; the secret is held here and never logged."""

    host: str
    port: int
    username: str
    secret: str
    events: str = "on"
    connect_timeout_s: float = 5.0
    login_timeout_s: float = 5.0
    action_timeout_s: float = 10.0
    ping_interval_s: float = 5.0
    ping_timeout_s: float = 5.0
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 4.0
    max_list_items: int = 20_000

    def __repr__(self) -> str:
        return f"AmiSettings(host={self.host!r}, port={self.port}, username={self.username!r}, secret='***')"

    @property
    def address(self) -> str:
        """host:port, for messages."""
        return f"{self.host}:{self.port}"


def backoff_delay(attempt: int, initial_s: float, max_s: float, rng: random.Random) -> float:
    """Capped exponential backoff with jitter: attempt 0 waits about `initial_s`."""
    ceiling = min(max_s, initial_s * (2.0 ** min(attempt, 30)))
    return ceiling * rng.uniform(0.5, 1.0)


class _Session:
    """One logged-in TCP session: reader task, ping watchdog, pending actions by ActionID."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        parser: FrameParser,
        on_event: EventHandler,
        settings: AmiSettings,
        on_list_capped: ListCappedHandler | None = None,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.parser = parser
        self._on_event = on_event
        self._settings = settings
        self._on_list_capped = on_list_capped
        self._pending: dict[str, asyncio.Future[Message]] = {}
        self._lists: dict[str, list[Message]] = {}
        self._list_done: dict[str, asyncio.Future[list[Message]]] = {}
        self._list_names: dict[str, str] = {}
        # Lists nobody collects any more (capped, timed out): their items are counted and dropped
        # until their Complete event, never handed to on_event as if they were live events.
        self._discarding: dict[str, int] = {}
        self._ids = itertools.count(1)
        self.lost: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._tasks: list[asyncio.Task[None]] = []

    def next_id(self, prefix: str) -> str:
        """A fresh ActionID for this session."""
        return f"{prefix}-{next(self._ids)}"

    def start(self) -> None:
        """Start the reader and the ping watchdog."""
        self._tasks = [
            asyncio.create_task(self._read_loop(), name="ami-reader"),
            asyncio.create_task(self._ping_loop(), name="ami-ping"),
        ]

    def _mark_lost(self, reason: str) -> None:
        if not self.lost.done():
            self.lost.set_result(reason)

    async def _read_loop(self) -> None:
        logged_drops = 0
        try:
            while True:
                data = await self.reader.read(262144)
                if not data:
                    self._mark_lost("connection closed by Asterisk")
                    return
                for message in self.parser.feed(data):
                    self.dispatch(message)
                dropped = self.parser.dropped_frames
                if dropped > logged_drops and (not logged_drops or dropped >= 2 * logged_drops):
                    # A dropped frame may have been the answer to an action (which then times out as
                    # unconfirmed): say so, at the first and then each time the count doubles.
                    log.warning("ami_frames_dropped", address=self._settings.address, dropped_frames=dropped,
                                note="frames that were not one AMI message (damaged, run together, oversized)")
                    logged_drops = dropped
        except (ConnectionError, OSError) as exc:
            self._mark_lost(f"connection error: {exc.__class__.__name__}")
        except Exception as exc:  # a bug in a handler must not silently kill the session
            log.exception("ami_reader_failed")
            self._mark_lost(f"reader failed: {exc.__class__.__name__}")

    def dispatch(self, message: Message) -> None:
        """Route a message: a response to its waiter, a list event to its list, others to on_event."""
        action_id = message.get("ActionID")
        # OriginateResponse carries a `Response:` header too: anything with an Event is an event.
        if "Event" not in message:
            if action_id is not None:
                future = self._pending.pop(action_id, None)
                if future is not None and not future.done():
                    future.set_result(message)
            return
        if action_id is not None and action_id in self._lists:
            if message.get("EventList") == "Complete":
                items = self._lists.pop(action_id)
                done = self._list_done.pop(action_id)
                if not done.done():
                    done.set_result(items)
            elif len(self._lists[action_id]) < self._settings.max_list_items:
                self._lists[action_id].append(message)
            else:
                self._cap(action_id)
            return
        if action_id is not None and action_id in self._discarding:
            if message.get("EventList") == "Complete":
                dropped = self._discarding.pop(action_id)
                log.warning("ami_list_dropped", action_id=action_id, dropped_items=dropped,
                            list_items=message.get("ListItems"))
            else:
                self._discarding[action_id] += 1
            return
        self._on_event(message)

    def _cap(self, action_id: str) -> None:
        """The list passed max_list_items: fail its waiter now, drop the rest as it comes."""
        limit = self._settings.max_list_items
        action = self._list_names.get(action_id, "list action")
        self._lists.pop(action_id)
        done = self._list_done.pop(action_id)
        self._discarding[action_id] = 1  # the item past the cap; counted as dropped from here on
        if not done.done():
            done.set_exception(AmiListCapped(action, limit))
        log.warning("ami_list_capped", action=action, action_id=action_id, max_list_items=limit)
        if self._on_list_capped is not None:
            self._on_list_capped(action, limit)

    async def _ping_loop(self) -> None:
        interval = self._settings.ping_interval_s
        timeout = self._settings.ping_timeout_s
        while True:
            await asyncio.sleep(interval)
            try:
                await self.request([("Action", "Ping")], timeout)
            except AmiTimeout:
                log.warning("ami_ping_timeout", address=self._settings.address, timeout_s=timeout)
                self._mark_lost(f"no Pong within {timeout} s (half-open connection)")
                return
            except AmiDisconnected:
                return

    def send_timed(self, fields: Fields, action_id: str, timeout: float) -> asyncio.Future[Message]:
        """`send`, and fail the future with AmiTimeout if no response came within `timeout`."""
        future = self.send(fields, action_id)
        handle = asyncio.get_running_loop().call_later(timeout, self._expire, action_id, future, fields[0][1],
                                                       timeout)
        future.add_done_callback(lambda _: handle.cancel())
        return future

    def _expire(self, action_id: str, future: asyncio.Future[Message], name: str, timeout: float) -> None:
        if self._pending.get(action_id) is future:
            del self._pending[action_id]  # a late answer is dropped: the waiter was told it is unknown
        if not future.done():
            future.set_exception(AmiTimeout(f"{name}: no response within {timeout} s"))

    def send(self, fields: Fields, action_id: str) -> asyncio.Future[Message]:
        """Write one action (exactly once) and return the future of its response."""
        if self.lost.done():
            raise AmiDisconnected(f"not connected to {self._settings.address}")
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = future
        self.writer.write(encode_action([*fields, ("ActionID", action_id)]))
        return future

    async def request(self, fields: Fields, timeout: float, action_id: str | None = None) -> Message:
        """Send an action and wait for its response."""
        action_id = action_id or self.next_id(fields[0][1].lower())
        future = self.send(fields, action_id)
        await self._drain_if_backed_up()
        response: Message = await self._wait(future, action_id, timeout, fields[0][1])
        return response

    async def request_list(self, fields: Fields, timeout: float) -> tuple[Message, list[Message]]:
        """Send a list action (CoreShowChannels, Status) and collect its events until *Complete."""
        action_id = self.next_id(fields[0][1].lower())
        done: asyncio.Future[list[Message]] = asyncio.get_running_loop().create_future()
        self._lists[action_id] = []
        self._list_done[action_id] = done
        self._list_names[action_id] = fields[0][1]
        try:
            response = await self._wait(self.send(fields, action_id), action_id, timeout, fields[0][1])
            if response.get("Response") != "Success":
                return response, []
            return response, await self._wait(done, action_id, timeout, fields[0][1])
        finally:
            self._list_names.pop(action_id, None)
            if self._lists.pop(action_id, None) is not None:
                self._discarding[action_id] = 0  # timed out or lost mid-list: late items are dropped
            self._list_done.pop(action_id, None)

    async def _wait(self, future: asyncio.Future[Any], action_id: str, timeout: float, name: str) -> Any:
        lost = self.lost
        done, _ = await asyncio.wait({future, lost}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if future in done:
            return future.result()
        self._pending.pop(action_id, None)
        future.cancel()
        if lost in done:
            raise AmiDisconnected(f"{name}: connection lost before the response ({lost.result()})")
        raise AmiTimeout(f"{name}: no response within {timeout} s")

    async def _drain_if_backed_up(self) -> None:
        transport = self.writer.transport
        if transport.get_write_buffer_size() > 1 << 20:
            with contextlib.suppress(ConnectionError):
                await self.writer.drain()

    async def close(self, reason: str) -> None:
        """Stop the tasks, close the socket, fail every waiter (nothing is re-sent)."""
        self._mark_lost(reason)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        waiting: list[asyncio.Future[Any]] = [*self._pending.values(), *self._list_done.values()]
        for future in waiting:
            if not future.done():
                future.set_exception(AmiDisconnected(f"connection lost: {reason}"))
                future.exception()  # mark retrieved: nobody may be waiting any more
        self._pending.clear()
        self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), 1.0)


class AmiClient:
    """An AMI connection that reconnects by itself until `close()`; use `async with`."""

    def __init__(
        self,
        settings: AmiSettings,
        *,
        on_event: EventHandler,
        on_connected: Callable[[], Awaitable[None]] | None = None,
        on_disconnected: Callable[[str], None] | None = None,
        on_list_capped: ListCappedHandler | None = None,
        wanted_events: Iterable[str] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self._on_event = on_event
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected
        self._on_list_capped = on_list_capped
        self._wanted = None if wanted_events is None else frozenset(wanted_events)
        self._rng = rng or random.Random()
        self._session: _Session | None = None
        self._connected = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self.reconnects = 0
        self.parse_stats = {"malformed_lines": 0, "dropped_frames": 0}
        self._stopping = False

    async def __aenter__(self) -> AmiClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        """True while a logged-in session is up."""
        return self._session is not None and not self._session.lost.done()

    @property
    def supervisor(self) -> asyncio.Task[None] | None:
        """The reconnect loop; it ends only by close() or with AmiLoginError."""
        return self._supervisor

    async def start(self) -> None:
        """Connect and log in (retrying while Asterisk is unreachable); raise AmiLoginError if refused."""
        self._supervisor = asyncio.create_task(self._supervise(), name="ami-supervisor")
        waiter = asyncio.create_task(self._connected.wait())
        try:
            await asyncio.wait({waiter, self._supervisor}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if self._supervisor.done():
            self._supervisor.result()

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until a session is logged in."""
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def _supervise(self) -> None:
        attempt = 0
        while not self._stopping:
            try:
                session = await self._open_session()
            except AmiLoginError:
                raise
            except (OSError, TimeoutError, AmiProtocolError, AmiDisconnected, EOFError) as exc:
                delay = backoff_delay(attempt, self.settings.reconnect_initial_s,
                                      self.settings.reconnect_max_s, self._rng)
                log.warning("ami_connect_failed", address=self.settings.address,
                            error=str(exc) or exc.__class__.__name__, retry_in_s=round(delay, 2))
                attempt += 1
                await asyncio.sleep(delay)
                continue
            attempt = 0
            reason = await self._run_session(session)
            if self._stopping:
                return
            self.reconnects += 1
            log.warning("ami_disconnected", address=self.settings.address, reason=reason)
            if self._on_disconnected is not None:
                self._on_disconnected(reason)
            await asyncio.sleep(backoff_delay(0, self.settings.reconnect_initial_s,
                                              self.settings.reconnect_max_s, self._rng))

    async def _run_session(self, session: _Session) -> str:
        self._session = session
        session.start()
        self._connected.set()
        log.info("ami_connected", address=self.settings.address, username=self.settings.username)
        try:
            if self._on_connected is not None:
                resync: asyncio.Future[Any] = asyncio.ensure_future(self._on_connected())
                await asyncio.wait({resync, session.lost}, return_when=asyncio.FIRST_COMPLETED)
                if not resync.done():
                    resync.cancel()
                try:
                    await resync
                except (asyncio.CancelledError, AmiDisconnected):
                    pass
                except AmiError as exc:  # a timeout, a capped list: the owner could not check; the session goes on
                    log.warning("ami_resync_incomplete", address=self.settings.address, error=str(exc))
            return await asyncio.shield(session.lost)
        finally:
            self._connected.clear()
            self._session = None
            self.parse_stats["malformed_lines"] += session.parser.malformed_lines
            self.parse_stats["dropped_frames"] += session.parser.dropped_frames
            await session.close(session.lost.result() if session.lost.done() else "closing")

    async def _open_session(self) -> _Session:
        s = self.settings
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(s.host, s.port, limit=1 << 22), s.connect_timeout_s
        )
        parser = FrameParser(self._wanted)
        session = _Session(reader, writer, parser, self._on_event, s, self._on_list_capped)
        try:
            await self._greet_and_login(session)
        except BaseException:
            writer.close()
            raise
        return session

    async def _greet_and_login(self, session: _Session) -> None:
        s = self.settings
        pending: list[Message] = []
        try:
            async with asyncio.timeout(s.login_timeout_s):
                while session.parser.greeting is None:
                    data = await session.reader.read(65536)
                    if not data:
                        raise AmiDisconnected(f"{s.address} closed the connection before its greeting")
                    pending += session.parser.feed(data)
                if not session.parser.greeting.startswith(GREETING_PREFIX):
                    raise AmiProtocolError(f"{s.address} is not an Asterisk manager interface")
                login = [("Action", "Login"), ("Username", s.username), ("Secret", s.secret),
                         ("Events", s.events)]
                future = session.send(login, "login")
                while not future.done():
                    data = await session.reader.read(65536)
                    if not data:
                        break
                    for message in pending + session.parser.feed(data):
                        session.dispatch(message)
                    pending = []
        except TimeoutError:
            raise AmiProtocolError(f"no greeting or login answer from {s.address} within "
                                   f"{s.login_timeout_s} s") from None
        if not future.done():
            raise AmiLoginError(
                f"AMI login as {s.username!r} at {s.address} failed: the connection was closed "
                "(wrong secret, or the user is not allowed from this address)"
            )
        response = future.result()
        if response.get("Response") != "Success":
            raise AmiLoginError(
                f"AMI login as {s.username!r} at {s.address} refused: "
                f"{response.get('Message', 'no reason given')} (check the manager.conf user and the secret)"
            )

    def _live(self) -> _Session:
        session = self._session
        if session is None or session.lost.done():
            raise AmiDisconnected(f"not connected to {self.settings.address}")
        return session

    async def action(self, fields: Fields, *, timeout: float | None = None, action_id: str | None = None
                     ) -> Message:
        """Send one action and return its response; raises AmiDisconnected or AmiTimeout."""
        return await self._live().request(fields, timeout or self.settings.action_timeout_s, action_id)

    async def list_action(self, fields: Fields, *, timeout: float | None = None
                          ) -> tuple[Message, list[Message]]:
        """Send a list action (CoreShowChannels, Status) and return the response and its events."""
        return await self._live().request_list(fields, timeout or self.settings.action_timeout_s)

    def send_nowait(self, fields: Fields, action_id: str) -> asyncio.Future[Message]:
        """Write one action now and return the future of its response (for batches of Originates).

        The future fails with AmiTimeout after `action_timeout_s` without a response (a response the
        parser dropped never comes), or with AmiDisconnected if the session drops first; in both
        cases Asterisk may have carried the action out. AmiDisconnected raised here (not through
        the future) means nothing was written."""
        return self._live().send_timed(fields, action_id, self.settings.action_timeout_s)

    async def close(self) -> None:
        """Log off if connected, then stop everything; no task or reconnect loop is left running."""
        self._stopping = True
        session = self._session
        if session is not None and not session.lost.done():
            with contextlib.suppress(Exception):
                await session.request([("Action", "Logoff")], 1.0)
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._supervisor
        self._session = None
