"""Build the Originate action for one attempt; the only place a number enters a dial string."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from dialer.numbers import DialFormat, dial_digits

# The synchronous `Response: Error` messages of an Originate, as a real Asterisk 22.10.1 sent them
# (transcript 23; main/manager.c action_originate): each means Asterisk did not place the call.
# "Originate failed" also comes for an Async Originate whose dial thread could not start.
# Any other answer (another text, no Response line, an unreadable frame, none at all) is
# "maybe placed" (dialer.ami.answers): the attempt stays live until events or reconciliation settle it.
ORIGINATE_REFUSALS: frozenset[str] = frozenset({
    "Channel not specified",
    "Extension does not exist.",
    "Invalid priority",
    "Invalid timeout",
    "Originate failed",
})


def originate_refused(message: str) -> bool:
    """Whether an Originate's `Response: Error` message means the call was not placed."""
    return message in ORIGINATE_REFUSALS


_CALL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CALLER_ID = re.compile(r'(?:"[^"\r\n\\]{0,64}" )?<\+?[0-9]{3,15}>|\+?[0-9]{3,15}')
_SAFE_VALUE = re.compile(r"[^\r\n,]*")


@dataclass(frozen=True, slots=True)
class OriginateRequest:
    """One Originate: call id (also the ActionID and the channel's Uniqueid), where and what to dial."""

    call_id: str
    channel: str
    context: str
    exten: str
    priority: int
    timeout_ms: int
    caller_id: str
    variables: Mapping[str, str] = field(default_factory=dict)

    def fields(self) -> list[tuple[str, str]]:
        """The action's headers, Async always true (a synchronous Originate blocks the session)."""
        if not _CALL_ID.fullmatch(self.call_id):
            raise ValueError("call id must be 1-64 letters, digits, '-' or '_'")
        if not _CALLER_ID.fullmatch(self.caller_id):
            raise ValueError("caller id must be '\"Name\" <digits>' or digits")
        headers = [
            ("Action", "Originate"),
            ("Channel", self.channel),
            ("Context", self.context),
            ("Exten", self.exten),
            ("Priority", str(self.priority)),
            ("Timeout", str(self.timeout_ms)),
            ("CallerID", self.caller_id),
            ("Async", "true"),
            # Our own Uniqueids: every event of the call's channels is correlated from its first one,
            # whether or not manager.conf has `channelvars` (transcript 12).
            ("ChannelId", self.call_id),
            ("OtherChannelId", f"{self.call_id}-2"),
        ]
        for name, value in self.variables.items():
            if not _SAFE_VALUE.fullmatch(value):
                raise ValueError(f"channel variable {name} contains a comma or line break")
            headers.append(("Variable", f"{name}={value}"))
        return headers


def build_channel(template: str, e164: str, fmt: DialFormat, prefix: str = "") -> str:
    """Put the number into a trunk template such as `PJSIP/{number}@carrier`.

    `dial_digits` refuses anything but strict E.164 input and returns digits (with an optional
    leading +), so no `&`, `/`, `,`, `@`, whitespace or control byte can reach the dial string.
    """
    digits = dial_digits(e164, fmt, prefix)
    if not re.fullmatch(r"\+?[0-9]{1,20}", digits):
        raise ValueError("dial digits are not digits")
    return template.replace("{number}", digits)
