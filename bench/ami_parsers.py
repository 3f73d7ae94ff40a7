"""AMI parsing cost per call: the bare floor, the dialer's FrameParser (and, as the baseline in the
same run, the parser before issue 11's frame checks), and panoramisk 1.4.

    python bench/ami_parsers.py                 # needs panoramisk for its line: pip install 'panoramisk==1.4'

Input: the byte stream a real Asterisk 22 sent for 20 concurrent calls (transcript 17, read=all
user), repeated. This is why the AMI client is our own: panoramisk's parsing alone (before its
callback matching) costs several times the floor, and the dialer's whole per-call budget is 3x.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.frames_before import FrameParserBefore
from dialer.ami.frames import FrameParser
from dialer.engine import Engine
from tests.transcripts import stream

REPEAT = 50
CALLS_PER_STREAM = 20


ROUNDS = 7  # best of: the machine is shared, the minimum is the least disturbed run


def cpu(fn: object, *args: object) -> float:
    """Best of ROUNDS CPU times of fn(*args)."""
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.process_time()
        fn(*args)  # type: ignore[operator]
        best = min(best, time.process_time() - start)
    return best


def bare(data: bytes) -> None:
    """The floor: split frames, decode, split lines into a dict."""
    for frame in data.split(b"\r\n\r\n"):
        message = {}
        for line in frame.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(": ")
            message[key] = value


def ours(data: bytes, wanted: frozenset[str] | None) -> None:
    """The dialer's FrameParser, fed in 64 KiB reads like the client does."""
    parser = FrameParser(wanted)
    for i in range(0, len(data), 65536):
        parser.feed(data[i:i + 65536])


def before(data: bytes, wanted: frozenset[str] | None) -> None:
    """The parser before issue 11 (bench/frames_before.py), fed the same way: the baseline."""
    parser = FrameParserBefore(wanted)
    for i in range(0, len(data), 65536):
        parser.feed(data[i:i + 65536])


def panoramisk_parse(data: bytes) -> None:
    """panoramisk 1.4's own parsing path (AMIProtocol.data_received's split + Message.from_line)."""
    from panoramisk.message import Message

    text = data.decode("ascii", "ignore")
    for line in text.split("\r\n\r\n"):
        Message.from_line(line.strip())


def main() -> None:
    """Print CPU per call for each parser."""
    body = stream("17-concurrent-20.txt").split(b"\r\n", 1)[1] * REPEAT
    calls = CALLS_PER_STREAM * REPEAT
    print(f"# python bench/ami_parsers.py  (transcript 17 x {REPEAT} = {calls} calls, "
          f"{len(body) / calls / 1024:.1f} KiB per call)")
    floor = cpu(bare, body) / calls * 1e6
    print(f"bare split-parse floor:           {floor:6.0f} µs/call  1.00x")
    wanted = Engine.wanted_events()
    old_full = cpu(before, body, None) / calls * 1e6
    print(f"parser before issue 11, all:      {old_full:6.0f} µs/call  {old_full / floor:.2f}x  (baseline)")
    full = cpu(ours, body, None) / calls * 1e6
    print(f"dialer FrameParser, all events:   {full:6.0f} µs/call  {full / floor:.2f}x  "
          f"({full / old_full:.2f}x the baseline)")
    old_skip = cpu(before, body, wanted) / calls * 1e6
    print(f"parser before issue 11, tracker:  {old_skip:6.0f} µs/call  {old_skip / floor:.2f}x  (baseline)")
    skip = cpu(ours, body, wanted) / calls * 1e6
    print(f"dialer FrameParser, tracker set:  {skip:6.0f} µs/call  {skip / floor:.2f}x  "
          f"({skip / old_skip:.2f}x the baseline)")
    try:
        pano = cpu(panoramisk_parse, body) / calls * 1e6
    except ImportError:
        print("panoramisk 1.4:                   not installed (pip install 'panoramisk==1.4')")
    else:
        print(f"panoramisk 1.4 Message.from_line: {pano:6.0f} µs/call  {pano / floor:.2f}x  "
              "(parsing only; its callback dispatch comes on top)")


if __name__ == "__main__":
    main()
