"""Asterisk's own record of the calls it placed (cdr_custom CSV): read it, settle what the dialer missed.

After a crash or an AMI outage the events of calls that ended meanwhile are gone (AMI does not replay
them); Asterisk's CDRs are not. `reader` parses the file config/asterisk/cdr_custom.conf makes
Asterisk write, `outcome` turns the records of one call into the facts the tracker settles it with.
"""

from dialer.pbxrecord.fields import FIELDS, MAPPING
from dialer.pbxrecord.outcome import RecordedCall, recorded_call
from dialer.pbxrecord.reader import PbxRecord, RecordEntry, RecordScan, parse_line, scan

__all__ = ["FIELDS", "MAPPING", "PbxRecord", "RecordEntry", "RecordScan", "RecordedCall", "parse_line",
           "recorded_call", "scan"]
