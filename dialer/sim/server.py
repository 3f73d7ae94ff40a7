"""SimServer: the AMI listener, its sessions, event fan-out and the fault switches."""

from __future__ import annotations

import asyncio
import errno
from collections import deque
from types import TracebackType

from dialer.sim import events as ev
from dialer.sim.cdr import CdrLog
from dialer.sim.config import Faults, SimConfig
from dialer.sim.events import Ev
from dialer.sim.messaging import MessageRecord, inject_inbound
from dialer.sim.oplog import CallEndRecord, OpLog, OriginationRecord
from dialer.sim.pbx import Pbx
from dialer.sim.session import BOOT_FULLY_BOOTED_S, AmiSession

SHUTDOWN_EVENT_S = 1.1  # channels hung up -> Event: Shutdown (file 20), simulated seconds
SHUTDOWN_CLOSE_S = 0.017  # Event: Shutdown -> sockets closed
BOOT_WINDOW_S = 1.0  # after a restart, logins in this window see the boot-time FullyBooted

MALFORMED: dict[str, bytes] = {
    "no_colon": (
        b"Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: SimNoColon\r\nthis line has no colon\r\n\r\n"
    ),
    "binary": (
        b"Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: SimBinary\r\n"
        b"Data: \xff\xfe\x00\x80\xc3\x28garbage\r\n\r\n\xde\xad\xbe\xef\x00\xff\r\n\r\n"
    ),
    "long_line": (
        b"Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: SimLongLine\r\nData: "
        + b"x" * 200_000
        + b"\r\n\r\n"
    ),
    "bare_lf": b"Event: UserEvent\nPrivilege: user,all\nUserEvent: SimBareLF\n\n",
    "empty": b"\r\n\r\n\r\n",
    "truncated": (
        b"Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: SimTrunc"
        b"Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: SimAfterTruncated\r\n\r\n"
    ),
}


