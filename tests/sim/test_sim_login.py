"""Login, Logoff, permissions, Ping, the Events action and event masks (files 01, 02, 13, 21)."""

from __future__ import annotations

from simkit import RawAmi, assert_catalogue_shape, load_transcript, run_call

from dialer.sim import SimServer


async def test_greeting_is_one_line_without_blank_line(sim: SimServer) -> None:
    client = await RawAmi().connect(sim.port)
    assert client.greeting == b"Asterisk Call Manager/11.0.0\r\n"
    await client.close()


async def test_good_login_gets_accepted_then_fully_booted_then_successful_auth(sim: SimServer) -> None:
    client = await RawAmi().connect(sim.port)
    client.send("Login", ActionID="login-1", Username="dialer", Secret="dialer-secret")
    resp = await client.read_msg()
    assert resp is not None
    assert resp.pairs == [
        ("Response", "Success"),
        ("ActionID", "login-1"),
        ("Message", "Authentication accepted"),
    ]
    booted = await client.read_msg()
    auth = await client.read_msg()
    assert booted is not None
    assert auth is not None
    assert booted.event == "FullyBooted"
    assert booted.keys == ["Event", "Privilege", "Uptime", "LastReload", "Status"]
    assert auth.event == "SuccessfulAuth"
    assert auth["AccountID"] == "dialer"
    assert auth["UsingPassword"] == "0"
    for m in (booted, auth):
        assert_catalogue_shape(m)
    expected = load_transcript("01")["c1"]
    assert [m.keys for m in expected[:3]] == [resp.keys, booted.keys, auth.keys]
    await client.close()


async def test_logoff_says_goodbye_and_closes(ami: RawAmi) -> None:
    ami.send("Logoff", ActionID="logoff-1")
    msg = await ami.read_msg()
    assert msg is not None
    assert msg.pairs == [
        ("Response", "Goodbye"),
        ("ActionID", "logoff-1"),
        ("Message", "Thanks for all the fish."),
    ]
    assert await ami.wait_eof() == b""


async def test_wrong_secret_fails_after_the_delay_and_closes(sim: SimServer, ami: RawAmi) -> None:
    bad = await RawAmi().connect(sim.port)
    bad.send("Login", ActionID="login-1", Username="dialer", Secret="wrong-secret")
    msg = await bad.read_msg()
    assert msg is not None
    assert msg.pairs == [("Response", "Error"), ("ActionID", "login-1"), ("Message", "Authentication failed")]
    assert await bad.wait_eof() == b""
    observed = await ami.until(lambda m: m.event == "InvalidPassword")
    assert_catalogue_shape(observed[-1])
    assert observed[-1]["AccountID"] == "dialer"


async def test_unknown_user_fails_and_observer_sees_invalid_account(sim: SimServer, ami: RawAmi) -> None:
    bad = await RawAmi().connect(sim.port)
    bad.send("Login", ActionID="login-2", Username="nosuchuser", Secret="dialer-secret")
    msg = await bad.read_msg()
    assert msg is not None
    assert msg["Message"] == "Authentication failed"
    await bad.wait_eof()
    observed = await ami.until(lambda m: m.event == "InvalidAccountID")
    assert_catalogue_shape(observed[-1])


async def test_action_before_login_is_denied_and_socket_stays_open(sim: SimServer, ami: RawAmi) -> None:
    client = await RawAmi().connect(sim.port)
    client.send("Ping", ActionID="ping-before-login")
    msg = await client.read_msg()
    assert msg is not None
    assert msg.pairs == [
        ("Response", "Error"),
        ("ActionID", "ping-before-login"),
        ("Message", "Permission denied"),
    ]
    seen = await ami.until(lambda m: m.event == "RequestNotAllowed")
    assert seen[-1]["RequestType"] == "Action: Ping"
    assert_catalogue_shape(seen[-1])
    # a Login without ActionID still works on the same socket, and its response has no ActionID line
    client.send("Login", Username="dialer", Secret="dialer-secret")
    resp = await client.read_msg()
    assert resp is not None
    assert resp.pairs == [("Response", "Success"), ("Message", "Authentication accepted")]
    await client.close()


async def test_ping_with_and_without_action_id(ami: RawAmi) -> None:
    resp = await ami.action("Ping")
    assert resp.keys == ["Response", "ActionID", "Ping", "Timestamp"]
    assert resp["Ping"] == "Pong"
    float(resp["Timestamp"])
    ami.send("Ping")
    bare = await ami.until(lambda m: m.get("Ping") == "Pong")
    assert bare[-1].keys == ["Response", "Ping", "Timestamp"]


