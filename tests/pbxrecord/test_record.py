"""Asterisk's record for the dialer: the shipped mapping, the simulator's writer and the dialer's
reader agree; each call's records give the outcome a real Asterisk 22 implies (transcript Cdr events)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialer.outcome import Disposition
from dialer.pbxrecord import MAPPING, parse_line, recorded_call, scan
from dialer.pbxrecord.reader import RecordLineError
from dialer.sim.cdr import MAPPING as SIM_MAPPING
from dialer.sim.cdr import ChannelCdr, render

ASTERISK = Path(__file__).resolve().parents[2] / "config" / "asterisk"
T0 = 1_795_869_294.123456


def shipped_mapping() -> str:
    lines = [line for line in (ASTERISK / "cdr_custom.conf").read_text().splitlines()
             if line.startswith("dialer.csv =>")]
    assert len(lines) == 1
    return lines[0].split("=>", 1)[1].strip()


def test_the_shipped_mapping_is_the_one_the_reader_and_the_simulator_use():
    assert shipped_mapping() == MAPPING == SIM_MAPPING


def test_the_shipped_cdr_conf_posts_every_call_at_once():
    text = (ASTERISK / "cdr.conf").read_text()
    settings = dict(re.findall(r"^(\w+)\s*=\s*(\S+)", text, re.M))
    assert settings["unanswered"] == "yes"
    assert settings["congestion"] == "yes"
    assert settings["batch"] == "no"
    assert settings["enable"] == "yes"


def test_the_dialplan_sets_every_cdr_variable_the_mapping_reads():
    dialplan = (ASTERISK / "extensions_dialer.conf").read_text()
    wanted = set(re.findall(r"CDR\((dialer_\w+)\)", MAPPING))
    assert wanted == set(re.findall(r"Set\(CDR\((dialer_\w+)\)=", dialplan))


def cdr(uniqueid: str, disposition: str, answer: float | None = None, end: float = T0 + 8, **variables: str
        ) -> str:
    return render(SIM_MAPPING, ChannelCdr(uniqueid, uniqueid.removesuffix("-2"), disposition, T0, answer, end,
                                          variables))


text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"), max_size=40)


@given(call_id=st.from_regex(r"c-[a-z0-9]{1,20}", fullmatch=True), recording=text, optout=text,
       answer=st.one_of(st.none(), st.floats(T0, T0 + 100)), end=st.floats(T0 + 101, T0 + 10_000))
def test_what_the_simulator_writes_the_reader_reads_back(call_id, recording, optout, answer, end):
    line = cdr(call_id, "ANSWERED" if answer else "NO ANSWER", answer, end, dialer_recording=recording,
               dialer_optout=optout, dialer_call_id=call_id)
    entry = parse_line(line)
    assert entry.key == call_id
    assert entry.recording == recording
    assert entry.optout == optout
    assert entry.end == round(end, 6) or abs(entry.end - end) < 1e-5
    assert (entry.answer is None) == (answer is None)
    if answer is not None:
        assert abs(entry.billsec - (end - answer)) < 1e-5


@given(st.text(max_size=200))
def test_a_damaged_line_is_refused_with_the_field_named_never_misread(garbage):
    try:
        entry = parse_line(garbage)
    except RecordLineError as exc:
        message = str(exc)
        assert message
    else:  # only a line of the right shape gets through
        assert entry.uniqueid


def test_a_line_with_a_bad_time_names_the_field():
    line = cdr("c-1", "ANSWERED", T0 + 1).replace(f'"{T0:.6f}"', '"yesterday"', 1)
    with pytest.raises(RecordLineError, match=r"^start: 'yesterday' is not a unix time"):
        parse_line(line)


def outcome(*lines: str, call_id: str = "c-1"):
    return recorded_call(call_id, [parse_line(line) for line in lines])


def test_busy_no_answer_congestion_and_failure_as_asterisk_records_them():
    assert outcome(cdr("c-1", "BUSY"), cdr("c-1-2", "BUSY")).disposition is Disposition.BUSY
    assert outcome(cdr("c-1", "NO ANSWER"), cdr("c-1-2", "NO ANSWER")).disposition is Disposition.NO_ANSWER
    assert outcome(cdr("c-1", "CONGESTION")).disposition is Disposition.CONGESTION
    assert outcome(cdr("c-1", "FAILED"), cdr("c-1-2", "FAILED")).disposition is Disposition.FAILED
    assert outcome(cdr("c-1", "BUSY")).talk_s is None


def test_an_answered_call_keeps_its_talk_time_recording_and_dialplan_results():
    answered = outcome(cdr("c-1", "ANSWERED", T0 + 1, T0 + 8.5, dialer_call_id="c-1", dialer_recording="/s/c-1.wav"),
                       cdr("c-1-2", "ANSWERED", T0 + 1, T0 + 8.5))
    assert answered.disposition is Disposition.ANSWERED
    assert answered.talk_s == 7.5
    assert answered.answered_at == T0 + 1
    assert answered.recording == "/s/c-1.wav"
    optout = outcome(cdr("c-1", "ANSWERED", T0 + 1, dialer_call_id="c-1", dialer_optout="9"))
    assert optout.disposition is Disposition.OPTED_OUT
    assert optout.opted_out
    machine = outcome(cdr("c-1", "ANSWERED", T0 + 1, dialer_call_id="c-1", dialer_amd="MACHINE"))
    assert machine.disposition is Disposition.MACHINE
    callback = outcome(cdr("c-1", "ANSWERED", T0 + 1, dialer_call_id="c-1", dialer_callback="1"))
    assert callback.callback_requested
    assert callback.disposition is Disposition.ANSWERED
    abandoned = outcome(cdr("c-1", "ANSWERED", T0 + 1, dialer_call_id="c-1", dialer_queue="TIMEOUT",
                            dialer_abandoned="1"))
    assert abandoned.disposition is Disposition.ABANDONED


def test_scan_reads_the_rotated_file_too_only_what_ended_after_since_and_counts_damage(tmp_path):
    path = tmp_path / "dialer.csv"
    (tmp_path / "dialer.csv.1").write_text(cdr("c-old", "BUSY", end=T0 + 1) + "\n" + cdr("c-a", "BUSY") + "\n")
    path.write_text(cdr("c-b", "NO ANSWER") + "\nnot a record\n" + cdr("c-c", "BUSY")[:20])  # last: still written
    found = scan(path, since=T0 + 5)
    assert found.exists
    assert set(found.by_call) == {"c-a", "c-b"}
    assert found.error_count == 1
    assert "dialer.csv:2" in found.errors[0]
    assert found.newest_end == T0 + 8


def test_scan_reads_only_the_tail_of_a_large_file(tmp_path):
    path = tmp_path / "dialer.csv"
    with path.open("w") as fh:
        for i in range(2000):
            fh.write(cdr(f"c-{i}", "BUSY") + "\n")
    found = scan(path, max_bytes=4096)
    assert 0 < found.entries < 100
    assert "c-1999" in found.by_call
    assert found.error_count == 0


def test_a_missing_record_is_no_entries_not_an_error(tmp_path):
    found = scan(tmp_path / "dialer.csv")
    assert not found.exists
    assert found.entries == 0


def test_a_line_of_the_mapping_before_dialer_survey_is_still_read():
    line = cdr("c-old", "ANSWERED", answer=T0 + 1, dialer_call_id="c-old")
    legacy = line.rsplit(",", 1)[0]  # the last column (dialer_survey) was added later
    assert parse_line(legacy) == parse_line(line)


@given(answers=st.lists(st.tuples(st.from_regex(r"[a-z][a-z0-9_]{0,31}", fullmatch=True),
                                  st.from_regex(r"[0-9#*]{0,6}", fullmatch=True),
                                  st.sampled_from(["answered", "no_answer"]),
                                  st.integers(1_600_000_000, 2_000_000_000)), max_size=8))
def test_the_survey_answers_the_dialplan_kept_in_the_record_are_read_back(answers):
    kept = "".join(f"{q}:{k}:{s}:{t};" for q, k, s, t in answers)
    call = recorded_call("c-s", [parse_line(cdr("c-s", "ANSWERED", answer=T0 + 1, dialer_call_id="c-s",
                                                dialer_survey=kept))])
    assert call is not None
    assert [(a.question, a.keys, a.status, a.answered_at) for a in call.survey_answers] == [
        (q, k, s, float(t)) for q, k, s, t in answers]
