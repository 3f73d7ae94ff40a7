"""Who answers: the callee table, the seeded random profile and the TOML profile loader."""

from __future__ import annotations

import enum
import math
import random
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from random import Random  # (Profile has a field named `random`)
from typing import Any

from dialer.sim.survey_profile import SurveyProfile, SurveyProfileError, survey_profile_from_dict


class ProfileError(ValueError):
    """A profile file or rule that cannot be used, with the reason."""


class Outcome(enum.StrEnum):
    """What the simulated called party does."""

    ANSWERED = "answered"  # rings, answers, talks, hangs up (16)
    BUSY = "busy"  # Busy(): ;2 cause 17, Reason 5
    NO_ANSWER = "no_answer"  # rings until the Originate Timeout: 19/19, Reason 3
    CONGESTION = "congestion"  # Congestion(): ;2 cause 34, Reason 8
    REJECTED = "rejected"  # rings, hangs up with 21 before answer: Reason 0
    ANSWERED_REJECTED = "answered_rejected"  # answers, then hangs up with 21: Reason 4
    UNALLOCATED = "unallocated"  # hangs up with 1 before answer: Reason 0
    CHANNEL_FAILURE = "channel_failure"  # no channel at all, like an unknown technology: Reason 0
    MACHINE = "machine"  # answering machine: long greeting (AMD says MACHINE)
    OPTOUT = "optout"  # human who presses 9 during the message
    CALLBACK = "callback"  # human who presses the callback key (DIALER_CALLBACK_KEY, else 1)
    LONG = "long"  # answers and talks long
    NO_SUCH_EXTENSION = "no_such_extension"  # Local to a non-number: 0/0, Reason 0


# Per-outcome defaults (ring_s, talk_s) when a rule does not give them; talk_s is how long the
# callee stays after answer before hanging up itself.
OUTCOME_DEFAULTS: dict[Outcome, tuple[float, float]] = {
    Outcome.ANSWERED: (1.0, 7.7),
    Outcome.BUSY: (0.0, 0.0),
    Outcome.NO_ANSWER: (0.0, 0.0),
    Outcome.CONGESTION: (0.0, 0.0),
    Outcome.REJECTED: (1.0, 0.0),
    Outcome.ANSWERED_REJECTED: (0.0, 1.0),
    Outcome.UNALLOCATED: (0.0, 0.0),
    Outcome.CHANNEL_FAILURE: (0.0, 0.0),
    Outcome.MACHINE: (0.0, 15.0),  # 12 s greeting + Wait(3), as 1007XXXX in the transcripts
    Outcome.OPTOUT: (0.0, 15.4),
    Outcome.CALLBACK: (0.0, 15.4),
    Outcome.LONG: (0.0, 30.0),
    Outcome.NO_SUCH_EXTENSION: (0.0, 0.0),
}
DEFAULT_DTMF_S = 5.4  # opt-out digit, seconds after answer (file 16)
RECORDING_MODES = ("ok", "omit", "truncate")


@dataclass(frozen=True)
class CalleePlan:
    """The decided behaviour of one called party."""

    outcome: Outcome
    ring_s: float
    talk_s: float
    recording: str = "ok"
    dtmf_s: float = DEFAULT_DTMF_S


@dataclass(frozen=True)
class Rule:
    """One table row: a regex searched in the dialled digits, and what the callee does."""

    match: str
    outcome: Outcome
    ring_s: float | None = None
    talk_s: float | None = None
    recording: str = "ok"
    dtmf_s: float | None = None
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "pattern", re.compile(self.match))
        except re.error as exc:
            raise ProfileError(f"rule match {self.match!r} is not a valid regex: {exc}") from exc
        if self.recording not in RECORDING_MODES:
            raise ProfileError(f"rule recording must be one of {RECORDING_MODES}, got {self.recording!r}")
        for name in ("ring_s", "talk_s", "dtmf_s"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value < 0):
                raise ProfileError(f"rule {name} must be a finite number >= 0, got {value!r}")

    def plan(self) -> CalleePlan:
        """The callee plan this rule stands for."""
        ring, talk = OUTCOME_DEFAULTS[self.outcome]
        return CalleePlan(
            outcome=self.outcome,
            ring_s=ring if self.ring_s is None else self.ring_s,
            talk_s=talk if self.talk_s is None else self.talk_s,
            recording=self.recording,
            dtmf_s=DEFAULT_DTMF_S if self.dtmf_s is None else self.dtmf_s,
        )


