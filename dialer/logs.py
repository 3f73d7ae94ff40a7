"""Structured logs: JSON lines on stdout for journald, a console format on a terminal.

Every event passes `mask_processor`, which masks phone numbers and drops secrets wherever they
appear (values, the event text, exception text), so no full number or secret reaches a log line.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog
from structlog.tracebacks import ExceptionDictTransformer

from dialer.numbers import mask

# A run of 7-15 digits, optionally after '+', not glued to letters, digits or a decimal point (so
# call ids, Uniqueids like 1795869294.12 and durations stay readable).
_NUMBER_RUN = re.compile(r"(?<![\w.])\+?\d{7,15}(?![\w.])")
_SECRET_KEYS = frozenset({"secret", "password", "passwd", "token", "api_key", "hash_key"})


def mask_text(text: str) -> str:
    """Mask every phone-number-like digit run inside free text."""
    return _NUMBER_RUN.sub(lambda m: mask(m.group(0)), text)


def _mask_value(key: str, value: Any) -> Any:
    if key.lower() in _SECRET_KEYS:
        return "***"
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {k: _mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_value(key, v) for v in value]
    return value


def mask_processor(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Mapping[str, Any]:
    """structlog processor: mask numbers and secrets in every field, including the event text."""
    for key, value in list(event_dict.items()):
        event_dict[key] = _mask_value(key, value)
    return event_dict


_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def configure_logging(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Set up structlog: `fmt` is json, console, or auto (console on a terminal, else JSON)."""
    out = stream or sys.stdout
    use_console = fmt == "console" or (fmt == "auto" and out.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if use_console:
        renderer: list[Any] = [
            structlog.processors.format_exc_info,
            mask_processor,
            structlog.dev.ConsoleRenderer(colors=out.isatty()),
        ]
    else:
        renderer = [
            # show_locals=False: frame locals would carry phone numbers past the mask.
            structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False)),
            mask_processor,
            structlog.processors.JSONRenderer(),
        ]
    structlog.configure(
        processors=[*shared, *renderer],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )


def set_level(level: str) -> None:
    """Change the log level at run time (SIGHUP reload)."""
    config = structlog.get_config()
    config["wrapper_class"] = structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.INFO))
    structlog.configure(**config)
