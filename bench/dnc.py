"""Benchmark the national DNC registry: build, load, batch scrub and single lookups at US scale.

    .venv/bin/python bench/dnc.py                      # 250,000,000 numbers (needs ~5 GB RAM, ~4 GB disk)
    .venv/bin/python bench/dnc.py --size 10000000      # a quicker run

A seeded synthetic US registry is generated in chunks: numbers are a pseudo-random permutation
(a Feistel network with cycle-walking) of the valid NANP space, so they are distinct, in random
order, and any index past --size is a guaranteed non-member for the queries. It is written in
the registry's `AAA,NNNNNNN` layout, built (in a child process, to measure its peak memory),
loaded cold (the file's pages evicted with posix_fadvise) and warm, and queried. In the same run
the same lookups go against a plain Python set and an indexed SQLite table of --compare-size
numbers, reported as ratios. Figures go to stdout and to bench/out/dnc.md (summarised in BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import resource
import shlex
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dialer.compliance import (
    CompliancePolicy,
    DncIndex,
    GateRequest,
    Registry,
    RegistryFormat,
    build_gate,
    build_registry,
)
from dialer.numbers import normalise

# Valid NANP keys: area code NXX (200-999) x exchange NXX (200-999) x line (0000-9999).
AREAS = EXCHANGES = 800
SPACE = AREAS * EXCHANGES * 10_000  # 6.4e9
HALF_BITS = 17  # Feistel halves: a 34-bit domain covers SPACE
MASK = np.uint64((1 << HALF_BITS) - 1)
CHUNK = 10_000_000


def _round(r: np.ndarray, key: int) -> np.ndarray:
    x = (r * np.uint64(0x9E3779B97F4A7C15) + np.uint64(key)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    x ^= x >> np.uint64(29)
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(32)
    return x & MASK


def _feistel(x: np.ndarray, keys: tuple[int, ...]) -> np.ndarray:
    left, right = x >> np.uint64(HALF_BITS), x & MASK
    for key in keys:
        left, right = right, left ^ _round(right, key)
    return (left << np.uint64(HALF_BITS)) | right


def permute(index: np.ndarray, seed: int) -> np.ndarray:
    """A bijection of [0, SPACE) (cycle-walking a Feistel permutation of [0, 2**34))."""
    keys = tuple(int(k) for k in np.random.default_rng(seed).integers(1, 2**62, 4))
    out = _feistel(index.astype(np.uint64), keys)
    todo = np.flatnonzero(out >= SPACE)
    while len(todo):
        out[todo] = _feistel(out[todo], keys)
        todo = todo[out[todo] >= SPACE]
    return out


def nanp10(perm: np.ndarray) -> np.ndarray:
    """Permutation values as 10-digit NANP numbers (AAA NNN NNNN) in an integer."""
    area = perm // np.uint64(EXCHANGES * 10_000) + np.uint64(200)
    exchange = (perm // np.uint64(10_000)) % np.uint64(EXCHANGES) + np.uint64(200)
    return area * np.uint64(10**7) + exchange * np.uint64(10**4) + perm % np.uint64(10_000)


def numbers(start: int, stop: int, seed: int) -> np.ndarray:
    """The 10-digit numbers at permutation indexes [start, stop)."""
    return nanp10(permute(np.arange(start, stop, dtype=np.uint64), seed))


def csv_lines(n10: np.ndarray) -> bytes:
    """`AAA,NNNNNNN\\n` lines for 10-digit numbers, formatted with numpy."""
    out = np.empty((len(n10), 12), dtype=np.uint8)
    for col, power in zip((0, 1, 2, 4, 5, 6, 7, 8, 9, 10), range(9, -1, -1), strict=True):
        out[:, col] = (n10 // np.uint64(10**power)) % np.uint64(10) + np.uint64(48)
    out[:, 3] = ord(",")
    out[:, 11] = ord("\n")
    return out.tobytes()


def generate(path: Path, size: int, seed: int) -> float:
    """Write the synthetic registry file; returns seconds taken."""
    t0 = time.perf_counter()
    with path.open("wb") as out:
        for start in range(0, size, CHUNK):
            out.write(csv_lines(numbers(start, min(size, start + CHUNK), seed)))
    return time.perf_counter() - t0


def rss_bytes() -> dict[str, int]:
    """Resident memory of this process: total, anonymous and file-backed (mapped registry)."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in {"VmRSS", "RssAnon", "RssFile", "VmHWM"}:
            fields[key] = int(value.split()[0]) * 1024
    return fields


