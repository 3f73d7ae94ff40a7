"""AMI errors, each carrying what a person needs to act on it (never the secret)."""


class AmiError(Exception):
    """Base class of AMI errors."""


class AmiLoginError(AmiError):
    """Asterisk refused the login: a hard error, not retried."""


class AmiProtocolError(AmiError):
    """The peer does not speak AMI (no greeting, garbage)."""


class AmiDisconnected(AmiError):
    """The connection dropped before the action's response arrived; the action is NOT re-sent."""


class AmiTimeout(AmiError):
    """No response to an action within its timeout."""


class AmiListCapped(AmiError):
    """A list answer (CoreShowChannels, ...) had more items than `max_list_items`: the rest is dropped,
    so what arrived is NOT the whole list. Whoever asked must treat it as "could not check"."""

    def __init__(self, action: str, limit: int) -> None:
        super().__init__(f"{action}: more than {limit} list items (ami.max_list_items); the rest is dropped")
        self.action = action
        self.limit = limit
