"""The one error policy of the sending loops (engine and SMS sender) for a failing database.

A locked or failing store (a long import, disk full, I/O error) loses nothing: the claim transaction
rolled back, pending changes stay queued. The loop waits it out with the same backoff, and reports it
at the same cadence; any other exception is a bug and ends the part (and the daemon, PartTasks).
"""

from __future__ import annotations

MAX_BACKOFF_S = 5.0
REPORT_EVERY = 30  # after the first failure, report every this many in a row


def backoff_s(failures: int) -> float:
    """Seconds to wait after `failures` failures in a row (0.2 s, doubling, at most MAX_BACKOFF_S)."""
    return min(MAX_BACKOFF_S, 0.1 * float(2 ** min(failures, 6)))


def worth_reporting(failures: int) -> bool:
    """Whether this failure in a row is logged or alerted (the first, then every REPORT_EVERY)."""
    return failures == 1 or failures % REPORT_EVERY == 0
