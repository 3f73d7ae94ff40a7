"""Damaged answers (fault injection): an action's response written the way a broken link or a
broken PBX would, while the action itself is carried out as usual (issue 11)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dialer.sim.config import OVERSIZED_PAD_BYTES, SPLIT_GAP_S, UNKNOWN_ERROR_TEXT, ResponseFault
from dialer.sim.protocol import response

if TYPE_CHECKING:
    from dialer.sim.session import AmiSession


def send_damaged(session: AmiSession, fault: ResponseFault, good: str, aid: str) -> None:
    """Write `good` (a whole response) damaged as `fault` says; SILENT writes nothing."""
    if fault is ResponseFault.GLUED_PREFIX:
        session.send("xx " + good)
    elif fault is ResponseFault.TRUNCATED:
        cut = good.find("Message: ")
        session.send(good[:cut] if cut > 0 else good[:-2])  # no blank line: what follows runs into it
    elif fault is ResponseFault.NO_RESPONSE_LINE:
        session.send(good.split("\r\n", 1)[1])
    elif fault is ResponseFault.UNKNOWN_ERROR:
        session.send(response("Error", aid, ("Message", UNKNOWN_ERROR_TEXT)))
    elif fault is ResponseFault.OVERSIZED:
        session.send(good[:-2] + f"Padding: {'x' * OVERSIZED_PAD_BYTES}\r\n\r\n")
    elif fault is ResponseFault.SPLIT:
        data = good.encode()
        third = len(data) // 3
        session.write_raw(data[:third])
        session.hold_output()  # nothing else may come between the pieces
        session.loop.call_later(SPLIT_GAP_S, session.write_held, data[third:2 * third], False)
        session.loop.call_later(2 * SPLIT_GAP_S, session.write_held, data[2 * third:], True)


def next_fault(faults: list[ResponseFault], session: AmiSession) -> ResponseFault | None:
    """Take the next fault from the front of `faults` (None: answer normally). One split answer at a
    time: the pieces of two must not interleave, so a second one while the first is written is normal."""
    fault = faults.pop(0) if faults else None
    if fault is ResponseFault.SPLIT and session.held:
        return None
    return fault
