"""The `--log` file: one JSON line per Originate, per call end and per message action, written at once."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from dialer.sim.messaging import MessageRecord


@dataclass(frozen=True)
class OriginationRecord:
    """What the simulator received in one Originate and what it answered."""

    time: float
    action_id: str
    channel: str
    variables: dict[str, str]
    channel_id: str
    async_: bool
    response: str
    message: str
    kind: str = "originate"
    fault: str | None = None  # how the answer was damaged on its way (Faults.originate_responses)

    def to_json(self) -> dict[str, Any]:
        """The log line as a dict (`async` spelled as on the wire; `fault` only when there was one)."""
        data = asdict(self)
        data["async"] = data.pop("async_")
        if data["fault"] is None:
            del data["fault"]
        return data


@dataclass(frozen=True)
class CallEndRecord:
    """How one originated call ended."""

    time: float
    action_id: str
    call_id: str
    outcome: str
    reason: int | None
    causes: dict[str, int]
    uniqueid: str
    hangup_by: str
    recording: str | None
    talk_s: float | None
    kind: str = "end"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The log line as a dict."""
        data = asdict(self)
        data.update(data.pop("extra"))
        return data


class OpLog:
    """Appends JSON lines; each line is flushed before the call returns (a SIGKILL loses nothing)."""

    def __init__(self, path: Path | None) -> None:
        self._fh: TextIO | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = path.open("a", encoding="utf-8", buffering=1)

    def write(self, record: OriginationRecord | CallEndRecord | MessageRecord) -> None:
        """Write one record as one line."""
        if self._fh is not None:
            self._fh.write(json.dumps(record.to_json(), separators=(",", ":")) + "\n")
            self._fh.flush()

    def close(self) -> None:
        """Close the file."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
