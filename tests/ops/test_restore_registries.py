"""National DNC registries survive a restore: an import (or a removal) made after the backup is in the
compliance journal and re-applied, so `dialer check` blocks a listed number afterwards; where the
registry files beside the database and the restored records disagree in a way the journal cannot
settle, restore says which registry and how to re-import it. Real commands in their own processes,
real SQLite files and registry files."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from dialer.store.compliance_journal import journal_path
from tests.ops.helpers import query
from tests.ops.test_restore_compliance import cli, ok, setup, verdict

LISTED = "+14155550142"
FREE = "+14155550143"
LATER = "+14155550144"


def us_csv(path: Path, numbers: list[str]) -> Path:
    path.write_text("AreaCode,PhoneNumber\n" + "".join(f"{n[2:5]},{n[5:]}\n" for n in numbers))
    return path


async def import_registry(config: Path, numbers: list[str], name: str = "us-national") -> None:
    source = us_csv(config.parent / f"{name}-{time.monotonic_ns()}.csv", numbers)
    await ok(config, "dnc", "import", str(source), "--source", name)


async def test_backup_registry_import_restore_and_check_still_blocks(tmp_path):
    config = await setup(tmp_path, LISTED, FREE)
    await ok(config, "backup", str(tmp_path / "backup.db"))
    await import_registry(config, [LISTED])
    assert await verdict(config, LISTED) == ("block", {"dnc.registry"})

    code, out, err = await cli(config, "restore", str(tmp_path / "backup.db"))
    assert code == 0, err
    assert await verdict(config, LISTED) == ("block", {"dnc.registry"})
    assert '"kind":"registry_import"' in journal_path(tmp_path / "dialer.db").read_text()
    assert "re-applied 1 compliance change(s)" in out
    assert "import of the national registry 'us-national' (1 numbers from" in out
    assert "warning" not in err  # record and file agree: nothing to re-import
    assert await verdict(config, LISTED) == ("block", {"dnc.registry"})
    assert await verdict(config, FREE) == ("allow", set())
    [record] = json.loads(await ok(config, "dnc", "list", "--format", "json"))["registries"]
    assert (record["name"], record["count"]) == ("us-national", 1)


async def test_a_registry_imported_again_and_one_removed_after_the_backup_are_re_applied_in_order(tmp_path):
    config = await setup(tmp_path, LISTED, FREE, LATER)
    await import_registry(config, [LISTED])
    await import_registry(config, [FREE], name="state-list")
    await ok(config, "backup", str(tmp_path / "backup.db"))
    await import_registry(config, [LISTED, LATER])  # a newer download of the same registry
    await ok(config, "dnc", "remove", "--registry", "state-list")
    out = await ok(config, "restore", str(tmp_path / "backup.db"))
    assert "re-applied 2 compliance change(s)" in out
    assert "removal of the national registry 'state-list'" in out
    assert await verdict(config, LATER) == ("block", {"dnc.registry"})
    assert await verdict(config, FREE) == ("allow", set())
    rows = query(tmp_path / "dialer.db", "SELECT name, count FROM registries")
    assert rows == [{"name": "us-national", "count": 2}]


async def test_a_registry_file_that_went_missing_is_named_with_the_command_to_re_import_it(tmp_path):
    config = await setup(tmp_path, LISTED, FREE)
    await import_registry(config, [LISTED])
    await ok(config, "backup", str(tmp_path / "backup.db"))
    registry = tmp_path / "registries" / "us-national.dncreg"
    registry.unlink()
    code, _, err = await cli(config, "restore", str(tmp_path / "backup.db"))
    assert code == 0, err
    text = " ".join(err.split())
    assert f"national registry 'us-national': its file {registry} is missing" in text
    assert "dialer dnc import FILE --source us-national" in text
    # The gate does not take a lost registry for an empty one: the numbers it covers are blocked.
    assert (await verdict(config, FREE))[0] == "block"


async def test_a_registry_imported_after_the_backup_by_a_dialer_without_its_journal_line_is_named(tmp_path):
    config = await setup(tmp_path, LISTED)
    await ok(config, "backup", str(tmp_path / "backup.db"))
    await import_registry(config, [LISTED])
    # As an older dialer left it: the import in the database, no line in the journal.
    journal = journal_path(tmp_path / "dialer.db")
    journal.write_text("".join(line + "\n" for line in journal.read_text().splitlines()
                               if '"kind":"registry_import"' not in line))
    conn = sqlite3.connect(tmp_path / "dialer.db")
    with conn:
        conn.execute("DELETE FROM compliance_journal WHERE kind = 'registry_import'")
    conn.close()
    code, _, err = await cli(config, "restore", str(tmp_path / "backup.db"))
    assert code == 0, err
    text = " ".join(err.split())
    assert f"national registry file {tmp_path / 'registries' / 'us-national.dncreg'} is not on record" in text
    assert "dialer dnc import FILE --source us-national" in text
