"""The report as one self-contained HTML file: inline CSS and SVG charts, no script, no request to
anywhere, a print stylesheet (A4 or Letter, charts kept whole on a page)."""

from __future__ import annotations

from html import escape
from typing import Any

from dialer.reports.svg import Bar, bar_chart, column_chart

CSS = """
:root { --ink: #1a202c; --muted: #4a5568; --line: #e2e8f0; --accent: #2b6cb0; --warn: #c05621; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1080px; padding: 24px; color: var(--ink);
       font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 28px 0 10px; }
.meta { color: var(--muted); margin: 0; }
.kpis { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; margin-top: 18px; }
.kpi { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.kpi .v { font-size: 24px; font-weight: 650; } .kpi .k { color: var(--muted); font-size: 13px; }
.kpi.warn .v { color: var(--warn); }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { border-bottom: 1px solid var(--line); padding: 6px 8px; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
th { color: var(--muted); font-weight: 600; }
table.compact { width: auto; min-width: 260px; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 18px; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 8px; padding: 12px; }
figcaption { font-weight: 600; margin-bottom: 6px; } figure p { color: var(--muted); margin: 6px 0 0; font-size: 13px; }
svg.chart { width: 100%; height: auto; display: block; }
svg .label, svg .value, svg .axis, svg .empty { font: 12px system-ui, sans-serif; fill: var(--muted); }
svg .value { fill: var(--ink); } svg .grid { stroke: var(--line); }
dl.defs { color: var(--muted); font-size: 13px; } dl.defs dt { font-weight: 600; color: var(--ink); }
@media print {
  @page { margin: 14mm; }
  body { max-width: none; padding: 0; font-size: 10.5pt; }
  .charts { grid-template-columns: 1fr 1fr; gap: 10px; }
  figure, table, .kpis, tr { break-inside: avoid; page-break-inside: avoid; }
  h2 { break-after: avoid; page-break-after: avoid; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _num(value: float | None, suffix: str = "") -> str:
    if value is None:
        return "–"
    return (f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}") + suffix


def _kpi(label: str, value: str, *, warn: bool = False) -> str:
    return f'<div class="kpi{" warn" if warn else ""}"><div class="v">{escape(value)}</div>' \
           f'<div class="k">{escape(label)}</div></div>'


def _scope(data: dict[str, Any]) -> str:
    who = f"campaign {data['campaign']}" if data["campaign"] else "all campaigns"
    since, until = data.get("since"), data.get("until")
    when = "all time" if not since and not until else f"{since or 'the start'} to {until or 'now'}"
    return f"{who} · {when} · generated {data.get('generated_at')}"


def render_html(data: dict[str, Any], *, limit_abandon: float = 0.03) -> str:
    """The whole page."""
    over = (data.get("abandon_rate_24h") or 0) > limit_abandon or (data.get("abandon_rate_30d") or 0) > limit_abandon
    kpis = [
        _kpi("calls", _num(data["calls"])),
        _kpi("numbers reached", _num(data["numbers_reached"])),
        _kpi("answer rate", _pct(data["answer_rate"])),
        _kpi("average talk time", _num(data["avg_talk_s"], " s")),
        _kpi("abandon rate, 24 h", _pct(data["abandon_rate_24h"]), warn=over),
        _kpi("abandon rate, 30 days", _pct(data["abandon_rate_30d"]), warn=over),
        _kpi("attempts per lead", _num(data["attempts_per_lead"]["mean"])),
        _kpi("recordings missing", "–" if data["recordings_missing"] is None else _num(data["recordings_missing"]),
             warn=bool(data["recordings_missing"])),
    ]
    if data["sms"]["sent"]:
        kpis.append(_kpi("texts accepted", f"{data['sms']['accepted']:,} / {data['sms']['sent']:,}"))
    title = f"Campaign report: {data['campaign'] or 'all campaigns'}"
    body = [
        f"<header><h1>{escape(title)}</h1><p class=\"meta\">{escape(_scope(data))}</p></header>",
        f'<section class="kpis">{"".join(kpis)}</section>',
        _campaign_table(data),
        f'<h2>Charts</h2><section class="charts">{"".join(_charts(data))}</section>',
        _leads_table(data),
        _surveys_html(data),
        _definitions(),
    ]
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>{''.join(body)}</body></html>\n")


def _surveys_html(data: dict[str, Any]) -> str:
    """Per survey campaign: completion, and per question reached, answered, stopped and the answers."""
    parts = []
    for name, s in data.get("surveys", {}).items():
        head = ("question", "reached", "answered", "no answer", "stopped", "answers")
        rows = []
        for q in s["questions"]:
            answers = ", ".join(f"{meaning}: {count:,}" for meaning, count in q["distribution"].items())
            cells = (q["question"], _num(q["reached"]), _num(q["answered"]), _num(q["no_answer"]), _num(q["stopped"]),
                     answers)
            rows.append("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in cells) + "</tr>")
        header = "".join(f"<th>{escape(h)}</th>" for h in head)
        summary = (f"{s['surveys']:,} survey(s) of {s['calls_answered']:,} answered call(s): {s['complete']:,} "
                   f"complete ({_pct(s['completion_rate'])}), {s['partial']:,} partial")
        parts.append(f"<h2>Survey {escape(name)}</h2><p>{escape(summary)}</p>"
                     f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
    return "".join(parts)


def _campaign_table(data: dict[str, Any]) -> str:
    head = ("campaign", "state", "calls", "reached", "answer", "avg talk", "abandon 24 h", "abandon 30 d",
            "texts sent", "blocks", "rec. missing")
    rows = []
    for name, c in data["by_campaign"].items():
        cells = (name, data["campaigns"].get(name, ""), _num(c["calls"]), _num(c["numbers_reached"]),
                 _pct(c["answer_rate"]), _num(c["avg_talk_s"], " s"), _pct(c["abandon_rate_24h"]),
                 _pct(c["abandon_rate_30d"]), _num(c["sms"]["sent"]), _num(sum(c["gate_blocks"].values())),
                 "–" if c["recordings_missing"] is None else _num(c["recordings_missing"]))
        rows.append("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in cells) + "</tr>")
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    return f"<h2>Campaigns</h2><table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _figure(caption: str, svg: str, note: str = "") -> str:
    extra = f"<p>{escape(note)}</p>" if note else ""
    return f"<figure><figcaption>{escape(caption)}</figcaption>{svg}{extra}</figure>"


def _charts(data: dict[str, Any]) -> list[str]:
    ended = data["ended"] or 0
    dispositions = [Bar(k, v, f"{v / ended:.0%}" if ended else "") for k, v in data["by_disposition"].items()]
    hours = data["answer_by_local_hour"]
    best = data["best_hours"]
    best_text = ("best hours to call: " + ", ".join(f"{h:02d}:00" for h in best)) if best else "no calls yet"
    blocks = [Bar(k, v) for k, v in data["gate_blocks"].items()]
    per_lead = data["attempts_per_lead"]["histogram"]
    charts = [
        _figure("Call outcomes", bar_chart("Call outcomes", dispositions),
                f"{ended:,} ended calls; answer rate {_pct(data['answer_rate'])}"),
        _figure("Answer rate by the callee's local hour",
                column_chart("Answer rate by local hour", [f"{h['hour']:02d}" for h in hours],
                             [h["answer_rate"] for h in hours], percent=True, counts=[h["calls"] for h in hours],
                             highlight=best),
                best_text + " (hours with at least 5 calls)"),
        _figure("Gate blocks by rule", bar_chart("Gate blocks by rule", blocks),
                f"{sum(b.value for b in blocks):,.0f} decision(s) that kept a number from being contacted"),
        _figure("Attempts per lead",
                column_chart("Attempts per lead", list(per_lead), [float(v) for v in per_lead.values()]),
                f"mean {_num(data['attempts_per_lead']['mean'])} over {data['attempts_per_lead']['leads']:,} leads"),
    ]
    calling = {name: c for name, c in data["by_campaign"].items() if c["calls"]}
    if len(calling) > 1:
        answered = [Bar(name, c["calls"], _pct(c["answer_rate"]) + " answered") for name, c in calling.items()]
        charts.append(_figure("Calls per campaign", bar_chart("Calls per campaign", answered)))
    sms = data["sms"]
    if sms["sent"]:
        outcomes = [Bar(k, v) for k, v in sorted(sms["by_outcome"].items(), key=lambda kv: -kv[1])]
        charts.append(_figure("Text messages", bar_chart("Text message outcomes", outcomes),
                              f"{sms['replies']:,} replies, {sms['opt_outs']:,} opt-outs by STOP"))
    return charts


def _leads_table(data: dict[str, Any]) -> str:
    rows = "".join(f"<tr><td>{escape(k)}</td><td>{v:,}</td></tr>" for k, v in data["leads_by_status"].items())
    return f'<h2>Leads by status (now)</h2><table class="compact"><tbody>{rows}</tbody></table>'


def _definitions() -> str:
    items = (
        ("Range", "attempts are counted by the time they started; leads by status are as of now."),
        ("Answer rate", "answered calls (a person, a machine, an abandoned or opted-out answer) / ended calls."),
        ("Numbers reached", "distinct numbers where a person answered."),
        ("Abandon rate", "abandoned / live-answered calls that ended in the 24 h or 30 days before the end of "
                         "the range: the figures the dialer holds each campaign to."),
        ("Local hour", "the hour the call started at the callee's, from the number's time zone."),
    )
    return '<h2>Definitions</h2><dl class="defs">' + "".join(
        f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in items) + "</dl>"
