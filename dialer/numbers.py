"""Phone numbers: normalise raw input to E.164 once, mask for logs, hash for audit, format for trunks.

Normalisation is the most expensive thing done per number (phonenumbers costs tens of µs), so it
happens at import time and its result (E.164, region, type, time zones) is stored with the lead.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberType, timezone
from phonenumbers.phonenumberutil import (
    COUNTRY_CODE_TO_REGION_CODE,
    NumberParseException,
    _number_type_helper,
    is_number_type_geographical,
)

# Keep every compiled metadata pattern: phonenumbers otherwise re-enters re.compile's bounded cache
# hundreds of times per number (measured: 33 -> 27 µs per US number).
phonenumbers.enable_pattern_cache()

# Characters a person may legitimately type in a phone number. Anything else (letters, `&`, `@`,
# `,`, `;`, `/`, `:`, control bytes, non-ASCII digits) is refused outright rather than "cleaned",
# so that no hostile string is ever half-accepted.
_RAW_ALLOWED = re.compile(r"[0-9+\-. ()]{1,40}")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


class NumberType(StrEnum):
    """phonenumbers' number types, as stable strings for the database and the gate."""

    FIXED_LINE = "fixed_line"
    MOBILE = "mobile"
    FIXED_LINE_OR_MOBILE = "fixed_line_or_mobile"
    TOLL_FREE = "toll_free"
    PREMIUM_RATE = "premium_rate"
    SHARED_COST = "shared_cost"
    VOIP = "voip"
    PERSONAL_NUMBER = "personal_number"
    PAGER = "pager"
    UAN = "uan"
    VOICEMAIL = "voicemail"
    UNKNOWN = "unknown"


_TYPE_NAMES: dict[int, NumberType] = {
    PhoneNumberType.FIXED_LINE: NumberType.FIXED_LINE,
    PhoneNumberType.MOBILE: NumberType.MOBILE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE: NumberType.FIXED_LINE_OR_MOBILE,
    PhoneNumberType.TOLL_FREE: NumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE: NumberType.PREMIUM_RATE,
    PhoneNumberType.SHARED_COST: NumberType.SHARED_COST,
    PhoneNumberType.VOIP: NumberType.VOIP,
    PhoneNumberType.PERSONAL_NUMBER: NumberType.PERSONAL_NUMBER,
    PhoneNumberType.PAGER: NumberType.PAGER,
    PhoneNumberType.UAN: NumberType.UAN,
    PhoneNumberType.VOICEMAIL: NumberType.VOICEMAIL,
}


