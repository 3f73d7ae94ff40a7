"""Who may read the wallboard, what it sends back, and what it shows of a number, against `dialer run`."""

from __future__ import annotations

import asyncio
import http.client
import json
from pathlib import Path

from tests.e2e.test_compliance import until
from tests.ops.helpers import DaemonProcess, import_leads, run_cli, write_config

TOKEN = "s3cret-wallboard-token"
LONG_CALLS = {"rules": [{"match": ".", "outcome": "answered", "ring_s": 0.1, "talk_s": 30, "recording": "omit"}]}
NUMBER = "+14155550123"


def web_on(show_numbers: bool = False) -> str:
    return f"\n[web]\nenabled = true\nport = 0\nshow_numbers = {'true' if show_numbers else 'false'}\n"


def get(port: int, path: str, *, method: str = "GET", headers: dict[str, str] | None = None,
        body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request (a blocking client: run it in a thread)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


async def fetch(port: int, path: str, **kwargs: object) -> tuple[int, dict[str, str], bytes]:
    return await asyncio.to_thread(get, port, path, **kwargs)  # type: ignore[arg-type]


async def started(tmp_path: Path, make_sim, *, show_numbers: bool = False, leads: bool = True
                  ) -> tuple[DaemonProcess, int]:
    """`dialer run` with the page on (token from the environment), dialing NUMBER into a 30 s call if `leads`."""
    sim = await make_sim(LONG_CALLS)
    config = write_config(tmp_path, sim.port, concurrent=1, rate=5, extra=web_on(show_numbers))
    code, _, err = await run_cli("init", "--config", str(config))
    assert code == 0, err
    if leads:
        await import_leads(config, [NUMBER])
    daemon = await DaemonProcess(config, env={"DIALER_WEB_TOKEN": TOKEN}).start()
    port = (await daemon.wait_for_log("web_listening"))["port"]
    return daemon, port


async def test_no_token_or_a_wrong_one_gets_401_and_nothing_else(tmp_path, make_sim):
    daemon, port = await started(tmp_path, make_sim, leads=False)
    try:
        for path in ("/", "/api/snapshot", "/api/stream", "/assets/app.js", "/nothing-here"):
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Cookie": "dialer_web_token=wrong"}):
                status, _, body = await fetch(port, path, headers=headers)
                assert (path, status, body) == (path, 401, b"")
        status, _, body = await fetch(port, "/?token=wrong")
        assert (status, body) == (401, b"")
        # A write gets 401 too before anything looks at it; with the token, 405: the page changes nothing.
        for path in ("/api/snapshot", "/", "/api/campaigns/c1/pause"):
            assert (await fetch(port, path, method="POST", body=b"{}"))[0] == 401
            status, headers, _ = await fetch(port, path, method="POST", body=b"{}",
                                             headers={"Authorization": f"Bearer {TOKEN}"})
            assert status == 405
            assert headers["allow"] == "GET, HEAD"
        log = daemon.log_path.read_text()
        assert TOKEN not in log
    finally:
        await daemon.stop()


async def test_the_token_in_the_address_becomes_a_cookie_and_every_answer_has_the_security_headers(
        tmp_path, make_sim):
    daemon, port = await started(tmp_path, make_sim, leads=False)
    try:
        status, headers, _ = await fetch(port, f"/?token={TOKEN}")
        assert status == 303
        assert headers["location"] == "/"
        cookie = headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        jar = {"Cookie": cookie.split(";")[0]}
        for path, kind in (("/", "text/html"), ("/assets/app.js", "text/javascript"), ("/assets/app.css", "text/css"),
                           ("/api/snapshot", "application/json")):
            status, headers, body = await fetch(port, path, headers=jar)
            assert status == 200, path
            assert headers["content-type"].startswith(kind)
            csp = headers["content-security-policy"]
            assert "script-src 'self'" in csp
            assert "frame-ancestors 'none'" in csp
            assert "unsafe-inline" not in csp
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["referrer-policy"] == "no-referrer"
            assert headers["cache-control"] == "no-store"
        page = (await fetch(port, "/", headers=jar))[2].decode()
        assert "<script>" not in page  # only <script src=...>
        assert "http://" not in page.replace("http://www.w3.org", "")
        assert "https://" not in page
        status, _, body = await fetch(port, "/api/snapshot", headers={"Authorization": f"Bearer {TOKEN}"})
        assert status == 200
        assert set(json.loads(body)["campaigns"]) == {"c1"}
    finally:
        await daemon.stop()


async def live_call_numbers(port: int) -> list[str]:
    snapshot = await snapshot_until(port, lambda s: s["campaigns"]["c1"]["calls"], "a live call")
    return [call["number"] for call in snapshot["campaigns"]["c1"]["calls"]]


async def test_a_live_number_is_masked_unless_show_numbers_is_true(tmp_path, make_sim):
    daemon, port = await started(tmp_path, make_sim)
    try:
        assert await live_call_numbers(port) == ["+14*******23"]
        _, _, body = await fetch(port, "/api/snapshot", headers={"Authorization": f"Bearer {TOKEN}"})
        assert NUMBER not in body.decode()
    finally:
        await daemon.kill()  # a 30 s call is live: no drain needed here
    other = tmp_path / "shown"
    other.mkdir()
    daemon, port = await started(other, make_sim, show_numbers=True)
    try:
        assert await live_call_numbers(port) == [NUMBER]
    finally:
        await daemon.kill()


async def test_check_config_refuses_a_page_for_other_hosts_without_a_token(tmp_path):
    path = tmp_path / "dialer.toml"
    path.write_text('[web]\nenabled = true\naddress = "0.0.0.0"\n')
    code, out, err = await run_cli("check-config", str(path), env={"DIALER_AMI_SECRET": "x", "DIALER_WEB_TOKEN": ""})
    assert code == 2
    assert "web.address: 0.0.0.0 is reachable from other hosts" in err
    assert "Traceback" not in err
    code, out, err = await run_cli("check-config", str(path), env={"DIALER_AMI_SECRET": "x", "DIALER_WEB_TOKEN": TOKEN})
    assert code == 0, err
    assert TOKEN not in out + err
    path.write_text('[web]\nenabled = true\n')  # loopback: no token needed
    code, _, err = await run_cli("check-config", str(path), env={"DIALER_AMI_SECRET": "x", "DIALER_WEB_TOKEN": ""})
    assert code == 0, err




async def snapshot_until(port: int, check, what: str, timeout_s: float = 30) -> dict:
    """The snapshot, once `check` holds for it (fails after `timeout_s` naming `what`)."""
    snapshot: dict = {}

    async def shows() -> bool:
        nonlocal snapshot
        _, _, body = await fetch(port, "/api/snapshot", headers={"Authorization": f"Bearer {TOKEN}"})
        snapshot = json.loads(body)
        return bool(check(snapshot))

    try:
        await until(shows, timeout_s)
    except TimeoutError:
        raise AssertionError(f"the snapshot never showed {what}: {snapshot}") from None
    return snapshot


async def test_a_lost_pbx_session_shows_as_an_alert_and_a_reconnect(tmp_path, make_sim):
    sim = await make_sim(LONG_CALLS)
    config = write_config(tmp_path, sim.port, concurrent=1, rate=5, extra=web_on())
    code, _, err = await run_cli("init", "--config", str(config))
    assert code == 0, err
    daemon = await DaemonProcess(config, env={"DIALER_WEB_TOKEN": TOKEN}).start()
    try:
        port = (await daemon.wait_for_log("web_listening"))["port"]
        up = await snapshot_until(port, lambda s: s["pbx"]["connected"], "the PBX up")
        assert up["pbx"]["last_reconnect"] is None
        assert up["alerts"] == []
        sim.drop_clients()
        back = await snapshot_until(port, lambda s: s["pbx"]["last_reconnect"] is not None and s["pbx"]["connected"],
                                    "the reconnect")
        assert [a["kind"] for a in back["alerts"]] == ["ami_down"]
        assert back["pbx"]["since"] >= up["pbx"]["since"]
    finally:
        await daemon.stop()


async def open_stream(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    """GET /api/stream as EventSource does; returns the connection and the status line."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /api/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode())
    await writer.drain()
    return reader, writer, await reader.readline()


async def test_pages_beyond_max_clients_get_503_and_a_closed_page_frees_its_place(tmp_path, make_sim):
    sim = await make_sim(LONG_CALLS)
    config = write_config(tmp_path, sim.port, concurrent=1, rate=5, extra=web_on() + "max_clients = 2\n")
    code, _, err = await run_cli("init", "--config", str(config))
    assert code == 0, err
    daemon = await DaemonProcess(config, env={"DIALER_WEB_TOKEN": TOKEN}).start()
    try:
        port = (await daemon.wait_for_log("web_listening"))["port"]
        first, second = await open_stream(port), await open_stream(port)
        assert [first[2], second[2]] == [b"HTTP/1.1 200 OK\r\n"] * 2
        for page in (first, second):  # each page gets its first snapshot at once
            head = await page[0].readuntil(b"\n\n")  # the rest of the HTTP header
            assert b"text/event-stream" in head
            assert b"event: snapshot" in await page[0].readuntil(b"event: snapshot")
        third = await open_stream(port)
        assert third[2].startswith(b"HTTP/1.1 503")
        third[1].close()
        first[1].close()  # a page goes away: its place is free for the next one
        async def a_place_is_free() -> bool:
            _reader, writer, status = await open_stream(port)
            writer.close()
            return status == b"HTTP/1.1 200 OK\r\n"

        await until(a_place_is_free, 30)
        second[1].close()
    finally:
        await daemon.stop()
