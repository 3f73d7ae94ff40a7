"""AMI parsing cost per call: the bare floor, the dialer's FrameParser, and panoramisk 1.4.

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

from dialer.ami.frames import FrameParser
from dialer.engine import Engine
from tests.transcripts import stream

REPEAT = 50
CALLS_PER_STREAM = 20


def cpu(fn: object, *args: object) -> float:
    """Best of three CPU times of fn(*args)."""
    best = float("inf")
    for _ in range(3):
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
    full = cpu(ours, body, None) / calls * 1e6
    print(f"dialer FrameParser, all events:   {full:6.0f} µs/call  {full / floor:.2f}x")
    skip = cpu(ours, body, Engine.wanted_events()) / calls * 1e6
    print(f"dialer FrameParser, tracker set:  {skip:6.0f} µs/call  {skip / floor:.2f}x")
    try:
        pano = cpu(panoramisk_parse, body) / calls * 1e6
    except ImportError:
        print("panoramisk 1.4:                   not installed (pip install 'panoramisk==1.4')")
    else:
        print(f"panoramisk 1.4 Message.from_line: {pano:6.0f} µs/call  {pano / floor:.2f}x  "
              "(parsing only; its callback dispatch comes on top)")


if __name__ == "__main__":
    main()
