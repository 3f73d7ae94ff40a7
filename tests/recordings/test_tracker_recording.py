"""What the tracker learns about a call's recording from the recorded Asterisk streams."""

from __future__ import annotations

from tests.core.test_tracker_transcripts import events_of, run


def test_the_answered_call_reports_where_mixmonitor_writes_and_no_close_event():
    finals, _ = run(events_of("03-originate-answered.txt"), ["abc123"])
    call = finals["abc123"].call
    assert call.recording == "/var/spool/asterisk/monitor/dialer/1795869294.12.wav"
    assert not call.recording_closed  # no MixMonitorStop at hangup: the archiver waits for the file


def test_stopmixmonitor_mid_call_tells_the_archiver_the_file_is_closed():
    finals, _ = run(events_of("18-midcall-showchannels-hangup.txt"), ["mid-1"])
    assert finals["mid-1"].call.recording_closed