class NumberError(ValueError):
    """A raw number that cannot be normalised; `reason` says why in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """A normalised, valid phone number with what the gate needs to know about it."""

    e164: str
    region: str
    number_type: NumberType
    zones: tuple[str, ...]

    @property
    def digits(self) -> str:
        """The E.164 number without its leading +."""
        return self.e164[1:]


def normalise(raw: str, default_region: str) -> PhoneNumber:
    """Parse `raw` (national or international form) into a valid E.164 `PhoneNumber`.

    Raises NumberError for hostile characters, unparseable input and invalid numbers.
    """
    text = raw.strip()
    if not text:
        raise NumberError("empty number")
    if not _RAW_ALLOWED.fullmatch(text):
        raise NumberError("number contains characters that are not allowed")
    parsed = _parse_nanp_fast(text, default_region.upper())
    if parsed is None:
        try:
            parsed = phonenumbers.parse(text, default_region.upper())
        except NumberParseException as exc:
            raise NumberError(f"cannot parse number ({_parse_error_text(exc)})") from exc
    nsn = phonenumbers.national_significant_number(parsed)
    country = parsed.country_code or 0  # set by every parse that succeeds; 0 maps to no region
    region, type_code = _region_and_type(country, nsn)
    if region is None or type_code == PhoneNumberType.UNKNOWN:
        raise NumberError("not a valid number")
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if not _E164.fullmatch(e164):  # defence in depth: nothing but digits after the +
        raise NumberError("not a valid number")
    if is_number_type_geographical(type_code, country):
        zones = tuple(timezone.time_zones_for_geographical_number(parsed))
    else:
        zones = tuple(timezone._country_level_time_zones_for_number(parsed))
    if zones == (timezone.UNKNOWN_TIMEZONE,):
        zones = ()
    return PhoneNumber(e164=e164, region=region, number_type=_TYPE_NAMES[type_code], zones=zones)


_NANP_REGIONS = frozenset(COUNTRY_CODE_TO_REGION_CODE[1])
_SEPARATORS = str.maketrans("", "", " -.()")


def _parse_nanp_fast(text: str, default_region: str) -> phonenumbers.PhoneNumber | None:
    """The North American case of phonenumbers.parse without its generic machinery, or None.

    Most lead lists are NANP numbers, and parse() costs half of normalisation. For `+1` and ten
    or eleven digits with a NANP default region the result is simply country code 1 and the ten
    digits (an NANP number never starts with 0 or 1, so there is no prefix to strip); every other
    shape goes to phonenumbers. tests/core/test_numbers.py checks this agrees with parse().
    """
    plus = text.startswith("+")
    digits = (text[1:] if plus else text).translate(_SEPARATORS)
    if not digits.isdigit() or not digits.isascii():
        return None
    if plus:
        if len(digits) != 11 or digits[0] != "1":
            return None
        nsn = digits[1:]
    elif default_region in _NANP_REGIONS:
        if len(digits) == 10:
            nsn = digits
        elif len(digits) == 11 and digits[0] == "1":
            nsn = digits[1:]
        else:
            return None
    else:
        return None
    if nsn[0] in "01":
        return None
    return phonenumbers.PhoneNumber(country_code=1, national_number=int(nsn))


def _region_and_type(country_code: int, nsn: str) -> tuple[str | None, int]:
    """The number's region and type in one pass.

    Same logic as phonenumbers' region_code_for_number + number_type, which each re-run the full
    type match for shared country codes (NANP): doing it once saves a third of the cost per number.
    """
    regions = COUNTRY_CODE_TO_REGION_CODE.get(country_code)
    if not regions:
        return None, PhoneNumberType.UNKNOWN
    if len(regions) == 1:
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, regions[0])
        if metadata is None:
            return None, PhoneNumberType.UNKNOWN
        return regions[0], _number_type_helper(nsn, metadata)
    for region in regions:
        metadata = PhoneMetadata.metadata_for_region(region, None)
        if metadata is None:
            continue
        if metadata.leading_digits is not None:
            if _leading_digits(metadata.leading_digits).match(nsn):
                return region, _number_type_helper(nsn, metadata)
        else:
            type_code = _number_type_helper(nsn, metadata)
            if type_code != PhoneNumberType.UNKNOWN:
                return region, type_code
    return None, PhoneNumberType.UNKNOWN


@functools.cache
def _leading_digits(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _parse_error_text(exc: NumberParseException) -> str:
    names = {
        NumberParseException.INVALID_COUNTRY_CODE: "invalid country code",
        NumberParseException.NOT_A_NUMBER: "not a number",
        NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
        NumberParseException.TOO_SHORT_NSN: "too short",
        NumberParseException.TOO_LONG: "too long",
    }
    return names.get(exc.error_type, "unparseable")


def is_e164(value: str) -> bool:
    """True if `value` is + followed by 7 to 15 digits, the only shape allowed near a dial string."""
    return bool(_E164.fullmatch(value))


def mask(number: str) -> str:
    """Mask a number for logs and screens: keep the + and two leading and two trailing digits.

    A formatted number (`+1 (415) 555-0123`) is masked on its digits: `+14*******23`.
    """
    plus = "+" if number.startswith("+") else ""
    body = number[len(plus):]
    if body and _FORMATTED.fullmatch(body):
        body = "".join(ch for ch in body if ch.isdigit())
    if len(body) <= 4:
        return plus + "*" * len(body)
    return plus + body[:2] + "*" * (len(body) - 4) + body[-2:]


# -- masking numbers inside free text ---------------------------------------------------------------

_FORMATTED = re.compile(r"[\d\s().\-/]+")
# ISO 8601 dates and times are kept readable: a date is 8 digits with '-' between them, which the
# number pattern below would otherwise take for a formatted number. Only real calendar shapes (years
# 1900-2199, months 01-12, days 01-31, hours 00-23, minutes and seconds 00-59) are exempt.
_ISO = (r"(?:19|20|21)\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
        r"(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:[.,]\d{1,9})?)?(?:Z|[+-](?:[01]\d|2[0-3]):?[0-5]\d)?)?")
# What may stand between the digit groups of a number as people write it: spaces, '.', '-', '/',
# parentheses (`+1 (415) 555-0123`, `415.555.0123`, `06 12 34 56 78`), at most three in a row. Public:
# erasure finds a number's spellings with the same separators, so what is masked is what is erased.
GROUP_SEPARATOR = r"[\s.\-/()\u2010-\u2015]"
# A number-like run: an optional '+' or '(' then digits and separators, ending on a digit. What stands
# before or after it does not matter (letters, '_', '.', '-'): `lead_14155550123`, `rec-12125550101.wav`
# and `c4155550123x` all carry the number. It does not run on into an ISO date.
_TEXT_TOKEN = re.compile(
    rf"(?P<iso>{_ISO})|(?P<number>[+(]?\d(?:{GROUP_SEPARATOR}{{0,3}}(?!{_ISO})\d)*)")
MIN_MASKED_DIGITS = 7  # the shortest subscriber numbers (7 digits) are personal data too


def _mask_token(match: re.Match[str]) -> str:
    token = match.group(0)
    if match.group("iso") is not None:
        return token
    digits = [ch for ch in token if ch.isdigit()]
    if len(digits) < MIN_MASKED_DIGITS:
        return token
    return mask(("+" if token.startswith("+") else "") + "".join(digits))


def mask_text(text: str) -> str:
    """Mask every run of 7 or more digits inside free text, whatever stands next to it, separators
    of a formatted number included; ISO dates and times stay as they are.

    A digit run that is not a phone number (a size, a unix time in text, part of a hex hash) is masked
    too: a false alarm costs a little readability, a miss would leak a number. Callers that log the
    dialer's own ids stay readable because those ids never contain 7 digits in a row (`dialer.ids`).
    """
    # Exact shortcut, at C speed (every log field passes here): a token's digits are `\d`, i.e.
    # str.isdecimal, so a text with fewer than MIN_MASKED_DIGITS of them has nothing to mask.
    if sum(map(str.isdecimal, text)) < MIN_MASKED_DIGITS:
        return text
    return _TEXT_TOKEN.sub(_mask_token, text)


def number_hash(e164: str, key: bytes) -> str:
    """Keyed hash of a number (HMAC-SHA256, hex): lets audit rows be joined without the number."""
    return hmac.new(key, e164.encode("ascii"), hashlib.sha256).hexdigest()


class DialFormat(StrEnum):
    """How a trunk wants the number in its dial string."""

    E164 = "e164"  # +14155550123
    E164_NO_PLUS = "e164_no_plus"  # 14155550123
    NATIONAL = "national"  # 4155550123 (national significant number), with the trunk's prefix


def dial_digits(e164: str, fmt: DialFormat, prefix: str = "") -> str:
    """The number as the trunk wants it; raises ValueError unless the input is strict E.164."""
    if not is_e164(e164):
        raise ValueError("refusing to format a number that is not strict E.164")
    if fmt is DialFormat.E164:
        body = e164
    elif fmt is DialFormat.E164_NO_PLUS:
        body = e164[1:]
    else:
        parsed = phonenumbers.parse(e164, None)
        body = phonenumbers.national_significant_number(parsed)
    return prefix + body
