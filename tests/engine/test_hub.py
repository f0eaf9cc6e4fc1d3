"""The hub (reconciler/hub.py): many sites in one thread, each suspended only while it
waits, and never the thread blocked for one site's sake."""

from __future__ import annotations

import socket
import threading

import pytest

from reconciler import hub as hubs
from reconciler.engine import for_each_site
from reconciler.hub import Hub, Slots


@pytest.fixture(autouse=True, params=["edge", "selector"])
def poller(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every case with both ways of waiting: epoll's persistent edge-triggered
    registrations (Linux) and a selector registration per wait (elsewhere)."""
    edge = request.param == "edge"
    made = Hub.__init__

    def init(self: Hub, *, edge_triggered: bool | None = None) -> None:
        made(self, edge_triggered=edge)

    monkeypatch.setattr(Hub, "__init__", init)


def test_sites_waiting_at_once_all_start_before_any_ends() -> None:
    events: list[str] = []

    def site(name: str) -> str:
        events.append(f"start {name}")
        hubs.sleep(0.05)
        events.append(f"end {name}")
        return name.upper()

    assert for_each_site(["a", "b", "c"], site, concurrency=3) == ["A", "B", "C"]
    assert events[:3] == ["start a", "start b", "start c"]


def test_no_more_sites_run_at_once_than_the_concurrency() -> None:
    running, most = 0, 0

    def site(_: int) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        hubs.sleep(0.01)
        running -= 1

    for_each_site(list(range(12)), site, concurrency=4)
    assert most == 4


def test_a_blocking_call_runs_on_a_helper_thread_while_the_other_sites_go_on() -> None:
    """One site blocks on an event only another site sets: had the call blocked the hub's
    thread, the other site could never run and this would time out."""
    released = threading.Event()
    threads: list[str] = []

    def waits() -> None:
        threads.append(threading.current_thread().name)
        assert released.wait(timeout=10), "the hub was blocked"

    def site(name: str) -> None:
        if name == "waits":
            hubs.blocking(waits)
        else:
            hubs.sleep(0.01)
            released.set()

    for_each_site(["waits", "sets"], site, concurrency=2)
    assert threads and threads[0].startswith("hub-help")


def test_a_function_marked_as_blocking_runs_on_a_helper_thread_only_under_a_hub() -> None:
    @hubs.blocks
    def where(tag: str, *, suffix: str) -> str:
        """Where it ran."""
        return f"{tag}{suffix}:{threading.current_thread().name}"

    assert where.__doc__ == "Where it ran."
    here = threading.current_thread().name
    assert where("a", suffix="!") == f"a!:{here}"
    under_hub = Hub().run(lambda: where("b", suffix="?"))
    assert under_hub.startswith("b?:hub-help")


def test_a_socket_wait_ends_when_the_socket_is_readable_or_its_timeout_passes() -> None:
    left, right = socket.socketpair()
    hub = Hub()

    def main() -> tuple[bool, bool]:
        timed_out = hub.wait_readable(left, 0.05)
        right.send(b"x")
        return timed_out, hub.wait_readable(left, 5)

    with left, right:
        assert hub.run(main) == (False, True)


def test_a_bug_in_one_site_is_raised_after_the_others_ended() -> None:
    ended: list[str] = []

    def site(name: str) -> None:
        hubs.sleep(0.01 if name == "bad" else 0.03)
        if name == "bad":
            raise ValueError("a bug")
        ended.append(name)

    with pytest.raises(ValueError, match="a bug"):
        for_each_site(["bad", "good"], site, concurrency=2)
    assert ended == ["good"]


def test_greenlets_waiting_for_nothing_are_an_error_not_a_hang() -> None:
    hub = Hub()

    def main() -> None:
        slots = Slots(hub, 0)
        slots.acquire()  # nobody holds a slot to give back

    with pytest.raises(RuntimeError, match="wait for nothing"):
        hub.run(main)


def test_outside_a_hub_and_on_its_helper_threads_waits_block_as_usual() -> None:
    assert hubs.current() is None
    hub = Hub()
    seen: list[object] = []

    def main() -> None:
        seen.append(hubs.current())
        seen.append(hubs.blocking(hubs.current))

    hub.run(main)
    assert seen == [hub, None]
    assert hubs.current() is None


def test_a_new_socket_on_a_closed_ones_number_is_waited_on_afresh() -> None:
    """With persistent registrations, a socket that takes a closed socket's descriptor
    number must be registered again (the kernel dropped the old registration)."""
    hub = Hub()

    def main() -> list[bool]:
        seen = []
        for _ in range(3):
            left, right = socket.socketpair()
            with left, right:
                right.send(b"x")
                seen.append(hub.wait_readable(left, 2))
                left.recv(1)
        return seen

    assert hub.run(main) == [True, True, True]


def test_ctrl_c_in_one_site_ends_the_run_at_once_and_the_others_clean_up() -> None:
    cleaned: list[str] = []

    def site(name: str) -> None:
        if name == "interrupted":
            hubs.sleep(0.01)
            raise KeyboardInterrupt
        try:
            hubs.sleep(30)  # would hold the run for 30 s
        finally:
            cleaned.append(name)

    with pytest.raises(KeyboardInterrupt):
        for_each_site(["slow-a", "interrupted", "slow-b"], site, concurrency=3)
    assert sorted(cleaned) == ["slow-a", "slow-b"]
    assert hubs.current() is None
