"""What a recording file holds: its WAV header (read with `wave`), its audio, its hash.

Blocking file I/O: call from a worker thread.
"""

from __future__ import annotations

import hashlib
import struct
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_BLOCK = 1 << 20


@dataclass(frozen=True, slots=True)
class WavFacts:
    """One read of a recording file. `problem` is None for a file that is complete and not empty."""

    bytes: int
    sha256: str
    duration_s: float | None  # of the audio actually in the file
    problem: str | None


def inspect(path: Path, expected_s: float | None, tolerance_s: float) -> WavFacts:
    """`inspect_file` on the file at `path` (a file of the archive: the spool is read through an
    already checked descriptor, see `files.SpoolFile`)."""
    with path.open("rb") as handle:
        return inspect_file(handle, expected_s, tolerance_s)


def inspect_file(handle: BinaryIO, expected_s: float | None, tolerance_s: float) -> WavFacts:
    """Hash the file and check it: the header parses, the audio is all there, not empty, and its
    duration agrees with the call's talk time (`expected_s`, None when unknown) within `tolerance_s`.

    Reads `handle` (seekable, binary) from its start. Raises OSError when it cannot be read (the
    caller decides what that means).
    """
    digest = hashlib.sha256()
    handle.seek(0)
    head = handle.read(_BLOCK)
    digest.update(head)
    size = len(head)
    while block := handle.read(_BLOCK):
        digest.update(block)
        size += len(block)
    sha = digest.hexdigest()
    try:
        handle.seek(0)
        with wave.open(handle, "rb") as wav:
            frame_bytes = wav.getnchannels() * wav.getsampwidth()
            rate = wav.getframerate()
            declared_frames = wav.getnframes()
    except (wave.Error, EOFError, struct.error) as exc:
        return WavFacts(size, sha, None, f"the WAV header does not parse: {exc or type(exc).__name__}")
    data_at = _data_offset(head)
    if data_at is None or frame_bytes <= 0 or rate <= 0:
        return WavFacts(size, sha, None, "the WAV header has no usable data chunk")
    available_frames = max(0, size - data_at) // frame_bytes
    frames = min(declared_frames, available_frames)
    duration = round(frames / rate, 3)
    if available_frames < declared_frames:
        promised = round(declared_frames / rate, 3)
        return WavFacts(size, sha, duration,
                        f"truncated: the header promises {promised} s, the file holds {duration} s")
    if declared_frames == 0 and available_frames > 0:
        # Asterisk writes the sizes when it closes the file: it never did (crash, or still open).
        held = round(available_frames / rate, 3)
        return WavFacts(size, sha, held, f"the WAV header was never completed: sizes are 0, the file holds {held} s")
    if frames == 0:
        return WavFacts(size, sha, 0.0, "empty: no audio")
    if expected_s is not None and abs(duration - expected_s) > tolerance_s:
        return WavFacts(size, sha, duration,
                        f"duration {duration} s does not match the call's talk time {round(expected_s, 3)} s "
                        f"(tolerance {tolerance_s} s)")
    return WavFacts(size, sha, duration, None)


def _data_offset(head: bytes) -> int | None:
    """Offset of the `data` chunk's audio, walking the RIFF chunks of the file's first block."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    at = 12
    while at + 8 <= len(head):
        chunk_id = head[at:at + 4]
        (chunk_size,) = struct.unpack_from("<I", head, at + 4)
        if chunk_id == b"data":
            return at + 8
        at += 8 + chunk_size + (chunk_size & 1)  # chunks are padded to even sizes
    return None
