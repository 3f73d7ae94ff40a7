"""Run the simulator as a process: `run()` for `dialer sim`, and the argparse front-end."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from dialer.sim.callees import Profile, ProfileError, load_profile
from dialer.sim.config import SimConfig, SimUser
from dialer.sim.server import SimServer


def run(
    host: str = "127.0.0.1",
    port: int = 5038,
    profile: Path | None = None,
    log: Path | None = None,
    spool_dir: Path | None = None,
    time_scale: float | None = None,
    seed: int | None = None,
    users: Mapping[str, SimUser] | None = None,
    cdr: Path | None = None,
) -> int:
    """Serve until SIGINT/SIGTERM; both end like `core stop now` (Shutdown event). SIGUSR1 drops
    every AMI client's socket (calls go on, as in transcript 22). Returns 0."""
    config = SimConfig(
        host=host,
        port=port,
        profile=load_profile(profile) if profile is not None else Profile(),
        log_path=log,
        time_scale=time_scale,
        seed=seed,
        cdr_path=cdr,
    )
    if spool_dir is not None:
        config.spool_dir = spool_dir
    if users is not None:
        config.users = dict(users)
    return asyncio.run(_serve(config))


async def _serve(config: SimConfig) -> int:
    sim = SimServer(config)
    await sim.start()
    print(f"sim: listening on {config.host}:{sim.port}", flush=True)
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    loop.add_signal_handler(signal.SIGUSR1, _drop_clients, sim)
    try:
        await stopping.wait()
        await sim.shutdown()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):
            loop.remove_signal_handler(signum)
        await sim.stop()
    print("sim: stopped", flush=True)
    return 0


def _drop_clients(sim: SimServer) -> None:
    print(f"sim: dropping {len(sim.sessions)} AMI client(s)", flush=True)
    sim.drop_clients()


def _user(text: str) -> tuple[str, SimUser]:
    parts = text.split(":")
    if len(parts) < 2 or not parts[0]:
        raise argparse.ArgumentTypeError("expected NAME:SECRET[:READ[:WRITE]]")
    read = parts[2] if len(parts) > 2 else "all"
    write = parts[3] if len(parts) > 3 else "all"
    return parts[0], SimUser(secret=parts[1], read=read, write=write)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m dialer.sim`: parse arguments and run."""
    parser = argparse.ArgumentParser(prog="python -m dialer.sim", description="Asterisk AMI simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5038, help="0 picks a free port (printed)")
    parser.add_argument("--profile", type=Path, help="TOML callee profile (replaces the default table)")
    parser.add_argument("--log", type=Path, help="JSON lines: one per Originate and per call end")
    parser.add_argument("--cdr", type=Path, help="write cdr_custom's record for the dialer here "
                        "(the format of config/asterisk/cdr_custom.conf)")
    parser.add_argument("--spool-dir", type=Path, help="where MixMonitor files go by default")
    parser.add_argument("--time-scale", type=float, help="multiplier for every simulated duration")
    parser.add_argument("--seed", type=int, help="seed of the callee and event-order generators")
    parser.add_argument(
        "--user",
        action="append",
        type=_user,
        metavar="NAME:SECRET[:READ[:WRITE]]",
        help="manager user (repeatable); default dialer:dialer-secret with all classes",
    )
    args = parser.parse_args(argv)
    try:
        return run(
            host=args.host,
            port=args.port,
            profile=args.profile,
            log=args.log,
            spool_dir=args.spool_dir,
            time_scale=args.time_scale,
            seed=args.seed,
            users=dict(args.user) if args.user else None,
            cdr=args.cdr,
        )
    except (ProfileError, OSError) as exc:
        print(f"sim: {exc}", file=sys.stderr)
        return 2
