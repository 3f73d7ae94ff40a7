"""Config models. Every key here is documented in config/dialer.example.toml."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from dialer.compliance.policy import CompliancePolicy, narrow
from dialer.compliance.preset_catalog import PresetCatalog, catalog_for, needs_debt_history
from dialer.compliance.settings import DncConfig
from dialer.crm.config import CallbackPolicy
from dialer.mqtt.config import MqttConfig
from dialer.numbers import DialFormat
from dialer.ops.config import MetricsConfig
from dialer.outcome import Disposition
from dialer.recordings.config import CampaignRecordings, RecordingsConfig
from dialer.sms.config import SmsCampaign, SmsConfig
from dialer.surveys.config import SurveyConfig, optout_conflicts
from dialer.web.config import WebConfig

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_VAR_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,63}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeConfig(_Strict):
    """Who this dialer is (one node per PBX host)."""

    name: str = Field(default="dialer", pattern=_NAME.pattern)


class DatabaseConfig(_Strict):
    """Where the SQLite database lives, how durable its commits are, what the daemon checks at start."""

    path: Path = Path("/var/lib/dialer/dialer.db")
    # normal: only the commits an Originate depends on are fsynced (synchronous=FULL for them);
    # full: every commit is (outcomes too). See dialer.store.db and BENCHMARKS.md for the cost.
    synchronous: Literal["normal", "full"] = "normal"
    # PRAGMA quick_check at daemon start: reads every page (1.3 s for 330 MB, warm cache).
    check_at_start: bool = True


class LoggingConfig(_Strict):
    """Log level and format."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class AmiConfig(_Strict):
    """How to reach Asterisk's manager interface. The secret never comes from this file."""

    host: str = "127.0.0.1"
    port: int = Field(default=5038, ge=1, le=65535)
    username: str = Field(default="dialer", min_length=1)
    secret_file: Path | None = None
    secret_env: str = "DIALER_AMI_SECRET"
    secret: SecretStr | None = Field(default=None, exclude=True)
    events: str = Field(default="on", pattern=r"[a-z,]+")
    connect_timeout_s: float = Field(default=5.0, gt=0)
    login_timeout_s: float = Field(default=5.0, gt=0)
    action_timeout_s: float = Field(default=10.0, gt=0)
    ping_interval_s: float = Field(default=5.0, gt=0)
    ping_timeout_s: float = Field(default=5.0, gt=0)
    reconnect_initial_s: float = Field(default=0.5, gt=0)
    # The backoff cap bounds how long the dialer may sleep after Asterisk is back: at most 4 s (plus
    # the login) keeps "dialing again within 5 s of a PBX restart".
    reconnect_max_s: float = Field(default=4.0, gt=0, le=4.0)
    # A list answer (CoreShowChannels) longer than this is cut off and counts as "could not check".
    max_list_items: int = Field(default=20_000, ge=1)


class TrunkConfig(_Strict):
    """A dial-string template, e.g. `PJSIP/{number}@carrier` or `Local/{number}@from-dialer`."""

    channel: str
    number_format: DialFormat = DialFormat.E164
    prefix: str = Field(default="", pattern=r"[0-9]*")

    @field_validator("channel")
    @classmethod
    def _one_number_placeholder(cls, value: str) -> str:
        if value.count("{number}") != 1:
            raise ValueError("must contain {number} exactly once")
        rest = value.replace("{number}", "")
        if not re.fullmatch(r"[A-Za-z0-9]+/[A-Za-z0-9_@./:+-]*", rest) or "{" in rest:
            raise ValueError("must look like TECH/{number}@endpoint with no other placeholders")
        return value


class RetryRule(_Strict):
    """Retry after `delay_s` while the lead has had fewer than `max_attempts` attempts."""

    delay_s: float = Field(ge=0)
    max_attempts: int = Field(ge=1)


_DEFAULT_RETRY: dict[Disposition, RetryRule] = {
    Disposition.BUSY: RetryRule(delay_s=300, max_attempts=5),
    Disposition.NO_ANSWER: RetryRule(delay_s=1800, max_attempts=4),
    Disposition.CONGESTION: RetryRule(delay_s=120, max_attempts=5),
    Disposition.REJECTED: RetryRule(delay_s=3600, max_attempts=3),
    Disposition.MACHINE: RetryRule(delay_s=3600, max_attempts=3),
    Disposition.FAILED: RetryRule(delay_s=600, max_attempts=3),
    Disposition.UNKNOWN: RetryRule(delay_s=600, max_attempts=3),
    Disposition.ABANDONED: RetryRule(delay_s=72 * 3600, max_attempts=2),
}


