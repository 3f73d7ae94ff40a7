"""Memory of the AMI client when a PBX answers CoreShowChannels with a huge list.

    python bench/list_cap.py                   # 1,000,000 list items, cap 20,000 (default) vs no cap
    python bench/list_cap.py --items 200000

The simulator (this process) lists `--items` made-up channels (its `channel_list_padding` fault); the
client runs in a child process, asks CoreShowChannels once, and reports its peak resident memory
(VmHWM, from the kernel) over its memory before the list, with the cap and without one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dialer.sim import SimConfig, SimServer, SimUser

CLIENT = """
import asyncio, json, sys, time
from pathlib import Path
from dialer.ami import AmiClient, AmiSettings
from dialer.ami.errors import AmiListCapped
from dialer.engine import Engine

def kb(field):
    return next(int(l.split()[1]) for l in Path("/proc/self/status").read_text().splitlines() if l.startswith(field))

async def main(port, cap):
    settings = AmiSettings("127.0.0.1", port, "dialer", "bench", ping_interval_s=600, ping_timeout_s=600,
                           action_timeout_s=600, max_list_items=cap)
    async with AmiClient(settings, on_event=lambda m: None, wanted_events=Engine.wanted_events()) as client:
        before = kb("VmRSS")
        start = time.monotonic()
        try:
            _, items = await client.list_action([("Action", "CoreShowChannels")])
            kept, capped = len(items), False
        except AmiListCapped:
            kept, capped = cap, True
        await client.action([("Action", "Ping")])  # answered after the whole list: everything was read
        print(json.dumps({"before_kb": before, "peak_kb": kb("VmHWM"), "kept": kept, "capped": capped,
                          "seconds": time.monotonic() - start}))

asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
"""


async def measure(items: int, cap: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        config = SimConfig(users={"dialer": SimUser(secret="bench")}, spool_dir=Path(tmp))
        async with SimServer(config) as sim:
            sim.faults.channel_list_padding = items
            child = await asyncio.create_subprocess_exec(sys.executable, "-c", CLIENT, str(sim.port), str(cap),
                                                         stdout=asyncio.subprocess.PIPE)
            out, _ = await child.communicate()
    return json.loads(out.decode().strip().splitlines()[-1])  # the client logs before it


def main() -> None:
    """Measure with the default cap and without one; print the figures with the command."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--cap", type=int, default=20_000)
    args = parser.parse_args()
    print(f"# python bench/list_cap.py {' '.join(sys.argv[1:])}\n# {platform.node()} "
          f"{platform.processor() or platform.machine()}, Python {platform.python_version()}")
    for cap in (args.cap, 10**12):
        r = asyncio.run(measure(args.items, cap))
        label = f"cap {cap:,}" if cap < 10**12 else "no cap"
        print(f"{args.items:,} items, {label}: RSS {r['before_kb'] / 1024:.0f} MiB before, peak "
              f"{r['peak_kb'] / 1024:.0f} MiB (+{(r['peak_kb'] - r['before_kb']) / 1024:.0f} MiB); "
              f"{r['kept']:,} items kept, capped={r['capped']}, list read in {r['seconds']:.1f} s")


if __name__ == "__main__":
    main()
