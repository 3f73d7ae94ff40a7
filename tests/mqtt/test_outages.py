"""Nothing lost: the broker frozen, killed and restarted mid-campaign; wrong credentials; dialing goes on."""

from __future__ import annotations

import asyncio
import json
import time

import structlog

from dialer.daemon import run_until_settled
from dialer.engine import Engine
from dialer.mqtt.payloads import AlertPayload
from tests.e2e.conftest import ANSWERED, BUSY, LONG, NO_ANSWER, import_numbers, number, rows
from tests.mqtt.broker import Broker
from tests.mqtt.conftest import WAIT_S, Watcher, assert_call_order, mqtt_config

USERS = {"dialer": "dialer-pw", "watcher": "watcher-pw"}


async def _until(condition, timeout: float = WAIT_S) -> None:
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.02)


async def test_broker_killed_and_restarted_mid_campaign_loses_nothing_and_keeps_call_order(tmp_path, sim):
    broker = Broker(tmp_path / "broker", users=USERS).start()
    config = mqtt_config(tmp_path, sim, broker, username="dialer", secret=USERS["dialer"],
                         campaign={"pacing": {"max_concurrent_calls": 20, "max_originations_per_s": 25}})
    outcomes = (ANSWERED, BUSY, NO_ANSWER, LONG)
    await import_numbers(tmp_path, config, [number(outcomes[i % 4], i) for i in range(48)])
    engines: list[Engine] = []
    try:
        async with Watcher(broker, username="watcher", password=USERS["watcher"]) as watcher:
            run = asyncio.create_task(run_until_settled(config, ["c1"], on_engine=engines.append))
            await watcher.wait_for(lambda: len(watcher.calls()) >= 5)

            # Frozen: the broker reads nothing and acknowledges nothing, yet dialing goes on.
            broker.freeze()
            originated = engines[0].stats.originated

            async def dialing_went_on() -> bool:
                return engines[0].stats.originated >= originated + 5

            await _until(dialing_went_on)
            assert not run.done()
            waiting = await rows(config, "SELECT COUNT(*) AS n FROM outbox WHERE published_at IS NULL")
            assert waiting[0]["n"] > 0

            # Killed, and back on the same port: first without the dialer's user, so that the watcher is
            # subscribed again before the dialer can publish (messages to nobody would be gone).
            broker.kill()
            broker.set_users({"watcher": USERS["watcher"]})
            broker.start()
            restarted_at = time.time()
            await watcher.wait_for(lambda: watcher.subscriptions >= 2)
            broker.set_users(USERS)  # SIGHUP: the dialer's next reconnect is let in

            engine = await asyncio.wait_for(run, 60)
            outbox = await rows(config, "SELECT id, payload, published_at FROM outbox ORDER BY id")
            assert all(r["published_at"] is not None for r in outbox)  # the stop drained the outbox
            published = {json.loads(r["payload"])["event_id"]: r for r in outbox}
            # Everything the dialer published to the new broker arrives, the events of the outage included.
            after = {event_id for event_id, r in published.items() if r["published_at"] > restarted_at}
            assert after
            await watcher.wait_for(lambda: after <= {m.data.get("event_id") for m in watcher.messages})
    finally:
        broker.stop()

    # A PUBACK hands an event to the broker, and a broker without persistence that is SIGKILLed loses
    # what it had taken but not yet delivered. So the only events that may be missing are ones the
    # killed broker had acknowledged (rare: on a busy machine its queue to the watcher was not empty).
    received = {m.data.get("event_id") for m in watcher.messages}
    lost = {event_id for event_id in published if event_id not in received}
    assert all(published[event_id]["published_at"] <= restarted_at for event_id in lost)
    lost_calls = {json.loads(published[event_id]["payload"]).get("call_id") for event_id in lost}
    assert engine.stats.originated == 48
    calls = watcher.calls()
    attempts = await rows(config, "SELECT call_id, disposition FROM attempts")
    assert set(calls) | (lost_calls - {None}) == {a["call_id"] for a in attempts}
    for call_id, messages in calls.items():
        if call_id not in lost_calls:
            assert_call_order(messages)
    assert {a["call_id"]: a["disposition"] for a in attempts if a["call_id"] not in lost_calls} == {
        call_id: next(m["disposition"] for m in messages if m["state"] == "ended")
        for call_id, messages in calls.items() if call_id not in lost_calls
    }
    alerts = [AlertPayload.model_validate(m.data) for m in watcher.on("/alerts")]
    kinds = {a.alert for a in alerts}
    assert "mqtt_down" in kinds  # raised during the outage, published after it


async def test_wrong_credentials_give_a_clear_error_and_dialing_goes_on(tmp_path, sim):
    broker = Broker(tmp_path / "broker", users=USERS).start()
    config = mqtt_config(tmp_path, sim, broker, username="dialer", secret="not-the-password")
    await import_numbers(tmp_path, config, [number(ANSWERED, i) for i in range(5)])
    try:
        with structlog.testing.capture_logs() as logs:
            engine = await run_until_settled(config, ["c1"])
    finally:
        broker.stop()
    assert engine.stats.by_disposition["answered"] == 5
    refused = [line for line in logs if line["event"] == "mqtt_login_refused"]
    assert len(refused) == 1  # once per outage, not once per retry
    reason = refused[0]["reason"]
    assert f"the MQTT broker {broker.address} refused user 'dialer'" in reason
    assert "Not authorized" in reason or "Bad user name or password" in reason
    assert "not-the-password" not in json.dumps(logs, default=str)
    # The events and the alert wait in the outbox for the day the credentials are fixed.
    waiting = await rows(config, "SELECT topic, payload FROM outbox WHERE published_at IS NULL ORDER BY id")
    assert sum("/calls/" in r["topic"] for r in waiting) >= 5 * 3
    alerts = [json.loads(r["payload"]) for r in waiting if r["topic"].endswith("/alerts")]
    assert [a["alert"] for a in alerts] == ["mqtt_login_refused"]


async def test_events_of_an_unreachable_broker_are_published_by_the_next_run(tmp_path, sim):
    broker = Broker(tmp_path / "broker")  # not started: nobody listens on its port
    config = mqtt_config(tmp_path, sim, broker)
    await import_numbers(tmp_path, config, [number(ANSWERED, 1), number(BUSY, 2)])
    await run_until_settled(config, ["c1"])
    waiting = await rows(config, "SELECT payload FROM outbox WHERE published_at IS NULL")
    assert waiting
    broker.start()
    try:
        async with Watcher(broker) as watcher:
            await import_numbers(tmp_path, config, [number(ANSWERED, 3)])
            await run_until_settled(config, ["c1"])
            expected = {json.loads(r["payload"])["event_id"] for r in waiting}
            await watcher.wait_for(lambda: expected <= {m.data.get("event_id") for m in watcher.messages})
            await watcher.wait_for(lambda: len(watcher.calls()) == 3)
    finally:
        broker.stop()
    for messages in watcher.calls().values():
        assert_call_order(messages)
