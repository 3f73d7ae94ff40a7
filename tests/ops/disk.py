"""A real small file system for storage-fault tests: a tmpfs of a given size, mounted for one test (needs
root, as the CI runs; skipped otherwise), and a way to fill it to the last byte."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_disk(where: Path, size_mb: int = 64) -> Iterator[Path]:
    """Mount a tmpfs of `size_mb` at `where` for the block; a full one gives real ENOSPC to every writer."""
    where.mkdir(parents=True, exist_ok=True)
    mount = shutil.which("mount")
    if os.geteuid() != 0 or mount is None:
        pytest.skip("mounting a small tmpfs needs root")
    result = subprocess.run([mount, "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs", str(where)],
                            capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)


def fill(disk: Path) -> Path:
    """Write a filler file until the file system says ENOSPC; returns it (delete it to free the space)."""
    filler = disk / "filler"
    chunk = b"\xa5" * (1 << 20)
    with filler.open("wb", buffering=0) as handle:
        for size in (1 << 20, 1 << 12, 1):
            while True:
                try:
                    handle.write(chunk[:size])
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    return filler
