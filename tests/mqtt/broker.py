"""A real MQTT broker for tests (and the benchmark), started as a process on a free loopback port.

Mosquitto where it is installed; otherwise amqtt (a pure-Python broker the test extras install), which
covers anonymous brokers only: tests that need a password file, an ACL, TLS or SIGHUP reloads skip
there. Kill, freeze and restart keep the port, so the dialer reconnects to the same address.
"""

from __future__ import annotations

import atexit
import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")
START_TIMEOUT_S = 10.0
_RUNNING: set[subprocess.Popen[bytes]] = set()


@atexit.register
def _kill_leftovers() -> None:
    """A test that failed before stopping its broker must not leave the process behind."""
    for process in list(_RUNNING):
        if process.poll() is None:
            process.kill()


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def kind() -> str:
    """`mosquitto` or `amqtt`: which broker the tests run against on this machine.

    DIALER_TEST_BROKER=amqtt forces the fallback (to check that the suite passes without mosquitto)."""
    if os.environ.get("DIALER_TEST_BROKER") == "amqtt":
        return "amqtt"
    return "mosquitto" if MOSQUITTO and MOSQUITTO_PASSWD else "amqtt"


class Broker:
    """One broker process. `users` turns on password authentication (mosquitto only)."""

    def __init__(self, workdir: Path, *, users: dict[str, str] | None = None, acl_file: Path | None = None,
                 tls: tuple[Path, Path] | None = None, client_ca: Path | None = None) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.host = "127.0.0.1"
        self.kind = kind()
        self.users = dict(users) if users is not None else None
        self.acl_file = acl_file
        self.tls = tls  # (certificate, key) for a TLS listener
        self.client_ca = client_ca  # TLS clients must show a certificate of this CA; its CN is the user
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "broker.log"
        if self.kind != "mosquitto" and (users is not None or acl_file is not None or tls is not None
                                         or client_ca is not None):
            import pytest

            pytest.skip("needs mosquitto (password file, ACL or TLS)")

    @property
    def address(self) -> str:
        """host:port."""
        return f"{self.host}:{self.port}"

    # -- process control -----------------------------------------------------------------------

    def start(self) -> Broker:
        """Start (or restart) on the same port; returns once it accepts connections."""
        assert self.process is None or self.process.poll() is not None, "already running"
        command = self._mosquitto() if self.kind == "mosquitto" else self._amqtt()
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        _RUNNING.add(self.process)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"broker exited with {self.process.returncode}: {self.log_path.read_text()[-2000:]}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"broker did not listen on {self.address}: {self.log_path.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: no goodbye to anyone, retained messages and sessions gone (no persistence)."""
        self._signal(signal.SIGCONT)  # a frozen process dies as well, but be explicit
        self._signal(signal.SIGKILL)
        self._wait()

    def stop(self) -> None:
        """SIGTERM and wait."""
        if self.process is not None and self.process.poll() is None:
            self._signal(signal.SIGCONT)
            self._signal(signal.SIGTERM)
            self._wait()

    def freeze(self) -> None:
        """SIGSTOP: connections stay open, nothing is read or acknowledged."""
        self._signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT."""
        self._signal(signal.SIGCONT)

    def set_users(self, users: dict[str, str]) -> None:
        """Rewrite the password file; a running mosquitto re-reads it (SIGHUP)."""
        assert self.kind == "mosquitto"
        self.users = dict(users)
        self._write_passwords()
        if self.process is not None and self.process.poll() is None:
            self._signal(signal.SIGHUP)

    def _signal(self, sig: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)

    def _wait(self) -> None:
        if self.process is not None:
            self.process.wait(timeout=10)
            _RUNNING.discard(self.process)

    # -- configs -------------------------------------------------------------------------------

    def _write_passwords(self) -> Path:
        path = self.workdir / "passwords"
        path.write_text("")
        os.chmod(path, 0o600)
        assert MOSQUITTO_PASSWD is not None
        for user, password in (self.users or {}).items():
            subprocess.run([MOSQUITTO_PASSWD, "-b", str(path), user, password], check=True, capture_output=True)
        return path

    def _mosquitto(self) -> list[str]:
        # As root, mosquitto would switch to the `mosquitto` user, who cannot read the test's folder.
        lines = [f"user {getpass.getuser()}", f"listener {self.port} {self.host}", "persistence false",
                 "log_dest stderr",
                 "log_type error", "log_type warning", "log_type notice", "log_type information",
                 "log_type subscribe",
                 "max_queued_messages 100000"]
        if self.tls is not None:
            cert, key = self.tls
            lines += [f"certfile {cert}", f"keyfile {key}"]
        if self.client_ca is not None:
            lines += [f"cafile {self.client_ca}", "require_certificate true", "use_identity_as_username true",
                      "allow_anonymous false"]
        elif self.users is None:
            lines.append("allow_anonymous true")
        else:
            lines += ["allow_anonymous false", f"password_file {self._write_passwords()}"]
        if self.acl_file is not None:
            lines.append(f"acl_file {self.acl_file}")
        config = self.workdir / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n")
        assert MOSQUITTO is not None
        return [MOSQUITTO, "-c", str(config)]

    def _amqtt(self) -> list[str]:
        config = self.workdir / "amqtt.yaml"
        config.write_text(
            "listeners:\n"
            "  default:\n"
            "    type: tcp\n"
            f"    bind: {self.host}:{self.port}\n"
            "plugins:\n"
            "  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
            "    allow_anonymous: true\n"
            "  amqtt.plugins.sys.broker.BrokerSysPlugin:\n"
            "    sys_interval: 0\n"
        )
        return [sys.executable, "-m", "amqtt.scripts.broker_script", "-c", str(config)]
