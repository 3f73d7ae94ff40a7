"""Checks at load time of what would otherwise block every call later, each naming its key path.

The models check each value's shape; these check what a value means: a region code phonenumbers
does not know ("UK": did you mean GB?), a caller ID the gate would refuse at dial time, calling
hours that open wider than a country's preset (the presets always apply unless the config opts
out with `override_country_hours`, so wider hours would be narrowed without a word), and, before
the models see them, a campaign's compliance overrides with the wrong types.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import phonenumbers
from pydantic import ValidationError

from dialer.compliance.policy import CompliancePolicy
from dialer.compliance.preset_catalog import PresetCatalog, PresetError, preset_for
from dialer.compliance.preset_model import RecordingRule, RetentionRule
from dialer.compliance.rules.caller_id import CallerIdError, parse_caller_id
from dialer.compliance.windows import WEEKDAYS, DayHours, WeeklyWindow
from dialer.config.models import Config
from dialer.recordings.config import campaign_settings

REGIONS = frozenset(phonenumbers.SUPPORTED_REGIONS)
# Codes people write that are not the ISO 3166 alpha-2 code phonenumbers uses.
REGION_HINTS = {
    "UK": "GB", "EN": "GB", "EL": "GR", "USA": "US", "GBR": "GB", "CAN": "CA", "DEU": "DE", "GER": "DE",
    "FRA": "FR", "AUS": "AU", "IND": "IN", "ESP": "ES", "ITA": "IT", "NLD": "NL", "IRL": "IE", "MEX": "MX",
    "BRA": "BR", "CHE": "CH", "AUT": "AT", "BEL": "BE", "SWE": "SE", "NOR": "NO", "DNK": "DK", "POL": "PL",
    "PRT": "PT", "NZL": "NZ", "ZAF": "ZA", "JPN": "JP", "CHN": "CN", "FIN": "FI", "GRC": "GR",
}
_REGION_LISTS = ("allowed_countries", "required_registry_regions")


def region_problem(value: object) -> str | None:
    """Why `value` is not a region code phonenumbers knows (None if it is one)."""
    if not isinstance(value, str):
        return f"{value!r} is not a region code (a string such as \"US\")"
    code = value.strip()
    if code in REGIONS:
        return None
    upper = code.upper()
    if upper in REGIONS:
        return f"{value!r}: write region codes in capitals ({upper!r})"
    hint = REGION_HINTS.get(upper)
    if hint is not None:
        return f"{value!r} is not an ISO 3166 region code; did you mean {hint}?"
    return f"{value!r} is not an ISO 3166 region code phonenumbers knows (two capitals, e.g. US, GB, DE)"


def _region_keys(data: Mapping[str, Any]) -> Iterator[tuple[str, object]]:
    """(key path, value) of every region code in the raw config data."""
    def lists(prefix: str, section: object) -> Iterator[tuple[str, object]]:
        if not isinstance(section, Mapping):
            return
        for key in _REGION_LISTS:
            values = section.get(key)
            if isinstance(values, list | tuple):
                yield from ((f"{prefix}{key}.{i}", v) for i, v in enumerate(values))

    yield from lists("compliance.", data.get("compliance"))
    campaigns = data.get("campaigns")
    if isinstance(campaigns, Mapping):
        for name, campaign in campaigns.items():
            if not isinstance(campaign, Mapping):
                continue
            if "default_region" in campaign:
                yield f"campaigns.{name}.default_region", campaign["default_region"]
            yield from lists(f"campaigns.{name}.compliance.", campaign.get("compliance"))
    sms = data.get("sms")
    if isinstance(sms, Mapping) and "inbound_region" in sms:
        yield "sms.inbound_region", sms["inbound_region"]


def raw_problems(data: Mapping[str, Any]) -> dict[str, str]:
    """Problems found in the raw data before validation: {key path: reason}."""
    problems = {path: reason for path, value in _region_keys(data) if (reason := region_problem(value))}
    campaigns = data.get("campaigns")
    if isinstance(campaigns, Mapping):
        for name, campaign in campaigns.items():
            overrides = campaign.get("compliance") if isinstance(campaign, Mapping) else None
            if not isinstance(overrides, Mapping):
                continue
            # A campaign's overrides reach the policy model as a plain table: check their types as
            # strictly as every other key (no "2" for an int).
            try:
                CompliancePolicy.model_validate_json(json.dumps(overrides, default=str), strict=True)
            except ValidationError as exc:
                for error in exc.errors():
                    if error.get("type") == "extra_forbidden":
                        continue  # reported with the policy's own wording later
                    path = ".".join(str(p) for p in ("campaigns", name, "compliance", *error["loc"]))
                    if not any(path.startswith(known) for known in problems):
                        problems[path] = describe_error(error)
    return problems


def describe_error(error: Mapping[str, Any]) -> str:
    """A pydantic error's message, with a hint where a value has the wrong type."""
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    value = error.get("input")
    kind = str(error.get("type", ""))
    if kind == "extra_forbidden":
        return "unknown key"
    if kind in ("int_type", "float_type", "bool_type") and isinstance(value, str):
        wanted = {"int_type": "a whole number", "float_type": "a number", "bool_type": "true or false"}[kind]
        return f"{message}: {value!r} is text; write {wanted} without quotes"
    if kind == "int_type" and isinstance(value, float):
        return f"{message}: {value!r} is not a whole number"
    if kind in ("int_type", "float_type") and isinstance(value, bool):
        return f"{message}: {value!r} is a boolean"
    return message


