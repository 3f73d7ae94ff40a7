"""The outcome journal's file format under damage: whatever a crash, a torn write or a bad sector does to
the bytes, reading it back gives a subset of the records written, each exactly as written, or refuses
the file; it never gives a record that was not written (an outcome nobody saw would be recorded)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialer.events import CallEvent
from dialer.outcome import Disposition
from dialer.store.calls import FinalUpdate, StateUpdate
from dialer.store.journal import HeldChange, HeldOptout, HeldOutcomes, JournalError, OutcomeJournal
from dialer.tracker import CallState

RESERVE = 32 * 1024


def held_outcomes(n: int) -> HeldOutcomes:
    changes = []
    for i in range(n):
        call_id = f"c{i:020x}"
        number = f"+1415555{i:04d}"
        if i % 3:
            final = FinalUpdate(call_id, i, Disposition.ANSWERED, 4, 16, 10.0 + i, 2.0, 8.0, "", "Local/x;1", "u")
            event = CallEvent(call_id, i, i, "camp", number, CallState.ENDED, 10.0 + i, 1.0, 2.0,
                              Disposition.ANSWERED, 4, 16, 8.0)
            changes.append(HeldChange(event, final=final))
        else:
            event = CallEvent(call_id, i, i, "camp", number, CallState.RINGING, 1.5, 1.0)
            changes.append(HeldChange(event, state=StateUpdate(call_id, "ringing", None)))
    optouts = tuple(HeldOptout(f"+1212555{i:04d}", "camp", f"o{i}") for i in range(n // 4))
    return HeldOutcomes(tuple(changes), optouts)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(0, 12), damage=st.data())
def test_damaged_bytes_never_make_a_record_that_was_not_written(tmp_path_factory, n, damage):
    folder: Path = tmp_path_factory.mktemp("journal")
    journal = OutcomeJournal(folder / "dialer.db")
    journal.reserve(RESERVE)
    held = held_outcomes(n)
    journal.write(held, node="n", now=1.0)
    data = bytearray(journal.path.read_bytes())
    used = data.index(0) if 0 in data else len(data)
    kind = damage.draw(st.sampled_from(["flip", "truncate", "zero-run", "garbage-run"]))
    at = damage.draw(st.integers(0, max(0, used - 1)))
    if kind == "flip":
        data[at] ^= 1 << damage.draw(st.integers(0, 7))
    elif kind == "truncate":  # a write torn by a crash: the rest of the reservation stays zero
        data[at:] = bytes(len(data) - at)
    else:
        length = damage.draw(st.integers(1, 200))
        fill = bytes(length) if kind == "zero-run" else damage.draw(st.binary(min_size=length, max_size=length))
        data[at:at + length] = fill
    journal.path.write_bytes(bytes(data))
    try:
        back = journal.read()
    except JournalError:
        return  # the header was hit: the file is refused as a whole, nothing applied
    if back is None:
        return  # the damage ended the file at its start: nothing to apply
    assert set(back.held.changes) <= set(held.changes)
    assert set(back.held.optouts) <= set(held.optouts)
    if back.complete and back.damaged_lines == 0:
        assert set(back.held.changes) == set(held.changes)
        assert set(back.held.optouts) == set(held.optouts)


def test_a_journal_bigger_than_its_reservation_is_written_whole_when_the_disk_has_room(tmp_path):
    journal = OutcomeJournal(tmp_path / "dialer.db")
    journal.reserve(4096)
    held = held_outcomes(40)
    assert journal.write(held, node="n", now=1.0) == len(held)
    back = journal.read()
    assert back is not None
    assert back.complete
    assert set(back.held.changes) == set(held.changes)
