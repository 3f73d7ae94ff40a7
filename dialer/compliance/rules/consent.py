"""Consent rule: a campaign that requires consent calls only numbers with a valid, unrevoked record."""

from __future__ import annotations

from datetime import datetime

from dialer.compliance.model import ConsentRecord, GateRequest, RuleResult, Verdict
from dialer.compliance.opening import utc_iso
from dialer.numbers import PhoneNumber

CONSENT = "consent"


def _applies(record: ConsentRecord, request: GateRequest) -> bool:
    """A record concerns this request if its scope and channel cover it."""
    scope_ok = record.scope is None or record.scope == request.campaign
    channel_ok = record.channel is None or record.channel is request.channel
    return scope_ok and channel_ok


def valid_consent(request: GateRequest, now_s: float) -> tuple[ConsentRecord | None, float | None]:
    """(the best valid consent for this request at `now_s`, the latest revocation that applies).

    A revocation voids every applicable grant given before it, not only its own record: a person
    who said stop once is not called on the strength of an older consent from another source.
    """
    records = [r for r in request.consents if _applies(r, request)]
    revoked = [r.revoked_at for r in records if r.revoked_at is not None and r.revoked_at <= now_s]
    last_revocation = max(revoked) if revoked else None
    valid = [
        r
        for r in records
        if r.granted_at <= now_s
        and (r.expires_at is None or now_s < r.expires_at)
        and (r.revoked_at is None or now_s < r.revoked_at)
        and (last_revocation is None or r.granted_at > last_revocation)
    ]
    # Prefer the consent that lasts longest (None = no expiry).
    best = max(valid, key=lambda r: float("inf") if r.expires_at is None else r.expires_at, default=None)
    return best, last_revocation


class ConsentRule:
    """Requires a valid consent when the policy says so; a revoked consent always blocks."""

    id = CONSENT

    def evaluate(self, request: GateRequest, number: PhoneNumber, now: datetime) -> RuleResult:
        """Allow with a valid consent; block on revocation, or on no consent when it is required."""
        now_s = now.timestamp()
        best, revoked_at = valid_consent(request, now_s)
        if best is not None:
            until = "no expiry" if best.expires_at is None else f"until {utc_iso(best.expires_at)}"
            scope = "all campaigns" if best.scope is None else f"campaign {best.scope}"
            return RuleResult(
                self.id,
                Verdict.ALLOW,
                f"consent from {best.source} at {utc_iso(best.granted_at)} for {scope}, {until}",
            )
        if revoked_at is not None:
            # A revocation is the person saying stop: it blocks even where consent is not required.
            return RuleResult(self.id, Verdict.BLOCK, f"consent revoked at {utc_iso(revoked_at)}")
        if not request.policy.require_consent:
            return RuleResult(self.id, Verdict.ALLOW, "consent not required by this policy")
        count = len(request.consents)
        why = (
            "no consent record"
            if count == 0
            else f"none of {count} consent record(s) is valid now for this campaign"
        )
        return RuleResult(self.id, Verdict.BLOCK, f"consent required: {why}")
