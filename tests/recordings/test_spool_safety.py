"""The spool is writable by Asterisk, so by whoever can make Asterisk write a file: the archiver opens
only regular files of their own inside it, never follows a link, and writes only inside the archive.
Every other shape is flagged (`broken`, "refused: ..."), left where it is, and alerted with its name
masked; files elsewhere keep their mode and content, and nothing of them reaches the archive."""

from __future__ import annotations

import hashlib
import os
import socket
import stat
from pathlib import Path

import pytest

from dialer.recordings import files
from dialer.sim.recordings import write_wav
from tests.recordings import test_archiver
from tests.recordings.test_archiver import pending, spool_wav, status

rig = test_archiver.rig  # the archiver on a fake clock, its database and its alerts

SECRET = b"dialer's private key material, mode 0600\n"


def private_file(tmp_path: Path) -> Path:
    """A file of the dialer's user outside the spool, which nobody else may read."""
    outside = tmp_path / "private" / "secret.key"
    outside.parent.mkdir()
    outside.write_bytes(SECRET)
    os.chmod(outside, 0o600)
    return outside


def archive_entries(archiver) -> list[Path]:
    root = archiver.settings.archive_dir
    return sorted(p for p in root.rglob("*") if not p.is_dir() or p.is_symlink()) if root.exists() else []


def assert_untouched(outside: Path, links: int = 1) -> None:
    st = outside.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert outside.read_bytes() == SECRET
    assert st.st_nlink == links


async def refused(archiver, alerts, call_id: str, what: str) -> dict:
    row = await status(archiver, call_id)
    assert row["status"] == "broken"
    assert row["path"] is None
    assert row["problem"].startswith("refused: ")
    assert what in row["problem"]
    assert row["problem"].endswith("left alone in the spool")
    assert [a.kind for a in alerts] == ["recording_refused"]
    assert what in alerts[0].message
    return row


async def test_a_symlink_to_a_private_file_elsewhere_is_refused_and_the_file_untouched(rig, tmp_path):
    archiver, _clock, alerts = rig
    outside = private_file(tmp_path)
    spool = archiver.settings.spool_dir
    spool.mkdir(parents=True)
    # The reported attack, with the name Asterisk would give a file: a number in it.
    (spool / "rec-12125550101.wav").symlink_to(outside)
    await pending(archiver, "c10", source_path=f"{spool}/rec-12125550101.wav", stop_seen=True)
    await archiver.run_once()
    row = await refused(archiver, alerts, "c10", "a symbolic link")
    assert_untouched(outside)
    assert archive_entries(archiver) == []  # no copy, and no symlink in the archive
    assert (spool / "rec-12125550101.wav").is_symlink()  # left alone
    for text in (row["problem"], alerts[0].message, alerts[0].data["path"]):
        assert "2125550101" not in text
        assert "rec-12*******01.wav" in text


async def test_a_symlink_to_a_private_file_owned_by_another_user_is_refused_too(rig, tmp_path):
    # Where the dialer does not own the file it would have copied it rather than moved it: the copy
    # path was the one that put the outside file's content into the archive.
    archiver, _clock, alerts = rig
    outside = private_file(tmp_path)
    if os.geteuid() == 0:
        os.chown(outside, 65534, 65534)
    spool = archiver.settings.spool_dir
    spool.mkdir(parents=True)
    (spool / "c11.wav").symlink_to(outside)
    await pending(archiver, "c11", stop_seen=True)
    await archiver.run_once()
    await refused(archiver, alerts, "c11", "a symbolic link")
    assert_untouched(outside)
    assert archive_entries(archiver) == []


async def test_a_hard_link_to_a_file_elsewhere_is_refused_and_left(rig, tmp_path):
    archiver, _clock, alerts = rig
    outside = private_file(tmp_path)
    spool = archiver.settings.spool_dir
    spool.mkdir(parents=True)
    os.link(outside, spool / "c12.wav")
    await pending(archiver, "c12", stop_seen=True)
    await archiver.run_once()
    await refused(archiver, alerts, "c12", "2 hard links")
    assert_untouched(outside, links=2)  # the spool name is left: a person decides
    assert archive_entries(archiver) == []


async def test_a_fifo_is_refused_without_blocking_the_archiver(rig):
    archiver, _clock, alerts = rig
    spool = archiver.settings.spool_dir
    spool.mkdir(parents=True)
    os.mkfifo(spool / "c13.wav")
    await pending(archiver, "c13", stop_seen=True)
    await pending(archiver, "c13b", stop_seen=True)
    spool_wav(archiver, "c13b")
    await archiver.run_once()  # would hang forever on open() of a FIFO without a writer
    await refused(archiver, alerts, "c13", "a FIFO")
    assert (await status(archiver, "c13b"))["status"] == "archived"  # the others go on
    assert stat.S_ISFIFO((spool / "c13.wav").lstat().st_mode)


async def test_a_device_node_is_refused(rig):
    archiver, _clock, alerts = rig
    spool = archiver.settings.spool_dir
    spool.mkdir(parents=True)
    try:
        os.mknod(spool / "c14.wav", stat.S_IFCHR | 0o600, os.makedev(1, 3))  # /dev/null's numbers
    except PermissionError:
        pytest.skip("creating a device node needs CAP_MKNOD (run as root)")
    await pending(archiver, "c14", stop_seen=True)
    await archiver.run_once()
    await refused(archiver, alerts, "c14", "a character device")


