"""The systemd notify protocol (sd_notify(3)) without libsystemd: one datagram to $NOTIFY_SOCKET.

The socket is a path (`/run/systemd/notify`) or, with a leading `@`, a name in the abstract
namespace. Sending never blocks and never raises: systemd may have gone away (a manual run with a
stale variable), and the daemon must keep dialing regardless; the first failure is logged once.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping

import structlog

log = structlog.get_logger("dialer.ops.notify")


def socket_address(value: str) -> str | bytes:
    """$NOTIFY_SOCKET -> an address for `socket.sendto` (`@name` is the abstract `\\0name`)."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value


class Notifier:
    """Sends state lines to the service manager; a no-op when not started by systemd."""

    def __init__(self, address: str | bytes | None) -> None:
        self.address = address
        self._sock: socket.socket | None = None
        self._warned = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        """The notifier for this process ($NOTIFY_SOCKET, if set)."""
        env = os.environ if environ is None else environ
        value = env.get("NOTIFY_SOCKET", "")
        return cls(socket_address(value) if value else None)

    @property
    def enabled(self) -> bool:
        """True when there is a service manager to tell."""
        return self.address is not None

    def send(self, *lines: str) -> bool:
        """Send `KEY=value` lines in one datagram; True if it was sent."""
        if self.address is None:
            return False
        # A status line cannot carry a line break (it would start a new assignment).
        data = "\n".join(line.replace("\n", " ") for line in lines).encode()
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.setblocking(False)
            self._sock.sendto(data, self.address)
        except OSError as exc:
            if not self._warned:
                self._warned = True
                log.warning("notify_failed", error=str(exc), note="systemd is not told about this daemon's state")
            return False
        return True

    def ready(self, status: str) -> bool:
        """READY=1: the service is up (database open, AMI logged in)."""
        return self.send("READY=1", f"STATUS={status}")

    def status(self, status: str) -> bool:
        """A new STATUS= line (shown by `systemctl status`)."""
        return self.send(f"STATUS={status}")

    def reloading(self, status: str) -> bool:
        """RELOADING=1 while the config is re-read; READY=1 follows."""
        return self.send("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}",
                         f"STATUS={status}")

    def stopping(self, status: str) -> bool:
        """STOPPING=1: the daemon is draining and will exit."""
        return self.send("STOPPING=1", f"STATUS={status}")

    def watchdog(self) -> bool:
        """WATCHDOG=1: the event loop is alive."""
        return self.send("WATCHDOG=1")

    def close(self) -> None:
        """Close the socket."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
