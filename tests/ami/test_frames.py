"""The AMI frame parser against real Asterisk bytes, and against garbage."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.ami.frames import MAX_FRAME_BYTES, FrameParser, encode_action
from tests.transcripts import names, stream


@pytest.mark.parametrize("name", names())
def test_every_recorded_message_is_parsed(name):
    data = stream(name)
    parser = FrameParser()
    messages = parser.feed(data)
    assert parser.greeting is None or parser.greeting.startswith("Asterisk Call Manager/")
    # Every message in the recording ends with an empty line; each becomes one Message.
    body = data.split(b"\r\n", 1)[1] if data.startswith(b"Asterisk") else data
    assert len(messages) == body.count(b"\r\n\r\n")
    assert parser.malformed_lines == 0
    assert all(m.get("Event") or m.get("Response") for m in messages)


def test_originate_response_channel_variables_are_read_in_both_forms():
    messages = FrameParser().feed(stream("03-originate-answered.txt"))
    response = next(m for m in messages if m.get("Event") == "OriginateResponse")
    assert response["Reason"] == "4"
    assert response.chanvars["DIALER_CALL_ID"] == "abc123"
    newchannel = next(m for m in messages if m.get("Event") == "Newchannel")
    assert newchannel.chanvars == {"DIALER_CALL_ID": "", "DIALER_CAMPAIGN": ""}


def test_status_variables_are_collected():
    messages = FrameParser().feed(stream("22-client-drop-reconnect.txt", "c2"))
    status = next(m for m in messages if m.get("Event") == "Status")
    assert status.variables["DIALER_CALL_ID"] == "rc-1"


def test_unwanted_events_are_skipped_without_decoding():
    parser = FrameParser(wanted_events={"Hangup", "OriginateResponse"})
    messages = parser.feed(stream("03-originate-answered.txt"))
    events = {m.get("Event") for m in messages if m.get("Event")}
    assert events == {"Hangup", "OriginateResponse"}
    assert parser.skipped_events > 40
    assert any(m.get("Response") for m in messages)  # responses always pass


@settings(max_examples=50)
@given(st.data())
def test_any_split_of_the_stream_gives_the_same_messages(data):
    raw = stream("17-concurrent-20.txt")[:60000]
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=30)))
    parser = FrameParser()
    pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    got = [m for piece in pieces for m in parser.feed(piece)]
    assert got == FrameParser().feed(raw)


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=300), max_size=20))
def test_garbage_never_raises(chunks):
    parser = FrameParser()
    for chunk in [b"Asterisk Call Manager/11.0.0\r\n", *chunks]:
        for message in parser.feed(chunk):
            assert isinstance(message, dict)


def test_malformed_lines_are_counted_and_the_stream_goes_on():
    parser = FrameParser()
    out = parser.feed(b"Asterisk Call Manager/11.0.0\r\nthis is not a header\r\nEvent: Ping\r\n\r\n"
                      b"\xff\xfe\x00garbage\r\n\r\nResponse: Success\r\nActionID: a\r\n\r\n")
    assert [m.get("Event") or m.get("Response") for m in out] == ["Ping", "Success"]
    assert parser.malformed_lines == 2


def test_an_endless_frame_is_dropped_instead_of_growing_memory():
    parser = FrameParser()
    parser.feed(b"Asterisk Call Manager/11.0.0\r\n")
    parser.feed(b"Event: X\r\nLong: " + b"a" * (MAX_FRAME_BYTES + 10))
    assert parser.dropped_frames == 1
    assert parser.feed(b"\r\n\r\nResponse: Success\r\nActionID: b\r\n\r\n")[-1]["ActionID"] == "b"


def test_an_action_cannot_smuggle_a_second_header():
    with pytest.raises(ValueError, match="line break"):
        encode_action([("Action", "Originate"), ("Channel", "PJSIP/1@x\r\nApplication: System")])
