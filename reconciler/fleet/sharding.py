"""The fleet safety threshold across shards: counted on the whole fleet, before any write.

Each shard reads only its own sites, so only it knows how many of them would get a
destructive step. The shards add their counts up through the state store they share:

1. every shard publishes its count for the run (`publish_count`), zero included;
2. a shard with no destructive step goes on at once: the threshold only holds back
   destructive steps, and it has none to hold back;
3. a shard whose own count already breaks the threshold refuses at once (the fleet's
   count can only be higher);
4. any other shard with destructive steps waits until every shard of the run has
   published, then judges the sum against the whole fleet's size, which every shard
   knows because every shard loads the whole config (and the whole state, for orphans).

Every shard that could write a destructive step therefore decides on the same fleet-wide
count, and refuses exactly when one process over the whole fleet would. A shard that
does not publish within the wait (crashed, never scheduled) makes the count unknowable:
the waiting shards then refuse their destructive steps and say which shard was missing,
the safe side of "unknown". `--force` skips the count, as it skips the threshold.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from reconciler.fleet.safety import SafetyDecision
from reconciler.fleet.shard import Shard

if TYPE_CHECKING:
    from reconciler.store import Store

POLL_S = 0.2


def fleet_decision(
    store: Store,
    run_id: str,
    shard: Shard,
    mine: int,
    judge: Callable[[int], SafetyDecision],
    *,
    wait_s: float,
    stop: threading.Event,
    force: bool = False,
    clock: Callable[[], float] = time.monotonic,
) -> SafetyDecision:
    """The threshold decision of shard `shard` of run `run_id`, whose sites would get
    `mine` destructive steps; `judge(count)` applies the threshold to a fleet-wide count."""
    store.publish_count(run_id, shard, mine)
    own = judge(mine)
    if mine == 0 or force or own.refused:
        return own
    deadline = clock() + wait_s
    while True:
        counts = store.shard_counts(run_id, shard.count)
        if len(counts) == shard.count:
            return judge(sum(counts.values()))
        if clock() >= deadline or stop.wait(POLL_S):
            missing = [i for i in range(shard.count) if i not in counts]
            listed = ", ".join(str(i) for i in missing)
            return SafetyDecision(
                False,
                sum(counts.values()),
                own.total_sites,
                f"the fleet-wide count of destructive steps is unknown: shard(s) {listed} "
                f"of run {run_id} did not publish theirs within {wait_s:g} s",
            )


__all__ = [
    "POLL_S",
    "fleet_decision",
]
