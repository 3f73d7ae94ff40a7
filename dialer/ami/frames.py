"""AMI framing: a pure parser from bytes to messages, and the encoder for actions.

Facts from Asterisk 22 (tests/fixtures/ami-transcripts): a one-line greeting
`Asterisk Call Manager/11.0.0\\r\\n` with no blank line after it; every message is `Key: Value\\r\\n`
lines ended by an empty `\\r\\n`; headers can repeat (ChanVariable, Variable); every message starts
with `Response:` or `Event:`, and none repeats Response, Event or ActionID (checked over all 1,883
messages of the 23 recordings). The parser never raises on bad input, and it never glues bytes of
one frame onto another:

- a frame that does not start with `Response: ` or `Event: ` (bytes glued in front, a truncated
  head, a missing Response line) is dropped whole;
- a frame with a second `Event`, `Response` or `ActionID` line, an `Event` line after its first
  line, a `Response` line in an event other than OriginateResponse (the only event that has one
  in the recordings), or an ActionID after an event's Response line, is two frames run together
  (the first lost its blank line): it is dropped whole, not read as one message holding parts of
  both;
- a frame larger than MAX_FRAME_BYTES is dropped whole: whatever of it is still to come is skipped
  up to the next frame boundary (`\\r\\n\\r\\n`), so its tail never becomes (part of) a message;
- a malformed line inside a well-formed frame is counted and skipped (a dialplan `UserEvent` can
  carry one; dropping the event would lose an opt-out it reports).

Why it matters: a response to an Originate read wrongly can dial a number twice (issue 11).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

GREETING_PREFIX = "Asterisk Call Manager/"
MAX_FRAME_BYTES = 1 << 20  # a frame larger than this is garbage, not AMI: drop it

_SEP = b"\r\n\r\n"
_CRLF_ONLY_CHARS = frozenset("\r\n")
_FRAME_STARTS = (b"Response: ", b"Event: ")
# Headers a message holds at most once: a second one means two frames ran together.
_ONCE = frozenset({"Response", "Event", "ActionID"})
# The one event that carries a Response line of its own (every recorded one; transcripts 03-23).
_EVENT_WITH_RESPONSE = "OriginateResponse"


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
    `dropped_frames` counts frames dropped whole (oversized, not AMI, or two frames run together).
    """

    def __init__(self, wanted_events: Iterable[str] | None = None, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self._buffer = b""
        self._max = max_frame_bytes
        self._greeted = False
        # True after an unterminated oversized frame was dropped: skip up to the next boundary.
        self._skipping = False
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
                self._buffer = buffer if len(buffer) <= self._max else b""  # no greeting: the client gives up
                return []
            self.greeting = buffer[:end].decode("utf-8", "replace")
            self._greeted = True
            buffer = buffer[end + 2:]
        if self._skipping:
            end = buffer.find(_SEP)
            if end < 0:
                # Keep the last 3 bytes: the boundary may be split across two reads.
                self._buffer = buffer[-3:]
                return []
            buffer = buffer[end + 4:]
            self._skipping = False
        frames = buffer.split(_SEP)
        self._buffer = self._trim(frames.pop())
        wanted = self._wanted
        messages: list[Message] = []
        for frame in frames:
            if frame.startswith(b"\r\n"):
                frame = frame.lstrip(b"\r\n")  # stray blank lines between frames are not content
            if not frame:
                continue
            if wanted is not None and frame.startswith(b"Event: "):
                end = frame.find(b"\r\n")
                if (frame[7:end] if end > 0 else frame[7:]) not in wanted:
                    self.skipped_events += 1
                    continue
            if len(frame) > self._max or not frame.startswith(_FRAME_STARTS):
                self.dropped_frames += 1
                continue
            message = self._parse(frame)
            if message is None:
                self.dropped_frames += 1
            else:
                messages.append(message)
        return messages

    def _trim(self, rest: bytes) -> bytes:
        if len(rest) > self._max:
            # A peer that never ends its frame must not grow our memory without bound; the rest of
            # this frame, when it comes, is skipped up to its boundary (never read as a new frame).
            self.dropped_frames += 1
            self._skipping = True
            return rest[-3:]
        return rest

    def _parse(self, frame: bytes) -> Message | None:
        """The message of one frame, or None when the frame is two frames run together."""
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
            elif key in _ONCE:
                return None  # a second Response, Event or ActionID line: two frames glued
        return None if _glued(message) else message


def _glued(message: Message) -> bool:
    """Whether a message's head lines show two frames run together. Checked once per frame, on the
    header order the dict kept (cheaper than a test on every line; bench/ami_parsers.py)."""
    if "Response" not in message or "Event" not in message:
        return False
    if next(iter(message)) == "Response":
        return True  # an Event line after a response's first line
    if message["Event"] != _EVENT_WITH_RESPONSE:
        return True  # a Response line in an event that has none of its own
    # manager.c writes an OriginateResponse's ActionID before its Response line: one after it is
    # the head of a response glued on.
    keys = list(message)
    return "ActionID" in message and keys.index("ActionID") > keys.index("Response")


def encode_action(fields: Sequence[tuple[str, str]]) -> bytes:
    """Encode an action; refuses a header or value that could break the frame (CR, LF)."""
    parts = []
    for key, value in fields:
        if "\r" in key or "\n" in key or ":" in key or "\r" in value or "\n" in value:
            raise ValueError(f"AMI header {key!r} contains a line break or colon")
        parts.append(f"{key}: {value}\r\n")
    parts.append("\r\n")
    return "".join(parts).encode("utf-8")
