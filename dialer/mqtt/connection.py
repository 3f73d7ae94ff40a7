"""One broker connection at a time, with an explicit reconnect loop and capped backoff.

aiomqtt 2.x workarounds, all of them here (pin <3: 3.0 changes this API):
1. It neither reconnects by itself nor fails a publish that waits for its PUBACK when the connection
   drops (the publish waits for its timeout), and it raises when asked to publish while disconnected.
   So each connection is a fresh `aiomqtt.Client`, and the session (the caller's coroutine) runs
   beside `_watch_connection`, which ends it the moment the connection is lost.
2. Every publish with a timeout costs an extra task and timer; its pending-call bookkeeping walks
   every pending call per publish, and warns past 10 of them. `publish_acknowledged` publishes
   without aiomqtt's timeout (the publisher checks the age of its oldest unacknowledged message
   instead), and `_client` raises the warning threshold; the publisher keeps at most
   `outbox.inflight` publishes pending (paho's own in-flight limit), so the walk stays short.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import aiomqtt
import structlog
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.reasoncodes import ReasonCode

from dialer.mqtt.config import MqttConfig
from dialer.tasks import cancel_and_wait

log = structlog.get_logger("dialer.mqtt")

Session = Callable[[aiomqtt.Client], Coroutine[Any, Any, None]]
MessageHandler = Callable[[aiomqtt.Client, aiomqtt.Message], Awaitable[None]]

STABLE_S = 10.0  # a session that lasted this long resets the backoff and counts the next loss as news

# CONNACK codes of MQTT 3.1.1 (4, 5) and 5.0 (134, 135) that mean "these credentials are refused".
_AUTH_CODES = frozenset({4, 5, 134, 135})


@dataclass(frozen=True, slots=True)
class Will:
    """The message the broker publishes for us if the connection dies without a DISCONNECT."""

    topic: str
    payload: bytes
    qos: int
    retain: bool = True


def publish_acknowledged(client: aiomqtt.Client, topic: str, payload: bytes, qos: int
                         ) -> Coroutine[Any, Any, None]:
    """Publish; the awaitable completes at the broker's acknowledgement (workaround 2: no timeout)."""
    return client.publish(topic, payload, qos=qos, timeout=math.inf)


def tls_context(config: MqttConfig) -> ssl.SSLContext | None:
    """The TLS context for `config.tls`, or None for plain TCP."""
    tls = config.tls
    if not tls.enabled:
        return None
    context = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)
    if tls.cert_file is not None and tls.key_file is not None:
        context.load_cert_chain(str(tls.cert_file), str(tls.key_file))
    if not tls.verify_hostname:
        context.check_hostname = False
    return context


def certificate_fingerprint(der: bytes) -> str:
    """A client certificate's short SHA-256 fingerprint in OpenSSL's colon-separated form. The colons
    matter: a bare hex run with seven decimal digits in a row would be masked as a phone number."""
    digest = hashlib.sha256(der).hexdigest()[:16].upper()
    return "sha256:" + ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def broker_identity(config: MqttConfig) -> str:
    """How the dialer is known to the broker, for the audit: its user, its client certificate
    (SHA-256 fingerprint: the subject is not readable through the ssl module's public API), or none."""
    parts = []
    if config.username is not None:
        parts.append(f"broker user {config.username!r}")
    if config.tls.enabled and config.tls.cert_file is not None:
        try:
            der = ssl.PEM_cert_to_DER_cert(config.tls.cert_file.read_text(encoding="ascii"))
            parts.append(f"client certificate {certificate_fingerprint(der)}")
        except (OSError, ValueError, UnicodeDecodeError):
            parts.append(f"client certificate {config.tls.cert_file.name}")
    return " with ".join(parts) if parts else "an anonymous broker connection"


def describe_refusal(config: MqttConfig, code: object) -> str:
    """A login refusal in words a PBX admin can act on (never the secret)."""
    who = f"user {config.username!r}" if config.username else "an anonymous login"
    return (f"the MQTT broker {config.host}:{config.port} refused {who}: {code}; "
            "check mqtt.username and the mqtt secret, and the broker's password file and ACL")


def _reason_value(exc: MqttConnectError) -> int | None:
    rc = exc.rc
    if isinstance(rc, ReasonCode):
        return int(rc.value)
    return rc if isinstance(rc, int) else None


