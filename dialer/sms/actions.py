"""The AMI action for one message: the only place a number and a body enter a send action.

MessageSend (main/message.c): `To` (or `Destination`) is `tech:destination`, `From` optional, and
the text goes as `Base64Body` (Asterisk decodes at most 1300 bytes; a plain `Body` may not hold a
line break, and base64 also keeps commas and non-ASCII text intact). DongleSendSMS (chan_dongle):
`Device`, `Number`, `Message` (one line: breaks become spaces).
"""

from __future__ import annotations

import base64
import re

from dialer.numbers import dial_digits
from dialer.sms.config import SmsGateway

MAX_BODY_BYTES = 1300  # main/message.c: the Base64Body decode buffer

# The `Response: Error` messages that mean the text was NOT sent (main/message.c action_messagesend;
# chan_dongle manager.c; see dialer.sim.messaging). Anything else (an unknown text, an unreadable
# answer, none) may be a sent message: it ends `unknown` and is never resent blind (issue 11).
SEND_REFUSALS: frozenset[str] = frozenset({
    "No 'To' address specified.",
    "Message technology not found.",
    "Message failed to send.",
    "Device not specified",
    "Number not specified",
    "Message not specified",
})
# chan_dongle prefixes its device-level refusals with the device name: `[dongle0] no such device`.
_DONGLE_REFUSAL = re.compile(r"\[[^\]\r\n]{1,64}\] (?:no such device|Invalid destination number)")

Fields = list[tuple[str, str]]


class BodyError(ValueError):
    """A rendered message that cannot be sent as it is (too long, control characters)."""


def check_body(body: str) -> str:
    """The body as it will be sent; raises BodyError if Asterisk would truncate or refuse it."""
    text = body.strip()
    if not text:
        raise BodyError("the message is empty")
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in text):
        raise BodyError("the message contains control characters")
    size = len(text.encode("utf-8"))
    if size > MAX_BODY_BYTES:
        raise BodyError(f"the message is {size} bytes; Asterisk sends at most {MAX_BODY_BYTES}")
    return text


def send_fields(gateway: SmsGateway, e164: str, body: str) -> Fields:
    """The action's headers (the ActionID is added by the AMI client). ValueError unless `e164` is
    strict E.164: only digits (and a +) can reach the destination."""
    digits = dial_digits(e164, gateway.number_format)
    text = check_body(body)
    if gateway.action == "DongleSendSMS":
        return [("Action", "DongleSendSMS"), ("Device", gateway.device), ("Number", digits),
                ("Message", " ".join(text.split()))]
    fields: Fields = [("Action", "MessageSend"), ("To", gateway.to.replace("{number}", digits))]
    if gateway.sender:
        fields.append(("From", gateway.sender))
    fields.append(("Base64Body", base64.b64encode(text.encode("utf-8")).decode("ascii")))
    return fields


def send_refused(message: str) -> bool:
    """Whether a send action's `Response: Error` message means the text was not sent."""
    return message in SEND_REFUSALS or _DONGLE_REFUSAL.fullmatch(message) is not None


def outcome_detail(response: dict[str, str]) -> str:
    """The reason Asterisk gave, in one line (chan_dongle adds an `ID:` line to its message)."""
    message = response.get("Message", "").strip() or response.get("Response", "")
    ident = response.get("ID")
    return f"{message} (ID {ident})" if ident and ident != "(nil)" else message
