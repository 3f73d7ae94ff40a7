"""The AMI frame parser against real Asterisk bytes, and against garbage."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import assume, given, settings
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
    out = parser.feed(b"Asterisk Call Manager/11.0.0\r\nEvent: UserEvent\r\nthis is not a header\r\n"
                      b"UserEvent: DialerOptOut\r\n\r\n\xff\xfe\x00garbage\r\n\r\n"
                      b"Response: Success\r\nActionID: a\r\n\r\n")
    # The line inside a well-formed frame is skipped (the event is kept); the garbage frame goes whole.
    assert [m.get("UserEvent") or m.get("Response") for m in out] == ["DialerOptOut", "Success"]
    assert parser.malformed_lines == 1
    assert parser.dropped_frames == 1


def test_an_endless_frame_is_dropped_instead_of_growing_memory():
    parser = FrameParser()
    parser.feed(b"Asterisk Call Manager/11.0.0\r\n")
    parser.feed(b"Event: X\r\nLong: " + b"a" * (MAX_FRAME_BYTES + 10))
    assert parser.dropped_frames == 1
    assert parser.feed(b"\r\n\r\nResponse: Success\r\nActionID: b\r\n\r\n") == [
        {"Response": "Success", "ActionID": "b"}]


def test_the_tail_of_a_dropped_oversized_frame_never_becomes_a_message():
    # Before: the bytes after the cut were read as a frame of their own, glued to what followed.
    parser = FrameParser(max_frame_bytes=64)
    parser.feed(b"Asterisk Call Manager/11.0.0\r\nResponse: Error\r\nActionID: c-1\r\nX: " + b"y" * 80)
    out = parser.feed(b"\r\nMessage: Originate failed\r\n\r\nResponse: Success\r\nActionID: c-2\r\n\r\n")
    assert out == [{"Response": "Success", "ActionID": "c-2"}]
    assert parser.dropped_frames == 1


def test_a_boundary_split_across_reads_ends_the_skipped_frame():
    parser = FrameParser(max_frame_bytes=16)
    parser.feed(b"Asterisk Call Manager/11.0.0\r\nEvent: X\r\nLong: " + b"a" * 40 + b"\r\n")
    out = [m for piece in (b"\r", b"\nEvent: Hangup\r\n", b"\r\n") for m in parser.feed(piece)]
    assert out == [{"Event": "Hangup"}]


@pytest.mark.parametrize("glued", [
    b"xx Response: Success\r\nActionID: c-1\r\nMessage: Originate successfully queued\r\n\r\n",  # bytes in front
    b"ActionID: c-1\r\nMessage: Originate successfully queued\r\n\r\n",  # no Response line
    b"Response: Error\r\nActionID: c-0\r\nResponse: Success\r\nActionID: c-1\r\n\r\n",  # truncated + next
    b"Response: Success\r\nActionID: c-1\r\nEvent: Newchannel\r\nUniqueid: c-1\r\n\r\n",  # response + event
    b"Event: Hangup\r\nUniqueid: c-1\r\nResponse: Error\r\nActionID: c-1\r\nMessage: Originate failed\r\n\r\n",
    b"Event: OriginateResponse\r\nPrivilege: call,all\r\nResponse: Error\r\nActionID: c-1\r\n\r\n",
])
def test_a_frame_that_is_not_one_message_is_dropped_whole(glued):
    parser = FrameParser()
    out = parser.feed(b"Asterisk Call Manager/11.0.0\r\n" + glued + b"Event: Hangup\r\nUniqueid: u\r\n\r\n")
    assert out == [{"Event": "Hangup", "Uniqueid": "u"}]
    assert parser.dropped_frames == 1


def test_originate_response_keeps_its_response_line():
    raw = b"Event: OriginateResponse\r\nActionID: c-1\r\nResponse: Success\r\nReason: 4\r\n\r\n"
    out = FrameParser().feed(b"Asterisk Call Manager/11.0.0\r\n" + raw)
    assert out == [{"Event": "OriginateResponse", "ActionID": "c-1", "Response": "Success", "Reason": "4"}]


# -- garbage between frames (issue 11): hypothesis over where it goes and what it is -------------

GREETING = b"Asterisk Call Manager/11.0.0\r\n"
SMALL_MAX = 512  # the frame limit in these tests: oversized garbage stays cheap to generate
_RECORDED = [f + b"\r\n\r\n" for f in stream("17-concurrent-20.txt").split(b"\r\n", 1)[1].split(b"\r\n\r\n")
             if f and len(f) <= SMALL_MAX][:400]
_SEP = b"\r\n\r\n"

valid_frames = st.sampled_from(_RECORDED)
# Garbage ends at a frame boundary (what a peer can always do: end its junk with a blank line):
# short junk, anything with line breaks and header-looking lines, and frames too long to keep.
garbage = st.one_of(
    st.binary(max_size=60),
    st.lists(st.sampled_from([b"Response: Error", b"Event: Hangup", b"ActionID: c-1", b"Message: x", b"xx",
                              b"\r", b"\n", b"\r\n", b": ", b"\xff"]), max_size=12).map(b"".join),
    st.integers(SMALL_MAX + 1, 3 * SMALL_MAX).map(lambda n: b"Event: Big\r\nPad: " + b"p" * n),
    # too long, made of response heads: wherever it is cut, the rest must not become a response
    st.integers(SMALL_MAX // 20, SMALL_MAX // 6).map(lambda n: b"Response: Error\r\nActionID: c-1\r\n" * n),
).map(lambda g: g + _SEP)


def _alone(chunk: bytes) -> list[dict[str, str]]:
    """What one chunk parses to on a fresh connection."""
    parser = FrameParser(max_frame_bytes=SMALL_MAX)
    parser.feed(GREETING)
    return parser.feed(chunk)


def _feed_in_pieces(data: bytes, cuts: list[int]) -> list[dict[str, str]]:
    parser = FrameParser(max_frame_bytes=SMALL_MAX)
    bounds = [0, *sorted(cuts), len(data)]
    return [m for a, b in itertools.pairwise(bounds) for m in parser.feed(data[a:b])]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(garbage, valid_frames), min_size=1, max_size=8), st.data())
def test_garbage_between_frames_never_changes_how_the_frames_parse(pairs, data):
    chunks = [c for pair in pairs for c in pair]
    stream_ = GREETING + b"".join(chunks)
    cuts = data.draw(st.lists(st.integers(0, len(stream_)), max_size=12))
    got = _feed_in_pieces(stream_, cuts)
    # Each chunk parses as it would alone: nothing of one is ever glued onto another...
    assert got == [m for chunk in chunks for m in _alone(chunk)]
    # ...so every recorded frame comes out exactly as it went in, in order.
    recorded = [_alone(frame)[0] for _, frame in pairs]
    it = iter(got)
    assert all(any(m == want for m in it) for want in recorded)


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=80).filter(lambda g: _SEP not in g), valid_frames, valid_frames, st.data())
def test_junk_glued_in_front_of_a_frame_never_turns_it_into_another(junk, frame, after, data):
    glued = junk + frame
    assume(not glued.lstrip(b"\r\n").startswith((b"Response: ", b"Event: ")))  # junk that looks like a head
    stream_ = GREETING + glued + after
    cuts = data.draw(st.lists(st.integers(0, len(stream_)), max_size=8))
    # The glued frame is dropped whole (not read with a part missing); the next frame is intact.
    assert _feed_in_pieces(stream_, cuts) == _alone(after)


@settings(max_examples=200, deadline=None)
@given(valid_frames, valid_frames, st.data())
def test_a_frame_cut_short_and_run_into_the_next_is_dropped(first, second, data):
    lines = first[:-4].split(b"\r\n")
    keep = data.draw(st.integers(1, len(lines)))
    truncated = b"\r\n".join(lines[:keep]) + b"\r\n"  # lost its blank line, cut at a line end
    out = _alone(truncated + second)
    # Dropped whole; only a response without an ActionID (the dialer never sends an action without
    # one) can run into an OriginateResponse cut before its Response line unnoticed.
    assert out == [] or "ActionID" not in _alone(second)[0]


def test_an_action_cannot_smuggle_a_second_header():
    with pytest.raises(ValueError, match="line break"):
        encode_action([("Action", "Originate"), ("Channel", "PJSIP/1@x\r\nApplication: System")])