def evict(path: Path) -> None:
    """Drop this file's pages from the page cache, so the next read comes from disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def floor_bytes(universe: float, n: int) -> float:
    """log2 C(universe, n) / 8: the fewest bytes any structure can hold such a set in."""
    bits = (math.lgamma(universe + 1) - math.lgamma(n + 1) - math.lgamma(universe - n + 1)) / math.log(2)
    return bits / 8


def queries(size: int, count: int, seed: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`count` keys (+1 NANP as integers), half members, half guaranteed non-members, shuffled."""
    half = count // 2
    members = rng.integers(0, size, half, dtype=np.uint64)
    strangers = rng.integers(size, SPACE, count - half, dtype=np.uint64)
    keys = nanp10(permute(np.concatenate([members, strangers]), seed)) + np.uint64(10**10)
    truth = np.concatenate([np.ones(half, bool), np.zeros(count - half, bool)])
    order = rng.permutation(count)
    return keys[order], truth[order]


def timed_batch(fn, keys: np.ndarray) -> tuple[float, np.ndarray]:
    t0 = time.perf_counter()
    found = fn(keys)
    return time.perf_counter() - t0, found


# ---------------------------------------------------------------------------------------------
# Child process: the build, so that its peak memory is its own.


def child_build(source: str, target: str) -> None:
    t0 = time.perf_counter()
    info = build_registry(
        source,
        target,
        name="us-dnc-synthetic",
        fmt=RegistryFormat.US_CSV,
        data_as_of=datetime(2025, 7, 1, tzinfo=UTC),
    )
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result = {"seconds": seconds, "count": info.count, "bytes": info.file_bytes, "low_bits": info.low_bits}
    print(json.dumps({**result, "peak_rss": peak}))


