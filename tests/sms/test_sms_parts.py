"""The SMS parts that need no network: templates, STOP words, senders, send actions."""

from __future__ import annotations

import pytest

from dialer.sms.actions import BodyError, check_body, send_fields
from dialer.sms.config import SmsGateway
from dialer.sms.inbound import sender_number, stop_word
from dialer.sms.template import MissingPlaceholder, TemplateError, parse_template, template_values

WORDS = ("CANCEL", "END", "OPTOUT", "QUIT", "STOP", "STOPALL", "UNSUBSCRIBE")


def test_a_template_fills_placeholders_from_the_contact():
    template = parse_template("Hi {first_name}, your {plan} plan: {{code}} {campaign}")
    values = template_values("Ann Lee", {"plan": "gold"}, "spring")
    assert template.render(values) == "Hi Ann, your gold plan: {code} spring"


def test_a_missing_placeholder_names_every_missing_value():
    template = parse_template("Hi {first_name}, {plan} and {city}")
    with pytest.raises(MissingPlaceholder) as info:
        template.render(template_values("Ann", {"plan": " "}, "c"))
    assert info.value.names == ("plan", "city")


@pytest.mark.parametrize("text", ["Hi {name", "Hi name}", "Hi {0.attr}", "Hi {a!r}", "Hi {}"])
def test_a_bad_template_is_refused(text):
    with pytest.raises(TemplateError):
        parse_template(text)


@pytest.mark.parametrize(("body", "word"), [
    ("STOP", "STOP"), ("stop.", "STOP"), (" Stop please", "STOP"), ("unsubscribe!", "UNSUBSCRIBE"),
    ("please stop", None), ("STOPPED", None), ("", None), ("Stop all", "STOP"),
])
def test_stop_words(body, word):
    assert stop_word(body, WORDS) == word


@pytest.mark.parametrize(("sender", "number"), [
    ('"Ann" <sip:+14155550123@carrier.example>', "+14155550123"),
    ("sip:4155550123@carrier.example;transport=udp", "+14155550123"),
    ("+14155550123", "+14155550123"),
    ("<sips:14155550123@x>", "+14155550123"),
    ("sip:alice@example.org", None),
    ("", None),
])
def test_the_senders_number(sender, number):
    assert sender_number(sender, "US") == number


def test_only_digits_reach_the_destination():
    with pytest.raises(ValueError, match=r"E\.164"):
        send_fields(SmsGateway(), "+1415&5550123", "hi")
    fields = dict(send_fields(SmsGateway(action="DongleSendSMS"), "+14155550123", "two\nlines"))
    assert fields == {"Action": "DongleSendSMS", "Device": "dongle0", "Number": "+14155550123",
                      "Message": "two lines"}


def test_a_body_asterisk_would_cut_is_refused():
    with pytest.raises(BodyError, match="at most 1300"):
        check_body("é" * 700)
    with pytest.raises(BodyError):
        check_body("   ")


def test_the_shipped_message_contexts_send_what_the_dialer_reads():
    import re
    from pathlib import Path

    from dialer.sms import inbound

    text = (Path(__file__).resolve().parents[2] / "config" / "asterisk" / "extensions_dialer_messages.conf").read_text()
    events = re.findall(r"UserEvent\((\w+),(.*)\)$", text, re.MULTILINE)
    assert [name for name, _ in events] == [inbound.EVENT, inbound.EVENT]  # PJSIP and chan_dongle
    for _, args in events:
        headers = [part.split(":", 1)[0].strip() for part in args.split(",")]
        assert headers == ["From64", "Body64"]
        assert args.count("BASE64_ENCODE(") == 2  # commas and line breaks in a text cannot split the event
    assert "[dialer-messages]" in text
