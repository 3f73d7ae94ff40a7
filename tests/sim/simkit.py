"""Test kit for the simulator: a raw AMI client of its own, transcript and catalogue readers.

The client here deliberately shares nothing with dialer.ami or dialer.sim.protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
from collections.abc import Callable
from pathlib import Path

from dialer.sim import SimServer

TRANSCRIPTS = Path(__file__).resolve().parents[1] / "fixtures" / "ami-transcripts"
_ids = itertools.count(1)


class Msg:
    """One AMI message as (key, value) pairs in wire order."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def get(self, key: str, default: str | None = None) -> str | None:
        for k, v in self.pairs:
            if k == key:
                return v
        return default

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def all(self, key: str) -> list[str]:
        return [v for k, v in self.pairs if k == key]

    @property
    def keys(self) -> list[str]:
        return [k for k, _ in self.pairs]

    @property
    def event(self) -> str | None:
        return self.get("Event")

    @property
    def channel(self) -> str:
        return self.get("Channel") or self.get("DestChannel") or ""

    def __repr__(self) -> str:
        return f"Msg({self.event or self.get('Response')}, {self.channel})"


def parse_stream(data: bytes) -> list[Msg]:
    """Split raw server bytes (greeting first) into messages."""
    text = data.decode("utf-8", "replace")
    if text.startswith("Asterisk Call Manager/"):
        text = text.split("\r\n", 1)[1]
    out = []
    for block in text.split("\r\n\r\n"):
        lines = [line for line in block.split("\r\n") if line]
        if lines:
            out.append(Msg([_split(line) for line in lines]))
    return out


def _split(line: str) -> tuple[str, str]:
    key, _, value = line.partition(":")
    return key, value[1:] if value.startswith(" ") else value


class RawAmi:
    """A small test client: bytes in, messages out."""

    def __init__(self) -> None:
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.greeting = b""
        self.seen: list[Msg] = []
        self.eof = False

    async def connect(self, port: int, host: str = "127.0.0.1") -> RawAmi:
        self.reader, self.writer = await asyncio.open_connection(host, port, limit=4 * 1024 * 1024)
        self.greeting = await asyncio.wait_for(self.reader.readline(), 5)
        return self

    def send(self, action: str, *pairs: tuple[str, str], **headers: str) -> None:
        lines = (
            [f"Action: {action}"]
            + [f"{k}: {v}" for k, v in pairs]
            + [f"{k}: {v}" for k, v in headers.items()]
        )
        self.send_raw(("\r\n".join(lines) + "\r\n\r\n").encode())

    def send_raw(self, data: bytes) -> None:
        assert self.writer is not None
        self.writer.write(data)

    async def read_msg(self, limit_s: float = 5.0) -> Msg | None:
        """The next message, or None at EOF."""
        assert self.reader is not None
        pairs: list[tuple[str, str]] = []
        while True:
            line = await asyncio.wait_for(self.reader.readline(), limit_s)
            if not line:
                self.eof = True
                return None
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if not text:
                if pairs:
                    msg = Msg(pairs)
                    self.seen.append(msg)
                    return msg
                continue
            pairs.append(_split(text))

    async def until(self, pred: Callable[[Msg], bool], limit_s: float = 10.0) -> list[Msg]:
        """Read until a message matches; returns everything read, the match last."""
        got: list[Msg] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        while True:
            msg = await self.read_msg(max(0.01, deadline - loop.time()))
            if msg is None:
                raise EOFError(f"connection closed; read {got}")
            got.append(msg)
            if pred(msg):
                return got

    async def response(self, action_id: str, limit_s: float = 10.0) -> Msg:
        msgs = await self.until(
            lambda m: m.get("Response") is not None and m.get("ActionID") == action_id, limit_s
        )
        return msgs[-1]

    async def action(self, action: str, *pairs: tuple[str, str], **headers: str) -> Msg:
        """Send with a fresh ActionID and return its response."""
        aid = f"t-{next(_ids)}"
        self.send(action, ("ActionID", aid), *pairs, **headers)
        return await self.response(aid)

    async def drain(self) -> list[Msg]:
        """Everything the server queued before now: a Ping's Pong comes after it."""
        aid = f"drain-{next(_ids)}"
        self.send("Ping", ActionID=aid)
        msgs = await self.until(lambda m: m.get("ActionID") == aid and m.get("Response") is not None)
        return msgs[:-1]

    async def login(self, username: str = "dialer", secret: str = "dialer-secret", **extra: str) -> Msg:
        resp = await self.action("Login", Username=username, Secret=secret, **extra)
        assert resp["Response"] == "Success", resp.pairs
        return resp

    async def wait_eof(self, limit_s: float = 5.0) -> bytes:
        """Read until the server closes; returns the remaining bytes."""
        assert self.reader is not None
        data = await asyncio.wait_for(self.reader.read(), limit_s)
        self.eof = True
        return data

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.wait_closed()


