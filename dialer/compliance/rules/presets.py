"""Rules of the named policy presets that are not about hours: caps, consent, cool-off, abandon rate.

Each rule evaluates every rule of its type from the campaign's presets that covers the number (a
US state's by area code, a sector's by region), so the strictest wins; a block cites the preset,
the place and the section. Without presets on the policy each allows at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dialer.compliance.model import Channel, GateRequest, RuleResult, Verdict
from dialer.compliance.opening import utc_iso
from dialer.compliance.preset_catalog import Applied, PresetCatalog, builtin_catalog
from dialer.compliance.preset_model import AbandonRateRule, CapRule, ConsentRule, CooloffRule
from dialer.compliance.rules.abandon import abandon_rates
from dialer.compliance.rules.consent import valid_consent
from dialer.compliance.rules.frequency import sliding_cap
from dialer.numbers import PhoneNumber

CAP = "preset.cap"
CONSENT = "preset.consent"
ABANDONED = "preset.abandoned"
ABANDON_RATE = "preset.abandon_rate"


def _where(applied: Applied[Any]) -> str:
    return f"in {applied.place} ({applied.cite}), preset {applied.preset.name}"


def _period(hours: float) -> str:
    return f"{hours / 24:g} days" if hours >= 48 and hours % 24 == 0 else f"{hours:g} h"


class _PresetRule:
    def __init__(self, catalog: PresetCatalog | None = None) -> None:
        self._catalog = catalog or builtin_catalog()


class PresetCapRule(_PresetRule):
    """At most N calls per period, per number or per debt, as each applicable preset caps them."""

    id = CAP

    def evaluate(self, request: GateRequest, number: PhoneNumber, now: datetime) -> RuleResult:
        """Block on the first cap reached (the latest retry if several are), else allow."""
        caps = self._catalog.applicable(request.policy.presets, number, CapRule)
        if not caps:
            return RuleResult(self.id, Verdict.ALLOW, "no preset caps apply")
        history = request.history
        blocks: list[RuleResult] = []
        for applied in caps:
            rule = applied.rule
            label = _period(rule.period_h)
            if rule.per == "debt":
                if request.channel is not Channel.CALL:
                    continue  # Regulation F's presumption counts telephone calls; texts are not in it
                if history.debt_id is None:
                    return RuleResult(self.id, Verdict.BLOCK, f"the lead has no debt_id attribute; calls are capped "
                                      f"per debt {_where(applied)}: import the lead with a debt_id column")
                times, label = history.debt_attempt_times, f"{label} about debt {history.debt_id}"
            else:
                times = history.attempt_times
            result = sliding_cap(self.id, times, now.timestamp(), rule.period_h * 3600, rule.max_attempts, label)
            if result.blocked:
                blocks.append(RuleResult(self.id, Verdict.BLOCK, f"{result.detail} {_where(applied)}",
                                         retry_at=result.retry_at))
        if not blocks:
            return RuleResult(self.id, Verdict.ALLOW, f"within {len(caps)} preset cap(s)")
        return max(blocks, key=lambda r: float("inf") if r.retry_at is None else r.retry_at)


class PresetConsentRule(_PresetRule):
    """Calls only with a valid consent record where a preset requires one (Florida's autodialled calls)."""

    id = CONSENT

    def evaluate(self, request: GateRequest, number: PhoneNumber, now: datetime) -> RuleResult:
        """Allow with a valid consent or when no preset requires one."""
        needs = self._catalog.applicable(request.policy.presets, number, ConsentRule)
        if not needs:
            return RuleResult(self.id, Verdict.ALLOW, "no preset requires consent")
        best, _ = valid_consent(request, now.timestamp())
        if best is not None:
            return RuleResult(self.id, Verdict.ALLOW, f"consent from {best.source} {_where(needs[0])}")
        return RuleResult(self.id, Verdict.BLOCK, f"consent required {_where(needs[0])}: no valid consent record")


class PresetCooloffRule(_PresetRule):
    """No call within a preset's cool-off after an abandoned call to the number (Ofcom: 72 h)."""

    id = ABANDONED

    def evaluate(self, request: GateRequest, number: PhoneNumber, now: datetime) -> RuleResult:
        """Block until the longest applicable cool-off since the last abandoned call has passed."""
        rules = self._catalog.applicable(request.policy.presets, number, CooloffRule)
        last = request.history.last_abandoned_at
        if not rules or last is None:
            return RuleResult(self.id, Verdict.ALLOW, "no preset cool-off applies" if not rules
                              else "no abandoned call to this number")
        longest = max(rules, key=lambda a: a.rule.hours)
        retry_at = last + longest.rule.hours * 3600
        if now.timestamp() >= retry_at:
            return RuleResult(self.id, Verdict.ALLOW, f"last abandoned call {utc_iso(last)} is past the cool-off")
        detail = (f"abandoned call to this number at {utc_iso(last)}: no new call for {longest.rule.hours:g} h "
                  f"{_where(longest)}, until {utc_iso(retry_at)}")
        return RuleResult(self.id, Verdict.BLOCK, detail, retry_at=retry_at)


class PresetAbandonRateRule(_PresetRule):
    """The campaign's abandon rate stays below the lowest limit of the presets covering the number."""

    id = ABANDON_RATE

    def evaluate(self, request: GateRequest, number: PhoneNumber, now: datetime) -> RuleResult:
        """A block is temporary and campaign-wide, like the policy's own abandon-rate rule."""
        rules = self._catalog.applicable(request.policy.presets, number, AbandonRateRule)
        if not rules or request.channel is not Channel.CALL:
            return RuleResult(self.id, Verdict.ALLOW, "no preset abandon-rate limit applies")
        lowest = min(rules, key=lambda a: a.rule.max_rate)
        day, month = abandon_rates(request.abandon_stats)
        if max(day, month) < lowest.rule.max_rate:
            return RuleResult(self.id, Verdict.ALLOW, f"abandon rate 24 h {day:.1%}, 30 days {month:.1%} below "
                              f"{lowest.rule.max_rate:.1%} {_where(lowest)}")
        retry_at = now.timestamp() + request.policy.campaign_recheck_s
        detail = (f"abandon rate 24 h {day:.1%}, 30 days {month:.1%} at or over {lowest.rule.max_rate:.1%} "
                  f"{_where(lowest)}; re-check at {utc_iso(retry_at)}")
        return RuleResult(self.id, Verdict.BLOCK, detail, retry_at=retry_at, campaign_wide=True)
