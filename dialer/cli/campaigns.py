"""`dialer campaign list|pause|resume|finish`."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from dialer.cli.common import ConfigOption, WorkdirOption, fail, out, resolve_config
from dialer.cli.database import open_db
from dialer.clock import SystemClock
from dialer.config import Config
from dialer.store import campaigns
from dialer.store.states import CampaignState

campaign_app = typer.Typer(help="Start, pause and stop campaigns.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the commands to the app."""
    app.add_typer(campaign_app, name="campaign")


async def _set_state(config: Config, name: str, state: CampaignState) -> bool:
    async with open_db(config) as db, db.write() as tx:
        return await campaigns.set_state(tx, name, state, SystemClock().now())


def _change(name: str, state: CampaignState, config: ConfigOption, workdir: WorkdirOption) -> None:
    resolved = resolve_config(config, workdir)
    changed = asyncio.run(_set_state(resolved, name, state))
    if not changed:
        fail(f"no campaign {name!r} in {resolved.database.path}", 1)
    out.print(f"{name}: {state}")


@campaign_app.command("pause")
def pause(name: Annotated[str, typer.Argument()], config: ConfigOption = None, workdir: WorkdirOption = None) -> None:
    """Stop originating new calls for a campaign (live calls go on)."""
    _change(name, CampaignState.PAUSED, config, workdir)


@campaign_app.command("resume")
def resume(name: Annotated[str, typer.Argument()], config: ConfigOption = None, workdir: WorkdirOption = None) -> None:
    """Resume a paused or finished campaign."""
    _change(name, CampaignState.ACTIVE, config, workdir)


@campaign_app.command("finish")
def finish(name: Annotated[str, typer.Argument()], config: ConfigOption = None, workdir: WorkdirOption = None) -> None:
    """Stop a campaign for good (its pending leads stay in the database)."""
    _change(name, CampaignState.FINISHED, config, workdir)


@campaign_app.command("list")
def list_campaigns(config: ConfigOption = None, workdir: WorkdirOption = None) -> None:
    """Campaigns and their states."""
    resolved = resolve_config(config, workdir)

    async def go() -> list[tuple[str, CampaignState]]:
        async with open_db(resolved) as db, db.read() as tx:
            return list((await campaigns.states_by_name(tx)).items())

    for name, state in asyncio.run(go()):
        out.print(f"{name}\t{state}")
