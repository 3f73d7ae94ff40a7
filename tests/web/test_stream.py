"""The fan-out: a page that does not keep up is dropped, never waited for; the others get every update."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.web.stream import HEARTBEAT, Fanout, sse_message


def test_an_update_is_one_sse_message_with_its_id_and_one_data_line():
    message = sse_message("snapshot", {"text": "two\nlines", "n": 1}, 7).decode()
    assert message == 'id: 7\nevent: snapshot\ndata: {"text":"two\\nlines","n":1}\n\n'
    assert HEARTBEAT.startswith(b"event: ping\n")


async def test_a_page_that_stops_reading_is_dropped_and_its_connection_aborted():
    fanout = Fanout(queue_size=3, max_clients=10)
    slow, quick = fanout.join(), fanout.join()
    assert slow is not None
    assert quick is not None
    aborted: list[str] = []
    slow.abort = lambda: aborted.append("slow")
    got: list[bytes] = []
    for n in range(10):
        fanout.publish("snapshot", {"n": n})
        got.append(await quick.next())  # the quick page reads each update as it comes
    assert [b'"n":' + str(n).encode() in m for n, m in enumerate(got)] == [True] * 10
    assert slow.dropped
    assert aborted == ["slow"]
    assert await slow.next() == b""  # its stream ends at once (what it had not read is gone)
    assert len(fanout) == 1
    assert fanout.dropped == 1


def test_more_pages_than_max_clients_are_refused():
    fanout = Fanout(queue_size=1, max_clients=2)
    assert fanout.join() is not None
    assert fanout.join() is not None
    assert fanout.join() is None


@settings(max_examples=200, deadline=None)
@given(queue_size=st.integers(1, 8),
       steps=st.lists(st.tuples(st.sampled_from(["publish", "read"]), st.integers(0, 3)), max_size=80))
def test_no_page_ever_holds_more_than_its_queue_and_a_reader_never_loses_an_update(queue_size, steps):
    async def run() -> None:
        fanout = Fanout(queue_size=queue_size, max_clients=10)
        pages = [fanout.join() for _ in range(4)]
        seen: list[list[bytes]] = [[] for _ in pages]
        published: list[bytes] = []
        for action, who in steps:
            if action == "publish":
                fanout.publish("snapshot", {"n": len(published)})
                published.append(b"")
            else:
                page = pages[who]
                assert page is not None
                if not page.queue.empty():
                    seen[who].append(page.queue.get_nowait())
            for page in pages:
                assert page is not None
                assert page.queue.qsize() <= queue_size
        for page, got in zip(pages, seen, strict=True):
            assert page is not None
            updates = [m for m in got if m]
            ids = [int(m.split(b"\n", 1)[0].removeprefix(b"id: ")) for m in updates]
            assert ids == sorted(ids)  # in order
            if not page.dropped:
                # Not dropped: it has everything, read or still queued, with no gap.
                queued = []
                while not page.queue.empty():
                    queued.append(page.queue.get_nowait())
                assert len(updates) + len(queued) == len(published)

    asyncio.run(run())
