"""`dialer survey export`: one row (CSV) or object (JSON) per survey, complete or partial.

CSV columns: call_id, campaign, number, started_at, status (complete | partial), answers, then per
question (in the config's order; questions no longer in it after them) `<question>` (the meaning)
and `<question>.keys` (what was pressed). Cells go through dialer.csv_safe like every export.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from dialer import csv_safe
from dialer.store.surveys import SurveyCall


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def question_order(configured: Sequence[str], calls: Sequence[SurveyCall]) -> list[str]:
    """The configured questions, then any other question the stored answers name (an older config's)."""
    names = list(configured)
    for call in calls:
        names += [a.question for a in call.answers if a.question not in names]
    return names


def write_csv(stream: TextIO, campaign: str, questions: Sequence[str], calls: Sequence[SurveyCall]) -> int:
    """Write the CSV; returns how many surveys."""
    writer = csv_safe.writer(stream)
    writer.writerow(["call_id", "campaign", "number", "started_at", "status", "answers",
                     *[c for q in questions for c in (q, f"{q}.keys")]])
    for call in calls:
        by_question = {a.question: a for a in call.answers}
        cells: list[str] = []
        for q in questions:
            a = by_question.get(q)
            cells += ["", ""] if a is None else [a.meaning, a.keys]
        writer.writerow([call.call_id, campaign, call.number, _iso(call.started_at),
                         "complete" if call.complete else "partial", len(call.answers), *cells])
    return len(calls)


def write_json(stream: TextIO, campaign: str, calls: Sequence[SurveyCall]) -> int:
    """Write a JSON array of surveys with their answers in order; returns how many."""
    data: list[dict[str, Any]] = [
        {"call_id": c.call_id, "campaign": campaign, "number": c.number, "started_at": _iso(c.started_at),
         "status": "complete" if c.complete else "partial",
         "answers": [{"question": a.question, "keys": a.keys, "meaning": a.meaning, "status": a.status,
                      "leads_to": a.leads_to, "answered_at": _iso(a.answered_at)} for a in c.answers]}
        for c in calls]
    stream.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    return len(calls)