class SimServer:
    """An Asterisk-like AMI server over TCP; use as `async with SimServer(config) as sim:`."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.faults = Faults()
        self.port = self.config.port
        # newest last; bounded so a simulator running for days does not grow without end
        self.originations: deque[OriginationRecord] = deque(maxlen=self.config.record_limit)
        self.call_ends: deque[CallEndRecord] = deque(maxlen=self.config.record_limit)
        self.messages: deque[MessageRecord] = deque(maxlen=self.config.record_limit)
        self.sessions: set[AmiSession] = set()
        self.booting = False
        self._listeners: list[AmiSession] = []
        self._dirty: set[AmiSession] = set()
        self._flush_handle: asyncio.Handle | None = None
        self._server: asyncio.AbstractServer | None = None
        self._pbx: Pbx | None = None
        self._oplog: OpLog | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started_at = 0.0
        self._boot_handle: asyncio.TimerHandle | None = None
        self._frozen = False

    # -- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> SimServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Bind and listen; `port` holds the bound port afterwards."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        cfg = self.config
        if cfg.effective_time_scale < 0:
            raise ValueError(f"time_scale must be >= 0, got {cfg.effective_time_scale}")
        self._oplog = OpLog(cfg.log_path)
        self._pbx = Pbx(
            loop=loop,
            profile=cfg.profile,
            time_scale=cfg.effective_time_scale,
            seed=cfg.effective_seed,
            chanvars=tuple(cfg.channelvars),
            spool_dir=cfg.spool_dir,
            deliver=self.broadcast,
            on_call_end=self._call_ended,
            cdr_log=CdrLog(cfg.cdr_path) if cfg.cdr_path is not None else None,
        )
        self._started_at = loop.time()
        await self._listen()

    async def _listen(self) -> None:
        assert self._loop is not None
        self._server = await self._loop.create_server(
            lambda: AmiSession(self), self.config.host, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Tear everything down at once (no events); no task or timer is left behind."""
        if self._boot_handle is not None:
            self._boot_handle.cancel()
            self._boot_handle = None
        if self._pbx is not None:
            self._pbx.abort()
        for session in list(self.sessions):
            session.abort()
        await self._close_listener()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._pbx is not None:
            await self._pbx.drain_writes()
        await asyncio.sleep(0)  # let connection_lost callbacks of aborted sessions run
        if self._oplog is not None:
            self._oplog.close()

    async def _close_listener(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    async def _core_stop(self) -> None:
        """`core stop now`: hang up, Shutdown event ~1.1 s later, close sockets without Goodbye."""
        pbx = self.pbx
        pbx.accepting = False
        pbx.shutdown_calls()
        await asyncio.sleep(SHUTDOWN_EVENT_S * pbx.scale)
        self.broadcast([ev.build(ev.shutdown)])
        self._flush()
        server, self._server = self._server, None
        if server is not None:
            server.close()  # refuse connections from now on
        await asyncio.sleep(SHUTDOWN_CLOSE_S * pbx.scale)
        for session in list(self.sessions):
            session.close()
        if server is not None:
            await server.wait_closed()
        await asyncio.sleep(0)

    async def restart(self, down_s: float = 0.3) -> None:
        """`core stop now`, refuse connections for `down_s`, listen again and boot."""
        await self._core_stop()
        await asyncio.sleep(down_s)
        assert self._loop is not None
        self.pbx.reset()
        self._started_at = self._loop.time()
        self.booting = True
        # While the port was free, the kernel may have handed it to some client as an ephemeral port
        # (a busy test machine): try again for a while, as a restarting Asterisk effectively does.
        for attempt in range(100):
            try:
                await self._listen()
                break
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or attempt == 99:
                    raise
                await asyncio.sleep(0.1)
        self._boot_handle = self._loop.call_later(BOOT_WINDOW_S, self._boot_complete)

    async def shutdown(self) -> None:
        """`core stop now` without coming back."""
        await self._core_stop()

    def boot_login(self, session: AmiSession) -> None:
        """A login while booting: FullyBooted (boot header order) follows ~28 ms later."""
        assert self._loop is not None
        if self._boot_handle is not None:
            self._boot_handle.cancel()
        self._boot_handle = self._loop.call_later(BOOT_FULLY_BOOTED_S, self._boot_complete)

    def _boot_complete(self) -> None:
        self._boot_handle = None
        if not self.booting:
            return
        self.booting = False
        self.broadcast([ev.build(ev.fully_booted, 0, True)])

    # -- observation ----------------------------------------------------------------------------

    @property
    def pbx(self) -> Pbx:
        """The PBX core (after start)."""
        if self._pbx is None:
            raise RuntimeError("SimServer is not started")
        return self._pbx

    @property
    def uptime_s(self) -> int:
        """Seconds since (re)start, as FullyBooted reports it."""
        assert self._loop is not None
        return int(self._loop.time() - self._started_at)

    @property
    def live_channel_count(self) -> int:
        """Channels alive now."""
        return len(self.pbx.channels)

    @property
    def live_call_count(self) -> int:
        """Calls not finished yet."""
        return len(self.pbx.calls)

    @property
    def max_live_calls(self) -> int:
        """The most calls alive at one time."""
        return self.pbx.max_live_calls

    def record_origination(self, record: OriginationRecord) -> None:
        """Keep and log one Originate."""
        self.originations.append(record)
        if self._oplog is not None:
            self._oplog.write(record)

    def record_message(self, record: MessageRecord) -> None:
        """Keep and log one MessageSend / DongleSendSMS."""
        self.messages.append(record)
        if self._oplog is not None:
            self._oplog.write(record)

    def inject_inbound_message(self, sender: str, body: str, to: str = "dialer") -> None:
        """A text message arrives: the UserEvent config/asterisk's [dialer-messages] context sends."""
        inject_inbound(self, sender, body, to)

    def _call_ended(self, record: CallEndRecord) -> None:
        self.call_ends.append(record)
        if self._oplog is not None:
            self._oplog.write(record)

    # -- sessions and fan-out -------------------------------------------------------------------

    def session_opened(self, session: AmiSession) -> None:
        """A client connected."""
        self.sessions.add(session)

    def session_closed(self, session: AmiSession) -> None:
        """A client is gone."""
        self.sessions.discard(session)
        self._dirty.discard(session)
        self.update_listeners()

    def update_listeners(self) -> None:
        """Recompute who receives events and which classes anyone receives."""
        self._listeners = [
            s for s in self.sessions if s.authenticated and s.mask and not s.frozen and not s.closed
        ]
        mask = 0
        for session in self._listeners:
            mask |= session.mask
        if self._pbx is not None:
            self._pbx.listen_mask = mask

    def broadcast(self, items: list[Ev]) -> None:
        """Append events to every session whose read classes and event mask cover them."""
        for session in self._listeners:
            mask = session.mask
            out = session.out
            before = len(out)
            for bit, text in items:
                if bit & mask:
                    out.append(text)
            if len(out) != before:
                self.mark_dirty(session)

    def mark_dirty(self, session: AmiSession) -> None:
        """Schedule one write for this session at the end of the loop turn."""
        self._dirty.add(session)
        if self._flush_handle is None:
            assert self._loop is not None
            self._flush_handle = self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        dirty, self._dirty = self._dirty, set()
        for session in dirty:
            session.flush()

    # -- faults ---------------------------------------------------------------------------------

    def drop_clients(self) -> None:
        """Close every client socket abruptly; calls go on (file 22)."""
        for session in list(self.sessions):
            session.abort()

    def inject_malformed(self, kind: str) -> bytes:
        """Write a malformed frame to every client; returns the bytes written."""
        try:
            data = MALFORMED[kind]
        except KeyError:
            raise ValueError(f"unknown malformed kind {kind!r}; one of {sorted(MALFORMED)}") from None
        for session in list(self.sessions):
            session.write_raw(data)
        return data

    def freeze(self) -> None:
        """Half-open sockets: existing clients get nothing and are not read; calls go on."""
        self._frozen = True
        for session in self.sessions:
            session.freeze()
        self.update_listeners()

    def unfreeze(self) -> None:
        """End `freeze`: reading resumes (queued actions run), events flow again."""
        self._frozen = False
        for session in self.sessions:
            session.unfreeze()
        self.update_listeners()
