"""SMS campaigns end to end: daemon -> MessageSend / DongleSendSMS over TCP -> simulator, a real SQLite
store, the same gate as calls, and a STOP reply that opts the sender out of calls and messages."""

from __future__ import annotations

import base64
import io
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from dialer.config import Config
from dialer.config.models import RetryRule
from dialer.daemon import run_until_settled
from dialer.engine import Engine
from dialer.events import CallEvent
from dialer.leads.importer import ImportOptions, import_file
from dialer.leads.sources import open_source
from dialer.logs import configure_logging
from dialer.outcome import Disposition
from dialer.sim import ResponseFault
from dialer.sms.actions import send_refused
from dialer.store import Database
from dialer.store import compliance as store
from tests.e2e.conftest import ANSWERED, CHANNEL_FAILURE, LONG, SECRET, make_config, number, rows, sim_log
from tests.e2e.test_compliance import originated, running, until, write_toml

TEMPLATE = "Hi {first_name}, your {plan} plan renews soon. Reply STOP to opt out."
GATEWAYS = {
    "pbx": {"to": "pjsip:carrier/sip:{number}@sip.carrier.example", "sender": "sip:+14155550100@pbx.example"},
    "gsm": {"action": "DongleSendSMS", "device": "dongle0"},
    "gsm-missing": {"action": "DongleSendSMS", "device": "dongle7"},
}


def sms_config(tmp_path: Path, sim: Any, *, gateway: str = "pbx", sms: dict[str, Any] | None = None,
               campaigns: dict[str, dict[str, Any]] | None = None) -> Config:
    """Campaign c1 calls; s1 (and any in `campaigns`) texts with `gateway`."""
    base = make_config(tmp_path, sim)
    c1 = base.campaigns["c1"].model_dump(mode="json", exclude_none=True)
    texts = {"s1": {"kind": "sms", "sms": {"gateway": gateway, "template": TEMPLATE}}, **(campaigns or {})}
    extra = {"sms": {"gateways": GATEWAYS, **(sms or {})}, "campaigns": {"c1": c1, **texts}}
    return make_config(tmp_path, sim, extra=extra)


async def import_people(tmp_path: Path, config: Config, people: list[tuple[str, str, str]], campaign: str) -> None:
    """Import (number, name, plan) rows; an empty plan leaves the attribute out."""
    path = tmp_path / f"people-{campaign}.csv"
    path.write_text("phone,name,plan\n" + "".join(f"{n},{name},{plan}\n" for n, name, plan in people))
    async with Database.open(config.database.path) as db:
        with open_source(path) as source:  # the way `dialer import` reads a file
            report = await import_file(db, campaign, source, ImportOptions("US"), 0.0)
    assert not report.bad


def sent_bodies(sim: Any) -> dict[str, str]:
    """Destination digits -> decoded text, of every message the simulator accepted."""
    out = {}
    for m in sim.messages:
        if m.response == "Success":
            digits = m.to.split("sip:")[-1].split("@")[0] if m.action == "MessageSend" else m.to
            out["+" + digits.lstrip("+")] = m.body
    return out


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """The daemon's JSON log lines, as journald would get them."""
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    try:
        yield stream
    finally:
        structlog.reset_defaults()


