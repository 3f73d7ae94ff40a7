"""Logs never carry a full phone number or a secret: every digit run of 7 or more is masked, whatever
stands next to it, in the event text and every field; ISO dates and times stay readable."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import phonenumbers
import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.ids import readable_token
from dialer.logs import configure_logging, mask_text
from dialer.numbers import mask


@pytest.mark.parametrize(("text", "masked"), [
    ("+1 (415) 555-0123", "+14*******23"),
    ("415-555-0123", "41******23"),
    ("(415) 555-0123", "41******23"),
    ("415.555.0123", "41******23"),
    ("lead_14155550123", "lead_14*******23"),
    ("rec-12125550101.wav", "rec-12*******01.wav"),
    ("/var/spool/asterisk/monitor/dialer/rec-12125550101.wav",
     "/var/spool/asterisk/monitor/dialer/rec-12*******01.wav"),
    ("c4155550123x", "c41******23x"),
    ("PJSIP/14155552671@carrier", "PJSIP/14*******71@carrier"),
    ("06 12 34 56 78", "06******78"),
    ("555-0123", "55***23"),
    ("tel:+1-415-555-0123;ext=1", "tel:+14*******23;ext=1"),
    ("١٤١٥٥٥٥٠١٢٣", "١٤*******٢٣"),  # other scripts' digits are digits too
])
def test_every_formatted_or_glued_number_is_masked(text, masked):
    assert mask_text(text) == masked


@pytest.mark.parametrize("text", [
    "at 2026-12-02T10:15:30.123456+00:00",
    "2026-12-02T10:15:30Z",
    "from 2026-12-02 to 2027-01-31",
    "2026-12-02 10:15",
    "took 1234 ms, 3 of 500 calls, 12.5 s, 42 rows",
    "asterisk 22.10.1 on 127.0.0.1:5038",
])
def test_iso_times_and_short_numbers_stay_readable(text):
    assert mask_text(text) == text


def test_a_number_right_after_an_iso_date_is_masked_and_the_date_kept():
    assert mask_text("2026-12-02 4155550123") == "2026-12-02 41******23"
    assert mask_text("2026-12-02T10:00:00Z+14155550123") == "2026-12-02T10:00:00Z+14*******23"


def test_mask_of_a_formatted_number_keeps_only_the_ends_of_its_digits():
    assert mask("+1 (415) 555-0123") == "+14*******23"
    assert mask("+14155552671") == "+14*******71"


def _run_of_digits(text: str) -> int:
    return len(re.findall(r"\d", text))  # decimal digits of any script (what the mask looks for)


_FORMATS = (phonenumbers.PhoneNumberFormat.E164, phonenumbers.PhoneNumberFormat.INTERNATIONAL,
            phonenumbers.PhoneNumberFormat.NATIONAL, phonenumbers.PhoneNumberFormat.RFC3966)
_TYPES = (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE,
          phonenumbers.PhoneNumberType.TOLL_FREE)


def _example_numbers() -> list[phonenumbers.PhoneNumber]:
    found = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in _TYPES:
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                found.append(number)
    return found


EXAMPLES = _example_numbers()


@st.composite
def written_numbers(draw: st.DrawFn) -> str:
    """A real number of some country, written the way people and systems write numbers."""
    number = draw(st.sampled_from(EXAMPLES))
    text = phonenumbers.format_number(number, draw(st.sampled_from(_FORMATS)))
    separator = draw(st.sampled_from([None, "-", ".", " ", "", "/", "\u00a0"]))
    if separator is not None:
        text = text.replace(" ", separator)
    if draw(st.booleans()):
        # 3-3-4 groups around the area code in parentheses, as in "(415) 555-0123".
        digits = phonenumbers.national_significant_number(number)
        if len(digits) >= 8:
            text = f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    return text


# Text around the number: anything but digits (an adjacent digit would make it another number).
_AROUND = st.text(st.characters(blacklist_categories=("Nd",)), max_size=12)


@settings(max_examples=600, deadline=None)
@given(before=_AROUND, number=written_numbers(), after=_AROUND)
def test_no_number_survives_the_mask_whatever_text_surrounds_it(before, number, after):
    digits = _run_of_digits(number)
    if digits < 7:
        return  # shorter than any number the mask is for (some territories' national forms)
    masked = mask_text(before + number + after)
    assert _run_of_digits(masked) <= 4, masked  # two leading and two trailing digits are kept
    whole = "".join(re.findall(r"\d", number))
    assert whole not in re.sub(r"\D", "", masked)


@settings(max_examples=300, deadline=None)
@given(when=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)),
       spec=st.sampled_from(["seconds", "milliseconds", "microseconds", "minutes"]),
       before=_AROUND, after=st.text(st.characters(blacklist_categories=("Nd",)), max_size=12).filter(
           lambda s: not s[:1].isdigit()))
def test_iso_timestamps_in_text_stay_readable(when, spec, before, after):
    stamp = when.isoformat(timespec=spec)
    assert stamp in mask_text(f"{before} {stamp} {after}")
    date = when.date().isoformat()
    assert date in mask_text(f"{before} {date} {after}")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_masking_twice_changes_nothing_more(text):
    once = mask_text(text)
    assert mask_text(once) == once


def test_the_dialers_own_ids_stay_readable_in_logs():
    ids = [readable_token("c") for _ in range(2000)]
    assert all(mask_text(i) == i for i in ids)
    assert len(set(ids)) == len(ids)


def _log_line(**fields) -> tuple[str, dict]:
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    structlog.get_logger().info(fields.pop("event"), **fields)
    line = stream.getvalue()
    return line, json.loads(line)


def test_numbers_in_any_field_and_in_the_event_text_are_masked():
    call_id = readable_token("c")
    line, record = _log_line(event="calling +14155552671 now", number="+14155552671",
                             channel="PJSIP/14155552671@carrier", nested={"to": "4155552671", "+14155550199": 1},
                             call_id=call_id, secret="hunter2", ami_secret="s3", listed=["415-555-0124"],
                             path=Path("/var/spool/dialer/rec-12125550101.wav"), raw=b"lead 14155550125",
                             at=1795869294.12, count=12345678)
    for digits in ("4155552671", "4155550199", "4155550124", "2125550101", "4155550125", "hunter2"):
        assert digits not in line
    assert record["secret"] == record["ami_secret"] == "***"
    assert record["call_id"] == call_id
    assert record["channel"] == "PJSIP/14*******71@carrier"
    assert record["path"] == "/var/spool/dialer/rec-12*******01.wav"
    assert (record["at"], record["count"]) == (1795869294.12, 12345678)  # numbers that are not strings stay
    assert record["event"] == "calling +14*******71 now"
    datetime.fromisoformat(record["timestamp"])  # structlog's own ISO timestamp is untouched


def test_exception_text_is_masked_and_frame_locals_are_not_dumped():
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)

    def dial(number: str) -> None:
        raise ValueError(f"cannot dial {number} (415) 555-0126")

    try:
        dial("+442079460958")
    except ValueError:
        structlog.get_logger().exception("failed")
    assert "2079460958" not in stream.getvalue()
    assert "5550126" not in stream.getvalue()


def test_console_format_is_masked_too():
    stream = io.StringIO()
    configure_logging("info", "console", stream=stream)
    try:
        raise RuntimeError("lost +14155550127")
    except RuntimeError:
        structlog.get_logger().exception("oops", path=Path("/x/lead_14155550128.csv"))
    text = stream.getvalue()
    assert "4155550127" not in text
    assert "4155550128" not in text


_STDERR_LEAKS = r"""
import asyncio, gc, logging, sys, threading, warnings
from dialer.logs import configure_logging, install_loop_handler
configure_logging("info", "json")

