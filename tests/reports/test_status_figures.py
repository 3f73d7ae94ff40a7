"""`dialer status`'s own queries (dialer.reports.status) give the figures the full report gives, on a
real SQLite store: live calls per campaign, leads per status, calls made (texts not counted)."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialer.reports import campaign_report
from dialer.reports.status import status_figures
from dialer.store import Database

CAMPAIGNS = ("alpha", "beta", "gone")  # "gone": attempts and leads whose campaign row is missing
LEAD_STATUSES = ("pending", "dialing", "finished", "exhausted", "blocked", "invalid", "disabled")
ATTEMPT = st.tuples(st.sampled_from(CAMPAIGNS), st.sampled_from(("originating", "ringing", "answered", "ended")),
                    st.sampled_from(("call", "call", "sms")))


def fill(path: Path, leads: list[tuple[str, str]], attempts: list[tuple[str, str, str]]) -> None:
    """Write the rows with plain sqlite3; each attempt on its own number (one live call per number)."""
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("PRAGMA foreign_keys = OFF")  # the "gone" campaign has no campaigns row, on purpose
        conn.executemany("INSERT INTO campaigns (id, state, created_at, updated_at) VALUES (?, ?, 0, 0)",
                         [("alpha", "active"), ("beta", "paused")])
        numbers = [f"+1415555{i:04d}" for i in range(len(leads) + len(attempts) + 1)]
        conn.executemany("INSERT INTO contacts (id, created_at, updated_at) VALUES (?, 0, 0)",
                         [(i + 1,) for i in range(len(numbers))])
        conn.executemany("INSERT INTO phone_numbers (number, contact_id, region, number_type, created_at) "
                         "VALUES (?, ?, 'US', 'mobile', 0)", [(n, i + 1) for i, n in enumerate(numbers)])
        conn.executemany("INSERT INTO leads (id, campaign_id, number, status, created_at, updated_at) "
                         "VALUES (?, ?, ?, ?, 0, 0)",
                         [(i + 1, c, numbers[i], status) for i, (c, status) in enumerate(leads)])
        conn.executemany(
            "INSERT INTO attempts (call_id, lead_id, campaign_id, number, node, audit_id, state, disposition, "
            "created_at, ended_at, medium) VALUES (?, 1, ?, ?, 'n', 0, ?, ?, 100, ?, ?)",
            [(f"c{i}", c, numbers[len(leads) + i], state, "answered" if state == "ended" else None,
              200 if state == "ended" else None, medium) for i, (c, state, medium) in enumerate(attempts)])
    conn.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(leads=st.lists(st.tuples(st.sampled_from(CAMPAIGNS), st.sampled_from(LEAD_STATUSES)), max_size=20),
       attempts=st.lists(ATTEMPT, max_size=20))
async def test_status_figures_are_the_reports_figures(leads, attempts):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dialer.db"
        async with Database.open(path, create=True):
            pass
        fill(path, leads, attempts)
        async with Database.open(path) as db:
            figures = await status_figures(db)
            report = await campaign_report(db)
    assert [(c.name, c.state) for c in figures.campaigns] == list(report["campaigns"].items())
    for part in figures.campaigns:
        expected = report["by_campaign"][part.name]
        assert part.live_calls == expected["open_attempts"]
        assert part.leads == expected["leads_by_status"]
    assert figures.live_calls == report["open_attempts"]
    assert figures.calls == report["calls"]
    # and against the rows themselves, so that both cannot be wrong together
    assert figures.calls == sum(1 for _, _, medium in attempts if medium == "call")
    assert figures.live_calls == sum(1 for _, state, medium in attempts if medium == "call" and state != "ended")