# The default callee table, keyed on the LAST TWO DIGITS so a valid number of any country can
# reach any outcome. Numbers are zero-padded to two digits before matching.
DEFAULT_TABLE: tuple[Rule, ...] = (
    Rule(r"[0-4]\d$", Outcome.ANSWERED, ring_s=1.0, talk_s=7.7),
    Rule(r"5\d$", Outcome.BUSY),
    Rule(r"6\d$", Outcome.NO_ANSWER),
    Rule(r"7[0-4]$", Outcome.CONGESTION),
    Rule(r"7[5-9]$", Outcome.REJECTED, ring_s=1.0),
    Rule(r"8[01]$", Outcome.ANSWERED_REJECTED, talk_s=1.0),
    Rule(r"8[2-4]$", Outcome.UNALLOCATED),
    Rule(r"8[56]$", Outcome.CHANNEL_FAILURE),
    Rule(r"8[7-9]$", Outcome.MACHINE, talk_s=15.0),
    Rule(r"9[0-4]$", Outcome.OPTOUT, dtmf_s=DEFAULT_DTMF_S),
    Rule(r"9[5-9]$", Outcome.LONG, talk_s=30.0),
)


@dataclass(frozen=True)
class Dist:
    """A duration distribution: fixed, uniform(low, high) or exponential(mean, capped at max)."""

    kind: str = "fixed"
    value: float = 0.0
    low: float = 0.0
    high: float = 0.0
    mean: float = 0.0
    max: float = 3600.0

    def __post_init__(self) -> None:
        if self.kind not in ("fixed", "uniform", "exponential"):
            raise ProfileError(f"dist must be fixed, uniform or exponential, got {self.kind!r}")
        if self.kind == "uniform" and not 0 <= self.low <= self.high:
            raise ProfileError(f"uniform needs 0 <= low <= high, got low={self.low} high={self.high}")
        if self.kind == "exponential" and self.mean < 0:
            raise ProfileError(f"exponential needs mean >= 0, got {self.mean}")
        if self.kind == "fixed" and self.value < 0:
            raise ProfileError(f"fixed needs value >= 0, got {self.value}")

    def draw(self, rng: random.Random) -> float:
        """One sample, in simulated seconds."""
        if self.kind == "uniform":
            return rng.uniform(self.low, self.high)
        if self.kind == "exponential":
            return 0.0 if self.mean == 0 else min(rng.expovariate(1.0 / self.mean), self.max)
        return self.value


@dataclass(frozen=True)
class RandomSpec:
    """A seeded random callee population: outcome weights and duration distributions."""

    weights: tuple[tuple[Outcome, float], ...] = ((Outcome.ANSWERED, 1.0),)
    ring_s: Dist | None = None
    talk_s: Dist | None = None
    recording_omit_fraction: float = 0.0
    recording_truncate_fraction: float = 0.0

    def __post_init__(self) -> None:
        if not self.weights or sum(w for _, w in self.weights) <= 0:
            raise ProfileError("random weights must contain a positive weight")
        if any(w < 0 for _, w in self.weights):
            raise ProfileError("random weights must be >= 0")
        total = self.recording_omit_fraction + self.recording_truncate_fraction
        if self.recording_omit_fraction < 0 or self.recording_truncate_fraction < 0 or total > 1:
            raise ProfileError("recording fractions must be >= 0 and sum to at most 1")

    def plan(self, rng: random.Random) -> CalleePlan:
        """Draw one callee."""
        outcomes = [o for o, _ in self.weights]
        outcome = rng.choices(outcomes, weights=[w for _, w in self.weights])[0]
        ring, talk = OUTCOME_DEFAULTS[outcome]
        if self.ring_s is not None:
            ring = self.ring_s.draw(rng)
        if self.talk_s is not None:
            talk = self.talk_s.draw(rng)
        x = rng.random()
        recording = "ok"
        if x < self.recording_omit_fraction:
            recording = "omit"
        elif x < self.recording_omit_fraction + self.recording_truncate_fraction:
            recording = "truncate"
        return CalleePlan(outcome=outcome, ring_s=ring, talk_s=talk, recording=recording)


@dataclass(frozen=True)
class Profile:
    """Callee behaviour: rules (first match wins), then the random spec, then the default table."""

    rules: tuple[Rule, ...] = ()
    random: RandomSpec | None = None
    time_scale: float = 1.0
    seed: int = 0
    read_s: float = 11.0  # [dialer] Read(): 5 s prompt + 6 s timeout, as recorded
    survey: SurveyProfile | None = None  # how callees answer surveys (dialer.sim.survey)

    def decide(self, digits: str, rng: Random) -> CalleePlan:
        """The plan for the callee at `digits` (only digits; empty means not a number)."""
        if not digits:
            return CalleePlan(Outcome.NO_SUCH_EXTENSION, 0.0, 0.0)
        key = digits.zfill(2)
        for rule in self.rules:
            if rule.pattern.search(key):
                return rule.plan()
        if self.random is not None:
            return self.random.plan(rng)
        for rule in DEFAULT_TABLE:
            if rule.pattern.search(key):
                return rule.plan()
        return DEFAULT_TABLE[0].plan()  # unreachable: the table covers 00-99


