"""The gate: a chain of rules, each a small unit with an id, that together allow or block a call."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from dialer.compliance.model import Decision, GateRequest, RuleResult, Verdict
from dialer.compliance.policy import CompliancePolicy, tighten
from dialer.compliance.rules.number import EMERGENCY, VALID, masked_raw, screen_number
from dialer.numbers import PhoneNumber, is_e164, mask


class Rule(Protocol):
    """One rule: a stable id and a pure evaluation over a normalised number."""

    id: str

    def evaluate(self, request: GateRequest, number: PhoneNumber, now: datetime) -> RuleResult:
        """Allow or block `number` for `request` at `now` (timezone-aware)."""
        ...


class Gate:
    """Screens the number, then runs every configured rule, and returns one Decision.

    With `floor` set, every request's policy is first tightened to be at least as strict as it,
    so a caller can never widen the global policy by handing the gate a looser one.
    """

    NUMBER_RULE = VALID

    def __init__(self, rules: Sequence[Rule] = (), *, floor: CompliancePolicy | None = None) -> None:
        self._rules = tuple(rules)
        self._floor = floor

    def tightened(self, policy: CompliancePolicy) -> CompliancePolicy:
        """`policy` tightened by the floor, as `check` would: a caller judging many numbers with one
        policy tightens it once, so `check` finds nothing to change and makes no copy per request."""
        return policy if self._floor is None else tighten(self._floor, policy)

    @property
    def rule_ids(self) -> tuple[str, ...]:
        """Ids of every rule this gate runs, in order."""
        return (VALID, EMERGENCY, *(rule.id for rule in self._rules))

    def check(self, request: GateRequest, now: datetime, *, explain: bool = False) -> Decision:
        """Decide; with `explain` every rule runs even after a block (for `dialer check`)."""
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("the gate needs a timezone-aware `now`")
        if self._floor is not None:
            policy = tighten(self._floor, request.policy)
            if policy is not request.policy:
                request = dataclasses.replace(request, policy=policy)
        screened = screen_number(request)
        if isinstance(screened, RuleResult):
            return Decision(
                Verdict.BLOCK, screened.rule, screened.detail, (screened,), None,
                masked_number=masked_raw(request.number),
            )  # fmt: skip
        number = screened
        results = [
            RuleResult(VALID, Verdict.ALLOW, f"valid {number.number_type} number in {number.region}"),
            RuleResult(EMERGENCY, Verdict.ALLOW, "not an emergency/service number"),
        ]
        first_block: RuleResult | None = None
        for rule in self._rules:
            result = rule.evaluate(request, number, now)
            results.append(result)
            if result.blocked and first_block is None:
                first_block = result
                if not explain:
                    break
        masked = mask(number.e164)
        if first_block is None:
            if not is_e164(number.e164):  # the one invariant that must hold for every allow
                bad = RuleResult(VALID, Verdict.BLOCK, "number is not strict E.164")
                return Decision(Verdict.BLOCK, VALID, bad.detail, (bad,), None, masked_number=masked)
            return Decision(
                Verdict.ALLOW, "allow", "all rules allow", tuple(results), number, masked_number=masked
            )
        return Decision(
            Verdict.BLOCK,
            first_block.rule,
            first_block.detail,
            tuple(results),
            number,
            retry_at=_latest_retry(results),
            masked_number=masked,
        )


def _latest_retry(results: Sequence[RuleResult]) -> float | None:
    """A block is temporary only if every blocking rule is temporary; retry when all have lifted."""
    blocking = [r for r in results if r.blocked]
    if any(r.retry_at is None for r in blocking):
        return None
    return max(r.retry_at for r in blocking if r.retry_at is not None)
