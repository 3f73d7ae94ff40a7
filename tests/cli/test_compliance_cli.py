"""The compliance commands as a compliance officer runs them: separate processes, real files, and a
running daemon (against the simulator over TCP) that must see what they change."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sys
from pathlib import Path

import pytest

from dialer.config import load_config
from dialer.daemon import Daemon
from tests.cli.test_commands import dialer, write_config
from tests.e2e.conftest import ANSWERED, SECRET, number, rows, sim_log
from tests.e2e.test_compliance import until

PERSON = "+14155550123"
MONDAY_NOON_PT = "2027-03-08T12:00:00-08:00"


def test_check_explains_every_rule_with_the_number_masked_and_exits_by_verdict(tmp_path):
    path = write_config(tmp_path, 5038)
    assert dialer("dnc", "add", "+14155550199", "--config", str(path)).returncode == 1  # no database yet
    assert dialer("init", "--config", str(path)).returncode == 0
    assert dialer("dnc", "add", "+14155550199", "--config", str(path)).returncode == 0
    allowed = dialer("check", "(415) 555-0123", "--config", str(path), "--at", MONDAY_NOON_PT, "--format", "json")
    assert allowed.returncode == 0, allowed.stderr
    data = json.loads(allowed.stdout)
    assert (data["number"], data["verdict"]) == ("+14*******23", "allow")
    assert {"number.valid", "dnc.internal", "consent", "window.hours"} <= {r["rule"] for r in data["rules"]}
    assert all(set(r) == {"rule", "verdict", "detail"} for r in data["rules"])
    assert dialer("dnc", "add", PERSON, "--config", str(path)).returncode == 0
    blocked = dialer("check", PERSON, "--config", str(path), "--at", MONDAY_NOON_PT, "--campaign", "c1")
    assert blocked.returncode == 1
    assert "BLOCK" in blocked.stdout
    assert "decided by dnc.internal" in blocked.stdout
    assert "caller_id" in blocked.stdout  # a campaign's own rules run with --campaign
    assert PERSON not in blocked.stdout + blocked.stderr
    assert "4155550123" not in blocked.stdout + blocked.stderr
    emergency = dialer("check", "911", "--config", str(path), "--format", "json")
    assert emergency.returncode == 1
    assert json.loads(emergency.stdout)["rules"] == [
        {"rule": "number.emergency", "verdict": "block", "detail": "emergency/service number"}]


@pytest.mark.parametrize(("args", "message"), [
    (["--at", "2027-03-08T12:00"], "has no UTC offset"),
    (["--campaign", "nope"], "campaign 'nope' is not defined"),
    (["--region", "XX"], "--region 'XX'"),
    (["--format", "xml"], "Invalid value"),
])
def test_check_usage_errors_exit_2(tmp_path, args, message):
    path = write_config(tmp_path, 5038)
    result = dialer("check", PERSON, "--config", str(path), *args)
    assert result.returncode == 2
    assert message in result.stderr


def test_consent_add_revoke_and_import_change_what_check_says(tmp_path):
    path = write_config(tmp_path, 5038, extra="[campaigns.c1.compliance]\nrequire_consent = true\n")
    assert dialer("init", "--config", str(path)).returncode == 0
    at = ["--config", str(path), "--campaign", "c1", "--at", MONDAY_NOON_PT, "--format", "json"]
    assert dialer("consent", "add", PERSON, "--source", "web-form:spring", "--config", str(path)).returncode == 0
    assert dialer("check", PERSON, *at).returncode == 0
    assert dialer("consent", "revoke", PERSON, "--source", "phone call", "--config", str(path)).returncode == 0
    revoked = json.loads(dialer("check", PERSON, *at).stdout)
    assert revoked["verdict"] == "block"
    assert next(r for r in revoked["rules"] if r["rule"] == "consent")["detail"].startswith("consent revoked")
    bad = tmp_path / "bad.csv"
    bad.write_text("number,source,granted_at,campaign\n+14155550124,form,2026-01-01,c1\n"
                   "4155550125,form,yesterday,\n+14155550126,,2026-01-01,c9\n")
    result = dialer("consent", "import", str(bad), "--config", str(path))
    assert result.returncode == 1
    assert f"{bad}:line 3: granted_at: 'yesterday' is not an ISO-8601 date or time" in result.stderr
    assert f"{bad}:line 4: source: empty" in result.stderr
    assert "nothing imported" in result.stderr
    assert dialer("check", "+14155550124", *at).returncode == 1  # the good row was not imported either
    good = tmp_path / "good.csv"
    good.write_text("number,source,granted_at,campaign,channel\n+14155550124,form,2026-01-01,c1,call\n")
    assert "1 consent record(s) imported" in dialer("consent", "import", str(good), "--config", str(path)).stdout
    assert dialer("check", "+14155550124", *at).returncode == 0


def test_dnc_list_masks_numbers_unless_asked_and_bad_input_names_where(tmp_path):
    path = write_config(tmp_path, 5038)
    assert dialer("init", "--config", str(path)).returncode == 0
    numbers = tmp_path / "numbers.txt"
    numbers.write_text("# complaints\n+14155550123\n\n4155550124\n415-555-01x5\n")
    result = dialer("dnc", "add", "--file", str(numbers), "--config", str(path))
    assert result.returncode == 1
    assert f"{numbers}:5: number:" in result.stderr
    numbers.write_text("+14155550123\n4155550124\n")
    assert dialer("dnc", "add", "--file", str(numbers), "--campaign", "c1", "--expires", "30d",
                  "--config", str(path)).returncode == 0
    masked = dialer("dnc", "list", "--config", str(path))
    assert "+14*******23" in masked.stdout
    assert "4155550123" not in masked.stdout
    shown = dialer("dnc", "list", "--config", str(path), "--show-numbers", "--format", "json")
    assert {e["number"] for e in json.loads(shown.stdout)["entries"]} == {"+14155550123", "+14155550124"}
    assert dialer("dnc", "remove", "4155550123", "--campaign", "c1", "--config", str(path)).returncode == 0
    assert len(json.loads(dialer("dnc", "list", "--config", str(path), "--format", "json").stdout)["entries"]) == 1


def test_scrub_counts_a_whole_list_per_rule_and_audit_export_reads_the_trail(tmp_path):
    path = write_config(tmp_path, 5038)
    leads = tmp_path / "leads.csv"
    leads.write_text("phone\n" + "\n".join(f"+1415555{i:04d}" for i in range(200, 260)) + "\n")
    assert dialer("import", "c1", str(leads), "--config", str(path)).returncode == 0
    assert dialer("dnc", "add", "+14155550200", "+14155550201", "--config", str(path)).returncode == 0
    assert dialer("dnc", "add", "+14155550202", "--optout", "--config", str(path)).returncode == 0
    result = dialer("scrub", "c1", "--config", str(path), "--at", MONDAY_NOON_PT, "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["leads"], report["allowed"], report["blocked"]) == (60, 57, 3)
    assert report["by_rule"] == {"allow": 57, "dnc.internal": 2, "dnc.optout": 1}
    exported = dialer("audit", "export", "--config", str(path), "--since", "2020-01-01")
    assert exported.returncode == 0, exported.stderr
    table = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [r["kind"] for r in table] == ["leads", "dnc_add", "dnc_add", "dnc_add"]  # the import, then the DNC
    assert table[0]["rule"] == "import"
    # A cell starting with + is written as text ('+...): a spreadsheet runs nothing (OWASP CSV injection).
    assert {r["number_masked"] for r in table[1:]} == {"'+14*******00", "'+14*******01", "'+14*******02"}
    assert "4155550200" not in exported.stdout
    as_json = json.loads(dialer("audit", "export", "--config", str(path), "--format", "json").stdout)
    assert [r["rule"] for r in as_json] == ["import", "dnc.internal", "dnc.internal", "dnc.optout"]
    assert json.loads(dialer("audit", "export", "--config", str(path), "--format", "json",
                             "--since", "2099-01-01").stdout) == []
    assert dialer("audit", "export", "--config", str(path), "--until", "soon").returncode == 2


async def adialer(*args: str) -> tuple[int, str, str]:
    """The CLI as a separate process, without blocking the daemon running in this event loop."""
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "dialer", *args,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


def us_csv(path: Path, numbers: list[str]) -> Path:
    path.write_text("AreaCode,PhoneNumber\n" + "".join(f"{n[2:5]},{n[5:]}\n" for n in numbers))
    return path


async def test_dnc_import_swaps_atomically_and_the_running_daemon_sees_the_new_registry(tmp_path, sim):
    path = write_config(tmp_path, sim.port, extra="[dnc]\nrefresh_interval_s = 0.05\n")
    assert (await adialer("init", "--config", str(path)))[0] == 0
    config = load_config(path)
    first, second, third, free = (number(ANSWERED, i) for i in range(4))
    code, out, err = await adialer("dnc", "import", str(us_csv(tmp_path / "v1.csv", [first])),
                                   "--source", "us-national", "--as-of", "2027-01-01", "--config", str(path))
    assert code == 0, err
    assert "registry us-national: 1 numbers" in out

    async def lead(phone: str) -> None:
        code, _, err = await adialer("import", "c1", str(us_csv_leads(tmp_path, phone)), "--config", str(path))
        assert code == 0, err

    async def blocked_by_registry(phone: str) -> bool:
        found = await rows(config, "SELECT a.rule FROM audit a JOIN leads l ON l.id = a.lead_id "
                                   "WHERE l.number = ? AND a.kind = 'gate'", (phone,))
        return [r["rule"] for r in found] == ["dnc.registry"]

    daemon = Daemon(config, config_path=path, install_signals=False)
    task = asyncio.create_task(daemon.run())
    try:
        await until(lambda: daemon.ami is not None and daemon.ami.connected)
        await lead(first)
        await until(lambda: blocked_by_registry(first))
        registry = config.database.path.parent / "registries" / "us-national.dncreg"
        code, _, err = await adialer("dnc", "import", str(us_csv(tmp_path / "v2.csv", [first, second, third])),
                                     "--source", "us-national", "--as-of", "2027-01-02", "--config", str(path))
        assert code == 0, err
        assert daemon.compliance is not None
        await until(lambda: daemon.compliance.index.registries[0].count == 3)
        await lead(second)
        await until(lambda: blocked_by_registry(second))
        before = registry.read_bytes()
        broken = tmp_path / "v3.csv"
        broken.write_text("AreaCode,PhoneNumber\n415,5550099\n415,55500x9\n")
        code, _, err = await adialer("dnc", "import", str(broken), "--source", "us-national", "--config", str(path))
        assert code == 1
        assert f"{broken}:3: expected AAA,NNNNNNN" in err
        assert "the registry in use is unchanged" in err
        assert registry.read_bytes() == before
        await lead(third)  # listed in v2, which still serves
        await until(lambda: blocked_by_registry(third))
        await lead(free)
        await until(lambda: free in {"+" + o["channel"].split("/")[1].split("@")[0] for o in sim_log(tmp_path)})
    finally:
        daemon.stop()
        assert await asyncio.wait_for(task, 60) == 0
    dialled = {o["channel"] for o in sim_log(tmp_path)}
    assert dialled == {f"Local/{free[1:]}@callees"}
    code, out, _ = await adialer("dnc", "list", "--config", str(path), "--format", "json")
    [record] = json.loads(out)["registries"]
    assert (record["count"], record["data_as_of"], record["source_file"]) == (3, "2027-01-02T00:00:00Z", "v2.csv")


def us_csv_leads(tmp_path: Path, phone: str) -> Path:
    path = tmp_path / f"lead-{phone[1:]}.csv"
    path.write_text(f"phone\n{phone}\n")
    return path


@pytest.fixture
async def sim(tmp_path):
    from dialer.sim import SimConfig, SimServer, SimUser

    config = SimConfig(users={"dialer": SimUser(secret=SECRET)}, spool_dir=tmp_path / "spool", time_scale=0.02,
                       log_path=tmp_path / "sim.jsonl")
    async with SimServer(config) as server:
        yield server
