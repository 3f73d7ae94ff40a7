"""The MixMonitor stand-in: real 8 kHz mono 16-bit PCM WAV files, with omit/truncate faults."""

from __future__ import annotations

import logging
import math
import os
import struct
import wave
from pathlib import Path

RATE = 8000
WIDTH = 2

log = logging.getLogger("dialer.sim")

# One second of a quiet 440 Hz tone, repeated: real audio (not digital silence) at no CPU cost.
_SECOND = b"".join(struct.pack("<h", int(1000 * math.sin(2 * math.pi * 440 * i / RATE))) for i in range(RATE))


def frames_for(duration_s: float) -> int:
    """Number of 8 kHz frames for a duration (never negative)."""
    return max(0, round(duration_s * RATE))


def write_wav(path: Path, frames: int, mode: str = "ok") -> None:
    """Write the recording; `truncate` cuts the data in half after a header that claims it all.

    Blocking: run it in an executor. Errors are logged, not raised: a broken spool must not stop
    the PBX, as with a real MixMonitor.
    """
    if mode == "omit":
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _SECOND * (frames // RATE) + _SECOND[: (frames % RATE) * WIDTH]
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(WIDTH)
            wav.setframerate(RATE)
            wav.writeframes(data)
        if mode == "truncate":
            size = path.stat().st_size
            os.truncate(path, 44 + (size - 44) // 2 if size > 44 else 22)
    except OSError as exc:
        log.warning("sim: cannot write recording %s: %s", path, exc)
