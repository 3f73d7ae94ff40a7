"""The compliance gate: every number passes it right before origination (and for `dialer check`)."""

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
