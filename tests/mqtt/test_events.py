"""Every event kind makes the round trip through a real broker, validated by the payload models."""

from __future__ import annotations

from dialer.daemon import run_until_settled
from dialer.mqtt.payloads import AlertPayload, CallPayload, CampaignStatsPayload, StatusPayload
from tests.e2e.conftest import ANSWERED, BUSY, NO_ANSWER, import_numbers, number, rows
from tests.mqtt.conftest import Watcher, assert_call_order, mqtt_config, running_daemon


async def test_every_event_kind_arrives_and_validates(tmp_path, sim, broker):
    config = mqtt_config(tmp_path, sim, broker)
    numbers = [number(ANSWERED, 1), number(BUSY, 2), number(NO_ANSWER, 3)]
    await import_numbers(tmp_path, config, numbers)
    async with Watcher(broker) as watcher:
        await run_until_settled(config, ["c1"])
        # The component's stop drained the outbox before returning: every call has ended.
        await watcher.wait_for(lambda: len(watcher.calls()) == 3
                               and all(m[-1]["state"] == "ended" for m in watcher.calls().values()))
        await watcher.wait_for(lambda: any(m.data["state"] == "offline" for m in watcher.on("/status")))

    prefix = "dialer/test/"
    assert {m.topic.split("/", 3)[2] for m in watcher.messages} == {"status", "calls", "campaigns"}
    assert all(m.topic.startswith(prefix) for m in watcher.messages)

    calls = watcher.calls()
    for messages in calls.values():
        for data in messages:
            CallPayload.model_validate(data)
        assert_call_order(messages)
    states = {d["state"] for messages in calls.values() for d in messages}
    assert states == {"originating", "ringing", "answered", "ended"}
    ended = {m[-1]["disposition"] for m in calls.values()}
    assert ended == {"answered", "busy", "no_answer"}
    answered = next(m[-1] for m in calls.values() if m[-1]["disposition"] == "answered")
    assert answered["talk_s"] > 0
    assert answered["duration_s"] >= answered["talk_s"]
    assert answered["ring_s"] is not None
    assert answered["ended_at"] is not None
    # One message per state change, each written with the change: the outbox holds exactly these.
    outbox = await rows(config, "SELECT topic, payload, published_at FROM outbox WHERE topic LIKE '%/calls/%'")
    assert sorted(r["payload"] for r in outbox) == sorted(m.payload.decode() for m in watcher.messages
                                                          if "/calls/" in m.topic)
    assert all(r["published_at"] is not None for r in outbox)

    statuses = [StatusPayload.model_validate(m.data) for m in watcher.on("/status")]
    assert statuses[0].state == "online"
    assert statuses[-1].state == "offline"
    assert statuses[-1].reason == "stopped"

    stats = [CampaignStatsPayload.model_validate(m.data) for m in watcher.on("/campaigns/c1/stats")]
    assert stats[-1].ended == 3
    assert stats[-1].live_calls == 0
    assert stats[-1].by_disposition == {"answered": 1, "busy": 1, "no_answer": 1}
    assert stats[-1].leads.get("pending", 0) == 0


async def test_alerts_are_published(tmp_path, sim, broker):
    config = mqtt_config(tmp_path, sim, broker)
    async with running_daemon(config) as daemon, Watcher(broker) as watcher:
        sim.drop_clients()  # a real AMI outage: the daemon raises `ami_down`
        await watcher.wait_for(lambda: bool(watcher.on("/alerts")))
        daemon.engine.alert("registry_stale", "US registry older than 31 days (+14155550123 et al.)", age_days=32)
        await watcher.wait_for(lambda: len(watcher.on("/alerts")) == 2)
    alerts = [AlertPayload.model_validate(m.data) for m in watcher.on("/alerts")]
    assert alerts[0].alert == "ami_down"
    assert f"AMI connection to 127.0.0.1:{sim.port} lost" in alerts[0].message
    assert alerts[1].alert == "registry_stale"
    assert alerts[1].data == {"age_days": 32}
    assert "+14155550123" not in alerts[1].message  # free text is masked like the logs


async def test_numbers_are_masked_unless_asked_for(tmp_path, sim, broker):
    config = mqtt_config(tmp_path, sim, broker)
    full = number(ANSWERED, 4)
    await import_numbers(tmp_path, config, [full])
    async with Watcher(broker) as watcher:
        await run_until_settled(config, ["c1"])
        await watcher.wait_for(lambda: any(m["state"] == "ended" for ms in watcher.calls().values() for m in ms))
    assert all(full[1:] not in m.payload.decode() for m in watcher.messages)
    assert {d["number"] for ms in watcher.calls().values() for d in ms} == {full[:3] + "*" * 7 + full[-2:]}

    config = mqtt_config(tmp_path, sim, broker, include_numbers=True)
    await import_numbers(tmp_path, config, [number(ANSWERED, 5)], campaign="c1")
    async with Watcher(broker) as watcher:
        await run_until_settled(config, ["c1"])
        await watcher.wait_for(lambda: any(m["state"] == "ended" for ms in watcher.calls().values() for m in ms))
    assert {d["number"] for ms in watcher.calls().values() for d in ms} == {number(ANSWERED, 5)}


async def test_no_outbox_rows_and_no_broker_needed_when_disabled(tmp_path, sim):
    from tests.e2e.conftest import make_config

    config = make_config(tmp_path, sim)
    assert not config.mqtt.enabled
    await import_numbers(tmp_path, config, [number(ANSWERED, 6)])
    engine = await run_until_settled(config, ["c1"])
    assert engine.stats.ended == 1
    assert await rows(config, "SELECT * FROM outbox") == []


def test_a_call_message_carries_the_recording_file_name_and_state():
    from dialer.events import CallEvent
    from dialer.mqtt.payloads import call_payload
    from dialer.outcome import Disposition
    from dialer.tracker import CallState

    def event(state: CallState, **extra) -> CallEvent:
        return CallEvent(call_id="c1", attempt_id=1, lead_id=1, campaign="c1", number="+14155550123", state=state,
                         at=10.0, originated_at=1.0, answered_at=3.0,
                         recording="/var/spool/asterisk/monitor/dialer/c1-14155550123.wav", **extra)

    up = call_payload(event(CallState.ANSWERED), "n1", include_numbers=False)
    assert up.recording is not None
    assert up.recording.state == "recording"
    assert up.recording.file.startswith("c1")
    assert up.recording.file.endswith("*23.wav")
    assert "55501" not in up.recording.file  # no whole number
    stopped = call_payload(event(CallState.ANSWERED, recording_closed=True), "n1", include_numbers=False)
    assert stopped.recording is not None
    assert stopped.recording.state == "closed"
    ended = call_payload(event(CallState.ENDED, disposition=Disposition.ANSWERED, talk_s=7.0), "n1",
                         include_numbers=False)
    assert ended.recording is not None
    assert ended.recording.state == "closed"
    assert (ended.ring_s, ended.duration_s, ended.ended_at) == (2.0, 9.0, 10.0)
