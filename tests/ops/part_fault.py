"""`python part_fault.py MODULE CLASS METHOD dialer-args...`: the `dialer` command with one part's
long-running coroutine replaced by one that raises when the process gets SIGUSR2. What a bug in
that part does to a real daemon process (tests/ops/test_part_failure_process.py)."""

from __future__ import annotations

import asyncio
import importlib
import signal
import sys
from typing import Any


def main() -> None:
    module, cls, method = sys.argv[1:4]

    async def failing(self: Any, *args: Any, **kwargs: Any) -> None:
        now = asyncio.Event()  # the test says when (SIGUSR2), once the daemon is dialing
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR2, now.set)
        await now.wait()
        raise RuntimeError(f"injected fault in {cls}.{method}")

    setattr(getattr(importlib.import_module(module), cls), method, failing)
    from dialer.cli import main as dialer_main

    sys.argv = ["dialer", *sys.argv[4:]]
    dialer_main()


if __name__ == "__main__":
    main()
