"""Deleting recordings (`dialer forget`, the retention purge, restore's re-erasure) touches only files
inside the archive or the spool, and never through a link: the paths come from the database, which a
restored backup, a hand edit or a bug can point anywhere, and a folder on the way may be a link.
Real files, links and FIFOs; the pipeline against the simulator writes the recordings."""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePath

import pytest

from dialer.clock import FakeClock
from dialer.recordings import files, removal
from dialer.recordings.config import RecordingsConfig
from dialer.recordings.retention import DAY_S, purge
from dialer.store import Database
from tests.crm.helpers import config_file, dialer
from tests.e2e.conftest import ANSWERED, number, rows
from tests.recordings.test_forget_recordings import ANN, ANN_WORK, ann_recorded_on_two_numbers
from tests.recordings.test_retention_and_verify import archived_campaign

PRIVATE = b"not a recording: a file of the dialer's user elsewhere\n"


def outside_file(tmp_path: Path, name: str = "rec-12125550101.wav") -> Path:
    """A private file outside the archive and the spool, named like a recording (with a number)."""
    path = tmp_path / "private" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(PRIVATE)
    os.chmod(path, 0o600)
    return path


def untouched(path: Path) -> bool:
    st = os.stat(path, follow_symlinks=False)
    return stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600 and path.read_bytes() == PRIVATE


def link_folder_elsewhere(folder: Path, tmp_path: Path) -> Path:
    """Move `folder` out of its tree and leave a symlink to it in its place; returns where it went."""
    moved = tmp_path / "elsewhere" / folder.name
    moved.parent.mkdir(exist_ok=True)
    folder.rename(moved)
    folder.symlink_to(moved, target_is_directory=True)
    return moved


async def test_forget_leaves_a_file_outside_the_archive_and_one_behind_a_linked_folder(tmp_path, sim):
    config = await ann_recorded_on_two_numbers(tmp_path, sim)
    recorded = {r["number"]: r for r in await rows(
        config, "SELECT a.number, a.call_id, r.path FROM attempts a JOIN recordings r ON r.call_id = a.call_id")}
    assert set(recorded) == {ANN, ANN_WORK}
    # One row names a private file elsewhere; the other's folder became a link to a folder elsewhere.
    secret = outside_file(tmp_path)
    async with Database.open(config.database.path) as db, db.write() as tx:
        await tx.execute("UPDATE recordings SET path = ? WHERE call_id = ?", (str(secret), recorded[ANN]["call_id"]))
    linked = Path(recorded[ANN_WORK]["path"])
    moved = link_folder_elsewhere(linked.parent, tmp_path) / linked.name
    before = moved.read_bytes()

    result = dialer("forget", ANN, "--yes", config=config_file(config, tmp_path))
    assert result.returncode == 1
    assert "2 recording file(s) could not be deleted" in result.stderr
    assert "outside the recordings archive and spool: left alone" in result.stderr
    assert "not a folder of its own (a link or a file): left alone" in result.stderr
    assert "12125550101" not in result.stderr  # the outside file's name, masked
    assert len(result.stderr.strip().splitlines()) == 1
    assert untouched(secret)
    assert moved.read_bytes() == before
    assert linked.parent.is_symlink()  # the link itself is left as it was, too
    # The erasure itself is done: the rows are gone, the number is blocked.
    assert await rows(config, "SELECT 1 FROM recordings") == []
    assert "erased contact" in result.stdout


async def test_purge_deletes_only_inside_the_archive_and_never_through_a_link(tmp_path, sim):
    config, made = await archived_campaign(tmp_path, sim, [number(ANSWERED, i) for i in range(3)], retention_days=1)
    assert [r["status"] for r in made] == ["archived"] * 3
    inside, elsewhere, normal = made
    secret = outside_file(tmp_path)
    async with Database.open(config.database.path) as db, db.write() as tx:
        await tx.execute("UPDATE recordings SET path = ? WHERE call_id = ?", (str(secret), inside["call_id"]))
    # A day folder of the archive turned into a link to a folder elsewhere (the campaign's folder
    # holds all three calls: the link is one level up, so the normal one moves with it).
    day = Path(elsewhere["path"]).parent.parent
    moved_day = link_folder_elsewhere(day, tmp_path)
    clock = FakeClock(max(r["created_at"] for r in made) + 2 * DAY_S)
    async with Database.open(config.database.path) as db:
        report = await purge(db, config, clock.now(), actor="test")
    reasons = dict(report.failed)
    assert reasons[str(secret)] == "outside the recordings archive: left alone"
    assert "not a folder of its own" in reasons[elsewhere["path"]]
    assert "not a folder of its own" in reasons[normal["path"]]
    assert report.files == []
    assert untouched(secret)
    assert sorted(p.name for p in moved_day.rglob("*.wav")) == sorted(Path(r["path"]).name for r in made)
    assert {r["status"] for r in await rows(config, "SELECT status FROM recordings")} == {"archived"}


