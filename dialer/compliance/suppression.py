"""The suppression list: keyed hashes of erased numbers (`dialer forget`), never the numbers.

After an erasure the dialer no longer knows the number, yet must never call or text it again (a
later import of the same list brings it back). Every number the gate judges is hashed with the
database's key and looked up here; the set is empty on most systems, and then costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from dialer.numbers import number_hash


class SuppressionList:
    """Number hashes (HMAC-SHA256 hex, the database's key) that block for good."""

    def __init__(self) -> None:
        self._key: bytes | None = None
        self._hashes: set[str] = set()

    def load(self, key: bytes, hashes: Iterable[str]) -> int:
        """Set the hash key and replace the list; returns its size."""
        self._key = key
        self._hashes = set(hashes)
        return len(self._hashes)

    def add(self, hashes: Iterable[str]) -> None:
        """Add hashes (from a sync with the store)."""
        self._hashes.update(hashes)

    def contains(self, e164: str) -> bool:
        """True if the number was erased (its keyed hash is on the list)."""
        if not self._hashes or self._key is None:
            return False
        return number_hash(e164, self._key) in self._hashes

    def __len__(self) -> int:
        return len(self._hashes)
