"""`dialer forget`: nothing of the person is left in clear (every table and column, the database
file's bytes, the logs), their history still counts in reports, and the number is never dialled
again, even after a later import brings it back."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

from dialer.crm.erasure import forms
from dialer.reports import campaign_report
from dialer.store import Database
from dialer.store import compliance as store
from tests.crm.helpers import captured_logs, config_file, dialer, dialer_beside, import_people
from tests.e2e.conftest import ANSWERED, BUSY, OPTOUT, number, rows
from tests.e2e.test_compliance import originated, running, until
from tests.sms.test_sms_end_to_end import sms_config

ANN, ANN_WORK, BOB = number(ANSWERED, 1), number(BUSY, 3), number(ANSWERED, 2)
NAME = "Annabel Quist"


def needles() -> list[str]:
    return [*forms(ANN), *forms(ANN_WORK), NAME, "Annabel", "Quist"]


def scan_tables(path: Path) -> list[tuple[str, str, str]]:
    """(table, column, needle) for every value anywhere in the database that holds a needle."""
    found = []
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            for column in columns:
                for needle in needles():
                    hit = conn.execute(f"SELECT 1 FROM {table} WHERE CAST({column} AS TEXT) LIKE ? LIMIT 1",
                                       (f"%{needle}%",)).fetchone()
                    if hit:
                        found.append((table, column, needle))
    finally:
        conn.close()
    return found


def scan_bytes(path: Path) -> list[tuple[str, str]]:
    """(file, needle) for the database file and its WAL: free pages and old page images included."""
    found = []
    for file in (path, path.with_name(path.name + "-wal")):
        if file.exists():
            data = file.read_bytes()
            found += [(file.name, n) for n in needles() if n.encode() in data]
    return found


async def test_forget_leaves_nothing_of_the_person_and_the_number_stays_blocked(tmp_path, sim):
    config = sms_config(tmp_path, sim)
    path = config_file(config, tmp_path)
    with captured_logs() as logs:
        await import_people(tmp_path, config, [(ANN, NAME, "gold"), (ANN_WORK, "", "gold"), (BOB, "Bob Ray", "basic")])
        await import_people(tmp_path, config, [(ANN, NAME, "gold")], "s1")
        async with Database.open(config.database.path) as db:
            # Her work number belongs to the same person; a consent and a DNC entry are on record.
            async with db.write() as tx:
                ann_id = (await tx.fetchone("SELECT contact_id FROM phone_numbers WHERE number = ?", (ANN,)))[0]
                await tx.execute("UPDATE phone_numbers SET contact_id = ? WHERE number = ?", (ann_id, ANN_WORK))
            stamp = store.ChangeStamp("test", 0.0, await db.hash_key())
            async with db.write() as tx:
                await store.add_consents(tx, [store.NewConsent(ANN, f"web form of {NAME}", 0.0)], stamp)
                await store.add_dnc(tx, [store.NewDncEntry(ANN_WORK, store.DncKind.CAMPAIGN, "s1", "complaint")],
                                    stamp)
        assert dialer("contact", "note", ANN, f"{NAME} prefers mornings, call {ANN}", config=path).returncode == 0
        assert dialer("contact", "tag", ANN, "vip", config=path).returncode == 0
        async with running(config):
            await until(lambda: rows(config, "SELECT COUNT(*) FROM leads WHERE status IN ('pending', 'dialing') "
                                             "HAVING COUNT(*) = 0"))
            sim.inject_inbound_message(f'"{NAME}" <sip:{ANN}@carrier.example>', f"Thanks, {NAME} here")
            await until(lambda: rows(config, "SELECT 1 FROM sms_messages WHERE direction = 'in'"))
            before = await _report(config)
            assert scan_tables(config.database.path)  # she is everywhere before
            result = await dialer_beside("forget", ANN, "--by", "dpo@acme.example", "--yes", config=path)
            assert result.returncode == 0, result.stderr
            erased_tables = scan_tables(config.database.path)
            erased_bytes = scan_bytes(config.database.path)
            # A later import of the same list brings her number back: the gate blocks it.
            await import_people(tmp_path, config, [(ANN, "Annabel Q.", "gold")], "c1")
            await until(lambda: rows(config, "SELECT 1 FROM audit WHERE rule = 'dnc.erased' AND kind = 'gate'"))
        after = await _report(config)
    assert erased_tables == []
    assert erased_bytes == []
    for secret in needles():
        assert secret not in logs.getvalue()
        assert secret not in result.stdout + result.stderr
    # One audit row says when and by whom, with counts only.
    [record] = await rows(config, "SELECT * FROM audit WHERE kind = 'forget'")
    assert record["actor"] == "dpo@acme.example"
    assert record["rule"] == "dnc.erased"
    assert "2 number(s)" in record["detail"]
    # History kept: the counts of every report are what they were.
    assert after == before
    # Calls to her: the original ones only; the re-imported lead was blocked, never dialled.
    assert originated(tmp_path) == {ANN, ANN_WORK, BOB}
    [blocked] = await rows(config, "SELECT status FROM leads WHERE number = ?", (ANN,))
    assert blocked["status"] == "blocked"
    check = dialer("check", ANN, "--format", "json", config=path)
    assert check.returncode == 1
    verdicts = {r["rule"]: r["verdict"] for r in json.loads(check.stdout)["rules"]}
    assert verdicts["dnc.erased"] == "block"
    # Bob is untouched; Ann's contact is an erased shell that still holds her history's shape.
    bob = json.loads(dialer("contact", "show", BOB, "--format", "json", config=path).stdout)
    assert (bob["name"], len(bob["attempts"])) == ("Bob Ray", 1)
    shell = json.loads(dialer("contact", "show", f"id:{ann_id}", "--format", "json", config=path).stdout)
    assert shell["name"] is None
    assert shell["erased_at"] is not None
    assert (shell["notes"], shell["tags"], shell["attributes"]) == ([], [], {})
    assert all(re.fullmatch(r"erased:[0-9a-f]{64}", n["number"]) for n in shell["numbers"])
    assert sorted(a["disposition"] for a in shell["attempts"]) == ["accepted", "answered", "busy"]
    assert len(shell["suppressed"]) == 2


async def _report(config) -> dict:
    async with Database.open(config.database.path) as db:
        data = await campaign_report(db)
    return {k: data[k] for k in ("calls", "by_disposition", "unique_numbers", "answer_rate", "talk_s_total")}


async def test_forget_of_a_number_that_was_never_imported_still_keeps_it_off_every_list(tmp_path, sim):
    config = sms_config(tmp_path, sim)
    path = config_file(config, tmp_path)
    stranger = number(OPTOUT, 7)
    assert dialer("forget", stranger, "--yes", config=path).returncode == 1  # no database: `dialer init` first
    assert dialer("init", config=path).returncode == 0
    result = dialer("forget", stranger, "--yes", config=path)
    assert result.returncode == 0, result.stderr
    assert "a number with no contact" in result.stdout
    await import_people(tmp_path, config, [(stranger, "Someone", "gold")])
    async with running(config):
        await until(lambda: rows(config, "SELECT 1 FROM leads WHERE status = 'blocked'"))
    assert originated(tmp_path) == set()
