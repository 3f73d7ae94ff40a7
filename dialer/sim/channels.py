"""Channel state, dial-string parsing and the id counters of one PBX run."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dialer.sim.callflow import Call

# Asterisk channel states (AST_STATE_*) and their ChannelStateDesc.
DOWN, RING, RINGING, UP, BUSY = 0, 4, 5, 6, 7
STATE_DESC = {0: "Down", 1: "Rsrvd", 2: "OffHook", 3: "Dialing", 4: "Ring", 5: "Ringing", 6: "Up", 7: "Busy"}

UNKNOWN = "<unknown>"

# Technologies the simulator knows; anything else fails like `Nope/123` (file 08).
TRUNK_TECHS = {"pjsip": "PJSIP", "sip": "SIP", "iax2": "IAX2", "dahdi": "DAHDI"}


@dataclass(frozen=True)
class DialTarget:
    """A parsed Originate `Channel`: technology, callee number and where it goes."""

    tech: str  # canonical: "Local", "PJSIP", ... or the unknown name as sent
    data: str  # everything after the slash
    exten: str  # the dialled part as written (Local exten / trunk number)
    where: str  # Local context or trunk / endpoint name
    digits: str  # the dialled number: digits only, "" when it is not a number
    known: bool


def _digits(number: str) -> str:
    core = number[1:] if number.startswith("+") else number
    return core if core.isdigit() and core.isascii() else ""


def parse_dial(channel: str) -> DialTarget:
    """Split `Tech/data`; `Local/<n>@<ctx>`, `PJSIP/<n>@<trunk>` (or `<trunk>/<n>`)."""
    tech, _, data = channel.partition("/")
    lowered = tech.lower()
    if lowered == "local":
        exten, _, ctx = data.partition("@")
        return DialTarget("Local", data, exten, ctx or "default", _digits(exten), True)
    if lowered in TRUNK_TECHS:
        if "@" in data:
            number, _, trunk = data.partition("@")
        elif "/" in data:
            trunk, _, number = data.partition("/")
        else:
            number, trunk = data, data
        return DialTarget(TRUNK_TECHS[lowered], data, number, trunk, _digits(number), True)
    return DialTarget(tech, data, data, "", "", False)


class Counters:
    """Uniqueid sequence and per-technology channel counters; a restart starts them at 0."""

    def __init__(self) -> None:
        self.seq = 0
        self.local = 0
        self.tech: dict[str, int] = {}

    def uniqueid(self) -> str:
        """`<epoch>.<sequence>` as Asterisk builds it."""
        uid = f"{int(time.time())}.{self.seq}"
        self.seq += 1
        return uid

    def local_suffix(self) -> str:
        """The `-0000000x` of a Local pair."""
        n = self.local
        self.local += 1
        return f"{n:08x}"

    def tech_suffix(self, tech: str) -> str:
        """The `-0000000x` of a trunk channel."""
        n = self.tech.get(tech, 0)
        self.tech[tech] = n + 1
        return f"{n:08x}"


class Channel:
    """One live channel; its common header block is cached until something in it changes."""

    __slots__ = (
        "_block",
        "_cv",
        "accountcode",
        "app",
        "appdata",
        "call",
        "chanvars",
        "cid_name",
        "cid_num",
        "conn_name",
        "conn_num",
        "context",
        "created_at",
        "created_wall",
        "exten",
        "hungup",
        "kind",
        "linkedid",
        "name",
        "priority",
        "state",
        "uniqueid",
        "vars",
    )

    def __init__(
        self,
        name: str,
        uniqueid: str,
        linkedid: str,
        state: int,
        context: str,
        exten: str,
        chanvars: tuple[str, ...],
        kind: str,
        now: float,
    ) -> None:
        self.name = name
        self.uniqueid = uniqueid
        self.linkedid = linkedid
        self.state = state
        self.context = context
        self.exten = exten
        self.priority = 1
        self.cid_num = UNKNOWN
        self.cid_name = UNKNOWN
        self.conn_num = UNKNOWN
        self.conn_name = UNKNOWN
        self.accountcode = ""
        self.chanvars = chanvars
        self.vars: dict[str, str] = {}
        self.app = "AppDial2"
        self.appdata = "(Outgoing Line)"
        self.kind = kind  # "Local" or the trunk technology: Status `Type`
        self.created_at = now  # loop time
        self.created_wall = time.time()
        self.hungup = False
        self.call: Call | None = None
        self._block: str | None = None
        self._cv: str | None = None  # the ChanVariable lines: they change less often than the rest

    def changed(self) -> None:
        """Drop the cached header block after a change."""
        self._block = None

    def set(self, **fields: object) -> None:
        """Change fields (state, context, exten, priority, ...) and drop the cache."""
        for key, value in fields.items():
            setattr(self, key, value)
        self._block = None

    def setvar(self, name: str, value: str) -> None:
        """Set a channel variable; `_`/`__` inheritance prefixes are not part of the name."""
        name = name.lstrip("_")
        self.vars[name] = value
        if name in self.chanvars:
            self._cv = None
            self._block = None

    @property
    def block(self) -> str:
        """Channel..Linkedid plus one ChanVariable line per configured channelvar."""
        block = self._block
        if block is None:
            cv = self._cv
            if cv is None:
                vars_ = self.vars
                cv = self._cv = "".join(f"ChanVariable: {n}={vars_.get(n, '')}\r\n" for n in self.chanvars)
            block = self._block = (
                f"Channel: {self.name}\r\nChannelState: {self.state}\r\n"
                f"ChannelStateDesc: {STATE_DESC[self.state]}\r\n"
                f"CallerIDNum: {self.cid_num}\r\nCallerIDName: {self.cid_name}\r\n"
                f"ConnectedLineNum: {self.conn_num}\r\nConnectedLineName: {self.conn_name}\r\n"
                f"Language: en\r\nAccountCode: {self.accountcode}\r\n"
                f"Context: {self.context}\r\nExten: {self.exten}\r\nPriority: {self.priority}\r\n"
                f"Uniqueid: {self.uniqueid}\r\nLinkedid: {self.linkedid}\r\n{cv}"
            )
        return block

    def prefixed(self, prefix: str) -> str:
        """The same block with every header name prefixed (`Dest`, `LocalOne`, ...)."""
        return "".join(f"{prefix}{line}\r\n" for line in self.block.split("\r\n") if line)

    def getvar(self, name: str) -> str:
        """A variable or one of the few builtins (`UNIQUEID`, `CHANNEL`, ...) Getvar may ask for."""
        builtin = {
            "UNIQUEID": self.uniqueid,
            "CHANNEL": self.name,
            "CONTEXT": self.context,
            "EXTEN": self.exten,
            "PRIORITY": str(self.priority),
            "LINKEDID": self.linkedid,
        }
        if name in self.vars:
            return self.vars[name]
        return builtin.get(name, "")
