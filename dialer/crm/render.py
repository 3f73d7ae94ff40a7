"""A contact's history for people: rich tables for `dialer contact show`, flat rows for CSV export."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from dialer.crm.store import AttemptEntry, ContactHistory, GateEntry
from dialer.logs import mask_text
from dialer.store.states import LeadStatus, RecordingStatus
from dialer.terminal import append, safe_text


def iso(ts: float | None) -> str:
    """Unix seconds as ISO-8601 UTC, or ""."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _talk(value: float | None) -> str:
    return "" if value is None else f"{value:.1f} s"


def _gate(entry: GateEntry | None) -> str:
    if entry is None:
        return ""
    if entry.verdict == "allow":
        return f"allowed ({entry.detail})" if entry.detail else "allowed"
    what = f"blocked by {entry.rule}"
    return f"{what} ({entry.detail})" if entry.detail else what


@dataclass(frozen=True, slots=True)
class TimelineRow:
    """One line of the history: an attempt, or a gate decision that blocked a lead."""

    at: float
    campaign: str
    what: str  # call | sms | blocked
    number: str
    outcome: str
    talk: str
    recording: str
    gate: str


def timeline(history: ContactHistory) -> list[TimelineRow]:
    """Attempts and blocking decisions, oldest first."""
    rows = [_attempt_row(a) for a in history.attempts]
    numbers = {lead.id: lead.number for lead in history.leads}
    rows += [TimelineRow(b.at, b.campaign or "", "blocked", numbers.get(b.lead_id or -1, ""), "not contacted",
                         "", "", _gate(b)) for b in history.blocks]
    return sorted(rows, key=lambda r: r.at)


def _attempt_row(a: AttemptEntry) -> TimelineRow:
    outcome = a.disposition or a.state
    if a.detail and a.disposition in ("failed", "unknown"):
        outcome = f"{outcome}: {a.detail}"
    recording = a.recording or ""
    if a.recording_status and a.recording_status != RecordingStatus.ARCHIVED:
        recording = f"{recording} ({a.recording_status})".strip()
    return TimelineRow(a.created_at, a.campaign, a.medium, a.number, outcome, _talk(a.talk_s), recording,
                       _gate(a.gate))


def render_history(history: ContactHistory) -> RenderableType:
    """The whole history as a group of rich renderables."""
    parts: list[RenderableType] = []
    title = Text(f"contact #{history.id}  ", style="bold")
    append(title, history.name or ("(erased)" if history.erased_at else "(no name)"))
    if history.erased_at is not None:
        title.append(f"   erased {iso(history.erased_at)}", style="red")
    parts.append(title)
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="dim")
    facts.add_column()
    for number in history.numbers:
        zones = ", ".join(number.zones) or "zone unknown"
        facts.add_row("number", f"{number.number}  {number.region} {number.number_type}  {zones}")
    if history.attributes:
        facts.add_row("attributes", ", ".join(f"{k}={v}" for k, v in sorted(history.attributes.items())))
    facts.add_row("tags", ", ".join(history.tags) or "-")
    facts.add_row("created", f"{iso(history.created_at)}   updated {iso(history.updated_at)}")
    parts.append(facts)
    parts.append(_state_table(history))
    if history.leads:
        several = len(history.numbers) > 1
        leads = Table(title="leads", title_justify="left", show_edge=False)
        for column in ("lead", "campaign", *(("number",) if several else ()), "status", "attempts", "next attempt",
                       "last outcome"):
            leads.add_column(column, no_wrap=column == "number")
        for lead in history.leads:
            due = iso(lead.next_attempt_at) if lead.status == LeadStatus.PENDING else ""
            leads.add_row(str(lead.id), lead.campaign, *((lead.number,) if several else ()), lead.status,
                          str(lead.attempts), due, lead.last_disposition or "")
        parts.append(leads)
    parts.append(_timeline(history))
    if history.callbacks:
        callbacks = Table(title="callbacks", title_justify="left", show_edge=False)
        for column in ("due (UTC)", "campaign", "status", "asked by", "asked at"):
            callbacks.add_column(column)
        for cb in history.callbacks:
            status = cb.status + (f" ({cb.fired_call_id})" if cb.fired_call_id else "")
            callbacks.add_row(iso(cb.due_at), cb.campaign, status, f"{cb.requested_by} ({cb.source})",
                              iso(cb.created_at))
        parts.append(callbacks)
    if history.survey_answers:
        answers = Table(title="survey answers", title_justify="left", show_edge=False)
        for column in ("time (UTC)", "campaign", "call", "question", "keys", "meaning"):
            answers.add_column(column, overflow="fold")
        for a in history.survey_answers:
            answers.add_row(iso(a.answered_at), a.campaign, a.call_id, a.question, a.keys or "-", a.meaning)
        parts.append(answers)
    if history.messages:
        messages = Table(title="messages", title_justify="left", show_edge=False)
        for column in ("time (UTC)", "direction", "campaign", "number", "text"):
            messages.add_column(column, overflow="fold")
        for m in history.messages:
            text = m.body if m.body is not None else "(erased)"
            if m.keyword:
                text += f"  [{m.keyword}: opted out]"
            messages.add_row(iso(m.created_at), m.direction, m.campaign or "", m.number, text)
        parts.append(messages)
    if history.changes:
        changes = Table(title="compliance records", title_justify="left", show_edge=False)
        for column in ("time (UTC)", "kind", "rule", "detail", "by"):
            changes.add_column(column, overflow="fold")
        for c in history.changes:
            changes.add_row(iso(c.at), c.kind, c.rule or "", c.detail or "", c.actor or "")
        parts.append(changes)
    if history.notes:
        notes = Table(title="notes", title_justify="left", show_edge=False)
        notes.add_column("time (UTC)")
        notes.add_column("by")
        notes.add_column("note", overflow="fold")
        for note in history.notes:
            notes.add_row(iso(note.created_at), note.author, note.body)
        parts.append(notes)
    return Group(*parts)


