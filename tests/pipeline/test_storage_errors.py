"""The sending loops' one policy for a failing database: backoff and reporting cadence (pure)."""

from hypothesis import given
from hypothesis import strategies as st

from dialer.pipeline.storage_errors import MAX_BACKOFF_S, REPORT_EVERY, backoff_s, worth_reporting


@given(st.integers(min_value=1, max_value=10_000))
def test_the_backoff_grows_and_stays_bounded(failures):
    assert 0 < backoff_s(failures) <= backoff_s(failures + 1) <= MAX_BACKOFF_S


def test_the_first_failure_and_every_thirtieth_are_reported():
    assert [n for n in range(1, 3 * REPORT_EVERY + 1) if worth_reporting(n)] == [
        1, REPORT_EVERY, 2 * REPORT_EVERY, 3 * REPORT_EVERY]
