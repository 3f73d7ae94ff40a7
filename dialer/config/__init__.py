"""The one TOML config file: pydantic models, loading with path-naming errors, secrets."""

from dialer.config.load import ConfigError, load_config, parse_config
from dialer.config.models import CampaignConfig, Config, TrunkConfig

__all__ = ["CampaignConfig", "Config", "ConfigError", "TrunkConfig", "load_config", "parse_config"]
