"""dialer.store.surveys on a real SQLite file: an answer reported twice is stored once."""

from __future__ import annotations

from dialer.store import Database
from dialer.store import surveys as survey_store
from dialer.store.surveys import AnswerRow


def answer(question: str, keys: str, at: float) -> AnswerRow:
    return AnswerRow("c-1", 1, 1, "poll", question, 1, keys, "yes", "answered", "end", at)


async def test_an_answer_seen_twice_is_stored_once_and_keeps_its_first_keys(tmp_path):
    async with Database.open(tmp_path / "d.db", create=True) as db:
        async with db.write() as tx:
            first = await tx.run(survey_store.record, [answer("q", "1", 10.0)])
        async with db.write() as tx:
            again = await tx.run(survey_store.record, [answer("q", "2", 11.0), answer("r", "3", 12.0)])
        stored = await db.fetchall("SELECT question, keys, answered_at FROM survey_answers ORDER BY id")
    assert [a.question for a in first] == ["q"]
    assert [a.question for a in again] == ["r"]  # only the new one: its follow-ups run once
    assert [tuple(r) for r in stored] == [("q", "1", 10.0), ("r", "3", 12.0)]


def test_a_simulator_profile_takes_a_survey_table_and_names_a_bad_key():
    import pytest

    from dialer.sim.callees import ProfileError, profile_from_dict

    profile = profile_from_dict({"seed": 3, "survey": {"keys": {"q": {"1": 3, "2": 1}}, "hangup": 0.1,
                                                      "timeout": 0.2, "optout": 0.05}})
    assert profile.survey is not None
    assert profile.survey.keys["q"] == (("1", 3.0), ("2", 1.0))
    with pytest.raises(ProfileError, match=r"survey.hangup must be between 0 and 1"):
        profile_from_dict({"survey": {"hangup": 2}})
    with pytest.raises(ProfileError, match=r"survey has unknown keys \['loud'\]"):
        profile_from_dict({"survey": {"loud": 1}})