async def fail():
    raise RuntimeError("task failed calling +14155550131")

async def main():
    install_loop_handler()
    task = asyncio.get_running_loop().create_task(fail())
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    del task
    gc.collect()  # "Task exception was never retrieved"
    asyncio.get_running_loop().call_soon(lambda: 1 / 0)  # a failing callback
    await asyncio.sleep(0)

asyncio.run(main())
logging.getLogger("paho").error("library says 415-555-0132")
warnings.warn("warning about lead_14155550133")
t = threading.Thread(target=lambda: (_ for _ in ()).throw(ValueError("thread +14155550134")))
t.start(); t.join()
raise ValueError("uncaught +14155550135")
"""


def test_nothing_reaches_stderr_unmasked_tasks_callbacks_libraries_threads_uncaught(tmp_path):
    script = tmp_path / "leaks.py"
    script.write_text(_STDERR_LEAKS)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert result.stderr == ""
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds.count("asyncio_exception") == 2, kinds
    assert "thread_exception" in kinds
    assert "uncaught_exception" in kinds
    assert any("library says" in k for k in kinds)
    assert any("lead_14*******33" in k for k in kinds)  # the warning, through logging
    for digits in ("5550131", "5550132", "5550133", "5550134", "5550135"):
        assert digits not in result.stdout


def test_dates_and_times_that_are_iso_but_not_calendar_shapes_are_numbers():
    # 2026-13-45 is no date: the 8 digits are masked like any number written with dashes.
    assert mask_text("2026-13-45") == "20****45"
    morning = datetime(2027, 1, 15, tzinfo=UTC) + timedelta(hours=8)
    assert mask_text(morning.isoformat()) == "2027-01-15T08:00:00+00:00"
