"""The store owns the core tables: no module outside dialer/store/ holds SQL on them.

Read from the source (ast): every string constant, f-string parts included, is searched for a
statement that reads or writes `campaigns`, `contacts`, `phone_numbers`, `leads`, `attempts` or
`audit`. A second database backend replaces dialer/store/ only if that stays so.
"""

from __future__ import annotations

import ast
import re
import sqlite3
from pathlib import Path

import pytest

from dialer.store import Database
from dialer.store.states import AttemptState, CampaignState, LeadStatus, Medium

DIALER = Path(__file__).resolve().parents[2] / "dialer"
CORE_TABLES = ("campaigns", "contacts", "phone_numbers", "leads", "attempts", "audit")
# SQL keywords are written in capitals here (STYLE): "rows from leads" in prose is not a statement.
STATEMENT = re.compile(r"\b(?:FROM|INTO|UPDATE|JOIN|TABLE)\s+(" + "|".join(CORE_TABLES) + r")\b")

# Modules not moved yet, each with the tables it still touches. The test fails when one of them no
# longer does (take it off the list) and when any other module starts to.
# None today; a module merged with such SQL goes here with the reason, until it is moved.
NOT_MOVED_YET: dict[str, set[str]] = {}


def core_sql(source: str) -> set[str]:
    """The core tables named by SQL in the string constants of `source`."""
    tables: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            tables.update(STATEMENT.findall(node.value))
    return tables


def outside_store() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted(DIALER.rglob("*.py")):
        relative = path.relative_to(DIALER.parent).as_posix()
        if relative.startswith("dialer/store/"):
            continue
        tables = core_sql(path.read_text(encoding="utf-8"))
        if tables:
            found[relative] = tables
    return found


def test_no_module_outside_the_store_has_sql_on_a_core_table():
    found = outside_store()
    unexpected = {m: t for m, t in found.items() if not t <= NOT_MOVED_YET.get(m, set())}
    assert not unexpected, f"SQL on core tables outside dialer/store/ (move it behind a store function): {unexpected}"
    stale = {m: t - found.get(m, set()) for m, t in NOT_MOVED_YET.items() if t - found.get(m, set())}
    assert not stale, f"no longer touched there, take them off NOT_MOVED_YET: {stale}"


@pytest.mark.parametrize(("source", "tables"), [
    ('q = "SELECT id FROM leads WHERE x = ?"', {"leads"}),
    ('q = ("UPDATE attempts SET a = 1 "\n     "WHERE b IN (SELECT call_id FROM audit)")', {"attempts", "audit"}),
    ('q = f"INSERT INTO campaigns (id) VALUES ({marks})"', {"campaigns"}),
    ('q = f"SELECT n FROM x JOIN phone_numbers p ON {on}"', {"phone_numbers"}),
    ('q = "DELETE FROM contacts WHERE id = ?"', {"contacts"}),
    ('"""Rows from leads and attempts, in prose."""', set()),
    ('q = "SELECT 1 FROM leads_archive"', set()),
    ('q = "SELECT 1 FROM recordings"', set()),
])
def test_the_search_finds_statements_and_not_prose(source, tables):
    assert core_sql(source) == tables


def test_the_search_would_see_a_module_that_reached_into_the_tables(tmp_path):
    # The walk really reads the files: the engine (which imports these tables' store modules) is clean,
    # a copy of it with one raw statement added is not.
    engine = (DIALER / "engine.py").read_text(encoding="utf-8")
    assert core_sql(engine) == set()
    assert core_sql(engine + '\nRAW = "UPDATE leads SET status = \'pending\'"\n') == {"leads"}


@pytest.mark.parametrize(("table", "column", "enum", "other"), [
    ("campaigns", "state", CampaignState, "id, created_at, updated_at"),
    ("leads", "status", LeadStatus, None),
    ("attempts", "state", AttemptState, None),
    ("attempts", "medium", Medium, None),
])
async def test_each_enum_is_what_the_column_accepts(tmp_path, table, column, enum, other):
    # The CHECK constraints of the migrations and the enums list the same values: each member is
    # accepted, a value outside the enum is refused by the database.
    async with Database.open(tmp_path / "d.db"):
        pass
    conn = sqlite3.connect(tmp_path / "d.db")
    try:
        conn.execute("INSERT INTO campaigns (id, state, created_at, updated_at) VALUES ('c', 'active', 0, 0)")
        conn.execute("INSERT INTO leads (id, campaign_id, number, status, created_at, updated_at) "
                     "VALUES (1, 'c', '+14155550100', 'pending', 0, 0)")

        def insert(value: str, n: int) -> None:
            if table == "campaigns":
                conn.execute("INSERT INTO campaigns (id, state, created_at, updated_at) VALUES (?, ?, 0, 0)",
                             (f"c{n}", value))
            elif table == "leads":
                conn.execute("INSERT INTO leads (campaign_id, number, status, created_at, updated_at) "
                             "VALUES ('c', ?, ?, 0, 0)", (f"+1415555{n:04d}", value))
            else:
                state, medium = (value, "call") if column == "state" else ("ended", value)
                conn.execute("INSERT INTO attempts (call_id, lead_id, campaign_id, number, node, audit_id, state, "
                             "created_at, medium) VALUES (?, 1, 'c', ?, 'n', 0, ?, 0, ?)",
                             (f"k{n}", f"+1415555{n:04d}", state, medium))

        for n, member in enumerate(enum, start=1):
            insert(member, n)
        with pytest.raises(sqlite3.IntegrityError):
            insert("no-such-value", 999)
    finally:
        conn.close()
