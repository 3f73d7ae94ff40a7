"""The report for a terminal: one summary table per campaign row, then the details that explain it."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

BLOCKS = " ▁▂▃▄▅▆▇█"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _num(value: float | None, suffix: str = "") -> str:
    if value is None:
        return "-"
    return (f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}") + suffix


# The abbreviations of the summary, in lines that fit 80 columns (a pipe or a log does not wrap them).
LEGEND = (
    "reached: numbers where a person answered; answer: answered / ended calls",
    "talk: mean talk time (s); blocks: calls the compliance gate refused",
    "ab.24h, ab.30d: abandoned / live-answered calls over 24 hours and 30 days",
)
LEGEND_TEXTS = "texts ok: text messages accepted / sent"
LEGEND_RECORDINGS = "no rec.: calls without a good recording (missing or broken)"


def render_table(data: dict[str, Any]) -> RenderableType:
    """The report as rich renderables that fit 80 columns: campaigns at a glance with a legend of the
    abbreviations, then outcomes, blocks, hours, leads."""
    title = f"report: {data['campaign']}" if data["campaign"] else "report: all campaigns"
    since, until = data.get("since_local") or data.get("since"), data.get("until_local") or data.get("until")
    if since or until:
        title += f" ({since or 'start'} to {until or 'now'})"
    rows = list(data["by_campaign"].items())
    if len(rows) != 1:
        rows.append(("all", data))
    texts = any(c["sms"]["sent"] for _, c in rows)
    recordings = data["recordings_missing"] is not None
    # 80 columns: short headers, no vertical rules, one space between columns, the campaign name
    # folded when long; texts and recordings in a table of their own when there are any.
    summary = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    summary.add_column("campaign", min_width=8, overflow="fold")
    for column in ("calls", "reached", "answer", "talk", "ab.24h", "ab.30d", "blocks"):
        summary.add_column(column, justify="right", no_wrap=True)
    for name, c in rows:
        summary.add_row(name, _num(c["calls"]), _num(c["numbers_reached"]), _pct(c["answer_rate"]),
                        _num(c["avg_talk_s"], "s"), _pct(c["abandon_rate_24h"]), _pct(c["abandon_rate_30d"]),
                        _num(sum(c["gate_blocks"].values())))
    parts: list[RenderableType] = [summary]
    if texts or recordings:
        extra = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        extra.add_column("campaign", min_width=8, overflow="fold")
        if texts:
            extra.add_column("texts ok", justify="right", no_wrap=True)
        if recordings:
            extra.add_column("no rec.", justify="right", no_wrap=True)
        for name, c in rows:
            cells = ([f"{c['sms']['accepted']}/{c['sms']['sent']}"] if texts else []) + (
                [_num(c["recordings_missing"])] if recordings else [])
            extra.add_row(name, *cells)
        parts.append(extra)
    legend = [*LEGEND, *([LEGEND_TEXTS] if texts else []), *([LEGEND_RECORDINGS] if recordings else [])]
    parts.append(Text("\n".join(legend), style="dim"))
    details = Table(show_header=True, title="details", title_justify="left")
    details.add_column("metric")
    details.add_column("value", justify="right")
    for key in ("calls", "ended", "open_attempts", "unique_numbers", "numbers_reached"):
        details.add_row(key, _num(data[key]))
    for key in ("answer_rate", "abandon_rate", "abandon_rate_24h", "abandon_rate_30d"):
        details.add_row(key, _pct(data[key]))
    details.add_row("avg_talk_s", _num(data["avg_talk_s"]))
    details.add_row("attempts per lead (mean)", _num(data["attempts_per_lead"]["mean"]))
    details.add_section()
    for key, value in data["by_disposition"].items():
        details.add_row(f"disposition: {key}", str(value))
    details.add_section()
    for key, value in data["gate_blocks"].items():
        details.add_row(f"blocked by: {key}", str(value))
    details.add_section()
    for key, value in data["leads_by_status"].items():
        details.add_row(f"leads: {key}", str(value))
    if data["sms"]["sent"]:
        details.add_section()
        for key, value in data["sms"]["by_outcome"].items():
            details.add_row(f"texts: {key}", str(value))
    return Group(*parts, details, _hours(data), *_surveys(data))


def _surveys(data: dict[str, Any]) -> list[RenderableType]:
    """Per survey campaign: completion, then per question reached, answered, stopped and the answers."""
    tables: list[RenderableType] = []
    for name, s in data.get("surveys", {}).items():
        title = (f"survey {name}: {s['surveys']} survey(s) of {s['calls_answered']} answered call(s), "
                 f"{s['complete']} complete ({_pct(s['completion_rate'])}), {s['partial']} partial")
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        table.add_column("question", overflow="fold")
        for column in ("reached", "answered", "no ans.", "stopped"):
            table.add_column(column, justify="right", no_wrap=True)
        table.add_column("answers", overflow="fold")
        for q in s["questions"]:
            answers = ", ".join(f"{meaning} {count}" for meaning, count in q["distribution"].items())
            table.add_row(q["question"], str(q["reached"]), str(q["answered"]), str(q["no_answer"]),
                          str(q["stopped"]), answers)
        tables.append(table)
    return tables


def _hours(data: dict[str, Any]) -> RenderableType:
    """Answer rate per local hour as one line of block characters (0-23), best hours named."""
    hours = data["answer_by_local_hour"]
    zone = data.get("hours_in")
    line = Text(f"answer rate by hour in {zone}  " if zone else "answer rate by local hour  ")
    for h in hours:
        rate = h["answer_rate"]
        char = "·" if rate is None else BLOCKS[min(len(BLOCKS) - 1, round(rate * (len(BLOCKS) - 1)))]
        line.append(char, style="bold" if h["hour"] in data["best_hours"] else "")
    line.append("  (00 to 23)")
    best = ", ".join(f"{h:02d}:00" for h in data["best_hours"]) or "-"
    return Group(line, Text(f"best hours to call: {best}"))
