"""The SMS part of the daemon: the sender loop and the reply handler, on when a campaign is `sms`
or a gateway is configured (replies can arrive for an earlier campaign)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dialer.sms.inbound import InboundHandler
from dialer.sms.sender import SmsSender

if TYPE_CHECKING:
    from dialer.config.models import Config
    from dialer.daemon import DaemonContext
    from dialer.tasks import PartTasks


class SmsComponent:
    """Owns the sender and the inbound handler."""

    name = "sms"

    def __init__(self, context: DaemonContext) -> None:
        self.sender = SmsSender(context.engine, context.db, context.clock)
        self.inbound = InboundHandler(context.config, context.db, context.clock)
        context.engine.tracker.user_event_hooks.append(self.inbound.on_user_event)

    def reload(self, config: Config) -> None:
        """Apply a reloaded config to the reply handler (the sender reads the engine's config)."""
        self.inbound.reload(config)

    async def start(self, parts: PartTasks) -> None:
        """Start sending."""
        await self.sender.start(parts)

    async def stop(self) -> None:
        """Let answers and replies in flight be recorded."""
        await self.sender.stop()
        await self.inbound.stop()


def sms_component(context: DaemonContext) -> SmsComponent | None:
    """Daemon component factory: None when nothing is configured for text messages."""
    config = context.config
    if not config.sms.gateways and not any(c.kind == "sms" for c in config.campaigns.values()):
        return None
    return SmsComponent(context)
