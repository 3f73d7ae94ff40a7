"""The records of one call -> the facts the tracker settles it with. Pure code, one table.

Dispositions as a real Asterisk 22 wrote them for the dialer's calls (Cdr events in
tests/fixtures/ami-transcripts, both halves of the Local pair): answered ANSWERED, busy BUSY, no
answer NO ANSWER, rejected before answer (cause 21) and unallocated (cause 1) NO ANSWER as well,
congestion FAILED (CONGESTION with cdr.conf `congestion = yes`), no such extension FAILED.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dialer.outcome import CallFacts, Disposition, classify
from dialer.pbxrecord.reader import RecordEntry

# An unanswered call's CDR disposition (the callee half's when there is one).
CDR_DISPOSITION: dict[str, Disposition] = {
    "BUSY": Disposition.BUSY,
    "NO ANSWER": Disposition.NO_ANSWER,
    "CONGESTION": Disposition.CONGESTION,
    "FAILED": Disposition.FAILED,
}


@dataclass(frozen=True, slots=True)
class RecordedCall:
    """How Asterisk recorded one call of the dialer."""

    call_id: str
    disposition: Disposition
    cdr_disposition: str
    answered_at: float | None
    ended_at: float
    talk_s: float | None
    amd_status: str | None
    opted_out: bool
    callback_requested: bool
    abandoned: bool
    recording: str | None
    survey_answers: tuple[RecordedAnswer, ...] = ()


@dataclass(frozen=True, slots=True)
class RecordedAnswer:
    """A survey answer the dialplan kept in CDR(dialer_survey) (see extensions_dialer.conf)."""

    question: str
    keys: str
    status: str  # answered | no_answer
    answered_at: float | None


def survey_answers(text: str) -> tuple[RecordedAnswer, ...]:
    """The answers in a CDR(dialer_survey) value; a malformed item is skipped (the rest is kept)."""
    answers = []
    for item in text.split(";"):
        parts = item.strip().split(":")
        if len(parts) != 4 or not parts[0] or parts[2] not in ("answered", "no_answer"):
            continue
        try:
            at: float | None = float(parts[3])
        except ValueError:
            at = None
        answers.append(RecordedAnswer(parts[0], parts[1], parts[2], at))
    return tuple(answers)


def recorded_call(call_id: str, entries: Sequence[RecordEntry]) -> RecordedCall | None:
    """Combine a call's records (one per channel, more when a queue bridged it) into its outcome."""
    if not entries:
        return None
    primary = next((e for e in entries if e.uniqueid == call_id), entries[0])
    callee = next((e for e in entries if e.uniqueid == f"{call_id}-2"), None)
    answered_entries = [e for e in entries if e.disposition == "ANSWERED" or e.answer is not None]
    answered = bool(answered_entries) or any(e.call_id for e in entries)
    amd = next((e.amd for e in entries if e.amd), None)
    opted_out = any(e.optout for e in entries)
    callback = any(e.callback for e in entries)
    queue = next((e.queue for e in entries if e.queue), "")
    abandoned = any(e.abandoned for e in entries) or queue not in ("", "CONNECTED", "CONTINUE")
    recording = next((e.recording for e in entries if e.recording), None)
    ended_at = max(e.end for e in entries)
    source = callee if callee is not None else primary
    if answered:
        disposition = classify(CallFacts(reason=4, callee_cause=None, answered=True, amd_status=amd,
                                         opted_out=opted_out, abandoned=abandoned))
        timed = primary if primary in answered_entries else (answered_entries or [primary])[0]
        answered_at = timed.answer if timed.answer is not None else min(
            (e.answer for e in entries if e.answer is not None), default=None)
        talk_s: float | None = round(timed.billsec, 3)
    else:
        disposition = CDR_DISPOSITION.get(source.disposition, Disposition.FAILED)
        answered_at = None
        talk_s = None
    return RecordedCall(
        call_id=call_id, disposition=disposition, cdr_disposition=source.disposition, answered_at=answered_at,
        ended_at=ended_at, talk_s=talk_s, amd_status=amd, opted_out=opted_out, callback_requested=callback,
        abandoned=abandoned, recording=recording,
        survey_answers=survey_answers(next((e.survey for e in entries if e.survey), "")),
    )