class Connection:
    """Keeps one connection to the broker up until stopped; runs `session(client)` on each one."""

    def __init__(
        self,
        config: MqttConfig,
        identifier: str,
        will: Callable[[], Will],
        *,
        on_message: MessageHandler | None = None,
        on_down: Callable[[str, bool], None] | None = None,
    ) -> None:
        self.config = config
        self.identifier = identifier
        self._will = will
        self._on_message = on_message
        self._on_down = on_down  # (reason, refused) once per outage
        self._tls = tls_context(config)
        self.connected = asyncio.Event()
        self.connections = 0
        self._reported: set[str] = set()  # kinds of trouble reported in the current outage

    @property
    def address(self) -> str:
        """host:port of the broker."""
        return f"{self.config.host}:{self.config.port}"

    def _client(self) -> aiomqtt.Client:
        config = self.config
        will = self._will()
        client = aiomqtt.Client(
            config.host, config.port,
            username=config.username,
            password=config.secret.get_secret_value() if config.secret is not None else None,
            identifier=self.identifier,
            will=aiomqtt.Will(will.topic, will.payload, will.qos, will.retain),
            clean_session=True,
            keepalive=config.keepalive_s,
            timeout=config.connect_timeout_s,
            tls_context=self._tls,
            max_inflight_messages=config.outbox.inflight,
        )
        # Workaround 2: a full publish window is normal here, not worth aiomqtt's warning past 10.
        client.pending_calls_threshold = config.outbox.inflight + 100
        return client

    async def run(self, session: Session, stopping: asyncio.Event) -> None:
        """Connect, run `session`, and reconnect after any loss (capped backoff) until `stopping` is set
        and the session returns. A refused login is retried too: the admin may fix the broker side."""
        delay = self.config.reconnect_initial_s
        while not stopping.is_set():
            reason: str
            refused = False
            connected_at: float | None = None
            try:
                async with self._client() as client:
                    connected_at = time.monotonic()
                    self.connections += 1
                    self.connected.set()
                    if self._reported:
                        log.info("mqtt_reconnected", broker=self.address)
                    else:
                        log.info("mqtt_connected", broker=self.address, client_id=self.identifier)
                    await self._session(client, session)
                    return  # the session ended by itself: we are stopping
            except MqttConnectError as exc:
                refused = _reason_value(exc) in _AUTH_CODES
                reason = describe_refusal(self.config, exc.rc) if refused else f"connection refused: {exc}"
            except aiomqtt.MqttError as exc:
                reason = str(exc) or type(exc).__name__
                if exc.__cause__ is not None:
                    reason += f" ({exc.__cause__})"
            except (OSError, ssl.SSLError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # a storage error or a bug in the session: log it, never stop retrying
                log.exception("mqtt_session_failed", broker=self.address)
                reason = f"session failed: {type(exc).__name__}: {exc}"
            finally:
                self.connected.clear()
            if connected_at is not None and time.monotonic() - connected_at >= STABLE_S:
                # A session that lasted: this is a new outage, and the backoff starts over. One that
                # failed at once (a broker that accepts and then drops us) keeps backing off, quietly.
                self._reported.clear()
                delay = self.config.reconnect_initial_s
            self._report_down(reason, refused)
            if stopping.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self.config.reconnect_max_s)

    def _report_down(self, reason: str, refused: bool) -> None:
        # Once per outage and kind: a broker that went away and then refuses our login is two things
        # to fix, but a retry every few seconds is not news.
        kind = "refused" if refused else "down"
        if kind in self._reported:
            log.debug("mqtt_still_down", broker=self.address, reason=reason)
            return
        self._reported.add(kind)
        if refused:
            log.error("mqtt_login_refused", broker=self.address, reason=reason,
                      note="events wait in the outbox; dialing goes on")
        else:
            log.warning("mqtt_down", broker=self.address, reason=reason,
                        note="events wait in the outbox; dialing goes on")
        if self._on_down is not None:
            self._on_down(reason, refused)

    async def _session(self, client: aiomqtt.Client, session: Session) -> None:
        work = asyncio.create_task(session(client), name="mqtt-session")
        watch = asyncio.create_task(self._watch_connection(client), name="mqtt-watch")
        try:
            done, _ = await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Debug only: the failure that ended the session is raised below and logged by run().
            await cancel_and_wait((work, watch), "mqtt_task_failed", level="debug")
        # Raises what the session raised (a failed publish: reconnect), or MqttError: the connection was lost.
        (work if work in done else watch).result()

    async def _watch_connection(self, client: aiomqtt.Client) -> None:
        # aiomqtt workaround (2.x): the message iterator is the only public API that ends when the
        # connection drops; a publish waiting for its PUBACK would otherwise hang until its timeout.
        # Iterating also hands incoming commands to the handler.
        async for message in client.messages:
            if self._on_message is not None:
                await self._on_message(client, message)
        raise aiomqtt.MqttError("message iterator ended")
