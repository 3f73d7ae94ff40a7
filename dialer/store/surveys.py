"""Survey answers (table survey_answers, migration 17): written as the dialplan reports them, read
for `dialer contact show`, `dialer survey export`, `dialer survey select` and `dialer report`.

The report's counts, redone in SQL (campaign 'poll'):

    -- distribution per question
    SELECT question, meaning, COUNT(*) FROM survey_answers WHERE campaign_id = 'poll'
    GROUP BY question, meaning;
    -- surveys (calls with at least one answer) and the complete ones
    SELECT COUNT(DISTINCT call_id), COUNT(DISTINCT CASE WHEN status = 'answered'
      AND leads_to IN ('end', 'queue') THEN call_id END) FROM survey_answers WHERE campaign_id = 'poll';
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from dialer.store.db import Row, Tx
from dialer.store.states import CampaignState, LeadStatus

COMPLETE = "status = 'answered' AND leads_to IN ('end', 'queue')"


@dataclass(frozen=True, slots=True)
class AnswerRow:
    """One stored answer."""

    call_id: str
    attempt_id: int
    lead_id: int
    campaign_id: str
    question: str
    position: int
    keys: str
    meaning: str
    status: str
    leads_to: str
    answered_at: float


_COLUMNS = ("call_id, attempt_id, lead_id, campaign_id, question, position, keys, meaning, status, leads_to, "
            "answered_at")


def _row(r: Row) -> AnswerRow:
    return AnswerRow(str(r[0]), int(r[1]), int(r[2]), str(r[3]), str(r[4]), int(r[5]), str(r[6]), str(r[7]),
                     str(r[8]), str(r[9]), float(r[10]))


def record(conn: sqlite3.Connection, answers: Sequence[AnswerRow]) -> list[AnswerRow]:
    """Store answers (on the database thread, in the caller's transaction); returns the ones that
    were new (an answer already stored for the same call and question is kept as it was)."""
    new = []
    for a in answers:
        cursor = conn.execute(
            f"INSERT INTO survey_answers ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (call_id, question) DO NOTHING",
            (a.call_id, a.attempt_id, a.lead_id, a.campaign_id, a.question, a.position, a.keys, a.meaning, a.status,
             a.leads_to, a.answered_at))
        if cursor.rowcount:
            new.append(a)
    return new


def contact_of_lead(conn: sqlite3.Connection, lead_id: int) -> int | None:
    """The contact a lead dials (for an answer's tag)."""
    row = conn.execute("SELECT p.contact_id FROM leads l JOIN phone_numbers p ON p.number = l.number "
                       "WHERE l.id = ?", (lead_id,)).fetchone()
    return None if row is None else int(row[0])


def add_tag(conn: sqlite3.Connection, contact_id: int, tag: str, actor: str, now: float) -> None:
    """Tag a contact (the CRM's contact_tags; a tag it has already stays as it was)."""
    conn.execute("INSERT INTO contact_tags (contact_id, tag, created_at, actor) VALUES (?, ?, ?, ?) "
                 "ON CONFLICT (contact_id, tag) DO NOTHING", (contact_id, tag, now, actor))


async def answers_of_leads(tx: Tx, lead_ids: Sequence[int]) -> list[AnswerRow]:
    """Every answer given in calls to these leads, oldest first."""
    found: list[AnswerRow] = []
    ids = list(lead_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        rows = await tx.fetchall(f"SELECT {_COLUMNS} FROM survey_answers WHERE lead_id IN "
                                 f"({','.join('?' * len(chunk))}) ORDER BY answered_at, id", chunk)
        found += [_row(r) for r in rows]
    found.sort(key=lambda a: (a.answered_at, a.position))
    return found


@dataclass(frozen=True, slots=True)
class SurveyCall:
    """One survey (a call with at least one answer): its number and its answers in order."""

    call_id: str
    lead_id: int
    number: str
    started_at: float
    complete: bool
    answers: tuple[AnswerRow, ...]


async def surveys_of(tx: Tx, campaign: str, since: float | None = None, until: float | None = None,
                     ) -> list[SurveyCall]:
    """The campaign's surveys, oldest call first (answers in the order they were given)."""
    where, params = "s.campaign_id = ?", list[object]([campaign])
    if since is not None:
        where, params = where + " AND a.created_at >= ?", [*params, since]
    if until is not None:
        where, params = where + " AND a.created_at < ?", [*params, until]
    rows = await tx.fetchall(
        f"SELECT {', '.join('s.' + c.strip() for c in _COLUMNS.split(','))}, a.number, a.created_at "
        f"FROM survey_answers s JOIN attempts a ON a.call_id = s.call_id WHERE {where} "
        "ORDER BY a.created_at, s.call_id, s.answered_at, s.id", params)
    calls: dict[str, tuple[str, float, list[AnswerRow]]] = {}
    for r in rows:
        entry = calls.setdefault(str(r[0]), (str(r[11]), float(r[12]), []))
        entry[2].append(_row(r))
    return [SurveyCall(cid, answers[0].lead_id, number, started, any(_complete(a) for a in answers), tuple(answers))
            for cid, (number, started, answers) in calls.items()]


def _complete(a: AnswerRow) -> bool:
    return a.status == "answered" and a.leads_to in ("end", "queue")


async def answered_calls(tx: Tx, campaign: str, since: float | None = None, until: float | None = None) -> int:
    """Calls of the campaign a person answered (the surveys that could start)."""
    where, params = "campaign_id = ? AND answered_at IS NOT NULL", list[object]([campaign])
    if since is not None:
        where, params = where + " AND created_at >= ?", [*params, since]
    if until is not None:
        where, params = where + " AND created_at < ?", [*params, until]
    row = await tx.fetchone(f"SELECT COUNT(*) FROM attempts WHERE {where}", params)
    return 0 if row is None else int(row[0])


async def numbers_answering(tx: Tx, campaign: str, question: str, meanings: Sequence[str]) -> list[str]:
    """The numbers whose latest answer to `question` in `campaign` is one of `meanings` (for targeting)."""
    rows = await tx.fetchall(
        "SELECT a.number, s.meaning FROM survey_answers s JOIN attempts a ON a.call_id = s.call_id "
        "WHERE s.campaign_id = ? AND s.question = ? AND s.status = 'answered' ORDER BY s.answered_at, s.id",
        (campaign, question))
    latest: dict[str, str] = {}
    for number, meaning in rows:
        latest[str(number)] = str(meaning)
    wanted = set(meanings)
    return sorted(n for n, m in latest.items() if m in wanted and not n.startswith("erased:"))


async def numbers_tagged(tx: Tx, tag: str) -> list[str]:
    """The numbers of the contacts with this tag (erased contacts have none left)."""
    rows = await tx.fetchall(
        "SELECT p.number FROM contact_tags t JOIN phone_numbers p ON p.contact_id = t.contact_id "
        "WHERE t.tag = ? ORDER BY p.number", (tag,))
    return [str(r[0]) for r in rows if not str(r[0]).startswith("erased:")]


def erase_for_number(conn: sqlite3.Connection, number: str) -> int:
    """Delete the answers given in calls to `number` (dialer forget; before the number becomes its
    pseudonym). Returns how many."""
    return conn.execute(
        "DELETE FROM survey_answers WHERE call_id IN (SELECT call_id FROM attempts WHERE number = ?) "
        "OR lead_id IN (SELECT id FROM leads WHERE number = ?)", (number, number)).rowcount


async def add_leads(tx: Tx, campaign: str, numbers: Sequence[str], now: float) -> int:
    """Make each number (already known: it was dialled or imported) a lead of `campaign`, due now;
    a number that already has a lead there keeps it. Returns how many leads were added."""
    await tx.execute("INSERT INTO campaigns (id, state, created_at, updated_at) VALUES (?, ?, ?, ?) "
                     "ON CONFLICT (id) DO NOTHING", (campaign, CampaignState.ACTIVE, now, now))
    added = 0
    for number in numbers:
        before = await tx.fetchone("SELECT 1 FROM leads WHERE campaign_id = ? AND number = ?", (campaign, number))
        if before is not None:
            continue
        await tx.execute(
            "INSERT INTO leads (campaign_id, number, status, priority, attempts, next_attempt_at, created_at, "
            "updated_at) VALUES (?, ?, ?, 0, 0, ?, ?, ?)", (campaign, number, LeadStatus.PENDING, now, now, now))
        added += 1
    return added