# -- the deletion itself, file by file -----------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path) -> RecordingsConfig:
    """Asterisk's view of the spool (/var/spool/...) differs from ours (local_spool_dir)."""
    (tmp_path / "archive").mkdir()
    (tmp_path / "spool").mkdir()
    return RecordingsConfig(enabled=True, spool_dir=Path("/var/spool/asterisk/monitor/dialer"),
                            local_spool_dir=tmp_path / "spool", archive_dir=tmp_path / "archive")


def put(path: Path, data: bytes = b"RIFF") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_a_file_inside_the_archive_goes_with_the_folders_it_leaves_empty(settings):
    kept = put(settings.archive_dir / "2026" / "12" / "01" / "c1" / "other.wav")
    gone = put(settings.archive_dir / "2026" / "12" / "02" / "c1" / "call1.wav")
    assert removal.delete_files(settings, [str(gone), str(gone)], prune=True) == []
    assert not (settings.archive_dir / "2026" / "12" / "02").exists()
    assert kept.exists()
    assert removal.delete_files(settings, [str(gone)]) == []  # a missing file counts as deleted


def test_the_spool_path_asterisk_reported_is_deleted_in_the_spool_as_we_see_it(settings):
    left = put(settings.local_spool / "c1" / "call1.wav")
    assert removal.delete_files(settings, [f"{settings.spool_dir}/c1/call1.wav"]) == []
    assert not left.exists()
    also = put(settings.local_spool / "call2.wav")
    assert removal.delete_files(settings, [str(also)]) == []
    assert not also.exists()


def test_a_link_as_the_file_itself_is_left_and_its_target_untouched(settings, tmp_path):
    secret = outside_file(tmp_path)
    entry = settings.archive_dir / "c1" / "call1.wav"
    entry.parent.mkdir()
    entry.symlink_to(secret)
    [problem] = removal.delete_files(settings, [str(entry)])
    assert problem.reason.endswith("is a symbolic link: left alone")
    assert entry.is_symlink()
    assert untouched(secret)


def test_a_fifo_or_a_folder_is_left_alone(settings):
    fifo = settings.archive_dir / "call1.wav"
    os.mkfifo(fifo)
    folder = settings.archive_dir / "call2.wav"
    folder.mkdir()
    problems = removal.delete_files(settings, [str(fifo), str(folder)])
    assert [p.reason.rsplit(" is ", 1)[1] for p in problems] == ["a FIFO: left alone", "a directory: left alone"]
    assert stat.S_ISFIFO(os.stat(fifo, follow_symlinks=False).st_mode)
    assert folder.is_dir()


@pytest.mark.parametrize("shape", ["dotdot", "outside", "relative", "root", "spool_dotdot"])
def test_a_path_outside_the_archive_and_the_spool_is_reported_masked_and_left(settings, tmp_path, shape):
    secret = outside_file(tmp_path)
    path = {
        "dotdot": f"{settings.archive_dir}/../private/{secret.name}",
        "outside": str(secret),
        "relative": os.path.relpath(secret),
        "root": str(settings.archive_dir),
        "spool_dotdot": f"{settings.spool_dir}/../../../../{secret}",
    }[shape]
    [problem] = removal.delete_files(settings, [path])
    assert problem.reason == "outside the recordings archive and spool: left alone"
    assert "12125550101" not in str(problem)
    assert untouched(secret)


def test_a_linked_folder_in_the_spool_is_not_followed(settings, tmp_path):
    secret = outside_file(tmp_path, "call1.wav")
    (settings.local_spool / "c1").symlink_to(secret.parent, target_is_directory=True)
    [problem] = removal.delete_files(settings, [f"{settings.spool_dir}/c1/call1.wav"])
    assert "not a folder of its own" in problem.reason
    assert untouched(secret)


def test_remove_inside_refuses_a_relative_path_that_climbs(settings):
    with pytest.raises(ValueError, match="not a path inside"):
        files.remove_inside(settings.archive_dir, PurePath("../x.wav"))
