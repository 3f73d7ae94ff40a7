"""The file-level parts: what a WAV holds, where files may be, moving them into the archive."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import wave
from pathlib import Path, PurePath

import pytest

from dialer.recordings.config import RecordingsConfig
from dialer.recordings.files import SourceChanged, archive, checked_spool_file
from dialer.recordings.paths import UnsafePath, archive_file, local_source, spool_file
from dialer.recordings.wavcheck import inspect
from dialer.sim.recordings import write_wav

RATE = 8000


def make_wav(path: Path, seconds: float, mode: str = "ok") -> Path:
    """A recording as the simulator's MixMonitor writes it (8 kHz mono 16-bit PCM)."""
    write_wav(path, round(seconds * RATE), mode)
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_complete_recording_passes_with_its_duration_and_hash(tmp_path):
    path = make_wav(tmp_path / "a.wav", 2.5)
    facts = inspect(path, expected_s=2.4, tolerance_s=0.5)
    assert facts.problem is None
    assert facts.duration_s == 2.5
    assert (facts.bytes, facts.sha256) == (path.stat().st_size, sha(path))


@pytest.mark.parametrize(("build", "problem"), [
    (lambda p: make_wav(p, 2.0, "truncate"), "truncated: the header promises 2.0 s, the file holds 1.0 s"),
    (lambda p: make_wav(p, 0.0), "empty: no audio"),
    (lambda p: (p.write_bytes(b""), p)[1], "the WAV header does not parse"),
    (lambda p: (p.write_bytes(b"ID3\x03 not audio at all" * 10), p)[1], "the WAV header does not parse"),
    (lambda p: make_wav(p, 5.0), "duration 5.0 s does not match the call's talk time 2.0 s (tolerance 1.0 s)"),
])
def test_a_file_that_fails_a_check_says_which(tmp_path, build, problem):
    facts = inspect(build(tmp_path / "r.wav"), expected_s=2.0, tolerance_s=1.0)
    assert facts.problem is not None
    assert facts.problem.startswith(problem)
    assert facts.sha256 == sha(tmp_path / "r.wav")


def test_a_header_asterisk_never_completed_is_broken_but_its_audio_is_counted(tmp_path):
    path = make_wav(tmp_path / "open.wav", 1.5)
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, 4, 36)  # RIFF and data sizes as written when the file was opened
    struct.pack_into("<I", data, 40, 0)
    path.write_bytes(bytes(data))
    with wave.open(str(path)) as wav:
        assert wav.getnframes() == 0  # what `wave` alone would call an empty file
    facts = inspect(path, expected_s=1.5, tolerance_s=1.0)
    assert facts.problem == "the WAV header was never completed: sizes are 0, the file holds 1.5 s"
    assert facts.duration_s == 1.5


def test_unknown_talk_time_skips_only_the_duration_check(tmp_path):
    assert inspect(make_wav(tmp_path / "a.wav", 9.0), expected_s=None, tolerance_s=0.1).problem is None


SETTINGS = RecordingsConfig(spool_dir=Path("/var/spool/asterisk/monitor/dialer"),
                            local_spool_dir=Path("/mnt/spool"), archive_dir=Path("/var/lib/dialer/recordings"))


def test_paths_name_the_call_never_the_number():
    assert spool_file(SETTINGS, "c0123abcd") == "/var/spool/asterisk/monitor/dialer/c0123abcd.wav"
    reported = "/var/spool/asterisk/monitor/dialer/c0123abcd.wav"
    assert local_source(SETTINGS, reported) == Path("/mnt/spool/c0123abcd.wav")
    when = 1_800_000_000.0  # 2027-01-15 08:00 UTC
    assert archive_file(SETTINGS.archive_dir, when, "spring-sale", "c0123abcd") == Path(
        "/var/lib/dialer/recordings/2027/01/15/spring-sale/c0123abcd.wav")


@pytest.mark.parametrize("reported", [
    "/etc/passwd",
    "/var/spool/asterisk/monitor/dialer/../../../../etc/shadow.wav",
    "/var/spool/asterisk/monitor/dialer-other/c1.wav",
    "relative/c1.wav",
    "/var/spool/asterisk/monitor/dialer/c1.gsm",
    "/var/spool/asterisk/monitor/dialer",
])
def test_a_reported_recording_outside_the_spool_is_never_touched(reported):
    with pytest.raises(UnsafePath):
        local_source(SETTINGS, reported)