async def test_an_sms_campaign_sends_through_the_gate_and_records_every_outcome(tmp_path, sim, logs):
    config = sms_config(tmp_path, sim)
    ann, bob, cy, dee = number(ANSWERED, 1), number(ANSWERED, 2), number(CHANNEL_FAILURE, 3), number(LONG, 4)
    await import_people(tmp_path, config, [(ann, "Ann Lee", "gold"), (bob, "Bob Ray", ""), (cy, "Cy Po", "basic"),
                                           (dee, "Dee Ko", "gold")], "s1")
    async with Database.open(config.database.path) as db:
        stamp = store.ChangeStamp("test", 0.0, await db.hash_key())
        async with db.write() as tx:
            await store.add_dnc(tx, [store.NewDncEntry(dee, store.DncKind.INTERNAL, None, "complaint")], stamp)
    events: list[CallEvent] = []

    def watch(engine: Engine) -> None:
        engine.event_hooks.append(events.extend)

    await run_until_settled(config, ["s1"], on_engine=watch)

    # Asterisk got exactly the two messages the gate allowed, with the template filled in.
    assert sent_bodies(sim) == {ann: "Hi Ann, your gold plan renews soon. Reply STOP to opt out."}
    sent = list(sim.messages)
    assert sorted(m.to for m in sent) == sorted(f"pjsip:carrier/sip:{n}@sip.carrier.example" for n in (ann, cy))
    assert all(m.sender == "sip:+14155550100@pbx.example" for m in sent)
    attempts = {r["number"]: r for r in await rows(
        config, "SELECT number, medium, state, disposition, detail FROM attempts")}
    assert set(attempts) == {ann, cy}
    assert attempts[ann]["medium"] == "sms"
    assert (attempts[ann]["disposition"], attempts[ann]["detail"]) == ("accepted", "Message successfully sent")
    assert (attempts[cy]["disposition"], attempts[cy]["detail"]) == ("failed", "Message failed to send.")
    leads = {r["number"]: r for r in await rows(config, "SELECT number, status, last_disposition FROM leads")}
    assert leads[ann]["status"] == "finished"
    assert (leads[bob]["status"], leads[bob]["last_disposition"]) == ("invalid", "sms_template")
    assert leads[dee]["status"] == "blocked"
    audit = await rows(config, "SELECT rule, detail, verdict FROM audit WHERE kind IN ('gate', 'sms') ORDER BY id")
    assert ("sms.template", "no value for {plan}", "block") in {(a["rule"], a["detail"], a["verdict"]) for a in audit}
    assert ("dnc.internal", "block") in {(a["rule"], a["verdict"]) for a in audit}
    # Published like calls: each message's start and end through the engine's event hooks.
    texts = [(e.number, e.state.value, e.disposition) for e in events if e.medium == "sms"]
    assert (ann, "originating", None) in texts
    assert (ann, "ended", "accepted") in texts
    assert (cy, "ended", "failed") in texts
    body = await rows(config, "SELECT body, detail FROM sms_messages WHERE number = ?", (ann,))
    assert body == [{"body": "Hi Ann, your gold plan renews soon. Reply STOP to opt out.",
                     "detail": "Message successfully sent"}]
    # Logs name no whole number and no name.
    text = logs.getvalue()
    for secret in (ann, ann[1:], bob, cy, dee, "Ann Lee", "Bob Ray"):
        assert secret not in text


async def test_a_stop_reply_opts_the_sender_out_of_messages_and_calls(tmp_path, sim):
    config = sms_config(tmp_path, sim)
    ann, other = number(ANSWERED, 1), number(ANSWERED, 2)
    await import_people(tmp_path, config, [(ann, "Ann Lee", "gold")], "s1")
    await run_until_settled(config, ["s1"])
    assert ann in sent_bodies(sim)
    async with running(config):
        # The callee answers STOP: the [dialer-messages] context reports it with a UserEvent.
        sim.inject_inbound_message(f'"Ann" <sip:{ann}@sip.carrier.example>', "Stop.")
        await until(lambda: rows(config, "SELECT 1 FROM dnc_entries WHERE number = ? AND list = 'optout'", (ann,)))
        # Later the same person is queued for a call and for another text; a stranger's reply is kept.
        sim.inject_inbound_message(f"sip:{other}@sip.carrier.example", "who is this?")
        await import_people(tmp_path, config, [(ann, "Ann Lee", "gold"), (other, "Oz", "gold")], "c1")
        await until(lambda: rows(config, "SELECT 1 FROM leads WHERE campaign_id = 'c1' AND status <> 'pending' "
                                         "AND number = ?", (other,)))
        await until(lambda: rows(config, "SELECT 1 FROM leads WHERE campaign_id = 'c1' AND status = 'blocked' "
                                         "AND number = ?", (ann,)))
    assert originated(tmp_path) == {other}
    [entry] = await rows(config, "SELECT list, campaign_id, source FROM dnc_entries WHERE number = ?", (ann,))
    assert (entry["list"], entry["campaign_id"]) == ("optout", None)
    assert entry["source"].startswith("sms-reply:")
    inbound = await rows(config, "SELECT number, body, keyword, campaign_id FROM sms_messages WHERE direction = 'in' "
                                 "ORDER BY id")
    assert inbound == [{"number": ann, "body": "Stop.", "keyword": "STOP", "campaign_id": "s1"},
                       {"number": other, "body": "who is this?", "keyword": None, "campaign_id": None}]
    blocked = await rows(config, "SELECT rule FROM audit WHERE kind = 'gate' AND verdict = 'block' "
                                 "AND campaign_id = 'c1'")
    assert [b["rule"] for b in blocked] == ["dnc.optout"]


