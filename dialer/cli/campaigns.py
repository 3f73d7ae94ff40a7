"""`dialer campaign list|pause|resume|finish`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from dialer.cli.common import ConfigOption, WorkdirOption, fail, out, resolve_config, store_exit_code
from dialer.clock import SystemClock
from dialer.store import Database, StoreError

campaign_app = typer.Typer(help="Start, pause and stop campaigns.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the commands to the app."""
    app.add_typer(campaign_app, name="campaign")


async def _set_state(path: Path, name: str, state: str) -> int:
    async with Database.open(path, create=False) as db, db.write() as tx:
        return await tx.execute("UPDATE campaigns SET state = ?, updated_at = ? WHERE id = ?",
                                (state, SystemClock().now(), name))


def _change(name: str, state: str, config: ConfigOption, workdir: WorkdirOption) -> None:
    resolved = resolve_config(config, workdir)
    try:
        changed = asyncio.run(_set_state(resolved.database.path, name, state))
    except StoreError as exc:
        fail(str(exc), store_exit_code(exc))
    if not changed:
        fail(f"no campaign {name!r} in {resolved.database.path}", 1)
    out.print(f"{name}: {state}")


@campaign_app.command("pause")
def pause(name: Annotated[str, typer.Argument()], config: ConfigOption = None, workdir: WorkdirOption = None) -> None:
    """Stop originating new calls for a campaign (live calls go on)."""
    _change(name, "paused", config, workdir)


@campaign_app.command("resume")
def resume(name: Annotated[str, typer.Argument()], config: ConfigOption = None, workdir: WorkdirOption = None) -> None:
    """Resume a paused or finished campaign."""
    _change(name, "active", config, workdir)


@campaign_app.command("finish")
def finish(name: Annotated[str, typer.Argument()], config: ConfigOption = None, workdir: WorkdirOption = None) -> None:
    """Stop a campaign for good (its pending leads stay in the database)."""
    _change(name, "finished", config, workdir)


@campaign_app.command("list")
def list_campaigns(config: ConfigOption = None, workdir: WorkdirOption = None) -> None:
    """Campaigns and their states."""
    resolved = resolve_config(config, workdir)

    async def go() -> list[tuple[str, str]]:
        async with Database.open(resolved.database.path, create=False) as db:
            rows = await db.fetchall("SELECT id, state FROM campaigns ORDER BY id")
            return [(row["id"], row["state"]) for row in rows]

    try:
        for name, state in asyncio.run(go()):
            out.print(f"{name}\t{state}")
    except StoreError as exc:
        fail(str(exc), store_exit_code(exc))