async def test_a_directory_and_a_socket_are_refused(rig):
    archiver, _clock, alerts = rig
    spool = archiver.settings.spool_dir
    (spool / "c15.wav").mkdir(parents=True)
    (spool / "c15.wav" / "inside").write_bytes(b"x")
    await pending(archiver, "c15", stop_seen=True)
    await archiver.run_once()
    await refused(archiver, alerts, "c15", "a directory")
    alerts.clear()
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(spool / "c16.wav"))
        await pending(archiver, "c16", stop_seen=True)
        await archiver.run_once()
    await refused(archiver, alerts, "c16", "a socket")
    assert (spool / "c15.wav" / "inside").read_bytes() == b"x"


async def test_a_symlinked_folder_inside_the_spool_is_never_entered(rig, tmp_path):
    archiver, _clock, alerts = rig
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    write_wav(outside / "c17.wav", 16000)
    before = hashlib.sha256((outside / "c17.wav").read_bytes()).hexdigest()
    spool = archiver.settings.spool_dir
    spool.mkdir(parents=True)
    (spool / "sub").symlink_to(outside, target_is_directory=True)
    await pending(archiver, "c17", source_path=f"{spool}/sub/c17.wav", stop_seen=True)
    await archiver.run_once()
    await refused(archiver, alerts, "c17", "not a folder of its own")
    assert hashlib.sha256((outside / "c17.wav").read_bytes()).hexdigest() == before
    assert archive_entries(archiver) == []


@pytest.mark.parametrize("swap", ["symlink", "hard link"])
async def test_an_entry_swapped_between_the_look_and_the_open_is_refused(rig, tmp_path, monkeypatch, swap):
    # The TOCTOU window: the file is a proper recording when looked at, then replaced by a link to a
    # private file before it is opened. The checks on the open descriptor catch it.
    archiver, _clock, alerts = rig
    outside = private_file(tmp_path)
    path = spool_wav(archiver, "c18")
    await pending(archiver, "c18", stop_seen=True)
    real_lstat = files._lstat

    def lstat_then_swap(name: str, dir_fd: int) -> os.stat_result:
        seen = real_lstat(name, dir_fd)
        if name == "c18.wav" and not path.is_symlink() and path.stat().st_nlink == 1:
            path.unlink()
            if swap == "symlink":
                path.symlink_to(outside)
            else:
                os.link(outside, path)
        return seen

    monkeypatch.setattr(files, "_lstat", lstat_then_swap)
    await archiver.run_once()
    await refused(archiver, alerts, "c18", "a symbolic link" if swap == "symlink" else "replaced while")
    assert_untouched(outside, links=1 if swap == "symlink" else 2)
    assert archive_entries(archiver) == []


async def test_a_symlink_planted_in_the_archive_is_replaced_never_followed(rig, tmp_path):
    archiver, _clock, _alerts = rig
    outside = private_file(tmp_path)
    spool_wav(archiver, "c19")
    await pending(archiver, "c19", stop_seen=True)
    from dialer.recordings.paths import archive_file

    target = archive_file(archiver.settings.archive_dir, 1_800_000_000.0, "c1", "c19")
    target.parent.mkdir(parents=True)
    target.symlink_to(outside)
    await archiver.run_once()
    row = await status(archiver, "c19")
    assert row["status"] == "archived"
    assert not target.is_symlink()
    assert stat.S_ISREG(target.lstat().st_mode)
    assert_untouched(outside)


async def test_a_symlinked_folder_in_the_archive_is_a_storage_error_and_nothing_is_written_elsewhere(rig, tmp_path):
    archiver, _clock, alerts = rig
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    spool_wav(archiver, "c20")
    await pending(archiver, "c20", stop_seen=True)
    archiver.settings.archive_dir.mkdir(parents=True)
    (archiver.settings.archive_dir / "2027").symlink_to(elsewhere, target_is_directory=True)
    await archiver.run_once()
    assert (await status(archiver, "c20"))["status"] == "pending"  # kept for when a person fixed it
    assert [a.kind for a in alerts] == ["storage_error"]
    assert "link or a file where a folder belongs" in alerts[0].message
    assert list(elsewhere.iterdir()) == []
    assert (archiver.settings.spool_dir / "c20.wav").exists()


async def test_a_missing_recording_alert_carries_no_number_in_its_message_or_path(rig):
    archiver, clock, alerts = rig
    spool = archiver.settings.spool_dir
    await pending(archiver, "c21", source_path=f"{spool}/rec-12125550101.wav")
    clock.advance(archiver.settings.close_timeout_s)
    await archiver.run_once()
    row = await status(archiver, "c21")
    assert row["status"] == "missing"
    assert [a.kind for a in alerts] == ["recording_missing"]
    for text in (row["problem"], alerts[0].message, str(alerts[0].data["path"])):
        assert "2125550101" not in text
        assert "rec-12*******01.wav" in text


async def test_a_crash_between_linking_into_the_archive_and_leaving_the_spool_is_finished(rig):
    archiver, _clock, alerts = rig
    path = spool_wav(archiver, "c22")
    await pending(archiver, "c22", stop_seen=True)
    from dialer.recordings.paths import archive_file

    target = archive_file(archiver.settings.archive_dir, 1_800_000_000.0, "c1", "c22")
    target.parent.mkdir(parents=True)
    os.link(path, target)  # as the archiver leaves it if it dies right after the link
    await archiver.run_once()
    row = await status(archiver, "c22")
    assert (row["status"], row["path"]) == ("archived", str(target))
    assert not path.exists()
    assert target.stat().st_nlink == 1
    assert alerts == []
