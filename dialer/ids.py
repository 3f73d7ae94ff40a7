"""Random ids the dialer makes (call ids, message ids) that the log mask leaves readable.

The mask hides every run of 7 or more digits (`dialer.numbers.mask_text`); about one random hex id in
five has such a run, and would be logged half hidden. An id is the key that joins a call's log
lines, MQTT messages and rows, so ids are drawn again until they have no such run (at most a few
draws; the id keeps about 79 of its 80 random bits).
"""

from __future__ import annotations

import re
import secrets

from dialer.numbers import MIN_MASKED_DIGITS

_MASKED_RUN = re.compile(rf"\d{{{MIN_MASKED_DIGITS},}}")


def readable_token(prefix: str, nbytes: int = 10) -> str:
    """`prefix` + 2 * `nbytes` random hex digits, with no run the log mask would hide."""
    while True:
        token = secrets.token_hex(nbytes)
        if not _MASKED_RUN.search(token):
            return prefix + token
