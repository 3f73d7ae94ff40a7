"""`dialer run` as systemd runs it: READY/STATUS/WATCHDOG/RELOADING/STOPPING on a socket the test binds."""

from __future__ import annotations

import os
import signal
import socket
import time

from tests.ops.helpers import DaemonProcess, import_leads, until, write_config

TALKING = {"rules": [{"match": ".", "outcome": "answered", "ring_s": 0.1, "talk_s": 2.0, "recording": "omit"}]}


def numbers(count: int, start: int = 0) -> list[str]:
    return [f"+1415555{i:04d}" for i in range(start, start + count)]


async def test_the_daemon_tells_systemd_ready_status_watchdog_reload_and_stopping(tmp_path, make_sim):
    sim = await make_sim(TALKING)
    config = write_config(tmp_path, sim.port, concurrent=4, rate=20)
    await import_leads(config, numbers(40))
    # The service manager's socket, in the abstract namespace as systemd may hand it over.
    name = f"dialer-notify-{os.getpid()}-{time.monotonic_ns()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.setblocking(False)
    got: list[tuple[float, str]] = []

    def drain() -> list[str]:
        while True:
            try:
                got.append((time.monotonic(), sock.recv(4096).decode()))
            except BlockingIOError:
                return [text for _, text in got]

    def has(prefix: str) -> bool:
        return any(text.startswith(prefix) for text in drain())

    daemon = await DaemonProcess(config, env={"NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "400000"}).start()
    try:
        await until(lambda: has("READY=1"), 60, "READY=1")
        # READY=1 only once the database is open and Asterisk accepted the login.
        assert (tmp_path / "dialer.db").exists()
        assert any(s.authenticated for s in sim.sessions)
        ready = next(text for text in drain() if text.startswith("READY=1"))
        assert "STATUS=" in ready
        assert [t for t in drain() if t.startswith("STATUS=starting")], "a starting status came first"
        await until(lambda: any("STATUS=dialing: " in t and "1 active campaign (c1); AMI connected" in t
                                and "STATUS=dialing: 0 live" not in t for t in drain()), 30, "a status with live calls")
        await until(lambda: sum(t == "WATCHDOG=1" for t in drain()) >= 5, 30, "watchdog pings")

        daemon.signal(signal.SIGHUP)
        await until(lambda: has("RELOADING=1"), 30, "RELOADING=1")
        await until(lambda: any(t.startswith("READY=1") and "last reload ok" in t for t in drain()), 30,
                    "READY=1 after the reload")

        daemon.signal(signal.SIGTERM)
        await until(lambda: has("STOPPING=1"), 30, "STOPPING=1")
        stopping = next(t for t in drain() if t.startswith("STOPPING=1"))
        assert "STATUS=draining: no new calls;" in stopping
        assert await daemon.wait(60) == 0
        texts = drain()
    finally:
        await daemon.kill()
        sock.close()
    assert all("+1415" not in t for t in texts)  # no numbers in what systemd shows
    # Pings kept coming while the daemon dialed, from before READY=1 to the end of the drain.
    assert sum(t == "WATCHDOG=1" for t in texts) >= 5
    assert texts.index(stopping) > next(i for i, t in enumerate(texts) if "last reload ok" in t)
