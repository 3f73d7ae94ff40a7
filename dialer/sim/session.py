"""One AMI client connection: login, event mask, action queue and batched writes."""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from dialer.sim import events as ev
from dialer.sim.actions import HANDLERS
from dialer.sim.config import ALL_CLASSES, SimUser, parse_event_mask
from dialer.sim.protocol import Action, ActionReader, response

if TYPE_CHECKING:
    from dialer.sim.server import SimServer

GREETING = b"Asterisk Call Manager/11.0.0\r\n"
WRITE_HIGH_WATER = 4 * 1024 * 1024
BOOT_FULLY_BOOTED_S = 0.028  # a login during boot gets FullyBooted this much later (file 20)
PRE_AUTH_ACTIONS = frozenset({"login", "logoff", "challenge"})


def _address(info: Any) -> str:
    if not info:
        return "IPV4/TCP/0.0.0.0/0"
    host, port = info[0], info[1]
    family = "IPV6" if ":" in str(host) else "IPV4"
    return f"{family}/TCP/{host}/{port}"


class AmiSession(asyncio.Protocol):
    """The server side of one manager connection."""

    def __init__(self, server: SimServer) -> None:
        self.server = server
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.reader = ActionReader()
        self.authenticated = False
        self.user: SimUser | None = None
        self.username = ""
        self.event_mask = ALL_CLASSES
        self.mask = 0  # read classes & event mask, once logged in
        self.out: list[str] = []
        self.pending: deque[Action] = deque()
        self.busy = False  # a synchronous Originate, a failed login or a response delay holds the queue
        self.closed = False
        self.frozen = False
        self.held = 0  # > 0 while a split answer is being written: other output waits
        self.session_id = f"0x{random.getrandbits(44) | (1 << 44):x}"
        self.login_wall: float | None = None
        self.local = self.remote = ""
        self._timers: list[asyncio.TimerHandle] = []
        self._paused_since: float | None = None
        self._buffered = 0  # transport buffer size after our last write

    # -- transport callbacks ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Greet and register."""
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        self.local = _address(transport.get_extra_info("sockname"))
        self.remote = _address(transport.get_extra_info("peername"))
        transport.write(GREETING)
        self.server.session_opened(self)
        timeout = self.server.config.auth_timeout_s
        if timeout > 0:
            self._later(timeout, self._auth_timeout)

    def data_received(self, data: bytes) -> None:
        """Queue complete actions and run what may run."""
        self.pending.extend(self.reader.feed(data))
        self._pump()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the session; its calls go on."""
        self.closed = True
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        self.out.clear()
        self.server.session_closed(self)

    def pause_writing(self) -> None:
        """The client stopped reading: remember since when (writetimeout)."""
        self._paused_since = self.loop.time()

    def resume_writing(self) -> None:
        """The client reads again."""
        self._paused_since = None

    # -- output -------------------------------------------------------------------------------

    def send(self, text: str) -> None:
        """Queue a message for this client; written once per loop turn."""
        if self.closed or self.frozen:
            return
        self.out.append(text)
        self.server.mark_dirty(self)

    def send_event(self, item: ev.Ev) -> None:
        """Queue an event if this session receives its class."""
        if self.authenticated and item[0] & self.mask:
            self.send(item[1])

    def flush(self) -> None:
        """Write everything queued in one transport write."""
        if not self.out or self.transport is None or self.closed or self.held:
            return
        if self.frozen:
            self.out.clear()
            return
        data = "".join(self.out).encode("utf-8")
        self.out.clear()
        transport = self.transport
        if self._paused_since is not None:
            # Asterisk drops a session whose writes block longer than writetimeout; a client that
            # reads (the buffer shrank since the last write) is not blocked, only slower than us.
            now = self.loop.time()
            size = transport.get_write_buffer_size()
            if size < self._buffered:
                self._paused_since = now
            elif now - self._paused_since > self.server.config.write_timeout_s:
                self.abort()
                return
        transport.write(data)
        self._buffered = transport.get_write_buffer_size()

    def close(self) -> None:
        """Flush, then close (no Goodbye)."""
        self.flush()
        if self.transport is not None and not self.closed:
            self.transport.close()

    def abort(self) -> None:
        """Drop the socket at once."""
        if self.transport is not None and not self.closed:
            self.transport.abort()

    def write_raw(self, data: bytes) -> None:
        """Write bytes as they are (malformed-frame injection), after what is queued."""
        if self.transport is not None and not self.closed and not self.frozen:
            self.flush()
            self.transport.write(data)

    def hold_output(self) -> None:
        """Keep queued output back until `write_held(..., last=True)` (a split answer's pieces)."""
        self.held += 1

    def write_held(self, data: bytes, last: bool) -> None:
        """Write one piece while output is held; the last piece releases what was queued meanwhile."""
        if self.transport is not None and not self.closed and not self.frozen:
            self.transport.write(data)
        if last:
            self.held = max(0, self.held - 1)
            self.flush()

    def freeze(self) -> None:
        """Half-open: neither read nor write, keep the socket."""
        self.frozen = True
        self.out.clear()
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def unfreeze(self) -> None:
        """Back to normal."""
        self.frozen = False
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    # -- action queue -------------------------------------------------------------------------

    def _later(self, delay: float, fn: Any, *args: Any) -> asyncio.TimerHandle:
        handle = self.loop.call_later(delay, fn, *args)
        self._timers.append(handle)
        if len(self._timers) > 64:
            self._timers = [h for h in self._timers if not h.cancelled() and h.when() > self.loop.time()]
        return handle

    def _pump(self) -> None:
        while self.pending and not self.busy and not self.closed:
            action = self.pending.popleft()
            delay = self.server.faults.response_delay_s
            if delay > 0:
                self.busy = True
                self._later(delay, self._delayed, action)
                return
            self._dispatch(action)

    def _delayed(self, action: Action) -> None:
        self.busy = False
        self._dispatch(action)
        self._pump()

    def resume(self) -> None:
        """Release the queue after a blocking action finished."""
        self.busy = False
        self._pump()

    def _dispatch(self, action: Action) -> None:
        if self.closed:
            return
        name = action.name.strip()
        lowered = name.lower()
        aid = action.get("ActionID")
        if not name:
            self.send(response("Error", aid, ("Message", "Missing action in request")))
            return
        if not self.authenticated and lowered not in PRE_AUTH_ACTIONS:
            self._security(
                "RequestNotAllowed",
                "Error",
                1,
                (
                    ("AccountID", ""),
                    ("SessionID", self.session_id),
                    ("LocalAddress", self.local),
                    ("RemoteAddress", self.remote),
                    ("RequestType", f"Action: {name}"),
                    ("SessionTV", ev.event_tv(None)),
                ),
            )
            self.send(response("Error", aid, ("Message", "Permission denied")))
            return
        if lowered == "login":
            self._login(action)
            return
        if lowered == "logoff":
            self.send(response("Goodbye", aid, ("Message", "Thanks for all the fish.")))
            self.close()
            return
        if lowered == "events":
            self._events(action)
            return
        entry = HANDLERS.get(lowered)
        if entry is None:
            text = f"Invalid/unknown command: {name}. Use Action: ListCommands to show available commands."
            self.send(response("Error", aid, ("Message", text)))
            self._security(
                "RequestBadFormat",
                "Error",
                1,
                (
                    ("SessionID", self.session_id),
                    ("LocalAddress", self.local),
                    ("RemoteAddress", self.remote),
                    ("RequestType", f"Action: {name}"),
                    ("SessionTV", ev.event_tv(self.login_wall)),
                    ("AccountID", self.username),
                ),
            )
            return
        needed, handler = entry
        assert self.user is not None
        if needed and not self.user.write_mask & needed:
            self._security(
                "RequestNotAllowed",
                "Error",
                1,
                (
                    ("AccountID", self.username),
                    ("SessionID", self.session_id),
                    ("LocalAddress", self.local),
                    ("RemoteAddress", self.remote),
                    ("RequestType", f"Action: {name}"),
                    ("SessionTV", ev.event_tv(self.login_wall)),
                ),
            )
            self.send(response("Error", aid, ("Message", "Permission denied")))
            return
        handler(self, action)

    def _security(self, event: str, severity: str, version: int, fields: tuple[tuple[str, str], ...]) -> None:
        self.server.broadcast([ev.build(ev.security, event, severity, version, fields)])

    # -- login, events mask -------------------------------------------------------------------

    def _login(self, action: Action) -> None:
        aid = action.get("ActionID")
        if self.authenticated:
            self.send(response("Success", aid, ("Message", "Already authenticated")))
            return
        username = action.get("Username")
        user = self.server.config.users.get(username)
        if user is None or user.secret != action.get("Secret"):
            common = (
                ("AccountID", username),
                ("SessionID", self.session_id),
                ("LocalAddress", self.local),
                ("RemoteAddress", self.remote),
                ("SessionTV", ev.event_tv(None)),
            )
            if user is None:
                self._security("InvalidAccountID", "Error", 1, common)
            else:
                self._security("InvalidPassword", "Error", 2, common)
            self.busy = True  # Asterisk sleeps in the session thread before answering
            self._later(self.server.config.login_failure_delay_s, self._login_failed, aid)
            return
        self.authenticated = True
        self.user = user
        self.username = username
        self.login_wall = time.time()
        mask = parse_event_mask(action.get("Events")) if action.has("Events") else None
        self.event_mask = ALL_CLASSES if mask is None else mask
        self.mask = user.read_mask & self.event_mask
        self.send(response("Success", aid, ("Message", "Authentication accepted")))
        self.server.update_listeners()
        server = self.server
        if server.booting:
            for name, value in server.pbx.globals.items():
                self.send_event(ev.build(ev.global_varset, name, value))
            server.boot_login(self)
        else:
            self.send_event(ev.build(ev.fully_booted, server.uptime_s))
        self._security(
            "SuccessfulAuth",
            "Informational",
            1,
            (
                ("AccountID", username),
                ("SessionID", self.session_id),
                ("LocalAddress", self.local),
                ("RemoteAddress", self.remote),
                ("UsingPassword", "0"),
                ("SessionTV", ev.event_tv(self.login_wall)),
            ),
        )

    def _login_failed(self, aid: str) -> None:
        self.send(response("Error", aid, ("Message", "Authentication failed")))
        self.close()

    def _auth_timeout(self) -> None:
        if not self.authenticated:
            self.close()

    def _events(self, action: Action) -> None:
        mask = parse_event_mask(action.get("EventMask"))
        if mask is not None:
            self.event_mask = mask
            if self.user is not None:
                self.mask = self.user.read_mask & mask
            self.server.update_listeners()
        state = "On" if self.event_mask else "Off"
        self.send(response("Success", action.get("ActionID"), ("Events", state)))