def problems(config: Config, data: Mapping[str, Any]) -> list[str]:
    """What the validated config would break at dial time: `key.path: reason` lines."""
    found: list[str] = []
    for name, campaign in config.campaigns.items():
        if campaign.kind != "call" or not campaign.caller_id:
            continue
        policy = config.compliance_for(name)
        try:
            parse_caller_id(campaign.caller_id, campaign.default_region, policy.blocked_number_types)
        except CallerIdError as exc:
            found.append(f"campaigns.{name}.caller_id: {exc.reason}; every call of the campaign would be "
                         "blocked (write '\"Name\" <+14155550100>' or a bare number)")
    try:
        catalog = config.preset_catalog()
    except PresetError as exc:
        return [*found, f"presets.dir: {exc}"]
    preset_found = _preset_problems(config, catalog)
    return found + preset_found if preset_found else found + _hours_problems(config, data, catalog)


def _preset_problems(config: Config, catalog: PresetCatalog) -> list[str]:
    """Unknown preset names, and campaigns whose recording settings a preset forbids."""
    found = [f"compliance.presets: unknown preset {name!r} (known: {', '.join(catalog.names())}; "
             "`dialer policy list` shows them)" for name in config.compliance.presets if name not in catalog.presets]
    for name, campaign in config.campaigns.items():
        own = campaign.compliance.get("presets", ())
        for unknown in [p for p in own if isinstance(p, str) and p not in catalog.presets] if isinstance(
                own, list | tuple) else ():
            found.append(f"campaigns.{name}.compliance.presets: unknown preset {unknown!r} (known: "
                         f"{', '.join(catalog.names())}; `dialer policy list` shows them)")
    if found:
        return found
    for name, campaign in config.campaigns.items():
        if campaign.kind != "call":
            continue
        presets = config.compliance_for(name).presets
        enabled, retention, _ = campaign_settings(config.recordings, campaign.recordings)
        for recorded in catalog.campaign_rules(presets, RecordingRule):
            if not enabled:
                found.append(f"campaigns.{name}.recordings.enabled: preset {recorded.place} requires every call "
                             f"recorded ({recorded.cite}); set [recordings] enabled = true and do not turn it off "
                             "for this campaign")
        for kept in catalog.campaign_rules(presets, RetentionRule):
            if retention < kept.rule.days:
                found.append(f"campaigns.{name}.recordings.retention_days: {retention} days is shorter than the "
                             f"{kept.rule.days} days preset {kept.place} keeps recordings ({kept.cite}); "
                             f"set retention_days = {kept.rule.days} or more")
    return found


def _hours_problems(config: Config, data: Mapping[str, Any], catalog: PresetCatalog) -> list[str]:
    found: list[str] = []
    policy = config.compliance
    regions = policy.allowed_countries or tuple(sorted({c.default_region for c in config.campaigns.values()})) or (
        "US",)
    found += _outside_presets("compliance.calling_hours", policy, regions, catalog)
    raw_campaigns = data.get("campaigns") if isinstance(data.get("campaigns"), Mapping) else {}
    for name, campaign in config.campaigns.items():
        raw = raw_campaigns.get(name, {}) if isinstance(raw_campaigns, Mapping) else {}
        overrides = raw.get("compliance", {}) if isinstance(raw, Mapping) else {}
        if not isinstance(overrides, Mapping) or not {"calling_hours", "override_country_hours"} & set(overrides):
            continue  # the global policy's hours, checked above
        own = config.compliance_for(name)
        found += _outside_presets(f"campaigns.{name}.compliance.calling_hours", own,
                                  own.allowed_countries or (campaign.default_region,), catalog)
    return found


def _outside_presets(key: str, policy: CompliancePolicy, regions: tuple[str, ...],
                     catalog: PresetCatalog) -> list[str]:
    if policy.calling_hours is None or policy.override_country_hours:
        return []
    hours = policy.calling_hours.window
    for region in regions:
        preset = preset_for(region, catalog).window
        excess = subtract(hours, preset)
        if not excess.is_empty:
            return [f"{key}: opens outside the {region} preset ({preset.describe()}): {excess.describe()}; the "
                    "preset always applies, so those hours would be dropped without a word. Narrow calling_hours, "
                    "or set override_country_hours = true to replace the presets (an explicit opt-in)"]
    return []


def subtract(window: WeeklyWindow, other: WeeklyWindow) -> WeeklyWindow:
    """The hours open in `window` but not in `other`."""
    days: list[DayHours] = []
    for mine, theirs in zip(window.days, other.days, strict=True):
        left: list[tuple[int, int]] = []
        for start, end in mine:
            pieces = [(start, end)]
            for cut_start, cut_end in theirs:
                pieces = [piece for s, e in pieces for piece in ((s, min(e, cut_start)), (max(s, cut_end), e))
                          if piece[0] < piece[1]]
            left += pieces
        days.append(tuple(sorted(left)))
    return WeeklyWindow(tuple(days))


__all__ = ["REGIONS", "WEEKDAYS", "describe_error", "problems", "raw_problems", "region_problem", "subtract"]
