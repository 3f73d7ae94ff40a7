"""Structured logs: JSON lines on stdout for journald, a console format on a terminal.

Every event passes `mask_processor`, which masks phone numbers and drops secrets wherever they
appear (values of any type, dict keys, the event text, exception text, file paths), so no full
number or secret reaches a log line. What would otherwise reach stderr past structlog goes through
it too: records of the standard `logging` module (asyncio, paho, aiosqlite) and warnings
(`configure_logging` installs a bridge), asyncio's "exception was never retrieved" reports
(`install_loop_handler`), and an exception nobody caught (`sys.excepthook`, `threading.excepthook`,
`sys.unraisablehook`).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import Mapping, MutableMapping
from functools import lru_cache
from types import TracebackType
from typing import Any, TextIO

import structlog
from structlog.tracebacks import ExceptionDictTransformer

from dialer.numbers import mask_text

__all__ = ["configure_logging", "install_loop_handler", "mask_processor", "mask_text", "set_level"]

_SECRET_KEYS = frozenset({"secret", "password", "passwd", "token", "api_key", "hash_key", "key_file_password"})
_SECRET_SUFFIXES = ("_secret", "_password", "_passwd", "_token", "_api_key")


@lru_cache(maxsize=1024)  # log lines reuse a few dozen keys: decided once each
def _is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return lowered in _SECRET_KEYS or lowered.endswith(_SECRET_SUFFIXES)


def _mask_value(key: str, value: Any) -> Any:
    if _is_secret_key(key):
        return "***"
    if type(value) is str:  # most fields: the common case first
        return mask_text(value)
    if value is None or isinstance(value, bool | int | float):
        # Numbers are E.164 *strings* everywhere in the dialer; counts, sizes and unix times stay readable.
        return value
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, bytes | bytearray):
        return mask_text(bytes(value).decode("utf-8", "replace"))
    if isinstance(value, Mapping):
        return {(mask_text(k) if isinstance(k, str) else k): _mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_mask_value(key, v) for v in value]
    # Paths, exceptions, enums, dataclasses: the renderer would print str()/repr() of them unmasked.
    return mask_text(str(value))


def mask_processor(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Mapping[str, Any]:
    """structlog processor: mask numbers and secrets in every field, including the event text."""
    for key, value in list(event_dict.items()):
        event_dict[key] = _mask_value(key, value)
    return event_dict


_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def configure_logging(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Set up structlog: `fmt` is json, console, or auto (console on a terminal, else JSON).

    Also routes the standard `logging` module, warnings and uncaught exceptions through it (masked).
    """
    out = stream or sys.stdout
    use_console = fmt == "console" or (fmt == "auto" and out.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
    ]
    # The time stamp is added after the mask: it is ours and holds no number, and its 20 digits
    # sent every line through the number pattern.
    stamp = structlog.processors.TimeStamper(fmt="iso", utc=True)
    if use_console:
        renderer: list[Any] = [
            structlog.processors.format_exc_info,
            mask_processor,
            stamp,
            structlog.dev.ConsoleRenderer(colors=out.isatty()),
        ]
    else:
        renderer = [
            # show_locals=False: frame locals would carry phone numbers past the mask.
            structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False)),
            mask_processor,
            stamp,
            structlog.processors.JSONRenderer(),
        ]
    structlog.configure(
        processors=[*shared, *renderer],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    _bridge_stdlib_logging(_LEVELS.get(level, logging.INFO))
    _install_exception_hooks()


def set_level(level: str) -> None:
    """Change the log level at run time (SIGHUP reload)."""
    config = structlog.get_config()
    config["wrapper_class"] = structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.INFO))
    structlog.configure(**config)
    logging.getLogger().setLevel(max(_LEVELS.get(level, logging.INFO), logging.INFO))


# -- what would otherwise reach stderr unmasked ----------------------------------------------------------


class _ToStructlog(logging.Handler):
    """A `logging` handler that re-emits each record through structlog (and so through the mask).

    Without it, Python's last-resort handler prints WARNING and above of every library (asyncio's
    "Task exception was never retrieved" among them) to stderr as they are.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            logger = structlog.get_logger(record.name)
            fields: dict[str, Any] = {"logger": record.name}
            if record.exc_info and record.exc_info[1] is not None:
                fields["exc_info"] = record.exc_info
            logger.log(record.levelno, record.getMessage(), **fields)
        except Exception:  # a handler must never raise into the code that logged
            self.handleError(record)


def _bridge_stdlib_logging(level: int) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _ToStructlog):
            root.removeHandler(handler)
    root.addHandler(_ToStructlog())
    # Libraries' debug chatter (paho logs every packet) stays out even when the dialer logs at debug.
    root.setLevel(max(level, logging.INFO))
    logging.captureWarnings(True)


def _log_uncaught(kind: str, exc_type: type[BaseException], exc: BaseException | None,
                  tb: TracebackType | None, **fields: Any) -> None:
    if exc is None:
        exc = exc_type()
    structlog.get_logger("dialer").error(kind, exc_info=(exc_type, exc, tb), **fields)


def _excepthook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    _log_uncaught("uncaught_exception", exc_type, exc, tb)


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    _log_uncaught("thread_exception", args.exc_type, args.exc_value, args.exc_traceback,
                  thread=args.thread.name if args.thread is not None else None)


def _unraisablehook(unraisable: sys.UnraisableHookArgs) -> None:
    _log_uncaught("unraisable_exception", unraisable.exc_type, unraisable.exc_value, unraisable.exc_traceback,
                  message=unraisable.err_msg, object=repr(unraisable.object))


def _install_exception_hooks() -> None:
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook
    sys.unraisablehook = _unraisablehook


def _loop_exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """asyncio's exception handler, through structlog: a task's exception nobody retrieved, a failed
    callback. asyncio's default one logs the traceback through `logging` with the task's repr."""
    exc = context.get("exception")
    fields: dict[str, Any] = {"message": context.get("message", "")}
    task = context.get("task") or context.get("future")
    if isinstance(task, asyncio.Task):
        fields["task"] = task.get_name()
    if isinstance(exc, BaseException):
        fields["exc_info"] = (type(exc), exc, exc.__traceback__)
    structlog.get_logger("dialer.asyncio").error("asyncio_exception", **fields)


def install_loop_handler(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Replace asyncio's default exception handler on `loop` (the running one) with the structlog one."""
    (loop or asyncio.get_running_loop()).set_exception_handler(_loop_exception_handler)
