"""Text for a terminal: user data never becomes markup or terminal control.

`clean` drops ANSI escape sequences and shows every other control character (C0 except newline
and tab, DEL, C1, and the bidirectional overrides that can reorder what a terminal shows) as a
visible escape such as `\\x07`. `safe_text`/`append` build rich Text from cleaned strings (rich
never parses a Text as markup). The command line's consoles (`dialer.cli.output`) clean every
string they render; renderers that build Text objects use these.
"""

from __future__ import annotations

import re
from typing import Any

from rich.text import Text

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), other two-byte ESC sequences, and the 8-bit CSI.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]")
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f" + _BIDI + "]")
_CONTROL_OR_BREAK = re.compile("[\x00-\x1f\x7f-\x9f" + _BIDI + "]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: str, *, newlines: bool = True) -> str:
    """`text` safe for a terminal: ANSI sequences dropped, other control characters escaped.

    With `newlines=False`, line breaks and tabs are escaped too (for one-line messages).
    """
    if text.isprintable() and "\x1b" not in text:
        return text  # the common case: nothing to do (isprintable is False for every control char)
    text = _ANSI.sub("", text)
    return (_CONTROL if newlines else _CONTROL_OR_BREAK).sub(_escape, text)


def safe_text(text: str = "", style: str = "", **kwargs: Any) -> Text:
    """A rich Text of cleaned `text` (never parsed as markup)."""
    return Text(clean(text), style=style, **kwargs)


def append(target: Text, text: str, style: str = "") -> Text:
    """Append cleaned `text` to a Text; returns it."""
    target.append(clean(text), style=style)
    return target