async def test_messages_and_calls_are_capped_apart(tmp_path, sim):
    # One text a day per number: a second SMS campaign is held back, a call is not.
    config = sms_config(tmp_path, sim, sms={"max_per_24h": 1, "min_gap_s": 0},
                        campaigns={"s2": {"kind": "sms", "sms": {"gateway": "pbx", "template": "Hello {name}"}}})
    ann = number(ANSWERED, 1)
    await import_people(tmp_path, config, [(ann, "Ann Lee", "gold")], "s1")
    await run_until_settled(config, ["s1"])
    await import_people(tmp_path, config, [(ann, "Ann Lee", "gold")], "s2")
    await import_people(tmp_path, config, [(ann, "Ann Lee", "gold")], "c1")
    async with running(config):
        await until(lambda: rows(config, "SELECT 1 FROM audit WHERE campaign_id = 's2' AND rule = 'frequency.daily'"))
        await until(lambda: ann in originated(tmp_path))
    [s2] = await rows(config, "SELECT status, next_attempt_at FROM leads WHERE campaign_id = 's2'")
    assert s2["status"] == "pending"
    assert s2["next_attempt_at"] > 0
    media = sorted(r["medium"] for r in await rows(config, "SELECT medium FROM attempts"))
    assert media == ["call", "sms"]


async def test_a_gsm_gateway_sends_with_dongle_send_sms_and_reports_its_errors(tmp_path, sim):
    config = sms_config(tmp_path, sim, gateway="gsm",
                        campaigns={"s2": {"kind": "sms", "sms": {"gateway": "gsm-missing", "template": "Hi {name}"}}})
    ann, bob = number(ANSWERED, 1), number(ANSWERED, 2)
    await import_people(tmp_path, config, [(ann, "Ann Lee", "gold")], "s1")
    await import_people(tmp_path, config, [(bob, "Bob Ray", "gold")], "s2")
    await run_until_settled(config, ["s1", "s2"])
    by_device = {m.sender: m for m in sim.messages}
    assert by_device["dongle0"].to == ann
    assert by_device["dongle0"].action == "DongleSendSMS"
    assert by_device["dongle0"].body == "Hi Ann, your gold plan renews soon. Reply STOP to opt out."
    attempts = {r["number"]: r for r in await rows(config, "SELECT number, disposition, detail FROM attempts")}
    assert attempts[ann]["disposition"] == "accepted"
    assert attempts[ann]["detail"].startswith("[dongle0] SMS queued for send (ID 0x")
    assert (attempts[bob]["disposition"], attempts[bob]["detail"]) == ("failed", "[dongle7] no such device")
    assert [m["kind"] for m in sim_log(tmp_path, "message")] == ["message", "message"]


def test_the_simulators_message_body_is_what_was_sent():
    # Base64Body round trip with commas and non-ASCII text (what a plain Body header could not carry).
    from dialer.sms.actions import send_fields
    from dialer.sms.config import SmsGateway

    fields = dict(send_fields(SmsGateway(), "+14155550101", "Olá, Zoë: 50% off, today"))
    assert base64.b64decode(fields["Base64Body"]).decode() == "Olá, Zoë: 50% off, today"
    assert fields["To"] == "pjsip:carrier/sip:+14155550101@sip.carrier.example"


async def test_the_documented_manager_classes_are_enough_for_texts_and_replies(tmp_path):
    # config/asterisk/manager.conf: read call,user,system; write originate,call,reporting plus message.
    from dialer.sim import SimConfig, SimServer, SimUser
    from tests.e2e.conftest import SECRET, TIME_SCALE

    least = SimUser(secret=SECRET, read="call,user,system", write="originate,call,reporting,message")
    async with SimServer(SimConfig(users={"dialer": least}, spool_dir=tmp_path / "spool", time_scale=TIME_SCALE,
                                   log_path=tmp_path / "sim.jsonl")) as sim:
        config = sms_config(tmp_path, sim)
        ann = number(ANSWERED, 1)
        await import_people(tmp_path, config, [(ann, "Ann Lee", "gold")], "s1")
        async with running(config):
            await until(lambda: rows(config, "SELECT 1 FROM attempts WHERE disposition = 'accepted'"))
            sim.inject_inbound_message(f"sip:{ann}@carrier.example", "STOP")
            await until(lambda: rows(config, "SELECT 1 FROM dnc_entries WHERE number = ?", (ann,)))


