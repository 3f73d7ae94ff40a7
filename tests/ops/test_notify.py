"""The notify protocol and the watchdog, against sockets the tests bind."""

from __future__ import annotations

import asyncio
import os
import socket
import time

from dialer.ops.notify import Notifier, socket_address
from dialer.ops.service import Snapshot, SystemdService, status_line
from dialer.ops.watchdog import Watchdog, watchdog_interval_s


def bound(tmp_path, abstract: bool = False) -> tuple[socket.socket, str]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if abstract:
        name = f"dialer-test-{os.getpid()}-{time.monotonic_ns()}"
        sock.bind(b"\0" + name.encode())
        return sock, "@" + name
    path = tmp_path / "notify.sock"
    sock.bind(str(path))
    return sock, str(path)


def received(sock: socket.socket) -> list[str]:
    sock.setblocking(False)
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return out


def test_abstract_socket_names_start_with_a_nul_byte():
    assert socket_address("@name") == b"\0name"
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"


def test_notifier_sends_one_datagram_per_call_to_a_path_socket(tmp_path):
    sock, address = bound(tmp_path)
    notifier = Notifier.from_env({"NOTIFY_SOCKET": address})
    assert notifier.ready("dialing: 0 live calls")
    assert notifier.status("line one\nline two")
    assert notifier.watchdog()
    assert received(sock) == ["READY=1\nSTATUS=dialing: 0 live calls", "STATUS=line one line two", "WATCHDOG=1"]


def test_notifier_reaches_an_abstract_socket(tmp_path):
    sock, address = bound(tmp_path, abstract=True)
    notifier = Notifier.from_env({"NOTIFY_SOCKET": address})
    assert notifier.stopping("draining")
    assert received(sock) == ["STOPPING=1\nSTATUS=draining"]


def test_without_notify_socket_nothing_is_sent_and_nothing_fails():
    notifier = Notifier.from_env({})
    assert not notifier.enabled
    assert not notifier.ready("x")


def test_a_vanished_socket_does_not_raise(tmp_path):
    notifier = Notifier.from_env({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert not notifier.status("x")
    assert not notifier.watchdog()


def test_watchdog_interval_is_half_of_watchdog_usec_for_this_process():
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}) == 15.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, pid=2) is None
    assert watchdog_interval_s({}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "junk"}) is None


async def test_watchdog_pings_come_from_the_event_loop_and_stop_while_it_is_stuck(tmp_path):
    sock, address = bound(tmp_path)
    watchdog = Watchdog(Notifier(address), 0.05)
    watchdog.start()
    await asyncio.sleep(0.3)
    before = len(received(sock))
    assert before >= 3
    time.sleep(0.5)  # noqa: ASYNC251 -- the loop is stuck on purpose: a thread would keep pinging
    assert received(sock) == []
    await asyncio.sleep(0.2)
    assert received(sock)  # alive again, pinging again
    await watchdog.stop()


def test_status_lines_say_what_the_daemon_does():
    dialing = Snapshot("dialing", 12, ["a", "b"], True, "127.0.0.1:5038", 60)
    assert status_line(dialing) == "dialing: 12 live calls; 2 active campaigns (a, b); AMI connected"
    down = Snapshot("dialing", 1, ["a"], False, "127.0.0.1:5038", 60)
    assert status_line(down) == "AMI down, reconnecting to 127.0.0.1:5038: 1 live call; 1 active campaign (a)"
    draining = Snapshot("draining", 3, ["a"], True, "127.0.0.1:5038", 60)
    assert status_line(draining) == "draining: no new calls; 3 live calls left (exit within 60 s)"
    many = Snapshot("dialing", 0, [f"c{i}" for i in range(7)], True, "h:1", 60)
    assert status_line(many).endswith("7 active campaigns (c0, c1, c2, c3, c4, …); AMI connected")


async def test_service_sends_ready_status_changes_reload_and_stopping(tmp_path):
    sock, address = bound(tmp_path)
    state = {"snap": Snapshot("starting", 0, [], False, "h:1", 60)}
    service = SystemdService(Notifier(address), Watchdog(Notifier(address), None), interval_s=0.02)
    service.start(lambda: state["snap"])
    state["snap"] = Snapshot("dialing", 2, ["a"], True, "h:1", 60)
    service.ready()
    state["snap"] = Snapshot("dialing", 3, ["a"], True, "h:1", 60)
    await asyncio.sleep(0.1)
    service.reloading()
    service.reloaded("last reload ok")
    state["snap"] = Snapshot("draining", 3, ["a"], True, "h:1", 60)
    service.stopping()
    await service.stop()
    got = received(sock)
    assert got[0] == "STATUS=starting: database open, logging in to AMI at h:1"
    assert got[1] == "READY=1\nSTATUS=dialing: 2 live calls; 1 active campaign (a); AMI connected"
    assert "STATUS=dialing: 3 live calls; 1 active campaign (a); AMI connected" in got
    reloading = next(g for g in got if g.startswith("RELOADING=1"))
    assert "MONOTONIC_USEC=" in reloading
    assert got[-2] == "READY=1\nSTATUS=dialing: 3 live calls; 1 active campaign (a); AMI connected; last reload ok"
    assert got[-1] == "STOPPING=1\nSTATUS=draining: no new calls; 3 live calls left (exit within 60 s); last reload ok"
