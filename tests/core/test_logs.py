"""Logs never carry a full phone number or a secret."""

from __future__ import annotations

import io
import json

import structlog

from dialer.logs import configure_logging, mask_text


def test_numbers_in_any_field_and_in_the_event_text_are_masked():
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    structlog.get_logger().info("calling +14155552671 now", number="+14155552671",
                                channel="PJSIP/14155552671@carrier", nested={"to": "4155552671"},
                                call_id="c1795869294a", uniqueid="1795869294.12", secret="hunter2")
    line = stream.getvalue()
    assert "4155552671" not in line
    record = json.loads(line)
    assert record["secret"] == "***"
    assert record["call_id"] == "c1795869294a"
    assert record["uniqueid"] == "1795869294.12"
    assert record["channel"] == "PJSIP/14*******71@carrier"


def test_exception_text_is_masked_and_frame_locals_are_not_dumped():
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)

    def dial(number: str) -> None:
        raise ValueError(f"cannot dial {number}")

    try:
        dial("+442079460958")
    except ValueError:
        structlog.get_logger().exception("failed")
    assert "2079460958" not in stream.getvalue()


def test_mask_text_leaves_short_numbers_and_times_alone():
    assert mask_text("took 1234 ms at 1795869294.12") == "took 1234 ms at 1795869294.12"
