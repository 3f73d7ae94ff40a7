"""DNC rules: opt-outs, the internal list, campaign lists, national registries and their age."""

from __future__ import annotations

from datetime import datetime

from dialer.compliance.dnc_index import DncHit, DncIndex, DncList
from dialer.compliance.model import GateRequest, RuleResult, Verdict
from dialer.compliance.opening import utc_iso
from dialer.compliance.policy import DAY_S, registry_stale_after_s
from dialer.numbers import PhoneNumber

REGISTRY_AGE = "dnc.registry_age"


def _blocked(hit: DncHit, what: str) -> RuleResult:
    """A list entry blocks until it expires (temporary) or for good."""
    until = "" if hit.expires_at is None else f" until {utc_iso(hit.expires_at)}"
    return RuleResult(hit.list.value, Verdict.BLOCK, f"{what}{until}", retry_at=hit.expires_at)


class ErasedRule:
    """Blocks numbers erased on the person's request: only their keyed hash is left, on a list."""

    id = DncList.ERASED.value

    def __init__(self, index: DncIndex) -> None:
        self._index = index

    def evaluate(self, request: GateRequest, number: PhoneNumber, now: datetime) -> RuleResult:
        """Block for good if the number's hash is on the suppression list."""
        if self._index.erased_hit(number.e164) is None:
            return RuleResult(self.id, Verdict.ALLOW, "not erased")
        return RuleResult(self.id, Verdict.BLOCK, "erased on request (on the suppression list): never contacted again")


class OptOutRule:
    """Blocks numbers that opted out (during a call or otherwise), for all or one campaign."""

    id = DncList.OPTOUT.value

    def __init__(self, index: DncIndex) -> None:
        self._index = index

    def evaluate(self, request: GateRequest, number: PhoneNumber, now: datetime) -> RuleResult:
        """Block if an opt-out covers this campaign."""
        hit = self._index.optout_hit(number.e164, request.campaign, now.timestamp())
        if hit is None:
            return RuleResult(self.id, Verdict.ALLOW, "no opt-out")
        return _blocked(hit, f"opted out ({hit.name})")


class InternalListRule:
    """Blocks numbers on the company's internal DNC list."""

    id = DncList.INTERNAL.value

    def __init__(self, index: DncIndex) -> None:
        self._index = index

    def evaluate(self, request: GateRequest, number: PhoneNumber, now: datetime) -> RuleResult:
        """Block if listed and not expired."""
        hit = self._index.internal_hit(number.e164, now.timestamp())
        if hit is None:
            return RuleResult(self.id, Verdict.ALLOW, "not on the internal DNC list")
        return _blocked(hit, "on the internal DNC list")


class CampaignListRule:
    """Blocks numbers on the campaign's own DNC list."""

    id = DncList.CAMPAIGN.value

    def __init__(self, index: DncIndex) -> None:
        self._index = index

    def evaluate(self, request: GateRequest, number: PhoneNumber, now: datetime) -> RuleResult:
        """Block if listed for this campaign and not expired."""
        hit = self._index.campaign_hit(number.e164, request.campaign, now.timestamp())
        if hit is None:
            return RuleResult(self.id, Verdict.ALLOW, "not on the campaign's DNC list")
        return _blocked(hit, f"on the DNC list of campaign {hit.name}")


class RegistryRule:
    """Blocks numbers listed in any loaded national DNC registry."""

    id = DncList.REGISTRY.value

    def __init__(self, index: DncIndex) -> None:
        self._index = index

    def evaluate(self, request: GateRequest, number: PhoneNumber, now: datetime) -> RuleResult:
        """Block if a registry lists the number."""
        hit = self._index.registry_hit(number.e164)
        if hit is None:
            return RuleResult(
                self.id, Verdict.ALLOW, f"on none of {len(self._index.registries)} national registries"
            )
        return RuleResult(self.id, Verdict.BLOCK, f"listed on the national DNC registry {hit.name!r}")


class RegistryAgeRule:
    """Stale registry data first warns (grace period) and then blocks calls to the numbers it covers."""

    id = REGISTRY_AGE

    def __init__(self, index: DncIndex) -> None:
        self._index = index

    def evaluate(self, request: GateRequest, number: PhoneNumber, now: datetime) -> RuleResult:
        """Check the age of every registry that covers the number's country (and region)."""
        policy = request.policy
        now_s = now.timestamp()
        covering = [r for r in self._index.registries if r.covers(number)]
        if not covering:
            if number.region in policy.required_registry_regions:
                retry_at = now_s + policy.campaign_recheck_s
                detail = (
                    f"no national DNC registry loaded for {number.region}, which this policy requires; "
                    f"load one to call {number.region} numbers"
                )
                return RuleResult(self.id, Verdict.BLOCK, detail, retry_at=retry_at, campaign_wide=True)
            return RuleResult(self.id, Verdict.ALLOW, f"no national registry covers {number.region}")
        stale_s, block_s = registry_stale_after_s(policy)
        warnings = []
        for registry in covering:
            as_of = registry.data_as_of.timestamp()
            age_days = (now_s - as_of) / DAY_S
            if now_s - as_of <= stale_s:
                continue
            if now_s - as_of > block_s:
                retry_at = now_s + policy.campaign_recheck_s
                detail = (
                    f"registry {registry.name!r} data is {age_days:.0f} days old "
                    f"(data as of {utc_iso(as_of)}; "
                    f"max {policy.registry_max_age_days} days + {policy.registry_grace_days} grace days): "
                    f"calls to {number.region} numbers are blocked until a fresh registry file is loaded"
                )
                return RuleResult(self.id, Verdict.BLOCK, detail, retry_at=retry_at, campaign_wide=True)
            warnings.append(
                f"WARNING registry {registry.name!r} data is {age_days:.0f} days old (max "
                f"{policy.registry_max_age_days}); calls continue in the grace period until "
                f"{utc_iso(as_of + block_s)}, then are blocked: load a fresh registry file"
            )
        if warnings:
            return RuleResult(self.id, Verdict.ALLOW, "; ".join(warnings))
        names = ", ".join(repr(r.name) for r in covering)
        return RuleResult(
            self.id, Verdict.ALLOW, f"registry {names} within {policy.registry_max_age_days} days"
        )
