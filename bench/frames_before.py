"""The AMI frame parser as it was before issue 11 (commit 8a31fee), kept only as the baseline of
bench/ami_parsers.py: it glued the tail of an oversized frame onto the next one and read a frame
with bytes in front of its head as a message. Do not use it anywhere else."""

from __future__ import annotations

from collections.abc import Iterable

from dialer.ami.frames import Message

MAX_FRAME_BYTES = 1 << 20
_SEP = b"\r\n\r\n"
_CRLF_ONLY_CHARS = frozenset("\r\n")


class FrameParserBefore:
    """The pre-issue-11 incremental parser: `feed(bytes)` returns the complete messages found so far.

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
