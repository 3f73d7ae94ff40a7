"""The AMI edge: framing, the client session, the Originate builder."""

from dialer.ami.client import AmiClient, AmiSettings
from dialer.ami.errors import AmiDisconnected, AmiError, AmiLoginError, AmiTimeout
from dialer.ami.frames import FrameParser, Message
from dialer.ami.originate import OriginateRequest, build_channel

__all__ = [
    "AmiClient", "AmiDisconnected", "AmiError", "AmiLoginError", "AmiSettings",
    "AmiTimeout", "FrameParser", "Message", "OriginateRequest", "build_channel",
]