def _num(table: dict[str, Any], key: str, where: str, default: float | None = None) -> float | None:
    value = table.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProfileError(f"{where}.{key} must be a number, got {value!r}")
    return float(value)


def _dist(value: Any, where: str) -> Dist:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Dist("fixed", value=float(value))
    if not isinstance(value, dict):
        raise ProfileError(f'{where} must be a number or a table like {{dist = "uniform", ...}}')
    unknown = set(value) - {"dist", "value", "low", "high", "mean", "max"}
    if unknown:
        raise ProfileError(f"{where} has unknown keys {sorted(unknown)}")
    # Any: each is a number checked by _num, passed by field name (the fields not given keep their defaults).
    kwargs: dict[str, Any] = {k: _num(value, k, where) for k in ("value", "low", "high", "mean", "max") if k in value}
    return Dist(kind=str(value.get("dist", "fixed")), **kwargs)


def _outcome(name: Any, where: str) -> Outcome:
    try:
        return Outcome(str(name))
    except ValueError:
        choices = ", ".join(o.value for o in Outcome)
        raise ProfileError(f"{where}: unknown outcome {name!r} (one of {choices})") from None


def profile_from_dict(data: dict[str, Any]) -> Profile:
    """Build a Profile from parsed TOML, with errors that name the offending key."""
    unknown = set(data) - {"time_scale", "seed", "read_s", "rules", "random", "survey"}
    if unknown:
        raise ProfileError(f"profile has unknown keys {sorted(unknown)}")
    rules = []
    for i, raw in enumerate(data.get("rules", [])):
        where = f"rules[{i}]"
        if not isinstance(raw, dict) or "match" not in raw or "outcome" not in raw:
            raise ProfileError(f"{where} needs at least match and outcome")
        extra = set(raw) - {"match", "outcome", "ring_s", "talk_s", "recording", "dtmf_s"}
        if extra:
            raise ProfileError(f"{where} has unknown keys {sorted(extra)}")
        rules.append(
            Rule(
                match=str(raw["match"]),
                outcome=_outcome(raw["outcome"], where),
                ring_s=_num(raw, "ring_s", where),
                talk_s=_num(raw, "talk_s", where),
                recording=str(raw.get("recording", "ok")),
                dtmf_s=_num(raw, "dtmf_s", where),
            )
        )
    spec = None
    if "random" in data:
        raw = data["random"]
        where = "random"
        extra = set(raw) - {
            "weights",
            "ring_s",
            "talk_s",
            "recording_omit_fraction",
            "recording_truncate_fraction",
        }
        if extra:
            raise ProfileError(f"random has unknown keys {sorted(extra)}")
        weights_raw = raw.get("weights", {"answered": 1})
        if not isinstance(weights_raw, dict):
            raise ProfileError("random.weights must be a table of outcome = weight")
        weights = tuple(
            (_outcome(k, "random.weights"), _num(weights_raw, k, "random.weights") or 0.0)
            for k in weights_raw
        )
        spec = RandomSpec(
            weights=weights,
            ring_s=_dist(raw["ring_s"], "random.ring_s") if "ring_s" in raw else None,
            talk_s=_dist(raw["talk_s"], "random.talk_s") if "talk_s" in raw else None,
            recording_omit_fraction=_num(raw, "recording_omit_fraction", where, 0.0) or 0.0,
            recording_truncate_fraction=_num(raw, "recording_truncate_fraction", where, 0.0) or 0.0,
        )
    time_scale = _num(data, "time_scale", "profile", 1.0)
    if time_scale is None or not math.isfinite(time_scale) or time_scale < 0:
        raise ProfileError(f"time_scale must be a number >= 0, got {data.get('time_scale')!r}")
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ProfileError(f"seed must be an integer, got {seed!r}")
    read_s = _num(data, "read_s", "profile", 11.0)
    if read_s is None or read_s < 0:
        raise ProfileError("read_s must be >= 0")
    survey = None
    if "survey" in data:
        if not isinstance(data["survey"], dict):
            raise ProfileError("survey must be a table")
        try:
            survey = survey_profile_from_dict(data["survey"])
        except SurveyProfileError as exc:
            raise ProfileError(str(exc)) from exc
    return Profile(rules=tuple(rules), random=spec, time_scale=time_scale, seed=seed, read_s=read_s, survey=survey)


def load_profile(path: Path) -> Profile:
    """Read a TOML profile file."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return profile_from_dict(data)
    except ProfileError as exc:
        raise ProfileError(f"{path}: {exc}") from exc