def originate_headers(channel: str, action_id: str, *variables: str, **extra: str) -> list[tuple[str, str]]:
    """The Originate of transcript 03, with our channel and variables."""
    pairs = [
        ("ActionID", action_id),
        ("Channel", channel),
        ("Context", "dialer"),
        ("Exten", "s"),
        ("Priority", "1"),
        ("Timeout", extra.pop("Timeout", "30000")),
        ("CallerID", '"Dialer Test" <5551230000>'),
    ]
    if extra.pop("Async", "true") == "true":
        pairs.append(("Async", "true"))
    pairs += [("Variable", v) for v in variables]
    pairs += list(extra.items())
    return pairs


def send_originate(ami: RawAmi, channel: str, action_id: str, *variables: str, **extra: str) -> None:
    headers = originate_headers(channel, action_id, *variables, **extra)
    ami.send_raw(("Action: Originate\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode())


async def wait_idle(sim: SimServer, limit_s: float = 10.0) -> None:
    """Until no call is alive (polling the simulator, not the wire)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while sim.live_call_count:
        if loop.time() > deadline:
            raise TimeoutError(f"{sim.live_call_count} calls still alive")
        await asyncio.sleep(0.005)


async def run_call(sim: SimServer, ami: RawAmi, channel: str, *variables: str, **extra: str) -> list[Msg]:
    """Originate, wait until the call is over, return every message that came after the Originate."""
    aid = f"orig-{next(_ids)}"
    start = len(ami.seen)
    send_originate(ami, channel, aid, *variables, **extra)
    await ami.response(aid)
    await wait_idle(sim)
    await ami.drain()
    return ami.seen[start:-1]


# -- transcripts and the catalogue ---------------------------------------------------------------


def _unescape(s: str) -> str:
    return re.sub(
        r"\\(r|n|\\|x[0-9a-f]{2})",
        lambda m: {"r": "\r", "n": "\n", "\\": "\\"}.get(m.group(1)) or chr(int(m.group(1)[1:], 16)),
        s,
    )


def load_transcript(name: str) -> dict[str, list[Msg]]:
    """Server-to-client messages of each connection of a transcript file (prefix like "03")."""
    path = next(TRANSCRIPTS.glob(f"{name}-*.txt"))
    streams: dict[str, str] = {}
    for line in path.read_text().splitlines():
        m = re.match(r"\s*[\d.]+ (c\d+) S> (.*)$", line)
        if m:
            streams[m.group(1)] = streams.get(m.group(1), "") + _unescape(m.group(2))
    return {conn: parse_stream(text.encode("latin-1")) for conn, text in streams.items()}


def collapse(keys: list[str]) -> tuple[str, ...]:
    """Header names as the catalogue writes them: repeated lines collapsed, ChanVariable(<channel>)."""
    out: list[str] = []
    for key in keys:
        if key.startswith("ChanVariable("):
            key = "ChanVariable(<channel>)"
        if out and out[-1] == key:
            continue
        out.append(key)
    return tuple(out)


def load_catalogue() -> dict[str, set[tuple[str, ...]]]:
    """Event name -> the header-name variants seen from the real Asterisk."""
    text = (TRANSCRIPTS / "EVENT-CATALOGUE.md").read_text()
    shapes: dict[str, set[tuple[str, ...]]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("### "):
            current = line[4:].strip()
            shapes[current] = set()
        elif current and line.startswith("- headers"):
            m = re.search(r"`([^`]*)`", line)
            if m:
                shapes[current].add(tuple(m.group(1).split()))
        elif line.startswith("## Responses"):
            current = None
    return shapes


CATALOGUE = load_catalogue()


def assert_catalogue_shape(msg: Msg) -> None:
    """The event's header names (collapsed) are one of the variants recorded from Asterisk."""
    name = msg.event
    assert name is not None
    assert name in CATALOGUE, f"event {name} never seen from the real Asterisk"
    shape = collapse(msg.keys)
    assert shape in CATALOGUE[name], f"{name} headers {shape} not in {CATALOGUE[name]}"


def legs(
    msgs: list[Msg], skip: frozenset[str] = frozenset({"Cdr", "OriginateResponse"})
) -> dict[str, list[str]]:
    """Event names per Local leg (";1"/";2") in order, leaving out the free-floating events."""
    out: dict[str, list[str]] = {";1": [], ";2": []}
    for m in msgs:
        if m.event is None or m.event in skip:
            continue
        ch = m.channel
        if ch.startswith("Local/") and ch[-2:] in out:
            out[ch[-2:]].append(m.event)
    return out


def event_detail(m: Msg) -> str:
    """Event name plus what tells dialplan steps apart."""
    extra = m.get("Application") or m.get("Variable") or m.get("DialStatus") or m.get("UserEvent") or ""
    return f"{m.event}:{extra}" if extra else str(m.event)


def detailed_legs(msgs: list[Msg]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {";1": [], ";2": []}
    for m in msgs:
        if m.event is None or m.event in ("Cdr", "OriginateResponse"):
            continue
        ch = m.channel
        if ch.startswith("Local/") and ch[-2:] in out:
            out[ch[-2:]].append(event_detail(m))
    return out