def _timeline(history: ContactHistory) -> RenderableType:
    """One entry per attempt or block: a headline, then the gate decision and the recording indented
    (a table of eight columns does not fit a terminal or a log viewer)."""
    text = Text()
    text.append(f"history: {len(history.attempts)} attempt(s), {len(history.blocks)} blocked by the gate\n",
                style="bold")
    for row in timeline(history):
        style = "red" if row.what == "blocked" else ""
        append(text, f"{iso(row.at)}  {row.campaign}  {row.what}  {row.number}  ", style=style)
        append(text, row.outcome, style=style or "bold")
        if row.talk:
            append(text, f"  talk {row.talk}")
        text.append("\n")
        if row.gate:
            append(text, f"    gate {row.gate}", style="dim")
            text.append("\n")
        if row.recording:
            append(text, f"    recording {row.recording}", style="dim")
            text.append("\n")
    return text


def _state_table(history: ContactHistory) -> RenderableType:
    state = Table(title="do-not-call and consent now", title_justify="left", show_edge=False, show_header=False)
    state.add_column()
    state.add_column(overflow="fold")
    for number in history.suppressed:
        state.add_row(number, safe_text("on the suppression list (erased): never contacted again", style="red"))
    for d in history.dnc:
        scope = d.campaign or ("every campaign" if d.list in ("optout", "internal") else "")
        until = f" until {iso(d.expires_at)}" if d.expires_at else ""
        line = safe_text(f"DNC {d.list}", style="red")
        append(line, f" ({scope}) since {iso(d.added_at)}{until}, source {mask_text(d.source)}")
        state.add_row(d.number, line)
    for c in history.consents:
        status = f"revoked {iso(c.revoked_at)}" if c.revoked_at else (
            f"until {iso(c.expires_at)}" if c.expires_at else "no expiry")
        state.add_row(c.number, f"consent from {c.source}, granted {iso(c.granted_at)}, "
                                f"{c.scope or 'every campaign'}, {c.channel or 'call+sms'}, {status}")
    if not (history.suppressed or history.dnc or history.consents):
        state.add_row("", "no DNC entry, no consent record")
    return state


CSV_COLUMNS = (
    "contact_id", "name", "numbers", "tags", "attributes", "erased_at", "time", "campaign", "what", "number",
    "outcome", "talk_s", "recording", "gate_verdict", "gate_rule", "gate_detail",
)


def csv_rows(history: ContactHistory) -> Iterator[list[str]]:
    """Flat rows for CSV export: one per attempt or blocking decision, or one for a contact without any."""
    head = [str(history.id), history.name or "", " ".join(n.number for n in history.numbers), " ".join(history.tags),
            json.dumps(history.attributes, ensure_ascii=False, sort_keys=True), iso(history.erased_at)]
    numbers = {lead.id: lead.number for lead in history.leads}
    events: list[tuple[float, list[str]]] = []
    for a in history.attempts:
        gate = a.gate
        events.append((a.created_at, [iso(a.created_at), a.campaign, a.medium, a.number, a.disposition or a.state,
                                      "" if a.talk_s is None else f"{a.talk_s:.3f}", a.recording or "",
                                      gate.verdict or "" if gate else "", gate.rule or "" if gate else "",
                                      gate.detail or "" if gate else ""]))
    for b in history.blocks:
        events.append((b.at, [iso(b.at), b.campaign or "", "blocked", numbers.get(b.lead_id or -1, ""),
                              "not contacted", "", "", b.verdict or "", b.rule or "", b.detail or ""]))
    if not events:
        yield head + [""] * (len(CSV_COLUMNS) - len(head))
        return
    for _, tail in sorted(events, key=lambda e: e[0]):
        yield head + tail
