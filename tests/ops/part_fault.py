"""`python part_fault.py MODULE CLASS METHOD TRIGGER dialer-args...`: the `dialer` command with one
part's long-running coroutine replaced by one that raises once TRIGGER exists. What a bug in that
part does to a real daemon process (tests/ops/test_part_failure_process.py)."""

from __future__ import annotations

import asyncio
import importlib
import sys
from pathlib import Path
from typing import Any


def main() -> None:
    module, cls, method, trigger = sys.argv[1:5]
    trigger_path = Path(trigger)

    async def failing(self: Any, *args: Any, **kwargs: Any) -> None:
        while not trigger_path.exists():  # polled: the test says when, once the daemon is dialing
            await asyncio.sleep(0.02)
        raise RuntimeError(f"injected fault in {cls}.{method}")

    setattr(getattr(importlib.import_module(module), cls), method, failing)
    from dialer.cli import main as dialer_main

    sys.argv = ["dialer", *sys.argv[5:]]
    dialer_main()


if __name__ == "__main__":
    main()
