"""The gate: a chain of rules, each a small unit with an id, that together allow or block a call."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from dialer.compliance.model import Decision, GateRequest, RuleResult, Verdict
from dialer.numbers import NumberError, PhoneNumber, normalise


class Rule(Protocol):
    """One rule: a stable id and a pure evaluation over a normalised number."""

    id: str

    def evaluate(self, request: GateRequest, number: PhoneNumber, now: datetime) -> RuleResult:
        """Allow or block `number` for `request` at `now` (timezone-aware)."""
        ...


class Gate:
    """Runs the number rule, then every configured rule, and returns one Decision."""

    NUMBER_RULE = "number.valid"

    def __init__(self, rules: Sequence[Rule] = ()) -> None:
        self._rules = tuple(rules)

    @property
    def rule_ids(self) -> tuple[str, ...]:
        """Ids of every rule this gate runs, in order."""
        return (self.NUMBER_RULE, *(rule.id for rule in self._rules))

    def check(self, request: GateRequest, now: datetime, *, explain: bool = False) -> Decision:
        """Decide; with `explain` every rule runs even after a block (for `dialer check`)."""
        number = request.normalised
        if number is None:
            try:
                number = normalise(request.number, request.default_region)
            except NumberError as exc:
                result = RuleResult(self.NUMBER_RULE, Verdict.BLOCK, exc.reason)
                return Decision(Verdict.BLOCK, result.rule, result.detail, (result,), None)
        results = [RuleResult(self.NUMBER_RULE, Verdict.ALLOW, f"valid {number.number_type} number")]
        first_block: RuleResult | None = None
        for rule in self._rules:
            result = rule.evaluate(request, number, now)
            results.append(result)
            if result.blocked and first_block is None:
                first_block = result
                if not explain:
                    break
        if first_block is None:
            return Decision(Verdict.ALLOW, "allow", "all rules allow", tuple(results), number)
        return Decision(
            Verdict.BLOCK,
            first_block.rule,
            first_block.detail,
            tuple(results),
            number,
            retry_at=_latest_retry(results),
        )


def _latest_retry(results: Sequence[RuleResult]) -> float | None:
    """A block is temporary only if every blocking rule is temporary; retry when all have lifted."""
    blocking = [r for r in results if r.blocked]
    if any(r.retry_at is None for r in blocking):
        return None
    return max(r.retry_at for r in blocking if r.retry_at is not None)
