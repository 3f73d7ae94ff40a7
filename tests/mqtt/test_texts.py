"""Text messages are published like calls: through the outbox to a real broker, `medium: sms`."""

from __future__ import annotations

from dialer.daemon import run_until_settled
from dialer.mqtt.payloads import CallPayload
from tests.e2e.conftest import ANSWERED, CHANNEL_FAILURE, number
from tests.mqtt.conftest import Watcher, assert_call_order, mqtt_config
from tests.sms.test_sms_end_to_end import GATEWAYS, TEMPLATE, import_people


async def test_texts_reach_the_broker_with_their_outcomes_and_no_whole_number(tmp_path, sim, broker):
    base = mqtt_config(tmp_path, sim, broker)
    config = base.model_copy(update={
        "sms": base.sms.model_validate({"gateways": GATEWAYS}),
        "campaigns": {**base.campaigns, "s1": base.campaigns["c1"].model_validate(
            {"kind": "sms", "sms": {"gateway": "pbx", "template": TEMPLATE}})},
    })
    ann, cy = number(ANSWERED, 1), number(CHANNEL_FAILURE, 2)
    await import_people(tmp_path, config, [(ann, "Ann Lee", "gold"), (cy, "Cy Po", "basic")], "s1")
    async with Watcher(broker) as watcher:
        await run_until_settled(config, ["s1"])
        await watcher.wait_for(lambda: len(watcher.calls()) == 2
                               and all(m[-1]["state"] == "ended" for m in watcher.calls().values()))
    texts = watcher.calls()
    for messages in texts.values():
        for data in messages:
            CallPayload.model_validate(data)
            assert data["medium"] == "sms"
        assert_call_order(messages)
        assert [d["state"] for d in messages] == ["originating", "ended"]
    ended = {m[-1]["disposition"]: m[-1]["detail"] for m in texts.values()}
    assert ended == {"accepted": "Message successfully sent", "failed": "Message failed to send."}
    payloads = b"".join(m.payload for m in watcher.messages)
    for secret in (ann, cy, ann[1:], "Ann Lee"):
        assert secret.encode() not in payloads
