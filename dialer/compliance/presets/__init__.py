"""The built-in policy preset files (`*.toml`) and the US area-code table; read by `preset_catalog`."""
