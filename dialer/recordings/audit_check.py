"""Re-hash the archive: every file a metadata row points to must exist and still match its sha256."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dialer.recordings import store
from dialer.store import Database

_BLOCK = 1 << 20


@dataclass(frozen=True, slots=True)
class Finding:
    """A file that is not what its metadata row says."""

    call_id: str
    campaign_id: str
    path: str
    problem: str  # "vanished", or "changed: ..."


@dataclass(slots=True)
class VerifyReport:
    """The outcome of one re-hash."""

    checked: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every file matched."""
        return not self.findings


async def verify_archive(db: Database, now: float, campaign: str | None = None,
                         on_progress: Callable[[int, int], None] | None = None) -> VerifyReport:
    """Re-hash every archived file (of one campaign, or all) and store each result on its row;
    `on_progress(done, total)` after each file (from a worker thread)."""
    async with db.read() as tx:
        rows = await store.archived(tx, campaign)
    items = [(row["call_id"], row["campaign_id"], row["path"], row["sha256"], row["bytes"]) for row in rows]
    problems = await asyncio.to_thread(_check_all, items, on_progress)
    report = VerifyReport(checked=len(items))
    for (call_id, campaign_id, path, _, _), problem in zip(items, problems, strict=True):
        if problem is not None:
            report.findings.append(Finding(call_id, campaign_id, path, problem))
    async with db.write() as tx:
        await store.record_verification(tx, [(item[0], problem) for item, problem in zip(items, problems,
                                                                                          strict=True)], now)
    return report


def _check_all(items: list[tuple[str, str, str, str, int]],
               on_progress: Callable[[int, int], None] | None = None) -> list[str | None]:
    problems = []
    for _, _, path, sha256, size in items:
        problems.append(_check(Path(path), sha256, size))
        if on_progress is not None:
            on_progress(len(problems), len(items))
    return problems


def _check(path: Path, sha256: str, size: int) -> str | None:
    digest = hashlib.sha256()
    read = 0
    try:
        with path.open("rb") as handle:
            while block := handle.read(_BLOCK):
                digest.update(block)
                read += len(block)
    except FileNotFoundError:
        return "vanished"
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    if digest.hexdigest() != sha256:
        return f"changed: {read} bytes with sha256 {digest.hexdigest()[:16]}…, recorded {size} bytes, {sha256[:16]}…"
    return None
