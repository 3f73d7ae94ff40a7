"""How simulated callees answer surveys: a seeded profile (the `[survey]` table of a simulator profile).
Kept apart from dialer.sim.survey (the script) so the callee table can load it without the event code."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class SurveyProfileError(ValueError):
    """A survey profile that cannot be used."""


@dataclass(frozen=True)
class SurveyProfile:
    """How simulated callees answer: key weights per question name (default: uniform over the keys
    the question accepts), and per question the chances to hang up, stay silent or opt out."""

    keys: Mapping[str, tuple[tuple[str, float], ...]] = field(default_factory=dict)
    hangup: float = 0.0
    timeout: float = 0.0
    optout: float = 0.0
    answer_s: float = 2.0  # seconds from the prompt's start to the first key

    def __post_init__(self) -> None:
        for name in ("hangup", "timeout", "optout"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise SurveyProfileError(f"survey.{name} must be between 0 and 1, got {value!r}")
        if self.hangup + self.timeout + self.optout > 1:
            raise SurveyProfileError("survey: hangup + timeout + optout must be at most 1")
        if self.answer_s < 0:
            raise SurveyProfileError("survey.answer_s must be >= 0")
        for question, weights in self.keys.items():
            if not weights or any(w < 0 for _, w in weights) or sum(w for _, w in weights) <= 0:
                raise SurveyProfileError(f"survey.keys.{question}: weights must be >= 0 with a positive one")


def survey_profile_from_dict(data: Mapping[str, Any]) -> SurveyProfile:
    """The `[survey]` table of a simulator profile: `keys.QUESTION = { "1" = 0.7, "2" = 0.3 }`, hangup,
    timeout, optout, answer_s."""
    unknown = set(data) - {"keys", "hangup", "timeout", "optout", "answer_s"}
    if unknown:
        raise SurveyProfileError(f"survey has unknown keys {sorted(unknown)}")
    keys_raw = data.get("keys", {})
    if not isinstance(keys_raw, dict):
        raise SurveyProfileError("survey.keys must be a table of question = { key = weight }")
    keys: dict[str, tuple[tuple[str, float], ...]] = {}
    for question, weights in keys_raw.items():
        if not isinstance(weights, dict) or not all(isinstance(w, int | float) for w in weights.values()):
            raise SurveyProfileError(f"survey.keys.{question} must be a table of key = weight")
        keys[str(question)] = tuple((str(k), float(w)) for k, w in weights.items())
    numbers = {}
    for name in ("hangup", "timeout", "optout", "answer_s"):
        if name in data:
            value = data[name]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SurveyProfileError(f"survey.{name} must be a number, got {value!r}")
            numbers[name] = float(value)
    return SurveyProfile(keys=keys, **numbers)
