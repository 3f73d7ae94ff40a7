"""Compliance settings: global defaults in `[compliance]`, narrowed per campaign.

`narrow(base, overrides)` builds a campaign's policy from the global one and refuses (PolicyError,
naming each field) any override that would loosen it; `tighten(base, policy)` is its silent twin
the gate uses so that no request can ever be judged by a policy looser than the global one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cached_property, lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dialer.compliance.windows import WEEKDAYS, WeeklyWindow, WindowError, parse_range
from dialer.numbers import NumberType

DAY_S = 86_400


class PolicyError(ValueError):
    """A campaign policy that is invalid or would loosen the global policy; says which fields.

    `problems` holds (field path, reason) pairs, e.g. ("calling_hours.mon.0", "…"), so a config
    loader can name each key.
    """

    def __init__(self, message: str, problems: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems


class CallingHours(BaseModel):
    """Allowed local hours per weekday, e.g. `mon = ["09:00-12:00", "14:00-20:00"]`; others closed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mon: tuple[str, ...] = ()
    tue: tuple[str, ...] = ()
    wed: tuple[str, ...] = ()
    thu: tuple[str, ...] = ()
    fri: tuple[str, ...] = ()
    sat: tuple[str, ...] = ()
    sun: tuple[str, ...] = ()

    @field_validator(*WEEKDAYS)
    @classmethod
    def _ranges_parse(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            try:
                parse_range(text)
            except WindowError as exc:
                raise ValueError(str(exc)) from exc
        return value

    @cached_property
    def window(self) -> WeeklyWindow:
        """These hours as a WeeklyWindow."""
        return WeeklyWindow.from_ranges({day: getattr(self, day) for day in WEEKDAYS})

    @classmethod
    def from_window(cls, window: WeeklyWindow) -> CallingHours:
        """The CallingHours equal to `window`."""
        return cls(**window.to_ranges())


class CompliancePolicy(BaseModel):
    """The rules' settings for one campaign (or the global defaults). Defaults are the safe choice."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # presets (dialer/compliance/presets/): named presets whose rules apply where they cover the number
    presets: tuple[str, ...] = Field(
        default=(), description="policy presets the campaign is under, e.g. [\"us-states\", \"cn-insurance\"]; "
        "their rules add to the country presets, the strictest wins"
    )
    # number
    allowed_countries: tuple[str, ...] = Field(
        default=(), description="ISO region codes a campaign may call; empty = any country"
    )
    blocked_number_types: tuple[str, ...] = Field(
        default=("premium_rate", "shared_cost", "uan", "personal_number", "pager", "voicemail"),
        description="phonenumbers number types never called",
    )
    # DNC registries
    registry_max_age_days: int = Field(
        default=31, ge=0, description="registry data older than this is stale (US TSR and CRTC: 31 days)"
    )
    registry_grace_days: int = Field(
        default=0,
        ge=0,
        description="days a stale registry still allows calls (with a warning) before blocking",
    )
    required_registry_regions: tuple[str, ...] = Field(
        default=(), description="regions whose numbers are blocked unless a registry covering them is loaded"
    )
    # consent
    require_consent: bool = Field(default=False, description="call only numbers with a valid consent record")
    # calling window
    calling_hours: CallingHours | None = Field(
        default=None, description="the campaign's own hours; intersected with the country preset"
    )
    override_country_hours: bool = Field(
        default=False,
        description="use calling_hours instead of the country presets (an explicit opt-in that may widen a "
        "preset; the hours still stay within the global policy's hours)",
    )
    skip_holidays: bool = Field(default=True, description="no calls on the callee country's public holidays")
    window_search_days: int = Field(
        default=14, ge=1, le=366, description="how far ahead a closed window looks for its next opening"
    )
    # frequency
    max_attempts_per_24h: int = Field(
        default=3, ge=0, description="attempts per number per 24 h, all campaigns"
    )
    max_attempts_per_7d: int = Field(
        default=7, ge=0, description="attempts per number per 7 days, all campaigns"
    )
    min_attempt_gap_s: int = Field(default=3600, ge=0, description="minimum time between two attempts")
    abandoned_cooloff_s: int = Field(
        default=72 * 3600, ge=0, description="no new attempt this long after an abandoned call (Ofcom: 72 h)"
    )
    # abandon rate
    max_abandon_rate: float = Field(
        default=0.03, gt=0.0, le=1.0, description="abandoned / live-answered calls, 24 h and 30 days"
    )
    # how soon a campaign-wide temporary block (abandon rate, stale registry, caller ID) is re-checked
    campaign_recheck_s: int = Field(default=900, ge=1, description="retry hint for campaign-wide blocks")

    @field_validator("allowed_countries", "required_registry_regions")
    @classmethod
    def _regions_upper(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for region in value:
            if len(region) != 2 or not region.isascii() or not region.isalpha():
                raise ValueError(f"{region!r} is not an ISO 3166 region code")
        return tuple(sorted({r.upper() for r in value}))

    @field_validator("presets")
    @classmethod
    def _preset_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # Known names are checked at config load (a user's preset folder may add some).
        return tuple(sorted(set(value)))

    @field_validator("blocked_number_types")
    @classmethod
    def _known_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        known = {t.value for t in NumberType}
        for name in value:
            if name not in known:
                raise ValueError(f"{name!r} is not a number type ({', '.join(sorted(known))})")
        return tuple(sorted(set(value)))


# How each field may change from the global policy to a campaign's: which value is the narrower.
_Merge = Callable[[Any, Any], Any]


def _narrower_hours(base: CallingHours | None, other: CallingHours | None) -> CallingHours | None:
    if base is None:
        return other
    if other is None:
        return base
    return CallingHours.from_window(base.window.intersect(other.window))


def _narrower_countries(base: tuple[str, ...], other: tuple[str, ...]) -> tuple[str, ...]:
    if not base:
        return other
    if not other:
        return base
    # An empty intersection would read as "any country": keep a sentinel that matches none.
    return tuple(sorted(set(base) & set(other))) or ("XX",)


_MERGES: dict[str, _Merge] = {
    "presets": lambda a, b: tuple(sorted(set(a) | set(b))),  # one more preset only adds rules
    "allowed_countries": _narrower_countries,
    "blocked_number_types": lambda a, b: tuple(sorted(set(a) | set(b))),
    "registry_max_age_days": min,
    "registry_grace_days": min,
    "required_registry_regions": lambda a, b: tuple(sorted(set(a) | set(b))),
    "require_consent": lambda a, b: a or b,
    "calling_hours": _narrower_hours,
    # The campaign's explicit opt-in decides whether its hours replace the country presets (the
    # documented way to widen a preset); its hours still lie within the global hours.
    "override_country_hours": lambda a, b: b,
    "skip_holidays": lambda a, b: a or b,
    "window_search_days": max,
    "max_attempts_per_24h": min,
    "max_attempts_per_7d": min,
    "min_attempt_gap_s": max,
    "abandoned_cooloff_s": max,
    "max_abandon_rate": min,
    "campaign_recheck_s": lambda a, b: b,  # operational, not a protection
}


@lru_cache(maxsize=512)
def tighten(base: CompliancePolicy, policy: CompliancePolicy) -> CompliancePolicy:
    """`policy` made at least as strict as `base`, field by field, silently."""
    if base == policy:
        return policy
    merged = {name: merge(getattr(base, name), getattr(policy, name)) for name, merge in _MERGES.items()}
    result = CompliancePolicy(**merged)
    return policy if result == policy else result


def narrow(base: CompliancePolicy, overrides: Mapping[str, Any]) -> CompliancePolicy:
    """A campaign's policy: `base` with `overrides`; raises PolicyError if any override loosens `base`."""
    if isinstance(overrides.get("presets"), list | tuple):
        # A campaign's presets add to the global ones: naming one more preset can only narrow.
        overrides = {**overrides, "presets": (*base.presets, *overrides["presets"])}
    try:
        candidate = CompliancePolicy(**{**base.model_dump(), **overrides})
    except ValidationError as exc:
        problems = tuple(
            (".".join(str(part) for part in err["loc"]) or "compliance", _reason(err)) for err in exc.errors()
        )
        raise PolicyError(f"invalid campaign policy: {exc}", problems) from exc
    strict = tighten(base, candidate)
    looser = [name for name in _MERGES if getattr(strict, name) != getattr(candidate, name)]
    if looser:
        problems = tuple(
            (name, f"{_show(getattr(candidate, name))} is looser than the global {_show(getattr(base, name))} "
                   "(a campaign may only narrow the global policy)")
            for name in looser
        )
        details = "; ".join(f"{name}: {reason}" for name, reason in problems)
        raise PolicyError(f"a campaign may only narrow the global compliance policy ({details})", problems)
    return candidate


def _reason(err: Mapping[str, Any]) -> str:
    if err.get("type") == "extra_forbidden":
        return "unknown key"
    return str(err.get("msg", "invalid")).removeprefix("Value error, ")


def _show(value: Any) -> str:
    if isinstance(value, CallingHours):
        return value.window.describe()
    return repr(value)


def registry_stale_after_s(policy: CompliancePolicy) -> tuple[float, float]:
    """(seconds until registry data is stale, seconds until a stale registry blocks)."""
    stale = policy.registry_max_age_days * DAY_S
    return stale, stale + policy.registry_grace_days * DAY_S
