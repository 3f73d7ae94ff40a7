"""`dialer survey export CAMPAIGN` (the answers, one row per survey) and `dialer survey select`
(targeting: make the contacts who gave an answer, or carry a tag, leads of a campaign)."""

from __future__ import annotations

import asyncio
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TextIO

import typer

from dialer.cli.common import ConfigOption, WorkdirOption, fail, out, resolve_config
from dialer.cli.compliance_args import actor, check_campaign, open_store, quiet_logs
from dialer.clock import SystemClock
from dialer.ops.perms import open_private
from dialer.store import leads as lead_store
from dialer.store import surveys as survey_store
from dialer.surveys.export import question_order, write_csv, write_json

survey_app = typer.Typer(help="Survey campaigns: export answers, select contacts by answer or tag.",
                         no_args_is_help=True)


class ExportFormat(StrEnum):
    """Formats of `survey export`."""

    CSV = "csv"
    JSON = "json"


def register(app: typer.Typer) -> None:
    """Add the commands to the app."""
    app.add_typer(survey_app, name="survey")


@survey_app.command("export")
def export(
    campaign: Annotated[str, typer.Argument(help="The survey campaign.")],
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f", help="csv or json.")] = ExportFormat.CSV,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here (mode 0600), not stdout.")] = None,
    config: ConfigOption = None,
    workdir: WorkdirOption = None,
) -> None:
    """One row per survey (a call with at least one answer), complete or partial: the number, when,
    and per question the meaning and the keys pressed."""
    quiet_logs()
    resolved = resolve_config(config, workdir)
    check_campaign(resolved, campaign)
    survey = resolved.campaigns[campaign].survey
    configured = [q.name for q in survey.questions] if survey is not None else []

    async def go() -> int:
        async with open_store(resolved, create=False) as db, db.read() as tx:
            calls = await survey_store.surveys_of(tx, campaign)
        questions = question_order(configured, calls)

        def write(stream: TextIO) -> int:
            if fmt is ExportFormat.JSON:
                return write_json(stream, campaign, calls)
            return write_csv(stream, campaign, questions, calls)

        if output is None:
            return write(sys.stdout)
        partial = output.with_name(output.name + ".part")  # personal data: owner only, whole or not at all
        with open_private(partial, file_mode=0o600, newline="") as handle:
            count = write(handle)
        os.replace(partial, output)
        return count

    try:
        count = asyncio.run(go())
    except BrokenPipeError:
        raise
    except OSError as exc:
        if output is None:
            raise
        output.with_name(output.name + ".part").unlink(missing_ok=True)
        fail(f"cannot write {output}: {exc.strerror}", 1)
    if output is not None:
        out.print(f"{output}: {count} survey(s)", markup=False)


@survey_app.command("select")
def select(
    into: Annotated[str, typer.Argument(help="The campaign the selected contacts become leads of.")],
    source: Annotated[str | None, typer.Option("--from", help="The survey campaign whose answers select.")] = None,
    question: Annotated[str | None, typer.Option(help="With --from: the question.")] = None,
    answer: Annotated[list[str] | None, typer.Option(
        help="With --question: a meaning that selects (repeat for several); a contact's latest answer counts.")
    ] = None,
    tag: Annotated[str | None, typer.Option(help="Select the contacts with this tag instead.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count, change nothing.")] = False,
    config: ConfigOption = None,
    workdir: WorkdirOption = None,
) -> None:
    """Make contacts leads of INTO, due now: those whose latest answer to --question in --from is one
    of --answer, or those tagged --tag. A number already a lead of INTO keeps its lead; every new lead
    meets the gate (DNC, consent, window, erasure) when it is dialled, like any other."""
    quiet_logs()
    resolved = resolve_config(config, workdir)
    check_campaign(resolved, into)
    by_answer = source is not None or question is not None or bool(answer)
    if by_answer == (tag is not None):
        fail("give --from, --question and --answer, or --tag", 2)
    if by_answer:
        check_campaign(resolved, source)
        if source is None or question is None or not answer:
            fail("--from, --question and --answer go together", 2)
        survey = resolved.campaigns[source].survey
        if survey is None or survey.question(question) is None:
            names = ", ".join(q.name for q in survey.questions) if survey is not None else "none: not a survey"
            fail(f"campaign {source!r} has no question {question!r} (questions: {names})", 2)

    async def go() -> tuple[int, int]:
        now = SystemClock().now()
        async with open_store(resolved, create=False) as db, db.write() as tx:
            if tag is not None:
                numbers = await survey_store.numbers_tagged(tx, tag)
                what = f"tag {tag}"
            else:
                assert source is not None
                assert question is not None
                assert answer
                numbers = await survey_store.numbers_answering(tx, source, question, answer)
                what = f"{source}.{question} in {', '.join(answer)}"
            if dry_run or not numbers:
                return len(numbers), 0
            added = await survey_store.add_leads(tx, into, numbers, now)
            await lead_store.audit(tx, into, "select", f"{added} lead(s) added from {len(numbers)} contact(s) "
                                   f"selected by {what}", actor(), now)
            return len(numbers), added

    selected, added = asyncio.run(go())
    if dry_run:
        out.print(f"{selected} number(s) selected; nothing changed (--dry-run)", markup=False)
    else:
        out.print(f"{selected} number(s) selected, {added} new lead(s) in {into}", markup=False)