def build_in_child(source: Path, target: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child-build", str(source), str(target)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=250_000_000, help="numbers in the synthetic registry")
    parser.add_argument(
        "--compare-size", type=int, default=10_000_000, help="numbers for the set/SQLite comparison"
    )
    parser.add_argument("--seed", type=int, default=20250701)
    parser.add_argument("--batch-queries", type=int, default=10_000_000)
    parser.add_argument("--single-queries", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dialer-bench-dnc"))
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out" / "dnc.md")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--child-build", nargs=2, metavar=("SOURCE", "TARGET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_build:
        child_build(*args.child_build)
        return

    command = " ".join(["python bench/dnc.py", shlex.join(sys.argv[1:])]).strip()
    figures: list[tuple[str, str]] = []

    def report(name: str, value: str) -> None:
        figures.append((name, value))
        print(f"{name:<52} {value:>30}    [{command}]", flush=True)

    args.workdir.mkdir(parents=True, exist_ok=True)
    source = args.workdir / f"us-{args.size}.csv"
    target = args.workdir / f"us-{args.size}.reg"
    rng = np.random.default_rng(args.seed)
    n = args.size

    gen_s = generate(source, n, args.seed)
    report("generate synthetic file (s)", f"{gen_s:.1f}")
    report("source file size", f"{source.stat().st_size / 1e9:.2f} GB ({n:,} lines)")

    built = build_in_child(source, target)
    report("build: parse + sort + write (s)", f"{built['seconds']:.1f}")
    report("build throughput (lines/s)", f"{n / built['seconds']:,.0f}")
    report("build peak RSS", f"{built['peak_rss'] / 1e9:.2f} GB")
    assert built["count"] == n, "the synthetic numbers are distinct by construction"
    size = target.stat().st_size
    floor_all = floor_bytes(1e10, n)  # any 10-digit number: the issue's ~210 MB for 250 M
    floor_nanp = floor_bytes(SPACE, n)  # only valid NANP numbers (NXX-NXX-XXXX)
    report("on-disk size", f"{size / 1e6:.1f} MB ({size * 8 / n:.2f} bits/number)")
    report(
        "floor, 10-digit universe (log2 C(1e10, n))", f"{floor_all / 1e6:.1f} MB ({size / floor_all:.2f}x)"
    )
    report(
        "floor, valid NANP universe (log2 C(6.4e9, n))",
        f"{floor_nanp / 1e6:.1f} MB ({size / floor_nanp:.2f}x)",
    )
    report("low bits per number (chosen by density)", str(built["low_bits"]))
    if not args.keep:
        source.unlink()

    before = rss_bytes()
    evict(target)
    t0 = time.perf_counter()
    registry = Registry.load(target)  # CRC over the whole file: reads every page
    cold_s = time.perf_counter() - t0
    report("load, cold page cache, with CRC check (s)", f"{cold_s:.2f}")
    t0 = time.perf_counter()
    Registry.load(target)
    report("load, warm page cache, with CRC check (s)", f"{time.perf_counter() - t0:.2f}")
    t0 = time.perf_counter()
    Registry.load(target, verify=False)
    report("load, mmap only, no CRC (s)", f"{time.perf_counter() - t0:.4f}")
    gc.collect()

    keys, truth = queries(n, args.batch_queries, args.seed, rng)
    batch_s, found = timed_batch(registry.contains_many, keys)
    assert np.array_equal(found, truth), "batch scrub disagrees with the construction"
    report("batch scrub, numpy (lookups/s)", f"{len(keys) / batch_s:,.0f}")
    after = rss_bytes()
    report(
        "RSS after load + scrub (file-backed pages)", f"{(after['RssFile'] - before['RssFile']) / 1e6:.1f} MB"
    )

    index = DncIndex()
    index.set_registry(registry)
    single_keys, single_truth = keys[: args.single_queries], truth[: args.single_queries]
    e164s = ["+" + str(k) for k in single_keys.tolist()]
    t0 = time.perf_counter()
    hits = [index.registry_hit(e) is not None for e in e164s]
    single_s = time.perf_counter() - t0
    assert hits == single_truth.tolist()
    report("single lookups, DncIndex.registry_hit (lookups/s)", f"{len(e164s) / single_s:,.0f}")
    contains = registry.contains
    t0 = time.perf_counter()
    for e in e164s:
        contains(e)
    report("single lookups, Registry.contains (lookups/s)", f"{len(e164s) / (time.perf_counter() - t0):,.0f}")
    gate_rate(index, report)
    del e164s, hits, keys, truth, found, index, registry
    gc.collect()

    compare(args, rng, report)
    if not args.keep:
        for path in args.workdir.glob("*"):
            path.unlink()

    write_markdown(args.out, command, figures)


def gate_rate(index: DncIndex, report) -> None:
    """Whole-chain decisions per second with the registry loaded (not a registry figure, for scale)."""
    policy = CompliancePolicy()
    gate = build_gate(policy, index)
    now = datetime(2025, 7, 8, 18, 0, tzinfo=UTC)  # 14:00 in New York
    for label, raw in (("single-zone number", "+12025550123"), ("US toll-free, 42 zones", "+18005551234")):
        number = normalise(raw, "US")
        request = GateRequest(number.e164, "US", policy, campaign="bench", caller_id="Acme <+12025550199>",
                              normalised=number)  # fmt: skip
        verdict = gate.check(request, now).rule
        count = 20_000
        t0 = time.perf_counter()
        for _ in range(count):
            gate.check(request, now)
        report(
            f"gate.check, whole chain, {label} ({verdict}) /s", f"{count / (time.perf_counter() - t0):,.0f}"
        )


def compare(args: argparse.Namespace, rng: np.random.Generator, report) -> None:
    """The same lookups against our structure, a Python set and SQLite, at a size the set can hold."""
    m = args.compare_size
    csv = args.workdir / f"cmp-{m}.csv"
    reg = args.workdir / f"cmp-{m}.reg"
    generate(csv, m, args.seed)
    build_registry(
        csv, reg, name="cmp", fmt=RegistryFormat.US_CSV, data_as_of=datetime(2025, 7, 1, tzinfo=UTC)
    )
    registry = Registry.load(reg)
    members = numbers(0, m, args.seed) + np.uint64(10**10)
    count = min(args.single_queries, 1_000_000)
    keys, truth = queries(m, count, args.seed, rng)
    e164s = ["+" + str(k) for k in keys.tolist()]

    # ours
    batch_ours = timed_batch(registry.contains_many, keys)[0]
    t0 = time.perf_counter()
    for e in e164s:
        registry.contains(e)
    single_ours = time.perf_counter() - t0

    # Python set of integer keys
    gc.collect()
    base = rss_bytes()["RssAnon"]
    as_list = members.tolist()
    t0 = time.perf_counter()
    plain = set(as_list)
    set_build = time.perf_counter() - t0
    del as_list
    gc.collect()
    set_bytes = rss_bytes()["RssAnon"] - base
    t0 = time.perf_counter()
    for e in e164s:
        int(e[1:]) in plain  # noqa: B015 - the lookup is the point
    single_set = time.perf_counter() - t0
    t0 = time.perf_counter()
    got = [k in plain for k in keys.tolist()]
    batch_set = time.perf_counter() - t0
    assert got == truth.tolist()
    del plain, got
    gc.collect()

    # SQLite, an integer primary key (the rowid B-tree itself), on disk
    db_path = args.workdir / f"cmp-{m}.sqlite"
    db_path.unlink(missing_ok=True)
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("CREATE TABLE dnc (number INTEGER PRIMARY KEY)")
    t0 = time.perf_counter()
    with db:
        db.executemany("INSERT INTO dnc VALUES (?)", ((k,) for k in np.sort(members).tolist()))
    sqlite_build = time.perf_counter() - t0
    sqlite_bytes = db_path.stat().st_size
    cursor = db.cursor()
    t0 = time.perf_counter()
    for e in e164s:
        cursor.execute("SELECT 1 FROM dnc WHERE number = ?", (int(e[1:]),)).fetchone()
    single_sqlite = time.perf_counter() - t0
    t0 = time.perf_counter()
    db.execute("CREATE TEMP TABLE q (number INTEGER)")
    db.executemany("INSERT INTO q VALUES (?)", ((k,) for k in keys.tolist()))
    (hits,) = db.execute("SELECT count(*) FROM q JOIN dnc USING (number)").fetchone()
    batch_sqlite = time.perf_counter() - t0
    assert hits == int(truth.sum())
    db.close()

    ours_bytes = reg.stat().st_size
    label = f"{m / 1e6:g} M"
    report(f"[{label}] ours: size", f"{ours_bytes / 1e6:.1f} MB")
    report(
        f"[{label}] Python set of ints: memory",
        f"{set_bytes / 1e6:.1f} MB ({set_bytes / ours_bytes:.0f}x ours)",
    )
    report(
        f"[{label}] SQLite INTEGER PRIMARY KEY: file",
        f"{sqlite_bytes / 1e6:.1f} MB ({sqlite_bytes / ours_bytes:.0f}x ours)",
    )
    report(f"[{label}] set build / SQLite insert (s)", f"{set_build:.1f} / {sqlite_build:.1f}")
    report(f"[{label}] single lookups/s: ours", f"{count / single_ours:,.0f}")
    report(
        f"[{label}] single lookups/s: set",
        f"{count / single_set:,.0f} (ours/set speed {single_set / single_ours:.2f})",
    )
    report(
        f"[{label}] single lookups/s: SQLite",
        f"{count / single_sqlite:,.0f} (ours/SQLite speed {single_sqlite / single_ours:.1f})",
    )
    report(f"[{label}] batch lookups/s: ours (numpy)", f"{count / batch_ours:,.0f}")
    report(
        f"[{label}] batch lookups/s: set (list comp.)",
        f"{count / batch_set:,.0f} (ours/set speed {batch_set / batch_ours:.1f})",
    )
    report(
        f"[{label}] batch lookups/s: SQLite (temp table join)",
        f"{count / batch_sqlite:,.0f} (ours/SQLite speed {batch_sqlite / batch_ours:.1f})",
    )


def write_markdown(path: Path, command: str, figures: list[tuple[str, str]]) -> None:
    cpu = platform.processor() or platform.machine()
    model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                  if ln.startswith("model name")), cpu)  # fmt: skip
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    lines = [
        "# DNC registry benchmark",
        "",
        f"Command: `{command}`  ",
        f"Machine: {os.cpu_count()} cores ({model}), {mem_gib:.0f} GiB RAM, "
        f"Python {platform.python_version()}, numpy {np.__version__}, SQLite {sqlite3.sqlite_version}  ",
        f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        "| figure | value |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in figures),
        "",
        "Notes:",
        "- Numbers are distinct by construction (a seeded permutation of the valid NANP space), in random",
        "  order; queries are half members, half guaranteed non-members, shuffled; batch keys are given as",
        "  a uint64 array (E.164 digits as integers), single lookups as E.164 strings.",
        "- The structure: sorted keys split by high bits. At US density (250 M of 8e9 keys) it keeps the low",
        "  8 bits of each number (1 byte), a u16 offset per 256-key bucket (2 bits/number) and a u64 per",
        "  65,536 keys: ~10 bits/number. Sparser registries get 16-bit lows (chosen by size).",
        '- "Cold" load evicts the file\'s pages with posix_fadvise(DONTNEED) first; on this VM the host may',
        "  still cache the disk. Loading maps the file and checks its CRC-32 (reads every page once); the",
        "  mapping alone is instant. The loaded size is the file size (file-backed pages, shared).",
        '- The set and SQLite comparisons use the same query mix at --compare-size numbers; "ours/X speed"',
        "  is how many times faster ours is (below 1 = slower). A Python set is faster per single lookup but",
        "  needs ~30x the memory (a 250 M set would need ~15 GB).",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
