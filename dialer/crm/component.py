"""The CRM part of the daemon: callbacks fired as their attempts start, asked for by callees, offered
to the dialplan (DIALER_CALLBACK_KEY). It only registers engine hooks; nothing runs on its own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from dialer.config.models import CampaignConfig
from dialer.crm.callbacks import CallbackHook
from dialer.crm.config import CallbackPolicy
from dialer.tracker import TrackedCall

if TYPE_CHECKING:
    from dialer.daemon import DaemonContext
    from dialer.engine import Engine
    from dialer.tasks import PartTasks


class CrmComponent:
    """Hooks the callback policy into the engine (see dialer.crm.callbacks)."""

    name = "crm"

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        engine.tx_hooks.append(CallbackHook(self._policies))
        engine.variable_providers.append(self._variables)

    def _policies(self) -> Mapping[str, CallbackPolicy]:
        # Read at each use: a SIGHUP reload swaps engine.config.
        return {name: c.callbacks for name, c in self._engine.config.campaigns.items()}

    @staticmethod
    def _variables(call: TrackedCall, campaign: CampaignConfig) -> Mapping[str, str]:
        if not campaign.callbacks.enabled:
            return {}
        return {"DIALER_CALLBACK_KEY": campaign.callbacks.key}

    async def start(self, parts: PartTasks) -> None:
        """Nothing to start: the hooks do the work."""

    async def stop(self) -> None:
        """Nothing to stop."""


def crm_component(context: DaemonContext) -> CrmComponent:
    """Daemon component factory (always on: callbacks cost nothing until one is scheduled)."""
    return CrmComponent(context.engine)