@pytest.mark.parametrize(("campaign", "call_id"), [("../x", "c1"), ("c", "../../etc/x"), ("c", "+14155550123")])
def test_archive_paths_refuse_names_that_could_escape_or_carry_a_number(campaign, call_id):
    with pytest.raises(UnsafePath):
        archive_file(Path("/a"), 0.0, campaign, call_id)


def _archive(spool: Path, name: str, archive_dir: Path, relative: str, digest: str) -> Path:
    with checked_spool_file(spool, PurePath(name)) as source:
        return archive(source, archive_dir, PurePath(relative), digest)


def test_same_file_system_archive_links_the_checked_file_at_mode_0640(tmp_path):
    source = make_wav(tmp_path / "spool" / "c1.wav", 1.0)
    os.chmod(source, 0o644)
    inode = source.stat().st_ino
    digest = sha(source)
    target = _archive(tmp_path / "spool", "c1.wav", tmp_path / "archive", "2027/01/15/c/c1.wav", digest)
    assert target == tmp_path / "archive" / "2027" / "01" / "15" / "c" / "c1.wav"
    assert not source.exists()
    assert target.stat().st_ino == inode  # linked, not copied
    assert target.stat().st_nlink == 1  # and gone from the spool
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o750
    assert sha(target) == digest


def _other_file_system(tmp_path: Path) -> Path:
    for candidate in ("/dev/shm", tempfile.gettempdir()):
        if os.path.isdir(candidate) and os.stat(candidate).st_dev != tmp_path.stat().st_dev:
            return Path(tempfile.mkdtemp(dir=candidate))
    pytest.skip("no second file system to copy across")


def test_across_file_systems_archive_is_copy_fsync_rename_and_the_spool_copy_goes(tmp_path):
    other = _other_file_system(tmp_path)
    try:
        source = make_wav(tmp_path / "c2.wav", 1.0)
        digest = sha(source)
        (other / "2027" / "c").mkdir(parents=True)
        (other / "2027" / "c" / ".c2.wav.part").write_bytes(b"left by a crash during an earlier copy")
        target = _archive(tmp_path, "c2.wav", other, "2027/c/c2.wav", digest)
        assert not source.exists()
        assert sha(target) == digest
        assert stat.S_IMODE(target.stat().st_mode) == 0o640
        assert sorted(p.name for p in target.parent.iterdir()) == ["c2.wav"]
    finally:
        shutil.rmtree(other)


def test_a_copy_that_does_not_match_the_checked_hash_is_not_put_in_place(tmp_path):
    other = _other_file_system(tmp_path)
    try:
        source = make_wav(tmp_path / "c3.wav", 1.0)
        with pytest.raises(SourceChanged):
            _archive(tmp_path, "c3.wav", other, "c3.wav", "0" * 64)
        assert source.exists()
        assert list(other.iterdir()) == []
    finally:
        shutil.rmtree(other)


_ARCHIVE_ONE = """
import hashlib, sys
from pathlib import Path, PurePath
from dialer.recordings.files import StorageError, archive, checked_spool_file
source, archive_dir = Path(sys.argv[1]), Path(sys.argv[2])
try:
    with checked_spool_file(source.parent, PurePath(source.name)) as checked:
        archive(checked, archive_dir, PurePath("2027/c/c9.wav"), hashlib.sha256(source.read_bytes()).hexdigest())
except StorageError as exc:
    print(f"{exc.code} {exc}")
print(sorted(p.name for p in (archive_dir / "2027" / "c").iterdir()))
"""


def test_a_full_disk_is_a_storage_error_naming_the_path_and_nothing_is_half_written(tmp_path):
    # A real ENOSPC: a 16 KiB tmpfs mounted in a private user+mount namespace (no root needed).
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not available")
    full = tmp_path / "full"
    full.mkdir()
    source = make_wav(tmp_path / "c9.wav", 5.0)  # 80 kB: more than the file system holds
    target = full / "2027" / "c" / "c9.wav"
    script = 'mount -t tmpfs -o size=16k tmpfs "$1" && exec "$2" -c "$3" "$4" "$5"'
    result = subprocess.run(["unshare", "-rm", "sh", "-c", script, "sh", str(full), sys.executable, _ARCHIVE_ONE,
                             str(source), str(full)], capture_output=True, text=True, timeout=60)
    if result.returncode != 0 and ("unshare" in result.stderr or "mount" in result.stderr):
        pytest.skip(f"no private mount namespace here: {result.stderr.strip()}")
    assert result.stdout.splitlines() == [f"{errno.ENOSPC} {target}: No space left on device",
                                          "[]"], result.stderr  # no half-written .part left behind
    assert source.exists()  # the recording stays in the spool for the retry
