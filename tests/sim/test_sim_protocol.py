"""Server-side framing of incoming actions, and random frames thrown at a live server."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from simkit import RawAmi

from dialer.sim import SimConfig, SimServer
from dialer.sim.protocol import MAX_HEADERS, ActionReader

ACTION = b"Action: Ping\r\nActionID: a-1\r\n\r\n"


def test_crlf_and_bare_lf_both_end_lines() -> None:
    reader = ActionReader()
    actions = reader.feed(ACTION + b"Action: Ping\nActionID: a-2\n\n")
    assert [a.get("actionid") for a in actions] == ["a-1", "a-2"]


def test_header_names_are_case_insensitive_and_blanks_after_colon_skipped() -> None:
    (action,) = ActionReader().feed(b"ACTION:   Originate\r\nvariable: A=1\r\nVariable:B=2\r\n\r\n")
    assert action.name == "Originate"
    assert action.get_all("Variable") == ["A=1", "B=2"]


def test_stray_blank_lines_and_lines_without_colon_are_ignored() -> None:
    reader = ActionReader()
    assert reader.feed(b"\r\n\r\n") == []
    (action,) = reader.feed(b"garbage line\r\nAction: Ping\r\n\r\n")
    assert action.headers == [("Action", "Ping")]


def test_overlong_line_is_dumped_and_the_stream_recovers() -> None:
    reader = ActionReader(max_line=1024)
    assert reader.feed(b"Action: Ping\r\nX: " + b"y" * 5000) == []
    actions = reader.feed(b"\r\n\r\n" + ACTION)
    assert [a.get("ActionID") for a in actions][-1] == "a-1"


def test_only_the_first_128_headers_count() -> None:
    lines = b"".join(b"H%d: v\r\n" % i for i in range(200))
    (action,) = ActionReader().feed(b"Action: Ping\r\n" + lines + b"\r\n")
    assert len(action.headers) == MAX_HEADERS


@given(st.lists(st.integers(min_value=1, max_value=len(ACTION) * 3), min_size=1, max_size=20))
def test_any_chunking_gives_the_same_actions(cuts: list[int]) -> None:
    data = ACTION * 3
    reader = ActionReader()
    got = []
    pos = 0
    for cut in sorted(set(cuts)):
        got += reader.feed(data[pos:cut])
        pos = cut
    got += reader.feed(data[pos:])
    assert [a.headers for a in got] == [[("Action", "Ping"), ("ActionID", "a-1")]] * 3


@given(st.binary(max_size=4096))
def test_random_bytes_never_break_the_reader(data: bytes) -> None:
    reader = ActionReader(max_line=512)
    reader.feed(data)
    assert reader.feed(b"\r\n\r\n" + ACTION)[-1].get("ActionID") == "a-1"


_header = st.tuples(
    st.sampled_from(
        [
            "Action",
            "ActionID",
            "Channel",
            "Context",
            "Exten",
            "Priority",
            "Timeout",
            "Variable",
            "Async",
            "CallerID",
            "Cause",
            "EventMask",
            "Events",
            "Username",
            "Secret",
            "Variables",
            "ChannelId",
            "X-Junk",
        ]
    ),
    st.one_of(
        st.sampled_from(
            [
                "Originate",
                "Ping",
                "Hangup",
                "Status",
                "CoreShowChannels",
                "Getvar",
                "Setvar",
                "Events",
                "Login",
                "Logoff",
                "StopMixMonitor",
                "Local/10010001@callees",
                "PJSIP/1@t",
                "dialer",
                "s",
                "1",
                "abc",
                "-5",
                "true",
                "off",
                "A=1,B",
                "",
                "Nope/1",
            ]
        ),
        st.text(alphabet=st.characters(blacklist_characters="\r\n"), max_size=30),
    ),
)
_frame = st.lists(_header, min_size=0, max_size=8).map(
    lambda hs: ("".join(f"{k}: {v}\r\n" for k, v in hs) + "\r\n").encode("utf-8", "surrogatepass")
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames=st.lists(st.one_of(_frame, st.binary(max_size=200)), min_size=1, max_size=6))
def test_random_action_frames_never_crash_the_server(sim_config: SimConfig, frames: list[bytes]) -> None:
    async def scenario() -> None:
        sim_config.time_scale = 0.0
        async with SimServer(sim_config) as sim:
            client = await RawAmi().connect(sim.port)
            await client.login()
            for frame in frames:
                client.send_raw(frame)
            client.send_raw(b"\r\n\r\n")  # end a half-written frame
            # the server still answers (unless a random Logoff closed this session)
            probe = await RawAmi().connect(sim.port)
            await probe.login()
            assert (await probe.action("Ping"))["Ping"] == "Pong"
            await probe.close()
            await client.close()

    asyncio.run(scenario())
