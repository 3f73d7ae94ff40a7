"""The compliance gate: every number passes it right before origination (and for `dialer check`)."""

from dialer.compliance.gate import Gate
from dialer.compliance.model import Decision, GateRequest, NumberHistory, RuleResult, Verdict
from dialer.compliance.policy import CompliancePolicy

__all__ = ["CompliancePolicy", "Decision", "Gate", "GateRequest", "NumberHistory", "RuleResult", "Verdict"]
