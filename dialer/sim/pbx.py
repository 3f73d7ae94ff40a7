"""The simulated PBX core: channels, calls, ids and recordings; no sockets here."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dialer.sim.callees import CalleePlan, Outcome, Profile
from dialer.sim.callflow import Call, OriginateRequest
from dialer.sim.cdr import CdrLog
from dialer.sim.channels import Channel, Counters, parse_dial
from dialer.sim.events import Ev
from dialer.sim.oplog import CallEndRecord
from dialer.sim.recordings import frames_for, write_wav

RECORDING_CLOSE_S = 0.001  # MixMonitor closes the file ~1 ms after the Hangup events (README)
INLINE_WRITE_BYTES = 1 << 20  # up to ~65 s of audio is written on the loop


class Pbx:
    """All live calls and channels of one simulator run, driven by loop timers."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        profile: Profile,
        time_scale: float,
        seed: int,
        chanvars: tuple[str, ...],
        spool_dir: Path,
        deliver: Callable[[list[Ev]], None],
        on_call_end: Callable[[CallEndRecord], None],
        cdr_log: CdrLog | None = None,
    ) -> None:
        self.loop = loop
        self.profile = profile
        self.scale = time_scale
        self.chanvars = chanvars
        self.spool_dir = spool_dir
        self.recdir = str(spool_dir)
        self.callee_rng = random.Random(seed)
        self.order_rng = random.Random(seed ^ 0x5EED5)  # event order: separate, so outcomes stay put
        self._deliver = deliver
        self.cdr_log = cdr_log  # cdr_custom's CSV file (config/asterisk/cdr_custom.conf), if asked for
        self._on_call_end = on_call_end
        self.counters = Counters()
        self.channels: dict[str, Channel] = {}
        self.by_uid: dict[str, Channel] = {}
        self.calls: dict[Call, None] = {}  # an ordered set: shutdown hangs up in Originate order
        self.listen_mask = 0  # union of the event classes some session receives (set by the server)
        self.accepting = True
        self.max_live_calls = 0
        # Every DialerSurveyAnswer the survey script reported: (call id, question, keys, status), for tests.
        self.survey_answers: list[tuple[str, str, str, str]] = []
        self._writes: set[asyncio.Future[None]] = set()
        self._pending_writes: list[tuple[Path, int, str]] = []
        self._write_handle: asyncio.TimerHandle | None = None

    @property
    def globals(self) -> dict[str, str]:
        """Dialplan globals of the [globals] section."""
        return {"SOUNDS": "/var/lib/asterisk/sounds/dialer", "RECDIR": self.recdir}

    def later(self, sim_s: float, fn: Callable[..., Any], *args: Any) -> asyncio.TimerHandle:
        """A timer after `sim_s` simulated seconds."""
        return self.loop.call_later(sim_s * self.scale, fn, *args)

    def deliver(self, items: list[Ev]) -> None:
        """Hand events to the sessions."""
        if items:
            self._deliver(items)

    def originate(self, req: OriginateRequest, on_result: Callable[[bool], None] | None) -> Call:
        """Start a call for an accepted Originate."""
        target = parse_dial(req.channel)
        if target.known:
            plan = self.profile.decide(target.digits, self.callee_rng)
        else:
            plan = CalleePlan(Outcome.CHANNEL_FAILURE, 0.0, 0.0)  # unknown technology (file 08)
        call = Call(self, req, target, plan, on_result)
        self.calls[call] = None
        self.max_live_calls = max(self.max_live_calls, len(self.calls))
        call.start()
        return call

    def add_channel(self, ch: Channel, call: Call) -> None:
        """Register a new channel."""
        ch.call = call
        self.channels[ch.name] = ch
        self.by_uid[ch.uniqueid] = ch

    def remove_channel(self, ch: Channel) -> None:
        """Forget a hung-up channel."""
        self.channels.pop(ch.name, None)
        if self.by_uid.get(ch.uniqueid) is ch:
            del self.by_uid[ch.uniqueid]

    def find_channel(self, name: str) -> Channel | None:
        """By channel name, else by Uniqueid (as ast_channel_get_by_name does)."""
        return self.channels.get(name) or self.by_uid.get(name)

    def call_ended(self, call: Call, record: CallEndRecord) -> None:
        """Bookkeeping when a call is over."""
        self.calls.pop(call, None)
        self._on_call_end(record)

    def shutdown_calls(self) -> None:
        """Hang up everything as `core stop now` does."""
        for call in list(self.calls):
            call.shutdown()

    def abort(self) -> None:
        """Drop every call without events (their recordings are still written by drain_writes)."""
        for call in list(self.calls):
            call.abort()
        self.calls.clear()

    def reset(self) -> None:
        """After a restart: Uniqueid and channel numbering start again at 0."""
        self.counters = Counters()
        self.accepting = True

    def open_recording(self, path: Path, mode: str) -> None:
        """MixMonitor creates its file when it starts: a WAV header with sizes 0 and no audio yet, as a
        reader sees it until the file is closed (unless the recording is to be omitted)."""
        write_wav(path, 0, "omit" if mode == "omit" else "ok")

    def write_recording(self, path: Path, duration_s: float, mode: str) -> None:
        """Close the MixMonitor file shortly after the Hangup events, batched with its neighbours."""
        self._pending_writes.append((path, frames_for(duration_s), mode))
        if self._write_handle is None:
            self._write_handle = self.loop.call_later(RECORDING_CLOSE_S, self._flush_writes)

    def _flush_writes(self) -> None:
        # A short file costs ~25 us to write here; handing it to a thread costs ten times that
        # in wake-ups, so only long recordings go to the executor.
        self._write_handle = None
        batch, self._pending_writes = self._pending_writes, []
        large = []
        for path, frames, mode in batch:
            if frames * 2 <= INLINE_WRITE_BYTES:
                write_wav(path, frames, mode)
            else:
                large.append((path, frames, mode))
        if large:
            future = self.loop.run_in_executor(None, _write_all, large)
            self._writes.add(future)
            future.add_done_callback(self._writes.discard)

    async def drain_writes(self) -> None:
        """Write what is pending now and wait for the executor writes in flight."""
        if self._write_handle is not None:
            self._write_handle.cancel()
        self._flush_writes()
        if self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)


def _write_all(batch: list[tuple[Path, int, str]]) -> None:
    for path, frames, mode in batch:
        write_wav(path, frames, mode)
