"""The compliance gate: every number passes it right before origination (and for `dialer check`).

The names below are loaded on first use (PEP 562): `dialer.config` needs only the policy module,
and importing the whole gate (the DNC index pulls numpy) would cost every command ~0.2 s at start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dialer.compliance.dnc_index import DncHit, DncIndex, DncList
    from dialer.compliance.explain import explain, scrub_counts
    from dialer.compliance.factory import build_gate, default_rules
    from dialer.compliance.gate import Gate, Rule
    from dialer.compliance.model import (
        AbandonStats,
        Channel,
        ConsentRecord,
        Decision,
        GateRequest,
        NumberHistory,
        RuleResult,
        Verdict,
    )
    from dialer.compliance.policy import CallingHours, CompliancePolicy, PolicyError, narrow, tighten
    from dialer.compliance.registry import (
        Registry,
        RegistryError,
        RegistryFormat,
        RegistryImportError,
        RegistryInfo,
        build_registry,
    )
    from dialer.compliance.rules.abandon import abandon_headroom, abandon_rates
    from dialer.compliance.rules.caller_id import CallerId, CallerIdError, parse_caller_id

# Public name -> the module that defines it.
_WHERE: dict[str, str] = {
    **dict.fromkeys(("DncHit", "DncIndex", "DncList"), "dnc_index"),
    **dict.fromkeys(("explain", "scrub_counts"), "explain"),
    **dict.fromkeys(("build_gate", "default_rules"), "factory"),
    **dict.fromkeys(("Gate", "Rule"), "gate"),
    **dict.fromkeys(("AbandonStats", "Channel", "ConsentRecord", "Decision", "GateRequest", "NumberHistory",
                     "RuleResult", "Verdict"), "model"),
    **dict.fromkeys(("CallingHours", "CompliancePolicy", "PolicyError", "narrow", "tighten"), "policy"),
    **dict.fromkeys(("Registry", "RegistryError", "RegistryFormat", "RegistryImportError", "RegistryInfo",
                     "build_registry"), "registry"),
    **dict.fromkeys(("abandon_headroom", "abandon_rates"), "rules.abandon"),
    **dict.fromkeys(("CallerId", "CallerIdError", "parse_caller_id"), "rules.caller_id"),
}

__all__ = [
    "AbandonStats",
    "CallerId",
    "CallerIdError",
    "CallingHours",
    "Channel",
    "CompliancePolicy",
    "ConsentRecord",
    "Decision",
    "DncHit",
    "DncIndex",
    "DncList",
    "Gate",
    "GateRequest",
    "NumberHistory",
    "PolicyError",
    "Registry",
    "RegistryError",
    "RegistryFormat",
    "RegistryImportError",
    "RegistryInfo",
    "Rule",
    "RuleResult",
    "Verdict",
    "abandon_headroom",
    "abandon_rates",
    "build_gate",
    "build_registry",
    "default_rules",
    "explain",
    "narrow",
    "parse_caller_id",
    "scrub_counts",
    "tighten",
]


def __getattr__(name: str) -> Any:
    """Load a public name's module the first time the name is asked for."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    """The public names, loaded or not."""
    return sorted({*globals(), *_WHERE})
