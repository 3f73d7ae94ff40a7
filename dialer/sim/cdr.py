"""The CSV record cdr_custom writes for the dialer, as the simulated PBX's calls end.

The line is rendered from the mapping in config/asterisk/cdr_custom.conf the way Asterisk does it
(cdr/cdr_custom.c, funcs/func_cdr.c, funcs/func_strings.c): each `${CSV_QUOTE(${CDR(name[,opt])})}`
becomes the CDR value in double quotes with inner quotes doubled; `start`, `answer`, `end` with
`u` are raw `<sec>.<usec>` (`0.000000` when unset, main/cdr.c cdr_get_tv), `billsec` with `f` is
`%lf` seconds; a CDR variable the dialplan never set is empty. One record per channel, appended
with open/append/flush/close per record as cdr_custom does, so a SIGKILL of the dialer, an AMI drop
or a restart of the simulator loses none. Written by the simulator only: the dialer's reader
(dialer.pbxrecord) shares no code with it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# The right-hand side of `dialer.csv =>` in config/asterisk/cdr_custom.conf (tests keep them equal).
MAPPING = (
    "${CSV_QUOTE(${CDR(uniqueid)})},${CSV_QUOTE(${CDR(linkedid)})},${CSV_QUOTE(${CDR(disposition)})},"
    "${CSV_QUOTE(${CDR(start,u)})},${CSV_QUOTE(${CDR(answer,u)})},${CSV_QUOTE(${CDR(end,u)})},"
    "${CSV_QUOTE(${CDR(billsec,f)})},${CSV_QUOTE(${CDR(dialer_call_id)})},${CSV_QUOTE(${CDR(dialer_recording)})},"
    "${CSV_QUOTE(${CDR(dialer_amd)})},${CSV_QUOTE(${CDR(dialer_optout)})},${CSV_QUOTE(${CDR(dialer_callback)})},"
    "${CSV_QUOTE(${CDR(dialer_queue)})},${CSV_QUOTE(${CDR(dialer_abandoned)})},${CSV_QUOTE(${CDR(dialer_survey)})}"
)
_TOKEN = re.compile(r"\$\{CSV_QUOTE\(\$\{CDR\(([A-Za-z_]+)(?:,([a-z]+))?\)\}\)\}")
_TIMES = ("start", "answer", "end")


@dataclass(frozen=True)
class ChannelCdr:
    """What Asterisk knows of one channel when its CDR is posted."""

    uniqueid: str
    linkedid: str
    disposition: str  # ANSWERED, NO ANSWER, BUSY, CONGESTION, FAILED
    start: float
    answer: float | None
    end: float
    variables: Mapping[str, str]  # set with Set(CDR(name)=...) on this channel


def _csv_quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _value(cdr: ChannelCdr, name: str, option: str | None) -> str:
    if name in _TIMES:
        when = getattr(cdr, name) or 0.0
        if option == "u":
            sec = int(when)
            return f"{sec}.{round((when - sec) * 1_000_000):06d}" if when else "0.000000"
        raise ValueError(f"CDR({name}) without the u option is not simulated")
    if name == "billsec":
        seconds = max(0.0, cdr.end - cdr.answer) if cdr.answer is not None else 0.0
        return f"{seconds:f}" if option == "f" else str(int(seconds))
    if name in ("uniqueid", "linkedid", "disposition"):
        return str(getattr(cdr, name))
    return cdr.variables.get(name, "")


def render(mapping: str, cdr: ChannelCdr) -> str:
    """One record line (without the newline) for `mapping`."""
    return _TOKEN.sub(lambda m: _csv_quote(_value(cdr, m.group(1), m.group(2))), mapping)


class CdrLog:
    """Appends one line per posted CDR to `path` (open, append, flush, close, as cdr_custom does)."""

    def __init__(self, path: Path, mapping: str = MAPPING) -> None:
        self.path = path
        self.mapping = mapping
        path.parent.mkdir(parents=True, exist_ok=True)

    def post(self, cdr: ChannelCdr) -> None:
        """Write the record of one channel."""
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(render(self.mapping, cdr) + "\n")
            fh.flush()
