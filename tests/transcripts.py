"""Read the recorded Asterisk transcripts (tests/fixtures/ami-transcripts) as raw byte streams."""

from __future__ import annotations

import re
from pathlib import Path

DIR = Path(__file__).parent / "fixtures" / "ami-transcripts"
_LINE = re.compile(r"\s*([\d.]+) (c\d+) (S>|C>|--) (.*)$")
_ESC = re.compile(r"\\(r|n|\\|x[0-9a-f]{2})")


def _unescape(text: str) -> str:
    return _ESC.sub(lambda m: {"r": "\r", "n": "\n", "\\": "\\"}.get(m.group(1)) or chr(int(m.group(1)[1:], 16)),
                    text)


def stream(name: str, connection: str = "c1", direction: str = "S>") -> bytes:
    """The exact bytes one side sent on one connection of a transcript."""
    parts = []
    for line in (DIR / name).read_text(encoding="utf-8").splitlines():
        match = _LINE.match(line)
        if match and match.group(2) == connection and match.group(3) == direction:
            parts.append(_unescape(match.group(4)))
    return "".join(parts).encode("latin-1")


def names() -> list[str]:
    """Every transcript file name."""
    return sorted(p.name for p in DIR.glob("[0-9][0-9]-*.txt"))
