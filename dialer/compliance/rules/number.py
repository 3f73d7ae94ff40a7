"""Number rules: dial-string safety, emergency and service codes, validity, type and country.

`screen_number` runs before anything else and is the only way a number reaches the other rules:
it returns a PhoneNumber whose E.164 form is strict (+ and 7-15 digits) or a blocking RuleResult.
"""

from __future__ import annotations

import re
from datetime import datetime

import phonenumbers
from phonenumbers import shortnumberinfo
from phonenumbers.phonenumberutil import NumberParseException, region_codes_for_country_code

from dialer.compliance.model import GateRequest, RuleResult, Verdict
from dialer.numbers import NumberError, PhoneNumber, is_e164, mask, normalise

VALID = "number.valid"
EMERGENCY = "number.emergency"
TYPE = "number.type"
COUNTRY = "number.country"

EMERGENCY_DETAIL = "emergency/service number"

# Only these characters may appear in the raw text the gate sees. Stricter than `normalise`
# (which also accepts spaces and parentheses for imports): `& / , @ ; : ( )`, whitespace, control
# and non-ASCII characters can all change an Asterisk dial string, so the gate refuses them
# rather than cleaning them. Formatted input is normalised at import; the gate sees E.164.
_GATE_RAW = re.compile(r"\+?[0-9][0-9.\-]{0,39}")
_SEPARATORS = str.maketrans("", "", ".-")

# Short codes blocked whatever phonenumbers' short-number metadata says (it is per region and
# may miss some); from national numbering plans: NANP 911 and N11 services, EU/GSM 112 and 116xxx
# helplines, GB 999/101/111, AU 000/106, DE/CN/JP 110/119/120/122, IN 100-108, FR 15/17/18/114/115,
# BR 190-199.
FIXED_SERVICE_CODES: frozenset[str] = frozenset(
    {
        "000", "08", "100", "101", "102", "103", "104", "106", "108", "110", "111", "112", "113",
        "114", "115", "116", "117", "118", "119", "120", "122", "15", "17", "18", "190", "191",
        "192", "193", "194", "197", "198", "199", "211", "311", "411", "511", "611", "711", "811",
        "911", "933", "988", "995", "997", "998", "999", "10111", "10177", "116000", "116006",
        "116111", "116117", "116123",
    }
)  # fmt: skip
MAX_SHORT_CODE_DIGITS = 6


def is_emergency_or_service(raw: str, default_region: str) -> bool:
    """True if `raw` (digits with optional + . -) is an emergency or service short code."""
    digits = raw.translate(_SEPARATORS)
    if digits.startswith("+"):
        try:
            parsed = phonenumbers.parse(digits, None)
        except NumberParseException:
            return False
        national = phonenumbers.national_significant_number(parsed)
        regions = tuple(region_codes_for_country_code(parsed.country_code or 0))  # (0: no region)
    else:
        national = digits
        regions = (default_region.upper(),)
    if not national or len(national) > MAX_SHORT_CODE_DIGITS:
        return False
    if national in FIXED_SERVICE_CODES or digits.lstrip("+") in FIXED_SERVICE_CODES:
        return True
    for region in regions:
        if shortnumberinfo.is_emergency_number(national, region):
            return True
        # Prefix match: in most regions "9110" or "1125" still reaches the emergency service.
        if shortnumberinfo.connects_to_emergency_number(national, region):
            return True
        try:
            short = phonenumbers.parse(national, region)
        except NumberParseException:
            continue
        if shortnumberinfo.is_valid_short_number_for_region(short, region):
            return True
    return False


def masked_raw(raw: str) -> str:
    """A masked form of untrusted raw text: its digits (and a leading +) masked, nothing else."""
    plus = "+" if raw.startswith("+") else ""
    return mask(plus + "".join(c for c in raw if c in "0123456789"))


def screen_number(request: GateRequest) -> PhoneNumber | RuleResult:
    """Normalise the request's number, or say why it can never be dialled (number.* block)."""
    raw = request.number
    pre = request.normalised
    if pre is not None and raw == pre.e164 and is_e164(pre.e164):
        # Fast path: the store normalised at import and kept the E.164 form it dials.
        return pre
    if not _GATE_RAW.fullmatch(raw):
        return RuleResult(
            VALID,
            Verdict.BLOCK,
            "number contains characters that are not allowed in a dial string (only digits, + - .)",
        )
    if is_emergency_or_service(raw, request.default_region):
        return RuleResult(EMERGENCY, Verdict.BLOCK, EMERGENCY_DETAIL)
    try:
        number = normalise(raw, request.default_region)
    except NumberError as exc:
        return RuleResult(VALID, Verdict.BLOCK, exc.reason)
    if not is_e164(number.e164):  # defence in depth: normalise already guarantees this
        return RuleResult(VALID, Verdict.BLOCK, "normalised number is not strict E.164")
    return number


class NumberTypeRule:
    """Blocks number types the policy never calls (premium rate, shared cost, UAN, pager, …)."""

    id = TYPE

    def evaluate(self, request: GateRequest, number: PhoneNumber, now: datetime) -> RuleResult:
        """Block if the number's type is in `policy.blocked_number_types`."""
        kind = number.number_type.value
        if kind in request.policy.blocked_number_types:
            return RuleResult(self.id, Verdict.BLOCK, f"{kind} numbers are never called")
        return RuleResult(self.id, Verdict.ALLOW, f"{kind} numbers may be called")


class CountryRule:
    """Blocks numbers of countries the campaign may not call."""

    id = COUNTRY

    def evaluate(self, request: GateRequest, number: PhoneNumber, now: datetime) -> RuleResult:
        """Block unless the number's region is allowed (empty list = any)."""
        allowed = request.policy.allowed_countries
        if allowed and number.region not in allowed:
            return RuleResult(
                self.id, Verdict.BLOCK, f"{number.region} is not an allowed country ({', '.join(allowed)})"
            )
        return RuleResult(self.id, Verdict.ALLOW, f"{number.region} may be called")