async def test_a_reload_changes_the_stop_words_and_the_region_of_the_next_reply(tmp_path, sim, monkeypatch):
    config = sms_config(tmp_path, sim, sms={"stop_words": ["STOP"], "inbound_region": "US"})
    path = write_toml(config, tmp_path / "dialer.toml")
    ann, bob = number(ANSWERED, 1), number(ANSWERED, 2)
    optouts = "SELECT number FROM dnc_entries WHERE list = 'optout' ORDER BY number"
    async with running(config, path) as daemon:
        sim.inject_inbound_message(f"sip:{ann}@carrier.example", "basta")
        sim.inject_inbound_message("sip:02079460959@carrier.example", "hello")  # a US reading: no number
        await until(lambda: rows(config, "SELECT 1 FROM sms_messages WHERE direction = 'in'"))
        assert await rows(config, optouts) == []  # not a stop word yet
        # SIGHUP: BASTA is a stop word from now on, and national-form senders are read as GB numbers.
        monkeypatch.setenv("DIALER_AMI_SECRET", SECRET)
        reloaded = config.model_copy(update={"sms": config.sms.model_copy(
            update={"stop_words": ("STOP", "BASTA"), "inbound_region": "GB"})})
        write_toml(reloaded, path)
        assert daemon.reload()
        sim.inject_inbound_message(f"sip:{bob}@carrier.example", "Basta!")
        sim.inject_inbound_message("sip:02079460959@carrier.example", "stop")
        await until(lambda: _count(config, optouts, 2))
    assert [r["number"] for r in await rows(config, optouts)] == sorted([bob, "+442079460959"])
    received = await rows(config, "SELECT number, keyword FROM sms_messages WHERE direction = 'in' ORDER BY id")
    assert [r["keyword"] for r in received] == [None, "BASTA", "STOP"]  # the US-read reply was not stored
    assert received[0]["number"] == ann


async def _count(config: Config, sql: str, wanted: int) -> bool:
    return len(await rows(config, sql)) >= wanted


@pytest.mark.parametrize("fault", [ResponseFault.UNKNOWN_ERROR, ResponseFault.GLUED_PREFIX, ResponseFault.SILENT])
async def test_a_message_whose_answer_cannot_be_read_is_never_sent_again(tmp_path, sim, fault):
    """Issue 11 for texts: only a refusal Asterisk was seen to give means "not sent"."""
    ann, cy = number(ANSWERED, 1), number(CHANNEL_FAILURE, 3)
    # A refused text may be retried at once (the SMS caps would hold it for a day).
    config = sms_config(tmp_path, sim, sms={"min_gap_s": 0, "max_per_24h": 5, "max_per_7d": 5})
    again = {"failed": {"delay_s": 0, "max_attempts": 3}, "unknown": {"delay_s": 0, "max_attempts": 3}}
    config = config.model_copy(update={
        "retry": config.retry.model_copy(update={"rules": {Disposition(k): RetryRule(**v) for k, v in again.items()}}),
        "ami": config.ami.model_copy(update={"action_timeout_s": 0.5})})
    await import_people(tmp_path, config, [(ann, "Ann Lee", "gold"), (cy, "Cy Po", "basic")], "s1")
    sim.faults.message_responses = [fault]  # the first message's answer; the second is answered as usual
    await run_until_settled(config, ["s1"])

    damaged = [m for m in sim.messages if m.fault == fault.value]
    assert len(damaged) == 1
    maybe_sent = damaged[0].to
    # Sent once, whatever became of the answer; the one Asterisk refused in its own words is retried.
    per_destination = Counter(m.to for m in sim.messages)
    assert per_destination[maybe_sent] == 1
    refused = next(to for to in per_destination if to != maybe_sent)
    assert per_destination[refused] == (3 if cy in refused else 1)
    attempts = await rows(config, "SELECT number, disposition, detail FROM attempts ORDER BY id")
    unknown = [a for a in attempts if a["disposition"] == "unknown"]
    assert len(unknown) == 1
    assert unknown[0]["number"] in maybe_sent
    assert unknown[0]["detail"].startswith("maybe sent: ")
    leads = {r["number"]: r["status"] for r in await rows(config, "SELECT number, status FROM leads")}
    assert leads[unknown[0]["number"]] == "finished"
    audit = await rows(config, "SELECT lead_id, call_id, detail FROM audit WHERE kind = 'sms_unconfirmed'")
    assert [a["detail"].endswith("not resent (the lead is finished)") for a in audit] == [True]
    assert ann not in audit[0]["detail"]
    assert cy not in audit[0]["detail"]


@pytest.mark.parametrize(("text", "refused"), [
    ("Message failed to send.", True), ("[dongle0] no such device", True),
    ("[dongle0] Invalid destination number", True), ("No 'To' address specified.", True),
    ("Permission denied", False),  # a refusal too, but judged by dialer.ami.answers for every action
    ("Message failed to send", False), ("[dongle0] SMS queued for send", False), ("Internal failure", False),
])
def test_only_the_known_send_refusals_count(text, refused):
    assert send_refused(text) is refused
