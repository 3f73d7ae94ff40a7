"""Contacts as a campaign manager uses them: the history of a simulated campaign, search, tags,
notes and export, each command run as its own process against the real database."""

from __future__ import annotations

import csv
import io
import json
import os
import stat

from dialer.daemon import run_until_settled
from dialer.store import Database
from dialer.store import compliance as store
from tests.crm.helpers import config_file, dialer, import_people
from tests.e2e.conftest import ANSWERED, BUSY, make_config, number, rows

ANN, BOB, CAL = number(BUSY, 1), number(ANSWERED, 2), number(ANSWERED, 3)


async def simulated_campaign(tmp_path, sim):
    """Ann is busy three times (retried), Bob answers, Cal is on the internal DNC list."""
    config = make_config(tmp_path, sim, retry={"busy": {"delay_s": 0, "max_attempts": 3}})
    await import_people(tmp_path, config, [(ANN, "Ann Lee", "gold"), (BOB, "Bob Ray", "basic"),
                                           (CAL, "Cal Oh", "gold")])
    async with Database.open(config.database.path) as db:
        stamp = store.ChangeStamp("test", 0.0, await db.hash_key())
        async with db.write() as tx:
            await store.add_dnc(tx, [store.NewDncEntry(CAL, store.DncKind.INTERNAL, None, "complaint")], stamp)
    await run_until_settled(config, ["c1"])
    return config, config_file(config, tmp_path)


async def test_contact_show_gives_every_attempt_of_a_simulated_campaign_with_its_gate_decision(tmp_path, sim):
    config, path = await simulated_campaign(tmp_path, sim)
    result = dialer("contact", "show", ANN, "--format", "json", config=path)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    stored = await rows(config, "SELECT a.call_id, a.campaign_id, a.created_at, a.disposition, a.talk_s, g.verdict, "
                                "g.rule FROM attempts a JOIN audit g ON g.id = a.audit_id WHERE a.number = ? "
                                "ORDER BY a.created_at, a.id", (ANN,))
    assert len(stored) == 3
    assert [(a["call_id"], a["campaign"], a["created_at"], a["disposition"], a["talk_s"], a["gate"]["verdict"],
             a["gate"]["rule"]) for a in shown["attempts"]] == [tuple(r.values()) for r in stored]
    assert shown["name"] == "Ann Lee"
    assert shown["attributes"] == {"plan": "gold"}
    assert [(n["number"], n["zones"]) for n in shown["numbers"]] == [(ANN, ["America/Los_Angeles"])]
    assert [(lead["status"], lead["attempts"]) for lead in shown["leads"]] == [("exhausted", 3)]
    # The same history by contact id, as a person reads it.
    text = dialer("contact", "show", f"id:{shown['id']}", config=path)
    assert text.returncode == 0, text.stderr
    assert text.stdout.count("busy") >= 3
    assert "gate allowed (all rules allow)" in text.stdout
    assert "no DNC entry, no consent record" in text.stdout
    bob = json.loads(dialer("contact", "show", BOB, "--format", "json", config=path).stdout)
    [answered] = bob["attempts"]
    assert answered["disposition"] == "answered"
    assert answered["talk_s"] > 0
    cal = json.loads(dialer("contact", "show", CAL, "--format", "json", config=path).stdout)
    assert cal["attempts"] == []
    assert [(b["verdict"], b["rule"]) for b in cal["blocks"]] == [("block", "dnc.internal")]
    assert [(d["list"], d["source"]) for d in cal["dnc"]] == [("internal", "complaint")]
    assert [c["kind"] for c in cal["changes"]] == ["dnc_add"]


async def test_search_tag_note_and_export(tmp_path, sim):
    config, path = await simulated_campaign(tmp_path, sim)
    assert dialer("contact", "tag", ANN, "VIP", "renewal", config=path).stdout.startswith("2 tag(s) added")
    assert dialer("contact", "note", ANN, "Asked to be called after 6 pm", "--by", "maria", config=path).returncode == 0

    def found(*args: str) -> list[str]:
        result = dialer("contact", "search", *args, "--format", "json", config=path)
        assert result.returncode == 0, result.stderr
        return [c["name"] for c in json.loads(result.stdout)]

    assert found("--tag", "vip") == ["Ann Lee"]
    assert found("--name", "RAY") == ["Bob Ray"]
    assert found("--number", ANN[-6:]) == ["Ann Lee"]
    assert found("--attr", "plan=GOLD") == ["Ann Lee", "Cal Oh"]
    assert found("--attr", "plan=gold", "--name", "cal") == ["Cal Oh"]
    assert dialer("contact", "search", config=path).returncode == 2
    shown = json.loads(dialer("contact", "show", ANN, "--format", "json", config=path).stdout)
    assert shown["tags"] == ["renewal", "vip"]
    assert [(n["body"], n["author"]) for n in shown["notes"]] == [("Asked to be called after 6 pm", "maria")]
    assert dialer("contact", "tag", ANN, "renewal", "--remove", config=path).stdout.startswith("1 tag(s) removed")

    out = tmp_path / "contacts.json"
    result = dialer("contact", "export", "--format", "json", "--output", str(out), config=path)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    exported = {c["name"]: c for c in json.loads(out.read_text())}
    assert {name: len(c["attempts"]) for name, c in exported.items()} == {"Ann Lee": 3, "Bob Ray": 1, "Cal Oh": 0}
    total = (await rows(config, "SELECT COUNT(*) AS n FROM attempts"))[0]["n"]
    result = dialer("contact", "export", "--format", "csv", config=path)
    table = list(csv.DictReader(io.StringIO(result.stdout)))
    assert sum(1 for r in table if r["what"] == "call") == total
    assert [(r["name"], r["what"], r["gate_rule"]) for r in table if r["what"] == "blocked"] == [
        ("Cal Oh", "blocked", "dnc.internal")]
    # A cell starting with + is written as text ('+1...): a spreadsheet runs nothing (OWASP CSV injection).
    assert {r["numbers"] for r in table if r["name"] == "Ann Lee"} == {"'" + ANN}


async def test_an_unknown_contact_is_an_error_not_a_crash(tmp_path, sim):
    _, path = await simulated_campaign(tmp_path, sim)
    result = dialer("contact", "show", number(ANSWERED, 9), config=path)
    assert result.returncode == 1
    assert "no contact has that number" in result.stderr
    assert dialer("contact", "show", "id:999", config=path).returncode == 1
    assert dialer("contact", "show", "not-a-thing", config=path).returncode == 2
