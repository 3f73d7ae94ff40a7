"""AMI framing: a pure parser from bytes to messages, and the encoder for actions.

Facts from Asterisk 22 (tests/fixtures/ami-transcripts): a one-line greeting
`Asterisk Call Manager/11.0.0\\r\\n` with no blank line after it; every message is `Key: Value\\r\\n`
lines ended by an empty `\\r\\n`; headers can repeat (ChanVariable, Variable). The parser never
raises on bad input: a malformed line is counted and skipped, an oversized frame is dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

GREETING_PREFIX = "Asterisk Call Manager/"
MAX_FRAME_BYTES = 1 << 20  # a frame larger than this is garbage, not AMI: drop it

_SEP = b"\r\n\r\n"
_CRLF_ONLY_CHARS = frozenset("\r\n")


class Message(dict[str, str]):
    """One AMI message: headers (first value of each key), plus repeated channel variables.

    `chanvars` holds `ChanVariable: NAME=value` lines and the OriginateResponse form
    `ChanVariable(<channel>): NAME=value`; `variables` holds `Variable: NAME=value` lines (Status).
    """

    __slots__ = ("chanvars", "variables")

    def __init__(self) -> None:
        super().__init__()
        self.chanvars: dict[str, str] = {}
        self.variables: dict[str, str] = {}

    @property
    def event(self) -> str | None:
        """The Event name, or None for a response."""
        return self.get("Event")

    @property
    def response(self) -> str | None:
        """Success / Error / Goodbye / Follows for a response, None for an event."""
        return self.get("Response")

    @property
    def action_id(self) -> str | None:
        """The ActionID, if the message carries one."""
        return self.get("ActionID")


class FrameParser:
    """Incremental parser: `feed(bytes)` returns the complete messages found so far.

    `wanted_events`, when given, is the set of Event names worth decoding; other events are
    skipped before any decoding (most of a read=all stream is dialplan noise the dialer ignores).
    """

    def __init__(self, wanted_events: Iterable[str] | None = None) -> None:
        self._buffer = b""
        self._greeted = False
        self.greeting: str | None = None
        self.malformed_lines = 0
        self.dropped_frames = 0
        self.skipped_events = 0
        self._wanted = None if wanted_events is None else frozenset(e.encode() for e in wanted_events)

    def feed(self, data: bytes) -> list[Message]:
        """Add received bytes; return every message they complete."""
        buffer = self._buffer + data if self._buffer else data
        if not self._greeted:
            end = buffer.find(b"\r\n")
            if end < 0:
                self._buffer = self._trim(buffer)
                return []
            self.greeting = buffer[:end].decode("utf-8", "replace")
            self._greeted = True
            buffer = buffer[end + 2:]
        frames = buffer.split(_SEP)
        self._buffer = self._trim(frames.pop())
        wanted = self._wanted
        messages: list[Message] = []
        for frame in frames:
            if not frame:
                continue
            if wanted is not None and frame.startswith(b"Event: "):
                end = frame.find(b"\r\n")
                if (frame[7:end] if end > 0 else frame[7:]) not in wanted:
                    self.skipped_events += 1
                    continue
            if len(frame) > MAX_FRAME_BYTES:
                self.dropped_frames += 1
                continue
            message = self._parse(frame)
            if message:
                messages.append(message)
        return messages

    def _trim(self, rest: bytes) -> bytes:
        if len(rest) > MAX_FRAME_BYTES:
            # A peer that never ends its frame must not grow our memory without bound.
            self.dropped_frames += 1
            return b""
        return rest

    def _parse(self, frame: bytes) -> Message:
        message = Message()
        for line in frame.decode("utf-8", "replace").split("\r\n"):
            key, sep, value = line.partition(": ")
            if not sep:
                if line.endswith(":") and " " not in line:
                    key, value = line[:-1], ""  # "Key:" with an empty value
                else:
                    if line and not _CRLF_ONLY_CHARS.issuperset(line):
                        self.malformed_lines += 1
                    continue
            if key.startswith("ChanVariable"):
                name, eq, var_value = value.partition("=")
                if eq:
                    message.chanvars[name] = var_value
                continue
            if key == "Variable" and "=" in value and "Event" in message:
                name, _, var_value = value.partition("=")
                message.variables[name] = var_value
                continue
            if key not in message:
                message[key] = value
        return message


def encode_action(fields: Sequence[tuple[str, str]]) -> bytes:
    """Encode an action; refuses a header or value that could break the frame (CR, LF)."""
    parts = []
    for key, value in fields:
        if "\r" in key or "\n" in key or ":" in key or "\r" in value or "\n" in value:
            raise ValueError(f"AMI header {key!r} contains a line break or colon")
        parts.append(f"{key}: {value}\r\n")
    parts.append("\r\n")
    return "".join(parts).encode("utf-8")
