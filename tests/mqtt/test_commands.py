"""Commands over MQTT against the running daemon: each verb works; a bad payload changes nothing but
its audit row. These run over an anonymous test broker, so they allow unauthenticated commands
(test_command_security.py has the authenticated and the refused cases)."""

from __future__ import annotations

import json

from dialer.mqtt.commands import compliance_store
from dialer.mqtt.payloads import ReplyPayload
from tests.e2e.conftest import ANSWERED, number, rows
from tests.mqtt.conftest import Watcher, mqtt_config, mqtt_of, running_daemon, send_command


def open_config(tmp_path, sim, broker, **mqtt):
    """The MQTT test config with commands allowed over the anonymous test broker."""
    return mqtt_config(tmp_path, sim, broker, allow_unauthenticated_commands=True, **mqtt)


async def test_pause_add_leads_resume_stop_and_status(tmp_path, sim, broker):
    config = open_config(tmp_path, sim, broker)
    async with running_daemon(config) as daemon, Watcher(broker) as watcher:
        status = await send_command(broker, "status", {"request_id": "s1"}, request_id="s1")
        ReplyPayload.model_validate(status)
        assert status["ok"] is True
        assert status["node"] == "test"
        assert status["result"]["campaigns"] == {"c1": "active"}
        assert status["result"]["mqtt_connected"] is True
        assert status["result"]["ami_connected"] is True

        paused = await send_command(broker, "pause", {"request_id": "p1", "campaign": "c1"}, request_id="p1")
        assert paused["ok"] is True
        assert paused["result"] == {"campaign": "c1", "state": "paused", "previous": "active"}

        leads = [{"number": number(ANSWERED, i), "name": f"Lead {i}"} for i in range(3)]
        leads.append({"number": "(415) 555-0300", "priority": 5})  # national form: the campaign's region
        added = await send_command(broker, "add_leads", {"request_id": "a1", "campaign": "c1", "leads": leads},
                                   request_id="a1")
        assert added["ok"] is True, added
        assert added["result"]["new_leads"] == 4
        assert (await rows(config, "SELECT state FROM campaigns"))[0]["state"] == "paused"

        await send_command(broker, "resume", {"request_id": "r1", "campaign": "c1"}, request_id="r1")
        await watcher.wait_for(lambda: sum(m[-1]["state"] == "ended" for m in watcher.calls().values()) == 4)
        await watcher.wait_for(lambda: any(m.data["leads"].get("finished") == 4 and m.data["state"] == "active"
                                           for m in watcher.on("/campaigns/c1/stats")))

        stopped = await send_command(broker, "stop", {"request_id": "x1", "campaign": "c1"}, request_id="x1")
        assert stopped["result"] == {"campaign": "c1", "state": "finished", "previous": "active"}
        await watcher.wait_for(lambda: watcher.on("/campaigns/c1/stats")[-1].data["state"] == "finished")
        assert mqtt_of(daemon).commands.handled == 5
    audit = await rows(config, "SELECT detail, actor, verdict FROM audit WHERE kind = 'command' ORDER BY id")
    assert [a["detail"].split(" ")[0] for a in audit] == ["status", "pause", "add_leads", "resume", "stop"]
    assert {a["actor"] for a in audit} == {"mqtt:unnamed"}  # cmd/<verb>: no sender level
    assert {a["verdict"] for a in audit} == {"done"}
    assert "via an anonymous broker connection" in audit[1]["detail"]
    # The lead added in national form was dialled as its E.164 number.
    assert await rows(config, "SELECT number FROM leads WHERE priority = 5") == [{"number": "+14155550300"}]


MALFORMED = [
    ("pause", b"{not json", "unknown", "payload", "not JSON"),
    ("pause", b"[1, 2]", "unknown", "payload", "must be a JSON object"),
    ("pause", {"campaign": "c1"}, "unknown", "request_id", "Field required"),
    ("pause", {"request_id": "a/b+#", "campaign": "c1"}, "unknown", "request_id", "should match pattern"),
    ("pause", {"request_id": "m1"}, "m1", "campaign", "Field required"),
    ("pause", {"request_id": "m2", "campaign": "nope"}, "m2", "campaign", "no campaign 'nope'"),
    ("pause", {"request_id": "m3", "campaign": "c1", "force": True}, "m3", "force", "unknown field"),
    ("reboot", {"request_id": "m4"}, "m4", "verb", "unknown verb 'reboot'"),
    ("add_leads", {"request_id": "m5", "campaign": "c1", "leads": []}, "m5", "leads", "at least 1 item"),
    ("add_leads", {"request_id": "m6", "campaign": "c1",
                   "leads": [{"number": "+14155550100"}, {"number": "911"}]}, "m6", "leads.1.number",
     "not a valid number"),
    ("add_leads", {"request_id": "m7", "campaign": "c1", "leads": [{"number": "+14155550100", "priority": "hi"}]},
     "m7", "leads.0.priority", "valid integer"),
    ("add_leads", {"request_id": "m8", "campaign": "c9", "leads": [{"number": "+14155550100"}]}, "m8", "campaign",
     "no campaign 'c9'"),
    ("add_dnc", {"request_id": "m9", "numbers": ["4155550100"]}, "m9", "numbers.0", "give region"),
    # Numbers that are not finite or not in range are field errors, never "internal error".
    ("add_dnc", {"request_id": "n1", "numbers": ["+14155550100"], "expires_at": -1e308}, "n1", "expires_at",
     "must be a unix time between 2000-01-01 and 2100-01-01"),
    ("add_dnc", {"request_id": "n2", "numbers": ["+14155550100"], "expires_at": "NaN"}, "n2", "expires_at",
     "finite number"),
    ("add_dnc", b'{"request_id": "n3", "numbers": ["+14155550100"], "expires_at": NaN}', "n3", "expires_at",
     "finite number"),
    ("add_dnc", b'{"request_id": "n4", "numbers": ["+14155550100"], "expires_at": Infinity}', "n4", "expires_at",
     "finite number"),
    ("add_dnc", b'{"request_id": "n5", "numbers": ["+14155550100"], "expires_at": 1e400}', "n5", "expires_at",
     "finite number"),
    ("add_dnc", b'{"request_id": "n6", "numbers": ["+14155550100"], "expires_at": -Infinity}', "n6", "expires_at",
     "finite number"),
    ("add_dnc", {"request_id": "n7", "numbers": ["+14155550100"], "expires_at": 1e12}, "n7", "expires_at",
     "must be a unix time between 2000-01-01 and 2100-01-01"),
    ("add_dnc", {"request_id": "n8", "numbers": ["+14155550100"], "expires_at": 1_000_000_000}, "n8", "expires_at",
     "is in the past"),
    ("add_leads", b'{"request_id": "n9", "campaign": "c1", "leads": [{"number": "+14155550100", "priority": NaN}]}',
     "n9", "leads.0.priority", "finite number"),
    ("add_leads", {"request_id": "n10", "campaign": "c1", "leads": [{"number": "+14155550100", "priority": 1e308}]},
     "n10", "leads.0.priority", "integer"),
    ("status", b"[" * 200_000, "unknown", "payload", "nested too deep"),
]