class RetryConfig(_Strict):
    """Per-disposition retry rules; a disposition not listed here ends the lead."""

    rules: dict[Disposition, RetryRule] = Field(default_factory=lambda: dict(_DEFAULT_RETRY))


class PacingConfig(_Strict):
    """Limits on concurrent calls and on originations per second (token bucket)."""

    max_concurrent_calls: int = Field(default=30, ge=1)
    max_originations_per_s: float = Field(default=10.0, gt=0)
    burst: int = Field(default=0, ge=0, description="token bucket size; 0 = one second's worth")


class DialingConfig(_Strict):
    """Global dialing limits and timings."""

    pacing: PacingConfig = PacingConfig()
    drain_timeout_s: float = Field(default=60.0, ge=0)
    event_timeout_s: float = Field(default=30.0, gt=0)
    poll_interval_s: float = Field(default=0.2, gt=0)
    claim_batch: int = Field(default=200, ge=1)
    channel_vars: tuple[str, ...] = ("DIALER_CALL_ID", "DIALER_CAMPAIGN")


class PresetsConfig(_Strict):
    """Where a user keeps their own policy preset files (added to the built-in ones)."""

    dir: Path | None = Field(default=None, description="a folder of *.toml preset files; relative to the config")


class CampaignConfig(_Strict):
    """One campaign: where its calls (or messages) go and how it is paced, retried and gated."""

    kind: Literal["call", "sms"] = "call"
    trunk: str = ""  # a call campaign needs one
    caller_id: str = ""  # a call campaign needs one
    default_region: str = Field(default="US", pattern=r"[A-Z]{2}")
    context: str = Field(default="dialer-outbound", pattern=r"[A-Za-z0-9_-]+")
    exten: str = Field(default="s", pattern=r"[A-Za-z0-9_+*#-]+")
    priority: int = Field(default=1, ge=1)
    ring_timeout_s: float = Field(default=30.0, gt=0, le=600)
    pacing: PacingConfig = PacingConfig(max_concurrent_calls=10, max_originations_per_s=5.0)
    amd: bool = False
    mode: Literal["message", "queue", "survey"] = "message"
    variables: dict[str, str] = Field(default_factory=dict)
    retry: RetryConfig | None = None
    compliance: dict[str, object] = Field(default_factory=dict)
    priority_weight: int = Field(default=0, description="higher-weight campaigns are served first")
    callbacks: CallbackPolicy = CallbackPolicy()
    sms: SmsCampaign | None = None  # a campaign of kind sms: gateway and message template
    recordings: CampaignRecordings = CampaignRecordings()
    survey: SurveyConfig | None = None  # mode = "survey": the questions (dialer.surveys.config)

    @property
    def optout_key(self) -> str:
        """The DTMF key that opts out (the dialplan's default is 9)."""
        return self.variables.get("DIALER_OPTOUT_KEY") or "9"

    @model_validator(mode="after")
    def _survey_fits(self) -> CampaignConfig:
        if self.mode == "survey" and self.survey is None:
            raise ValueError('mode = "survey" needs a [campaigns.NAME.survey] table with its questions')
        if self.survey is not None and self.mode != "survey":
            raise ValueError('a survey table is only for mode = "survey"')
        if self.survey is not None:
            if self.kind != "call":
                raise ValueError('a survey needs kind = "call"')
            problems = optout_conflicts(self.survey, self.optout_key)
            if problems:
                raise ValueError("survey: " + "; ".join(problems))
        return self

    @field_validator("variables")
    @classmethod
    def _safe_variables(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _VAR_NAME.fullmatch(name):
                raise ValueError(f"variable name {name!r} must be upper-case letters, digits and _")
            if any(ch in text for ch in "\r\n,") or not text.isprintable():
                raise ValueError(f"variable {name} must be printable with no comma or line break")
        return value


class PbxRecordConfig(_Strict):
    """Asterisk's own record of its calls (cdr_custom, config/asterisk/cdr_custom.conf): after a crash or
    an AMI outage, calls that ended meanwhile are settled from it (dialer.pbxrecord)."""

    enabled: bool = False
    path: Path = Path("/var/log/asterisk/cdr-custom/dialer.csv")
    # How long a call with no channel left may wait for its record (Asterisk writes it when the
    # call ends; a loaded PBX may take a moment) before it ends unknown_after_restart.
    grace_s: float = Field(default=10.0, ge=0, le=600)
    # Read at most this much of the end of the file (and of its rotated `.1`) per look.
    max_read_bytes: int = Field(default=64 << 20, ge=4096)


class Config(_Strict):
    """The whole dialer configuration."""

    node: NodeConfig = NodeConfig()
    database: DatabaseConfig = DatabaseConfig()
    logging: LoggingConfig = LoggingConfig()
    ami: AmiConfig = AmiConfig()
    dialing: DialingConfig = DialingConfig()
    retry: RetryConfig = RetryConfig()
    compliance: CompliancePolicy = CompliancePolicy()
    presets: PresetsConfig = PresetsConfig()
    dnc: DncConfig = DncConfig()
    trunks: dict[str, TrunkConfig] = Field(default_factory=dict)
    campaigns: dict[str, CampaignConfig] = Field(default_factory=dict)
    sms: SmsConfig = SmsConfig()
    metrics: MetricsConfig = MetricsConfig()
    recordings: RecordingsConfig = RecordingsConfig()
    mqtt: MqttConfig = MqttConfig()
    pbx_record: PbxRecordConfig = PbxRecordConfig()
    web: WebConfig = WebConfig()

    @model_validator(mode="after")
    def _references_resolve(self) -> Config:
        for name, campaign in self.campaigns.items():
            if not _NAME.fullmatch(name):
                raise ValueError(f"campaigns.{name}: name must be letters, digits, '.', '_' or '-'")
            if campaign.kind == "sms":
                self._check_sms(name, campaign)
                continue
            if not campaign.caller_id:
                raise ValueError(f"campaigns.{name}.caller_id: a call campaign needs a caller ID")
            if campaign.sms is not None:
                raise ValueError(f"campaigns.{name}.sms: only for a campaign of kind = \"sms\"")
            if campaign.trunk not in self.trunks:
                known = ", ".join(sorted(self.trunks)) or "none"
                raise ValueError(
                    f"campaigns.{name}.trunk: unknown trunk {campaign.trunk!r} (defined: {known})"
                )
        return self

    def _check_sms(self, name: str, campaign: CampaignConfig) -> None:
        if campaign.sms is None:
            raise ValueError(f"campaigns.{name}.sms: a campaign of kind sms needs an sms table (gateway, template)")
        if campaign.sms.gateway not in self.sms.gateways:
            known = ", ".join(sorted(self.sms.gateways)) or "none"
            raise ValueError(f"campaigns.{name}.sms.gateway: unknown gateway {campaign.sms.gateway!r} "
                             f"(defined in [sms.gateways]: {known})")

    def retry_for(self, campaign: str) -> RetryConfig:
        """The campaign's retry rules, or the global ones."""
        own = self.campaigns[campaign].retry if campaign in self.campaigns else None
        return own or self.retry

    def preset_catalog(self) -> PresetCatalog:
        """The built-in presets and the user's (`[presets] dir`), loaded once; PresetError if unusable."""
        return catalog_for(() if self.presets.dir is None else (self.presets.dir,))

    def required_lead_attributes(self, campaign: str) -> tuple[str, ...]:
        """Attributes every lead of the campaign must carry for its presets (per-debt caps: debt_id)."""
        if campaign not in self.campaigns:
            return ()
        presets = self.compliance_for(campaign).presets
        return ("debt_id",) if presets and needs_debt_history(presets, self.preset_catalog()) else ()

    def compliance_for(self, campaign: str | None) -> CompliancePolicy:
        """The global compliance policy narrowed by the campaign's overrides.

        Raises PolicyError (with a `problems` list of field paths) if an override is invalid or would
        loosen the global policy; the loader turns that into `campaigns.NAME.compliance.FIELD` lines.
        """
        if campaign is None or campaign not in self.campaigns:
            return self.compliance
        overrides = self.campaigns[campaign].compliance
        if not overrides:
            return self.compliance
        # The engine asks for every batch it dials: narrow each distinct policy once.
        return _narrowed(self.compliance, json.dumps(overrides, sort_keys=True, default=list))


@lru_cache(maxsize=256)
def _narrowed(base: CompliancePolicy, overrides_json: str) -> CompliancePolicy:
    return narrow(base, json.loads(overrides_json))
