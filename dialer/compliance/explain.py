"""Presenting decisions: `dialer check`'s JSON and `dialer scrub`'s counts per rule."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from dialer.compliance.model import Decision
from dialer.compliance.opening import utc_iso


def explain(decision: Decision) -> dict[str, Any]:
    """The JSON shape of `dialer check`: masked number, verdict, every rule's verdict and detail.

    `retry_at` (ISO-8601 UTC, or null) says when a temporary block lifts.
    """
    return {
        "number": decision.masked_number,
        "verdict": decision.verdict.value,
        "rules": [{"rule": r.rule, "verdict": r.verdict.value, "detail": r.detail} for r in decision.results],
        "retry_at": None if decision.retry_at is None else utc_iso(decision.retry_at),
    }


def scrub_counts(decisions: Iterable[Decision]) -> dict[str, int]:
    """How many decisions each rule decided ("allow" for allowed ones), most frequent first."""
    counts = Counter(d.rule for d in decisions)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