async def test_malformed_commands_get_a_reply_naming_the_field_and_change_nothing(tmp_path, sim, broker):
    config = open_config(tmp_path, sim, broker)
    async with running_daemon(config):
        before = await _snapshot(config)
        for verb, payload, request_id, field, reason in MALFORMED:
            reply = await send_command(broker, verb, payload, request_id=request_id)
            ReplyPayload.model_validate(reply)
            assert reply["ok"] is False, (verb, payload)
            assert reply["request_id"] == request_id
            assert reply["result"] is None
            assert any(e["field"] == field and reason in e["reason"] for e in reply["errors"]), reply["errors"]
            assert not any("internal error" in e["reason"] for e in reply["errors"])
        assert await _snapshot(config) == before
    # Refused, and on record: one audit row per command, with what was wrong.
    audit = await rows(config, "SELECT detail, verdict FROM audit WHERE kind = 'command' ORDER BY id")
    assert len(audit) == len(MALFORMED)
    assert {a["verdict"] for a in audit} == {"refused"}
    first_numeric = next(i for i, m in enumerate(MALFORMED) if m[2] == "n1")
    assert "expires_at: must be a unix time between 2000-01-01" in audit[first_numeric]["detail"]


async def _snapshot(config) -> dict[str, object]:
    from dialer.store import Database

    async with Database.open(config.database.path) as db:
        return {
            "campaigns": [dict(r) for r in await db.fetchall("SELECT id, state FROM campaigns")],
            "leads": [dict(r) for r in await db.fetchall("SELECT * FROM leads")],
            "audit": [dict(r) for r in await db.fetchall("SELECT kind, detail FROM audit WHERE kind <> 'command'")],
        }


async def test_add_dnc_lists_the_numbers_and_the_gate_blocks_them(tmp_path, sim, broker):
    config = open_config(tmp_path, sim, broker)
    listed, other = number(ANSWERED, 88), number(ANSWERED, 89)
    async with running_daemon(config), Watcher(broker) as watcher:
        await send_command(broker, "pause", {"request_id": "p1", "campaign": "c1"}, request_id="p1")
        await send_command(broker, "add_leads", {"request_id": "a1", "campaign": "c1",
                                                 "leads": [{"number": listed}, {"number": other}]}, request_id="a1")
        payload = {"request_id": "d1", "numbers": [listed, "(415) 555-8888"], "region": "US", "note": "by phone"}
        reply = await send_command(broker, "add_dnc", payload, request_id="d1")
        if compliance_store() is None:  # a build without the compliance store: refused, nothing changed
            assert reply["ok"] is False
            assert reply["errors"] == [{"field": "payload", "reason": "DNC lists cannot be changed on this "
                                                                      "node: this build has no DNC store"}]
            return
        assert reply["ok"] is True, reply
        assert reply["result"]["added"] == 2
        assert reply["result"]["list"] == "internal"
        await send_command(broker, "resume", {"request_id": "r1", "campaign": "c1"}, request_id="r1")
        await watcher.wait_for(lambda: any(m[-1]["state"] == "ended" for m in watcher.calls().values()))
    assert listed[2:] not in json.dumps(reply)
    entries = await rows(config, "SELECT number, list, actor, source FROM dnc_entries ORDER BY number")
    assert [e["number"] for e in entries] == sorted([listed, "+14155558888"])
    expected = ("internal", "mqtt:unnamed", "mqtt request d1: by phone")
    assert {(e["list"], e["actor"], e["source"]) for e in entries} == {expected}
    attempts = await rows(config, "SELECT number FROM attempts")
    assert attempts == [{"number": other}]  # the listed number was never dialled
