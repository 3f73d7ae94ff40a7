"""Number normalisation, masking and trunk formats."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import phonenumbers
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from phonenumbers import timezone

from dialer.ami.originate import OriginateRequest, build_channel
from dialer.compliance import CallingHours, CompliancePolicy, DncIndex, GateRequest, build_gate
from dialer.numbers import DialFormat, NumberError, NumberType, PhoneNumber, dial_digits, is_e164, mask, normalise

HOSTILE = "&/,@;:\t\n\r\x00\x1b|'\"`$!#*{}[]<>\\٣"
_OPEN = CompliancePolicy(calling_hours=CallingHours(**dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
                                                                      ("00:00-24:00",))),
                         override_country_hours=True, skip_holidays=False, blocked_number_types=())
_GATE = build_gate(_OPEN, DncIndex())
_NOON = datetime(2027, 3, 10, 17, 0, tzinfo=UTC)


@pytest.mark.parametrize(("raw", "region", "e164"), [
    ("(415) 555-2671", "US", "+14155552671"),
    ("+1 415 555 2671", "GB", "+14155552671"),
    ("020 7946 0958", "GB", "+442079460958"),
    ("030 123456", "DE", "+4930123456"),
    ("01 42 68 53 00", "FR", "+33142685300"),
    ("(02) 9374 4000", "AU", "+61293744000"),
    ("98765 43210", "IN", "+919876543210"),
    ("(11) 91234-5678", "BR", "+5511912345678"),
    ("010 1234 5678", "CN", "+861012345678"),
])
def test_national_and_international_forms_normalise_to_e164(raw, region, e164):
    assert normalise(raw, region).e164 == e164


@pytest.mark.parametrize("raw", ["911", "112", "", "   ", "12", "4155552671&Local/1@x", "+1 415 555 2671;x"])
def test_unusable_numbers_are_refused(raw):
    with pytest.raises(NumberError):
        normalise(raw, "US")


@settings(max_examples=400)
@given(st.sampled_from(["US", "CA", "GB", "DE", "FR", "IN", "CN", "BR", "AU"]), st.integers(10**6, 10**12 - 1))
def test_fast_path_agrees_with_phonenumbers_public_api(region, digits):
    """Our one-pass region/type lookup must decide exactly as phonenumbers does."""
    raw = str(digits)
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        with pytest.raises(NumberError):
            normalise(raw, region)
        return
    valid = phonenumbers.is_valid_number(parsed)
    try:
        number = normalise(raw, region)
    except NumberError:
        assert not valid
        return
    assert valid
    assert number.e164 == phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    assert number.region == phonenumbers.region_code_for_number(parsed)
    zones = tuple(z for z in timezone.time_zones_for_number(parsed) if z != timezone.UNKNOWN_TIMEZONE)
    assert number.zones == zones


@given(st.text(alphabet="0123456789 +()-." + HOSTILE, min_size=1, max_size=30))
def test_whatever_comes_in_only_digits_come_out(raw):
    try:
        number = normalise(raw, "US")
    except NumberError:
        return
    assert is_e164(number.e164)
    assert not any(ch in raw for ch in HOSTILE)


def test_mask_keeps_only_the_ends():
    assert mask("+14155552671") == "+14*******71"
    assert "5552" not in mask("+14155552671")


@pytest.mark.parametrize(("fmt", "prefix", "digits"), [
    (DialFormat.E164, "", "+14155552671"),
    (DialFormat.E164_NO_PLUS, "", "14155552671"),
    (DialFormat.NATIONAL, "9", "94155552671"),
])
def test_trunk_formats(fmt, prefix, digits):
    assert dial_digits("+14155552671", fmt, prefix) == digits


def test_trunk_format_refuses_anything_but_e164():
    with pytest.raises(ValueError, match=r"E\.164"):
        dial_digits("+1415555&2671", DialFormat.E164)


# Invariant 6 through the whole gate: whatever text (or forged pre-normalised number) the gate is
# handed, an allowed decision only ever leads to a channel string of digits in the trunk template.
_CHANNEL = re.compile(r"PJSIP/\+?[0-9]{1,20}@carrier")
_FORGED = st.builds(
    PhoneNumber,
    e164=st.text(alphabet="+0123456789" + HOSTILE, min_size=1, max_size=20),
    region=st.sampled_from(["US", "GB"]),
    number_type=st.sampled_from(list(NumberType)),
    zones=st.just(("America/New_York",)),
)


@settings(deadline=None, max_examples=400)
@given(
    raw=st.one_of(st.text(alphabet="0123456789 +()-." + HOSTILE, min_size=1, max_size=24),
                  st.from_regex(r"\+?1?[2-9][0-9]{9}", fullmatch=True)),
    forged=st.one_of(st.none(), _FORGED),
    forged_text=st.booleans(),
    region=st.sampled_from(["US", "GB", "DE", "IN"]),
    fmt=st.sampled_from(list(DialFormat)),
)
def test_no_originate_carries_anything_but_digits_whatever_the_gate_sees(raw, forged, forged_text, region, fmt):
    # With `forged_text` the request claims the forged number as already normalised (the fast path).
    number = forged.e164 if forged is not None and forged_text else raw
    request = GateRequest(number=number, default_region=region, policy=_OPEN, caller_id='"T" <+14155550100>',
                          normalised=forged)
    decision = _GATE.check(request, _NOON)
    event(decision.verdict.value)
    if not decision.allowed:
        return
    assert decision.number is not None
    assert is_e164(decision.number.e164)
    fields = dict(OriginateRequest(call_id="c1", channel=build_channel("PJSIP/{number}@carrier",
                                                                       decision.number.e164, fmt),
                                   context="x", exten="s", priority=1, timeout_ms=1000,
                                   caller_id="<+14155550100>").fields())
    assert _CHANNEL.fullmatch(fields["Channel"])


@settings(max_examples=500)
@given(
    st.sampled_from(["US", "CA", "GB", "PR", "DE"]),
    st.sampled_from(["", "+", "+1", "1", "+44", "011"]),
    st.integers(0, 10**10 - 1),
    st.sampled_from(["{}", "({}) {}-{}", "{}-{}-{}", "{}.{}.{}", "{} {} {}"]),
)
def test_the_north_american_fast_path_parses_exactly_like_phonenumbers(region, prefix, digits, shape):
    text = str(digits).zfill(10)
    body = shape.format(text[:3], text[3:6], text[6:]) if shape != "{}" else text
    raw = prefix + body
    try:
        expected = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        expected = None
    from dialer.numbers import _parse_nanp_fast

    fast = _parse_nanp_fast(raw, region)
    if fast is not None:
        assert expected is not None
        assert (fast.country_code, fast.national_number) == (expected.country_code, expected.national_number)


@given(st.text(alphabet=st.sampled_from("0123456789+()-./ \t_xT:Z٣٤²①"), max_size=40))
def test_mask_text_shortcut_changes_nothing(text: str) -> None:
    """The fewer-than-7-decimal-digits shortcut returns exactly what the full pattern would."""
    from dialer.numbers import _TEXT_TOKEN, _mask_token, mask_text

    assert mask_text(text) == _TEXT_TOKEN.sub(_mask_token, text)
