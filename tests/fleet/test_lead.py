"""The loader's lead over the reads (reconciler/fleet/lead.py): it never runs more than
`high` sites ahead, and once blocked it is woken only when the waiting sites are down to
`low`, so it loads a batch per wake-up instead of one document per read."""

from __future__ import annotations

import threading
import time

import pytest

from reconciler.fleet.lead import Lead


def test_the_loader_blocks_at_high_and_wakes_only_at_low() -> None:
    lead = Lead(high=4, low=1)
    for _ in range(4):
        lead.acquire()  # room for four: none of these waits
    queued = threading.Event()

    def load_one_more() -> None:
        lead.acquire()
        queued.set()

    loader = threading.Thread(target=load_one_more, daemon=True)
    loader.start()
    assert not queued.wait(0.2)  # four waiting: blocked
    lead.release()
    lead.release()  # two waiting: still above low, still blocked
    assert not queued.wait(0.2)
    lead.release()  # one waiting: low reached, the loader goes on
    assert queued.wait(5)
    loader.join(5)


def test_a_loader_and_readers_move_every_site_through() -> None:
    lead = Lead(high=8, low=2)
    taken: list[int] = []
    waiting: list[int] = []
    most_ahead = 0
    guard = threading.Lock()
    done = threading.Event()

    def reader() -> None:
        while not (done.is_set() and not waiting):
            with guard:
                item = waiting.pop(0) if waiting else None
            if item is None:
                time.sleep(0.0005)
                continue
            lead.release()
            taken.append(item)

    readers = [threading.Thread(target=reader, daemon=True) for _ in range(3)]
    for thread in readers:
        thread.start()
    for item in range(300):
        lead.acquire()
        with guard:
            waiting.append(item)
            most_ahead = max(most_ahead, len(waiting))
    done.set()
    for thread in readers:
        thread.join(5)
    assert sorted(taken) == list(range(300))
    assert most_ahead <= 8


@pytest.mark.parametrize(("high", "low"), [(2, 2), (2, 3), (0, 0), (3, -1)])
def test_a_lead_without_room_between_low_and_high_is_refused(high: int, low: int) -> None:
    with pytest.raises(ValueError, match="low < high"):
        Lead(high=high, low=low)
