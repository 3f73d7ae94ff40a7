"""AMI framing on the server side: split incoming bytes into actions, format responses.

Written for the simulator alone (it shares nothing with the dialer's client), following what
Asterisk's manager.c does: lines end in LF (a CR before it is dropped), a blank line ends a
message, header names match case-insensitively, blanks after the colon are skipped, lines without a
colon never match a header, at most 128 headers count, over-long lines are dumped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_HEADERS = 128  # AST_MAX_MANHEADERS
MAX_LINE = 65536  # Asterisk dumps longer lines; we allow long Variable lists


@dataclass
class Action:
    """One received manager action: its header lines in wire order."""

    headers: list[tuple[str, str]] = field(default_factory=list)
    raw_lines: int = 0
    _index: dict[str, str] | None = field(default=None, repr=False)

    def get(self, name: str, default: str = "") -> str:
        """First value of a header (case-insensitive), or `default`."""
        if self._index is None:
            index: dict[str, str] = {}
            for key, value in self.headers:
                index.setdefault(key.lower(), value)
            self._index = index
        return self._index.get(name.lower(), default)

    def has(self, name: str) -> bool:
        """Whether the header is present at all."""
        self.get(name)
        assert self._index is not None
        return name.lower() in self._index

    def get_all(self, name: str) -> list[str]:
        """Every value of a repeated header, in order."""
        lowered = name.lower()
        return [value for key, value in self.headers if key.lower() == lowered]

    @property
    def name(self) -> str:
        """The Action header."""
        return self.get("Action")


class ActionReader:
    """Incremental parser: feed bytes, get complete actions back."""

    def __init__(self, max_line: int = MAX_LINE, max_headers: int = MAX_HEADERS) -> None:
        self._buf = bytearray()
        self._current = Action()
        self._max_line = max_line
        self._max_headers = max_headers
        self._dumping = False  # inside an over-long line: drop bytes until its LF

    def feed(self, data: bytes) -> list[Action]:
        """Consume bytes; return every action completed by them."""
        buf = self._buf
        buf += data
        done: list[Action] = []
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            line = bytes(buf[start:nl])
            start = nl + 1
            if self._dumping:
                self._dumping = False
                continue
            if len(line) > self._max_line:
                continue
            self._line(line, done)
        del buf[:start]
        if len(buf) > self._max_line:
            buf.clear()
            self._dumping = True
        return done

    def _line(self, line: bytes, done: list[Action]) -> None:
        if line.endswith(b"\r"):
            line = line[:-1]
        current = self._current
        if not line:
            if current.raw_lines:
                done.append(current)
                self._current = Action()
            return
        current.raw_lines += 1
        text = line.decode("utf-8", "replace")
        key, sep, value = text.partition(":")
        if not sep or len(current.headers) >= self._max_headers:
            return
        current.headers.append((key, value.lstrip(" \t")))


def response(status: str, action_id: str, *lines: tuple[str, str]) -> str:
    """A Response message: `Response`, then ActionID (omitted when empty), then `lines`."""
    parts = [f"Response: {status}\r\n"]
    if action_id:
        parts.append(f"ActionID: {action_id}\r\n")
    parts.extend(f"{k}: {v}\r\n" for k, v in lines)
    parts.append("\r\n")
    return "".join(parts)


def message(*lines: tuple[str, str]) -> str:
    """Any message from (key, value) pairs, in order."""
    return "".join(f"{k}: {v}\r\n" for k, v in lines) + "\r\n"