async def test_unknown_action_gives_exact_error_and_request_bad_format(ami: RawAmi) -> None:
    ami.send("NoSuchAction", ActionID="bogus-1")
    msgs = await ami.until(lambda m: m.event == "RequestBadFormat")
    resp = next(m for m in msgs if m.get("ActionID") == "bogus-1")
    assert resp["Response"] == "Error"
    assert resp["Message"] == (
        "Invalid/unknown command: NoSuchAction. Use Action: ListCommands to show available commands."
    )
    assert_catalogue_shape(msgs[-1])
    assert msgs[-1]["RequestType"] == "Action: NoSuchAction"


async def test_login_with_events_off_gets_no_events_at_all(sim: SimServer) -> None:
    client = await RawAmi().connect(sim.port)
    await client.login(Events="off")
    msgs = await run_call(sim, client, "Local/10050080@callees", "DIALER_CALL_ID=ev-1")
    assert [m.event for m in msgs if m.event] == []
    assert [m.get("Message") for m in msgs] == ["Originate successfully queued"]
    await client.close()


async def test_events_action_switches_the_mask(sim: SimServer) -> None:
    client = await RawAmi().connect(sim.port)
    await client.login(Events="off")
    resp = await client.action("Events", EventMask="call")
    assert resp.keys == ["Response", "ActionID", "Events"]
    assert resp["Events"] == "On"
    msgs = await run_call(sim, client, "Local/10050080@callees", "DIALER_CALL_ID=ev-2")
    privileges = {m["Privilege"] for m in msgs if m.event}
    assert privileges == {"call,all"}
    assert "OriginateResponse" in {m.event for m in msgs}
    assert (await client.action("Events", EventMask="off"))["Events"] == "Off"
    assert (await client.action("Events", EventMask="on"))["Events"] == "On"
    msgs = await run_call(sim, client, "Local/10050080@callees", "DIALER_CALL_ID=ev-3")
    assert {"dialplan,all", "cdr,all", "user,all", "call,all"} <= {m["Privilege"] for m in msgs if m.event}
    await client.close()


async def test_login_with_event_class_list(sim: SimServer) -> None:
    client = await RawAmi().connect(sim.port)
    client.send("Login", ActionID="login-2", Username="dialer", Secret="dialer-secret", Events="system,call")
    await client.response("login-2")
    booted = await client.read_msg()
    assert booted is not None
    assert booted.event == "FullyBooted"  # system: yes; SuccessfulAuth (security): no
    msgs = await client.drain()
    assert msgs == []
    await client.close()


async def test_least_privilege_user_sees_only_its_classes(sim: SimServer) -> None:
    """File 13: read=system,call,agent,user,reporting,originate -> no dialplan, cdr, security."""
    client = await RawAmi().connect(sim.port)
    await client.login("dialer-min")
    await client.drain()
    msgs = await run_call(
        sim, client, "Local/10010002@callees", "DIALER_CALL_ID=min-1", "DIALER_CAMPAIGN=camp-1"
    )
    ours = {m.event for m in msgs if m.event}
    theirs = {m.event for m in load_transcript("13")["c1"] if m.event} - {"FullyBooted"}
    assert ours == theirs
    # the VarSets are not delivered, but the filled ChanVariables are (NewCallerid on)
    first = next(m for m in msgs if m.event == "NewCallerid")
    assert first.all("ChanVariable") == ["DIALER_CALL_ID=min-1", "DIALER_CAMPAIGN=camp-1"]
    await client.close()


async def test_user_without_originate_write_class_is_denied(sim_config, tmp_path) -> None:
    from dialer.sim import SimUser

    sim_config.users = {"ro": SimUser(secret="s", read="all", write="system")}
    async with SimServer(sim_config) as sim:
        client = await RawAmi().connect(sim.port)
        await client.login("ro", "s")
        resp = await client.action("Originate", Channel="Local/100@callees", Context="dialer", Exten="s")
        assert resp["Message"] == "Permission denied"
        assert not sim.originations
        await client.close()


async def test_second_login_on_a_session_is_acknowledged(ami: RawAmi) -> None:
    resp = await ami.action("Login", Username="dialer", Secret="dialer-secret")
    assert resp["Message"] == "Already authenticated"
