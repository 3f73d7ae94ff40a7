"""Messaging on the simulator's wire: MessageSend and DongleSendSMS answer with the texts of
main/message.c and chan_dongle, and an inbound text arrives as the [dialer-messages] UserEvent."""

from __future__ import annotations

import base64

import pytest
from simkit import RawAmi

from dialer.sim import SimServer

B64 = base64.b64encode("Olá, 50% off\nline two".encode()).decode()


@pytest.mark.parametrize(("headers", "response", "message"), [
    ({"To": "pjsip:carrier/sip:+14155550100@sip.example", "Base64Body": B64}, "Success", "Message successfully sent"),
    ({"Destination": "pjsip:carrier/sip:+14155550100@sip.example", "Body": "hi"}, "Success",
     "Message successfully sent"),
    ({"Body": "hi"}, "Error", "No 'To' address specified."),
    ({"To": "sip:carrier/+14155550100", "Body": "hi"}, "Error", "Message technology not found."),
    ({"To": "xmpp:someone@example.org", "Body": "hi"}, "Error", "Message technology not found."),
    ({"To": "pjsip:nosuchendpoint/sip:+14155550100@x", "Body": "hi"}, "Error", "Message failed to send."),
    # The callee plan of a channel failure (85): the SIP stack cannot send the request.
    ({"To": "pjsip:carrier/sip:+14155550185@sip.example", "Body": "hi"}, "Error", "Message failed to send."),
])
async def test_message_send_answers_like_asterisk(sim: SimServer, ami: RawAmi, headers, response, message):
    reply = await ami.action("MessageSend", **headers)
    assert (reply["Response"], reply["Message"]) == (response, message)
    [record] = list(sim.messages)
    assert (record.response, record.message) == (response, message)


async def test_base64_body_wins_and_is_decoded(sim: SimServer, ami: RawAmi):
    await ami.action("MessageSend", To="pjsip:carrier/sip:+1@x", Body="plain", Base64Body=B64)
    assert sim.messages[-1].body == "Olá, 50% off\nline two"


async def test_message_send_needs_the_message_write_class(sim: SimServer, connect):
    client = await connect()
    await client.login("dialer-min")  # write=system,call,originate,reporting,agent
    reply = await client.action("MessageSend", To="pjsip:carrier/sip:+1@x", Body="hi")
    assert (reply["Response"], reply["Message"]) == ("Error", "Permission denied")
    assert list(sim.messages) == []


@pytest.mark.parametrize(("headers", "response", "message", "ident"), [
    ({"Device": "dongle0", "Number": "+14155550100", "Message": "hi"}, "Success", "[dongle0] SMS queued for send",
     True),
    ({"Number": "+14155550100", "Message": "hi"}, "Error", "Device not specified", False),
    ({"Device": "dongle0", "Message": "hi"}, "Error", "Number not specified", False),
    ({"Device": "dongle0", "Number": "+14155550100"}, "Error", "Message not specified", False),
    ({"Device": "dongle9", "Number": "+14155550100", "Message": "hi"}, "Error", "[dongle9] no such device", False),
    ({"Device": "dongle0", "Number": "+1415x", "Message": "hi"}, "Error", "[dongle0] Invalid destination number",
     False),
])
async def test_dongle_send_sms_answers_like_chan_dongle(sim: SimServer, ami: RawAmi, headers, response, message,
                                                        ident):
    reply = await ami.action("DongleSendSMS", **headers)
    assert (reply["Response"], reply["Message"]) == (response, message)
    if ident:
        assert reply["ID"].startswith("0x")


async def test_an_inbound_text_arrives_as_the_snippets_user_event(sim: SimServer, ami: RawAmi):
    sim.inject_inbound_message('"Ann" <sip:+14155550123@carrier.example>', "STOP, please")
    [event] = await ami.until(lambda m: m.get("UserEvent") == "DialerInboundMessage")
    assert event["Channel"] == "Message/ast_msg_queue"
    assert event["Context"] == "dialer-messages"
    assert base64.b64decode(event["From64"]).decode() == '"Ann" <sip:+14155550123@carrier.example>'
    assert base64.b64decode(event["Body64"]).decode() == "STOP, please"
