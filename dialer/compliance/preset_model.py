"""The shape of a policy preset file: a jurisdiction or sector, and its rules, each with its source.

A preset is data (`dialer/compliance/presets/*.toml`, or a user's own folder): every rule names the
law or regulator, the section, the date it came into force and the date someone last checked it,
so `dialer policy show` and the gate's explanations can cite it. Models are frozen and reject
unknown keys, so a typo in a preset file is an error naming the key, never a rule silently dropped.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dialer.compliance.policy import CallingHours

_ID = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    """Where a rule comes from: the law or regulator, the section, the date it came into force."""

    authority: str = Field(min_length=3, description="the law or the regulator, e.g. 'Florida Telephone "
                           "Solicitation Act' or 'Ofcom'")
    section: str = Field(min_length=2, description="the section cited in explanations, e.g. 'Fla. Stat. 501.059'")
    in_force: date = Field(description="the date the rule (in this form) came into force")
    url: str = ""


class _Rule(_Strict):
    id: str = Field(pattern=_ID)
    source: Source
    last_checked: date = Field(description="when someone last checked the rule against its source")
    note: str = ""
    # For a preset of US states: the states (USPS codes) the rule applies to; empty = all its numbers.
    states: tuple[str, ...] = ()

    @field_validator("states")
    @classmethod
    def _state_codes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for code in value:
            if len(code) != 2 or not code.isascii() or not code.isupper():
                raise ValueError(f"{code!r} is not a two-letter USPS state code")
        return value


class WindowRule(_Rule):
    """Calls only inside these local hours (intersected with every other window that applies)."""

    type: Literal["window"]
    hours: CallingHours


class CapRule(_Rule):
    """At most `max_attempts` calls in any `period_h` hours, per number or per debt (lead attribute)."""

    type: Literal["cap"]
    max_attempts: int = Field(ge=0)
    period_h: float = Field(gt=0, le=24 * 366)
    per: Literal["number", "debt"] = "number"


class CooloffRule(_Rule):
    """No new call to a number for `hours` after an abandoned call to it."""

    type: Literal["abandoned_cooloff"]
    hours: float = Field(gt=0)


class AbandonRateRule(_Rule):
    """The campaign's abandoned / live-answered calls stay at or below `max_rate`."""

    type: Literal["abandon_rate"]
    max_rate: float = Field(gt=0, le=1)


class ConsentRule(_Rule):
    """Calls only with a valid consent record for the number (e.g. autodialled calls in Florida)."""

    type: Literal["consent"]


class RecordingRule(_Rule):
    """Every call of the campaign is recorded: the campaign does not start with recordings off."""

    type: Literal["recording_required"]


class RefusalLockoutRule(_Rule):
    """A refusal (these dispositions, or a key press opt-out) locks the number out for `days`."""

    type: Literal["refusal_lockout"]
    days: int = Field(ge=1)
    dispositions: tuple[str, ...] = ()


class RetentionRule(_Rule):
    """Recordings of the campaign are kept at least `days` (purge never deletes them earlier)."""

    type: Literal["retention_min"]
    days: int = Field(ge=1, le=36500)


PresetRule = Annotated[
    WindowRule | CapRule | CooloffRule | AbandonRateRule | ConsentRule | RecordingRule | RefusalLockoutRule
    | RetentionRule,
    Field(discriminator="type"),
]


class Preset(_Strict):
    """One preset file: a country, the US states, or a sector, with the regions its numbers belong to."""

    name: str = Field(pattern=_ID)
    title: str = Field(min_length=3)
    kind: Literal["country", "states", "sector", "default"]
    # ISO regions whose numbers the rules apply to (a country preset is applied to them implicitly).
    regions: tuple[str, ...] = ()
    # For kind = "states": USPS code -> name used in explanations ("in Florida").
    state_names: dict[str, str] = Field(default_factory=dict)
    rules: tuple[PresetRule, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _inherit_last_checked(cls, data: Any) -> Any:
        # A file may give `last_checked` once for every rule that does not give its own.
        if isinstance(data, dict) and "last_checked" in data:
            data = dict(data)
            checked = data.pop("last_checked")
            rules = data.get("rules")
            if isinstance(rules, list):
                data["rules"] = [{"last_checked": checked, **r} if isinstance(r, dict) else r for r in rules]
        return data

    @field_validator("regions")
    @classmethod
    def _region_codes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for code in value:
            if len(code) != 2 or not code.isascii() or not code.isupper():
                raise ValueError(f"{code!r} is not an ISO 3166 region code in capitals (US, GB, CN)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Preset:
        ids = [rule.id for rule in self.rules]
        if len(set(ids)) != len(ids):
            raise ValueError(f"rule ids repeat: {', '.join(sorted({i for i in ids if ids.count(i) > 1}))}")
        for rule in self.rules:
            unknown = [s for s in rule.states if s not in self.state_names]
            if unknown:
                raise ValueError(f"rule {rule.id}: states {', '.join(unknown)} are not in state_names")
        if self.kind in ("country", "default") and len(self.rules_of(WindowRule)) != 1:
            raise ValueError("a country preset has exactly one rule of type window")
        if self.kind != "default" and not self.regions:
            raise ValueError("regions: name the ISO regions whose numbers the preset applies to")
        return self

    def rules_of(self, kind: type[_Rule]) -> tuple[Any, ...]:
        """This preset's rules of one type."""
        return tuple(rule for rule in self.rules if isinstance(rule, kind))
