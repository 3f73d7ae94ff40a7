"""`dialer demo`: run a sample campaign against the built-in simulator."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dialer.cli.common import err, fail, out
from dialer.cli.reports import render_table
from dialer.demo import CAMPAIGN, DemoResult, run_demo
from dialer.logs import configure_logging
from dialer.ops.perms import open_private
from dialer.recordings.store import recordings_by_status
from dialer.reports import campaign_report
from dialer.store import Database


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
) -> None:
    """Run a demo campaign end to end on the built-in PBX simulator and print a summary."""
    broker = _broker(mqtt) if mqtt is not None else None
    if broker is not None:
        err.print(f"publishing to mqtt://{broker[0]}:{broker[1]}; watch with: "
                  f"mosquitto_sub -h {broker[0]} -p {broker[1]} -t 'dialer/#' -v", markup=False, soft_wrap=True)
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "dialer.log"
    with open_private(log_path, "a") as log_stream:
        configure_logging("info", "json", stream=log_stream)
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=err, transient=False) as progress:
            task = progress.add_task("leads settled", total=leads)

            def on_progress(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            result = asyncio.run(run_demo(workdir, leads=leads, seed=seed, time_scale=time_scale,
                                          on_progress=on_progress, mqtt=broker))
    _summary(result)
    if broker is not None:
        _mqtt_summary(result, broker)


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


def _summary(result: DemoResult) -> None:
    async def load() -> tuple[dict[str, object], list[tuple[str, str, int]], dict[str, int]]:
        async with Database.open(result.database, create=False) as db:
            gate = await db.fetchall("SELECT verdict, rule, COUNT(*) AS n FROM audit WHERE kind = 'gate' "
                                     "GROUP BY verdict, rule ORDER BY n DESC")
            async with db.read() as tx:
                recorded = await recordings_by_status(tx)
            return (await campaign_report(db, CAMPAIGN), [(r["verdict"], r["rule"], r["n"]) for r in gate],
                    recorded)

    data, gate, recorded = asyncio.run(load())
    out.print(render_table(data))
    out.print("gate decisions: " + ", ".join(f"blocked by {rule} {n}" if verdict == "block" else f"allowed {n}"
                                             for verdict, rule, n in gate))
    if result.notice:
        out.print(f"note: {result.notice}")
    out.print(f"demo finished in {result.elapsed_s} s with {result.leads} leads")
    flagged = sum(n for status, n in recorded.items() if status != "archived")
    out.print(f"  recordings:         {recorded.get('archived', 0)} archived in {result.recordings}, "
              f"{flagged} flagged (dialer recordings missing --workdir {result.workdir})")
    out.print(f"  database:           {result.database}")
    out.print(f"  log (JSON lines):   {result.log_path}")
    out.print(f"  simulator log:      {result.sim_log}")
    out.print(f"  config:             {result.config_path}")
    out.print(f"next: dialer report --workdir {result.workdir} --format json")
