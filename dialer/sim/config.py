"""Settings of the simulator: users, event classes, faults and the server configuration."""

from __future__ import annotations

import enum
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dialer.sim.callees import Profile

# Asterisk's manager event/permission classes (include/asterisk/manager.h), bit for bit.
CLASS_BITS: dict[str, int] = {
    "system": 1 << 0,
    "call": 1 << 1,
    "log": 1 << 2,
    "verbose": 1 << 3,
    "command": 1 << 4,
    "agent": 1 << 5,
    "user": 1 << 6,
    "config": 1 << 7,
    "dtmf": 1 << 8,
    "reporting": 1 << 9,
    "cdr": 1 << 10,
    "dialplan": 1 << 11,
    "originate": 1 << 12,
    "agi": 1 << 13,
    "cc": 1 << 14,
    "aoc": 1 << 15,
    "test": 1 << 16,
    "security": 1 << 17,
    "message": 1 << 18,
}
ALL_CLASSES = sum(CLASS_BITS.values())

_TRUE = {"yes", "true", "y", "t", "1", "on"}
_FALSE = {"no", "false", "n", "f", "0", "off"}


def parse_classes(text: str) -> int:
    """Turn a manager.conf class list (`all` or `system,call,...`) into a bit mask."""
    mask = 0
    for part in text.split(","):
        name = part.strip().lower()
        if name == "all":
            return ALL_CLASSES
        mask |= CLASS_BITS.get(name, 0)
    return mask


def parse_event_mask(text: str) -> int | None:
    """Parse a Login `Events:` / Events `EventMask:` value like Asterisk; None means "leave as is"."""
    value = text.strip()
    if not value:
        return None
    if value.isdigit():  # Asterisk checks for a plain number before the words
        return int(value) & ALL_CLASSES
    lowered = value.lower()
    if lowered in _FALSE:
        return 0
    if lowered in _TRUE:
        return ALL_CLASSES
    return parse_classes(value)


@dataclass(frozen=True)
class SimUser:
    """One manager.conf user: secret plus read (events) and write (actions) classes."""

    secret: str
    read: str = "all"
    write: str = "all"

    @property
    def read_mask(self) -> int:
        """Event classes this user may receive."""
        return parse_classes(self.read)

    @property
    def write_mask(self) -> int:
        """Action classes this user may invoke."""
        return parse_classes(self.write)


class ResponseFault(enum.StrEnum):
    """How the synchronous answer to an Async Originate (or a message action) is damaged; the call is
    placed (the message sent) all the same, as by a PBX whose answer is lost or garbled on its way:
    the client cannot know it was done."""

    GLUED_PREFIX = "glued_prefix"  # `xx ` written in front of `Response: Success`
    TRUNCATED = "truncated"  # the Message line and the blank line are lost: what follows runs into it
    NO_RESPONSE_LINE = "no_response_line"  # ActionID and Message, no `Response:` line
    UNKNOWN_ERROR = "unknown_error"  # `Response: Error` with a text no Asterisk sends for Originate
    SILENT = "silent"  # no answer at all
    OVERSIZED = "oversized"  # the answer padded past the client's frame limit (1 MiB)
    SPLIT = "split"  # a correct answer, written in three pieces a few milliseconds apart


UNKNOWN_ERROR_TEXT = "Queued on a degraded node"
OVERSIZED_PAD_BYTES = (1 << 20) + 64
SPLIT_GAP_S = 0.005


@dataclass
class Faults:
    """Faults that can be switched on while the simulator runs."""

    response_delay_s: float = 0.0
    # The answers to the next Async Originates, one fault each, taken from the front (then normal).
    originate_responses: list[ResponseFault] = field(default_factory=list)
    # The same for the next MessageSend / DongleSendSMS answers (the message is handled as usual).
    message_responses: list[ResponseFault] = field(default_factory=list)
    # CoreShowChannels lists this many made-up channels before the real ones (a PBX with a huge
    # number of channels, or a hostile one): for the client's list cap and a reconciliation that must
    # not take a cut-off list for the whole.
    channel_list_padding: int = 0


def _default_spool() -> Path:
    return Path(tempfile.gettempdir()) / "dialer-sim" / "monitor"


def _default_users() -> dict[str, SimUser]:
    return {"dialer": SimUser(secret="dialer-secret")}


@dataclass
class SimConfig:
    """Everything a SimServer needs; None for time_scale/seed means "from the profile"."""

    host: str = "127.0.0.1"
    port: int = 0
    users: Mapping[str, SimUser] = field(default_factory=_default_users)
    channelvars: tuple[str, ...] = ("DIALER_CALL_ID", "DIALER_CAMPAIGN")
    contexts: tuple[str, ...] = ("dialer", "dialer-outbound")
    spool_dir: Path = field(default_factory=_default_spool)
    profile: Profile = field(default_factory=Profile)
    time_scale: float | None = None
    seed: int | None = None
    log_path: Path | None = None
    # Where cdr_custom's record for the dialer goes (config/asterisk/cdr_custom.conf); None: not written.
    cdr_path: Path | None = None
    login_failure_delay_s: float = 1.0
    auth_timeout_s: float = 30.0
    write_timeout_s: float = 5.0
    record_limit: int = 100_000  # originations/call_ends kept in memory (the --log keeps all)
    # Messaging: technologies MessageSend knows, PJSIP endpoints that exist (a destination naming
    # another fails unless a default outbound endpoint is set), and chan_dongle devices.
    message_techs: tuple[str, ...] = ("pjsip",)
    message_endpoints: tuple[str, ...] = ("carrier",)
    default_outbound_endpoint: str | None = None
    dongles: tuple[str, ...] = ("dongle0",)

    @property
    def effective_time_scale(self) -> float:
        """Multiplier applied to every simulated duration."""
        if self.time_scale is not None:
            return self.time_scale
        return self.profile.time_scale

    @property
    def effective_seed(self) -> int:
        """Seed of the callee and event-order random generators."""
        if self.seed is not None:
            return self.seed
        return self.profile.seed
