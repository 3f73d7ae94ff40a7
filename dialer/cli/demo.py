"""`dialer demo`: run a sample campaign against the built-in simulator, and tell a newcomer what they see."""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dialer.cli.common import err, fail, out
from dialer.cli.reports import render_table
from dialer.demo import CAMPAIGN, DemoFolderError, DemoResult, prepare_workdir, run_demo
from dialer.logs import configure_logging
from dialer.ops.perms import open_private
from dialer.recordings.store import recordings_by_status
from dialer.reports import campaign_report
from dialer.store import Database
from dialer.store.audit import gate_verdicts
from dialer.store.states import RecordingStatus


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("demo")(demo)


def demo(
    workdir: Annotated[Path, typer.Option("--workdir", "-w", help="Folder for the database and logs.")] = Path(
        "demo-run"),
    leads: Annotated[int, typer.Option(help="How many leads to create.", min=1, max=100_000)] = 300,
    seed: Annotated[int, typer.Option(help="Random seed (leads and callee behaviour).")] = 1,
    time_scale: Annotated[float, typer.Option(help="Simulated call durations x this.", min=0.001)] = 0.05,
    mqtt: Annotated[str | None, typer.Option(
        "--mqtt", metavar="HOST:PORT", help="Publish the demo's events to this MQTT broker (anonymous).")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Keep the folder's previous run and add this one to it (default: start clean).")] = False,
) -> None:
    """Run a demo campaign end to end on the built-in PBX simulator and print a summary.

    Each run starts clean: it removes the previous demo's files from the folder (and refuses a
    folder that holds anything else), unless --resume.
    """
    broker = _broker(mqtt) if mqtt is not None else None
    try:
        cleared = prepare_workdir(workdir, resume=resume)
    except DemoFolderError as exc:
        fail(str(exc), 2)
    if cleared and not resume:
        err.print(f"{workdir}: the previous demo run was removed (--resume keeps it)")
    if broker is not None:
        err.print(f"publishing to mqtt://{broker[0]}:{broker[1]}; watch with: "
                  f"mosquitto_sub -h {broker[0]} -p {broker[1]} -t 'dialer/#' -v", markup=False, soft_wrap=True)
    log_path = workdir / "dialer.log"
    with open_private(log_path, "a") as log_stream:
        configure_logging("info", "json", stream=log_stream)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=err, transient=False, disable=not err.is_terminal) as progress:
            task = progress.add_task("leads settled", total=leads)

            def on_progress(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            result = asyncio.run(run_demo(workdir, leads=leads, seed=seed, time_scale=time_scale,
                                          on_progress=on_progress, mqtt=broker))
    _summary(result, workdir)
    if broker is not None:
        _mqtt_summary(result, broker)
    _next_steps(workdir)


def _mqtt_summary(result: DemoResult, broker: tuple[str, int]) -> None:
    async def counts() -> tuple[int, int]:
        async with Database.open(result.database, create=False) as db:
            row = await db.fetchone("SELECT COUNT(published_at), COUNT(*) - COUNT(published_at) FROM outbox")
            assert row is not None
            return int(row[0]), int(row[1])

    published, waiting = asyncio.run(counts())
    out.print(f"  mqtt:               {published} events published to {broker[0]}:{broker[1]} under dialer/demo/")
    if waiting:
        out.print(f"                      {waiting} still in the outbox (broker unreachable? see the log)")


def _broker(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        fail(f"--mqtt: expected HOST:PORT (e.g. 127.0.0.1:1883), got {value!r}", 2)
    return host.strip("[]"), int(port)


def _summary(result: DemoResult, workdir: Path) -> None:
    async def load() -> tuple[dict[str, object], list[tuple[str, str, int]], dict[str, int]]:
        async with Database.open(result.database, create=False) as db:
            async with db.read() as tx:
                gate = await gate_verdicts(tx)
                recorded = await recordings_by_status(tx)
            return await campaign_report(db, CAMPAIGN), gate, recorded

    data, gate, recorded = asyncio.run(load())
    out.print(render_table(data))
    out.print("gate decisions: " + ", ".join(f"blocked by {rule} {n}" if verdict == "block" else f"allowed {n}"
                                             for verdict, rule, n in gate))
    scale = result.time_scale
    if scale != 1:
        out.print(f"time scale {scale:g}: the simulator plays every call {1 / scale:g}x faster than life (a call of "
                  f"8 s lasts {8 * scale:g} s here), so talk times above are simulated seconds: x{1 / scale:g} gives "
                  "a real call's length")
    if result.notice:
        out.print(f"note: {result.notice}")
    out.print(f"demo finished in {result.elapsed_s} s with {result.leads} leads")
    flagged = sum(n for status, n in recorded.items() if status != RecordingStatus.ARCHIVED)
    where = shlex.quote(str(workdir))
    out.print(f"  recordings:         {recorded.get('archived', 0)} archived in {result.recordings}, "
              f"{flagged} flagged ({command_prefix()} recordings missing --workdir {where})")
    out.print(f"  database:           {result.database}")
    out.print(f"  log (JSON lines):   {result.log_path}")
    out.print(f"  simulator log:      {result.sim_log}")
    out.print(f"  config:             {result.config_path}")


def command_prefix() -> str:
    """How to type this dialer again, as it was started: `.venv/bin/dialer`, `dialer` (on PATH) or
    `python -m dialer`."""
    arg0 = sys.argv[0]
    if Path(arg0).name == "__main__.py":
        python = sys.executable
        relative = os.path.relpath(python)
        return f"{shlex.quote(relative if not relative.startswith('..') else python)} -m dialer"
    if os.sep not in arg0:
        found = shutil.which(arg0)
        return arg0 if found else shlex.quote(os.path.abspath(arg0))
    if os.path.isabs(arg0):
        relative = os.path.relpath(arg0)
        return shlex.quote(relative if not relative.startswith("..") else arg0)
    return shlex.quote(arg0)


def _next_steps(workdir: Path) -> None:
    """Commands to try next, each as it can be typed here (tests run every one of them)."""
    dialer = command_prefix()
    where = shlex.quote(str(workdir))
    steps = [
        (f"{dialer} report --workdir {where}", "the report again (--format json, csv, html -o report.html)"),
        (f"{dialer} status --workdir {where}", "campaigns, leads waiting, whether a daemon runs"),
        (f"{dialer} leads count {CAMPAIGN} --workdir {where}", "the demo's lead list by status"),
        (f"{dialer} contact search --name Ada --workdir {where}", "contacts; then: contact show ID"),
        (f"{dialer} check +14155550123 --campaign {CAMPAIGN} --workdir {where}", "would this number be called?"),
    ]
    out.print("next steps:")
    width = max(len(command) for command, _ in steps)
    for command, what in steps:
        out.print(f"  {command:<{width}}  # {what}")
    again = "make demo" if os.environ.get("MAKELEVEL") else f"{dialer} demo --workdir {where}"
    out.print(f"  {again}  # a fresh run (add --resume to dialer demo to keep this one)")
