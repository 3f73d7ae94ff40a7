"""dialer: an outbound-dialing daemon for the Asterisk PBX."""

__version__ = "0.1.0"
