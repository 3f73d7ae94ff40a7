"""Where a call's recording is: in Asterisk's spool (its view and ours), and in the archive.

File names carry the call id only, never a phone number.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from dialer.recordings.config import RecordingsConfig

# Call ids and campaign names as the engine and the config make them; anything else is refused
# before it can become part of a path.
_CALL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_CAMPAIGN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class UnsafePath(ValueError):
    """A recording path that is not where the dialer may read or write."""


def spool_file(config: RecordingsConfig, call_id: str) -> str:
    """DIALER_REC_FILE for a call: the absolute path Asterisk's MixMonitor writes (its view)."""
    _check_name(call_id, _CALL_ID, "call id")
    return str(PurePosixPath(config.spool_dir) / f"{call_id}.wav")


def spool_relative(config: RecordingsConfig, asterisk_path: str) -> PurePosixPath:
    """Where inside the spool the file Asterisk reported is; refuses anything outside the spool.

    The dialer moves and deletes this file, so a path from the wire (the DialerAnswered
    `Recording` header) must never name a file elsewhere on the host. (A link *inside* the spool
    that points elsewhere is refused when the file is opened: `files.open_spool_file`.)
    """
    path = PurePosixPath(asterisk_path)
    if not path.is_absolute() or ".." in path.parts:
        raise UnsafePath(f"recording path {asterisk_path!r} is not an absolute path without '..'")
    try:
        relative = path.relative_to(PurePosixPath(config.spool_dir))
    except ValueError:
        raise UnsafePath(f"recording path {asterisk_path!r} is outside the spool dir {config.spool_dir}") from None
    if not relative.parts or relative.suffix.lower() != ".wav":
        raise UnsafePath(f"recording path {asterisk_path!r} does not name a .wav file")
    return relative


def local_source(config: RecordingsConfig, asterisk_path: str) -> Path:
    """The file Asterisk reported, as this process sees it; refuses anything outside the spool."""
    return config.local_spool.joinpath(*spool_relative(config, asterisk_path).parts)


def archive_relative(created_at: float, campaign: str, call_id: str) -> PurePosixPath:
    """`<YYYY>/<MM>/<DD>/<campaign>/<call_id>.wav` inside the archive, the date in UTC."""
    _check_name(call_id, _CALL_ID, "call id")
    _check_name(campaign, _CAMPAIGN, "campaign")
    day = datetime.fromtimestamp(created_at, UTC)
    return PurePosixPath(f"{day:%Y}", f"{day:%m}", f"{day:%d}", campaign, f"{call_id}.wav")


def archive_file(archive_dir: Path, created_at: float, campaign: str, call_id: str) -> Path:
    """`<archive>/<YYYY>/<MM>/<DD>/<campaign>/<call_id>.wav`, the date in UTC."""
    return archive_dir.joinpath(*archive_relative(created_at, campaign, call_id).parts)


def _check_name(value: str, pattern: re.Pattern[str], what: str) -> None:
    if not pattern.fullmatch(value) or value in (".", ".."):
        raise UnsafePath(f"{what} {value!r} cannot be part of a file name")
