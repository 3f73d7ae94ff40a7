"""`dialer forget` takes the number out of free text however it is spelled (`415-555-0123`,
`(415) 555-0123`, `+1 415 555 0123`, `14155550123`, ...), not only as E.164: notes of the attempt,
channel names, audit details, DNC and consent sources, outbox payloads. Another number, even one
digit apart, stays as it is."""

from __future__ import annotations

import json
import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from dialer.clock import FakeClock
from dialer.crm import erasure
from dialer.store import Database, compliance
from dialer.store import calls as store
from tests.crm.helpers import import_people
from tests.e2e.conftest import PIPELINE_POLICY, make_config

ANN = "+14155550123"
# Numbers of several plans: NANP, the UK (national form with trunk prefix 0), France, Germany.
NUMBERS = ("+14155550123", "+442079460018", "+33612345678", "+4930123456789")
SEPARATORS = (" ", "-", ".", "/", " - ", "\u2013", ") ", "(", ")")
NO_DIGITS = st.text(st.characters(blacklist_categories=("Nd", "Cs")), max_size=12)


def digits(text: str) -> str:
    return re.sub(r"[^0-9]", "", text)


@st.composite
def spelling(draw: st.DrawFn, e164: str) -> str:
    """The number as a person may write it: one of its digit forms, cut into groups, with separators
    between them and maybe a + or ( in front."""
    body = draw(st.sampled_from(erasure.forms(e164)))
    lead = "+" if body.startswith("+") else draw(st.sampled_from(["", "", "("]))
    body = digits(body)
    cuts = sorted(draw(st.sets(st.integers(1, len(body) - 1), max_size=5)))
    groups = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    text = groups[0]
    for group in groups[1:]:
        text += draw(st.sampled_from(SEPARATORS)) + group
    return lead + text


def one_digit_off(e164: str, position: int, digit: int) -> str:
    """`e164` with one digit of its national part changed (another person's number)."""
    i = len(e164) - 1 - position % 6
    changed = str((int(e164[i]) + 1 + digit % 9) % 10)
    return e164[:i] + changed + e164[i + 1:]


@settings(max_examples=300, deadline=None)
@given(data=st.data(), e164=st.sampled_from(NUMBERS), before=NO_DIGITS, after=NO_DIGITS)
def test_every_spelling_inside_any_text_is_replaced_by_the_pseudonym(data, e164, before, after):
    written = data.draw(spelling(e164))
    scrub = erasure.Scrub(e164, [], "erased:abc")
    cleaned = scrub.text(f"{before}{written}{after}")
    assert cleaned is not None
    assert "erased:abc" in cleaned
    assert digits(cleaned) == ""  # nothing of the number is left, not one digit


@settings(max_examples=300, deadline=None)
@given(data=st.data(), e164=st.sampled_from(NUMBERS), position=st.integers(0, 5), digit=st.integers(0, 8),
       before=NO_DIGITS, after=NO_DIGITS)
def test_another_number_one_digit_apart_is_left_as_written(data, e164, position, digit, before, after):
    other = one_digit_off(e164, position, digit)
    text = f"{before}{data.draw(spelling(other))}{after}"
    assert erasure.Scrub(e164, [], "erased:abc").text(text) == text


@given(text=st.sampled_from(["call 415-555-0123 back", "(415) 555-0123", "+1 415 555 0123", "tel:14155550123",
                             "lead_14155550123.wav", "4155550123x", "415.555.0123 or +14155550123"]))
@example(text="1-415-555-0123")
def test_the_spellings_people_use(text):
    cleaned = erasure.Scrub(ANN, [], "erased:abc").text(text)
    assert cleaned is not None
    assert not re.search(r"\d", cleaned), cleaned


def test_a_digit_of_another_script_beside_it_does_not_hide_it():
    assert erasure.Scrub(ANN, [], "erased:abc").text("\u0663415-555-0123\u0663") == "\u0663erased:abc\u0663"


def test_a_longer_number_that_contains_it_glued_to_more_digits_is_another_number():
    scrub = erasure.Scrub(ANN, [], "erased:abc")
    assert scrub.text("order 94155550123 and 41555501234") == "order 94155550123 and 41555501234"


class _NoSim:
    port = 1


async def test_forget_scrubs_formatted_spellings_from_every_free_text_it_erases(tmp_path):
    config = make_config(tmp_path, _NoSim(), compliance=PIPELINE_POLICY)  # type: ignore[arg-type]
    await import_people(tmp_path, config, [(ANN, "Ann Lee", "gold"), ("+14155550124", "Bob Ray", "basic")])
    spelled = ["415-555-0123", "(415) 555-0123", "+1 415 555 0123", "14155550123", "415.555.0123"]
    clock = FakeClock()
    now = clock.now()
    async with Database.open(config.database.path) as db:
        key = await db.hash_key()
        stamp = compliance.ChangeStamp("test", now, key)
        async with db.write() as tx:
            leads = await store.claim_due(tx, "c1", now, 10)
            lead = next(lead for lead in leads if lead.number == ANN)
            record = store.GateRecord(lead.lead_id, "c1", "h", "m", "allow", "allow", "test")
            await store.record_decisions(tx, [store.NewAttempt(record, "call1", ANN, "test")], [], now)
            await tx.execute("UPDATE attempts SET channel = ?, detail = ? WHERE call_id = 'call1'",
                             ("Local/1-415-555-0123@callees-0001;2", f"callee said: ring {spelled[0]} or {spelled[1]}"))
            await compliance.add_dnc(tx, [compliance.NewDncEntry(ANN, compliance.DncKind.INTERNAL, None,
                                                                 f"asked by phone from {spelled[2]}")], stamp)
            await compliance.add_consents(tx, [compliance.NewConsent(ANN, f"web form, phone {spelled[3]}", now)],
                                          stamp)
            for i, text in enumerate(spelled):
                await tx.execute("INSERT INTO outbox (topic, payload, created_at) VALUES (?, ?, ?)",
                                 (f"t/{i}", json.dumps({"note": f"call {text} today", "other": "415-555-0124"}),
                                  now))
        async with db.write() as tx:
            result = await tx.run(erasure.forget, ANN, "dpo", now, key)
        alias = erasure.pseudonym(result.hashes[0])
        texts = [
            *(r[0] for r in await db.fetchall("SELECT channel FROM attempts WHERE call_id = 'call1'")),
            *(r[0] for r in await db.fetchall("SELECT detail FROM attempts WHERE call_id = 'call1'")),
            *(r[0] for r in await db.fetchall("SELECT source FROM dnc_entries")),
            *(r[0] for r in await db.fetchall("SELECT source FROM consents")),
            *(r[0] for r in await db.fetchall("SELECT detail FROM audit WHERE number_hash = ?", (result.hashes[0],))),
        ]
        payloads = [r[0] for r in await db.fetchall("SELECT payload FROM outbox ORDER BY id")]
    for text in [*texts, *payloads]:
        assert "0123" not in text, text
    assert all(alias in text for text in texts[:4])
    assert result.outbox_rows == len(spelled)
    assert all(json.loads(p)["other"] == "415-555-0124" for p in payloads)  # Bob's number stays
