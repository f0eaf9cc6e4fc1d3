"""One reconcile pass over the whole fleet.

Load and validate the config (invalid: nothing is applied), read and plan every site
concurrently, decide the fleet safety threshold on the whole set of plans, apply where
policy allows under per-site locks, handle orphans, then record state and the report
atomically. Sites are independent: a missing key, a failing API or a failed apply becomes
that site's report, never the pass's end.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler import hub as hubs
from reconciler.apply import SiteResult
from reconciler.backend import Backend, BackendKind
from reconciler.backends import RoutedBackend
from reconciler.client import ClientConfig, ClientStats
from reconciler.engine import for_each_site, select_sites
from reconciler.errors import SpecError, TransportError
from reconciler.fleet.drift import ChangedBy, Resolution
from reconciler.fleet.gitinfo import git_info
from reconciler.fleet.safety import SafetyDecision, check_threshold
from reconciler.fleet.section import (
    FleetSection,
    FleetSite,
    Orphan,
    ResolvedDrift,
    Safety,
    SkipReason,
)
from reconciler.fleet.shard import Shard
from reconciler.fleet.sharding import fleet_decision
from reconciler.fleet.sites import (
    Planned,
    apply_planned,
    failed_report,
    probe_sites,
    read_and_plan,
    resolve_drift,
)
from reconciler.fleet.state import FleetState, SiteFile, SiteState, spec_hash, spec_text
from reconciler.model import DeletionPolicy, Desired
from reconciler.plan import ConditionType, Drift
from reconciler.report import RunReport, SiteReport, SiteStatus
from reconciler.report.json_report import PRETTY_MAX_SITES, LazySites, report_to_dict
from reconciler.report.spool import SiteSpool, SpooledSite, SpooledSites
from reconciler.rules import OrphanAction, disconnected, orphan_decision
from reconciler.selection import empty_config_error, select_by_labels
from reconciler.spec import desired_from_document, desired_to_document, iter_load
from reconciler.store import PassDocumentCache, PassNote, Store, open_store

log = logging.getLogger("brightback.reconcile")

# While loading beside the reads, freeze what is loaded every so many sites, so the full
# collections the reads' allocations trigger do not re-scan the growing config.
_FREEZE_EVERY = 500
_ORPHANS = 1 << 40  # orphans come after every configured site (Planned.order)


@dataclass(frozen=True)
class PassOptions:
    paths: Sequence[str]
    state_dir: Path
    client_config: ClientConfig
    concurrency: int = 16
    allow_disconnect: bool = False
    force: bool = False
    max_destructive_percent: float = 10.0
    max_destructive_sites: int | None = None
    sites: Sequence[str] | None = None
    selector: Mapping[str, str] | None = None  # --selector: only documents with these labels
    allow_empty: bool = False  # --allow-empty: a config with no documents is not an error
    max_backoff_passes: int = 8
    max_replans: int = 3
    probe: bool = False
    state_url: str | None = None  # postgresql://...: the shared store instead of state_dir
    shard: Shard = field(default_factory=Shard)
    run_id: str | None = None  # the shards of one run share it (default: pass-<number>)
    shard_wait_s: float = 600.0  # how long a shard waits for the others' counts
    pass_timeout_s: float | None = None  # --pass-timeout: sites not started by then wait
    backend: BackendKind = BackendKind.API  # --backend; a document's spec.backend wins
    console: Callable[[], Any] | None = None  # makes the ConsoleConfig, if a site needs it


@dataclass
class PassResult:
    report: RunReport
    document: dict[str, Any]  # what last-report.json holds
    pass_no: int
    duration_s: float
    # report_to_dict(report); past 200 sites its `sites` are JSON texts (RawJSON) copied
    # from the pass's spool, as stdout gets them.
    printed: dict[str, Any] = field(default_factory=dict)
    drift_found: int = 0
    drift_corrected: int = 0
    stopped: bool = False

    @property
    def exit_code(self) -> int:
        return self.report.exit_code


Tick = Callable[[str], None]  # progress: called once per site handled


def run_pass(
    options: PassOptions,
    *,
    stop: threading.Event | None = None,
    stats: ClientStats | None = None,
    tick: Tick = lambda _name: None,
    store: Store | None = None,
) -> PassResult:
    """Run one pass and record it in the state store (`options.state_url`, else the
    state directory): each site's state as it is settled, then the pass and its report.
    `store`: an open store to use (and leave open), else one is opened for the pass."""
    stop = stop or threading.Event()
    started = time.time()
    clock = time.monotonic()
    owned = store is None
    if store is None:
        store = open_store(options.state_dir, options.state_url)
    try:
        state = store.load()
        pass_no = state.passes + 1
        git = git_info(options.paths)
        run = _Pass(options, stop, tick, store, pass_no, state, started)
        try:
            api, sleep = options.client_config, run.sleep
            backend = RoutedBackend(
                options.backend,
                writes=True,
                api=api,
                stats=stats,
                sleep=sleep,
                console=options.console,
            )
            with closing(backend):
                return run.execute(backend, git, clock)
        except _InvalidConfig as invalid:
            log.error("invalid config, nothing applied", extra={"pass": pass_no})
            problems = invalid.error.problems
            notes = ("invalid config: nothing was applied", *(str(p) for p in problems))
            report = RunReport("reconcile", (), notes=notes, refused=True)
            store.finish_pass(run.note(git, report), (), ())
            return _finish(store, options, report, pass_no, started, clock, git, {})
        finally:
            if run.frozen:
                gc.unfreeze()
    finally:
        if owned:
            store.close()


def _saving(documents: PassDocumentCache | None, loading: Iterator[Desired]) -> Iterator[Desired]:
    """`loading`, then the pass's document cache saved (only when it changed): pruned to
    the files this pass read when the whole config loaded, else only added to."""
    complete = False
    try:
        yield from loading
        complete = True
    finally:
        if documents is not None:
            documents.save(complete=complete)


class _InvalidConfig(Exception):
    """The config failed to load or select: raised only from loading, so no other
    SpecError (an unreadable orphan spec is handled per site) is mistaken for it."""

    def __init__(self, error: SpecError) -> None:
        super().__init__(str(error))
        self.error = error


def drift_baseline(known: SiteState | None, spec_digest: str) -> frozenset[str] | None:
    """The fields that can have *drifted* this pass (None: every field).

    Every field when the last pass left the site in sync under this very spec; the fields
    still drifted (unresolved) when it did not; none for a site never seen or whose spec
    changed since: onboarding, a site waiting to converge and a config edit differ from
    the spec too, but nobody changed the site behind our back.
    """
    if known is None or known.spec_hash != spec_digest:
        return frozenset()
    if known.in_sync:
        return None
    last = known.history[-1] if known.history else None
    if last is not None and last["resolution"] != "corrected":
        return frozenset(last["fields"])
    return frozenset()


def converged(report: SiteReport) -> bool:
    """Whether the site matched its spec when the pass left it: read in sync, or applied
    to Ready (not waiting, drifted, blocked or failed)."""
    return (
        report.status in (SiteStatus.IN_SYNC, SiteStatus.APPLIED)
        and bool(report.conditions)
        and all(c.type is ConditionType.READY for c in report.conditions)
    )


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _finish(
    store: Store,
    options: PassOptions,
    report: RunReport,
    pass_no: int,
    started: float,
    clock: float,
    git: Any,
    extra: dict[str, int],
    stopped: bool = False,
) -> PassResult:
    duration = time.monotonic() - clock
    # A big report's site entries are built as they are written, for stdout and the file
    # each, never all held at once (memory flat in fleet size); a small one's once.
    big = len(report.sites) > PRETTY_MAX_SITES
    printed = report_to_dict(report, lazy=big)
    spooled = report.sites if isinstance(report.sites, SpooledSites) else None

    def labels(name: str) -> Mapping[str, str]:
        return spooled.labels(name) if spooled is not None else {}

    sites: Sequence[Any]
    if big and spooled is not None:  # entries copied from the spool's JSON texts
        printed["sites"] = spooled.entries(labelled=False)
        sites = spooled.entries(labelled=True)
    elif big:
        sites = LazySites(report.sites, lambda site: {"labels": labels(site.name)})
    else:
        sites = [{**site, "labels": dict(labels(site["name"]))} for site in printed["sites"]]
    document = {
        **printed,
        "sites": sites,
        "pass_started_at": started,
        "duration_s": round(duration, 3),
        "git": git.to_dict() if git is not None else None,
    }
    store.write_report(document, options.shard)
    return PassResult(
        report,
        document,
        pass_no,
        duration,
        printed=printed,
        drift_found=extra.get("found", 0),
        drift_corrected=extra.get("corrected", 0),
        stopped=stopped,
    )


@dataclass
class _Pass:
    """The state of one pass while it runs (never shared between passes)."""

    options: PassOptions
    stop: threading.Event
    tick: Tick
    store: Store
    pass_no: int
    state: FleetState
    started: float
    not_attempted: list[str] = field(default_factory=list)
    not_reached: list[str] = field(default_factory=list)  # started too late (--pass-timeout)
    # time.monotonic() of the --pass-timeout deadline, from the pass's start; None: none.
    deadline_at: float | None = field(init=False, default=None)
    orphans: list[Orphan] = field(default_factory=list)
    specs: dict[str, tuple[str, str]] = field(default_factory=dict)
    frozen: bool = False  # gc.freeze() was called for this pass
    fleet_total: int = 0  # sites of the whole fleet (every shard), for the threshold
    settled: dict[str, _Settled] = field(default_factory=dict)
    settling: threading.Lock = field(default_factory=threading.Lock)
    # Every site's report, fleet entry and labels, on disk as the site is finished: the
    # pass keeps in memory only the sites that still have work (memory flat in fleet size).
    spool: SiteSpool = field(default_factory=SiteSpool)
    finished: int = 0  # sites finished as soon as they were read (nothing to apply)
    validated: bool = False  # the whole config has loaded: state may be recorded
    deferring: int = 0  # sites being spooled with their state, before `validated`
    spooled_deferred: threading.Condition = field(init=False)  # `deferring` fell to 0
    site_notes: list[tuple[int, str]] = field(default_factory=list)  # (config order, note)
    drift_counts: dict[str, int] = field(default_factory=lambda: {"found": 0, "corrected": 0})

    def __post_init__(self) -> None:
        self.spooled_deferred = threading.Condition(self.settling)
        if self.options.pass_timeout_s is not None:
            self.deadline_at = time.monotonic() + self.options.pass_timeout_s

    def note(self, git: Any, report: RunReport) -> PassNote:
        """This pass's record for the store."""
        return PassNote(
            pass_no=self.pass_no,
            shard=self.options.shard,
            run_id=self.run_id,
            started_at=self.started,
            commit=git.commit if git is not None else None,
            dirty=git.dirty if git is not None else None,
            counts=report.summary(),
        )

    @property
    def run_id(self) -> str | None:
        """The id the shards of one run share; None when the fleet is not sharded."""
        if not self.options.shard.sharded:
            return self.options.run_id
        return self.options.run_id or f"pass-{self.pass_no}"

    def sleep(self, seconds: float) -> None:
        """The client's wait between retries: after the pass deadline no retry is made, so
        a blackholed API cannot hold a site (and the pass) for its whole retry budget."""
        if self.waited_past_deadline(seconds):
            raise TransportError(
                f"not retried: the pass deadline (--pass-timeout "
                f"{self.options.pass_timeout_s:g}s) was reached",
                retryable=False,
            )

    def guarded(self, work: Callable[[Planned], Planned]) -> Callable[[Planned], Planned]:
        """Skip sites not started once a stop was asked or the pass deadline passed: the
        sites in flight finish (their retries cut short by `sleep`)."""

        def run(planned: Planned) -> Planned:
            if self.stop.is_set():
                if planned.report is None and planned.skipped is None:
                    planned.skipped = SkipReason.STOPPED
                    self.not_attempted.append(planned.desired.name)
                return planned
            if self.past_deadline():
                if planned.report is None and planned.skipped is None:
                    self.not_reach(planned)
                return planned
            done = work(planned)
            self.tick(planned.desired.name)
            return done

        return run

    def past_deadline(self) -> bool:
        """Whether the --pass-timeout deadline has come: sites not started are not reached."""
        return self.deadline_at is not None and time.monotonic() >= self.deadline_at

    def waited_past_deadline(self, seconds: float) -> bool:
        """Wait `seconds`, or less if the pass deadline comes first; True if it came."""
        if self.deadline_at is not None:
            seconds = max(0.0, min(seconds, self.deadline_at - time.monotonic()))
        hubs.sleep(seconds)  # under the hub only this site waits
        return self.past_deadline()

    def not_reach(self, planned: Planned) -> None:
        """A site the pass had no time for: a failed report that says so, no backoff."""
        planned.skipped = SkipReason.NOT_REACHED
        planned.report = failed_report(
            planned.desired,
            "not_reached",
            f"not reached: the pass deadline (--pass-timeout "
            f"{self.options.pass_timeout_s:g}s) passed before this site's turn",
            "it is tried next pass; raise --pass-timeout or --concurrency if this repeats",
        )
        with self.settling:
            self.not_reached.append(planned.desired.name)

    def spec_of(self, desired: Desired) -> tuple[str, str]:
        """The site's document as canonical JSON and its digest, made once a pass (backoff
        check, state)."""
        found = self.specs.get(desired.site)
        if found is None:
            text = spec_text(desired_to_document(desired))
            found = self.specs[desired.site] = (text, spec_hash(text))
        return found

    def entries(self, desired: list[Desired]) -> list[Planned]:
        """One entry per configured site of this shard, plus the orphans when the whole
        fleet runs."""
        self.fleet_total += len(desired)
        entries = [
            self.entry(d, n) for n, d in enumerate(desired) if self.options.shard.owns(d.site)
        ]
        if not self.options.sites and not self.options.selector:
            entries.extend(self.orphan_entries({d.site for d in desired}))
        return entries

    def entry(self, d: Desired, order: int) -> Planned:
        """A configured site's entry (a site backing off is found as it is read)."""
        return Planned(d, order=order)

    def backing_off(self, entry: Planned, known: SiteState) -> Planned | None:
        """The entry of a site still backing off after failures, with its report; None
        when the site is due (or its spec changed)."""
        d = entry.desired
        if not known.failures or known.eligible(self.pass_no, self.spec_of(d)[1]):
            return None
        message = (
            f"failed {known.failures} pass(es) in a row (last: {known.last_error}); "
            f"backing off, next attempt in pass {known.retry_after_pass + 1}"
        )
        skipped = Planned(d, skipped=SkipReason.BACKING_OFF, order=entry.order)
        skipped.report = failed_report(
            d, "backing_off", message, "fix the cause, or change the spec to retry now"
        )
        skipped.known, skipped.looked_up = known, True
        return skipped

    def orphan_entries(self, configured: set[str]) -> list[Planned]:
        """Sites managed before and gone from the config: report, or disconnect by policy.

        Only this shard's orphans are handled and reported; the others' disconnects still
        count in `fleet_total`, since every shard must judge the threshold on the fleet."""
        found: list[Planned] = []
        shard = self.options.shard
        for site in sorted(self.state.sites):
            if site in configured:  # most sites: their entries are not even read
                continue
            known = self.state.sites[site]
            spec = known.spec if known.managed else None
            if spec is None:
                continue
            if not shard.owns(site):
                self.fleet_total += self.disconnects_elsewhere(site, spec)
                continue
            try:
                last = desired_from_document(spec, filename=f"state:{site}")
            except SpecError:
                self.orphans.append(
                    Orphan(
                        site,
                        known.name,
                        DeletionPolicy.ORPHAN.value,
                        OrphanAction.KEPT,
                        "removed from the config; its last spec is unreadable: kept",
                    )
                )
                continue
            action, message = orphan_decision(last, self.options.allow_disconnect)
            shown = OrphanAction.KEPT if action is OrphanAction.DISCONNECT else action
            policy = last.policy.deletion_policy.value
            self.orphans.append(Orphan(site, known.name, policy, shown, message))
            if action is OrphanAction.DISCONNECT:
                found.append(Planned(disconnected(last), orphan=True, order=_ORPHANS + len(found)))
        self.fleet_total += len(found)
        return found

    def disconnects_elsewhere(self, site: str, spec: dict[str, Any]) -> int:
        """1 if another shard's orphan `site` will be an entry of that shard's pass."""
        try:
            last = desired_from_document(spec, filename=f"state:{site}")
        except SpecError:
            return 0
        action, _ = orphan_decision(last, self.options.allow_disconnect)
        return int(action is OrphanAction.DISCONNECT)

    def freeze(self) -> None:
        """Called as the config loads and once it has. The config and state live for the whole pass:
        freezing them keeps the collector from re-scanning every loaded site on each full
        collection (figures: bench/README.md). Unfrozen at the end of `run_pass`, so an
        --interval process still frees the previous pass."""
        gc.freeze()
        self.frozen = True

    def read_one(self, client: Backend, entry: Planned) -> Planned:
        """Phase 1 of one site: read and plan (only reads, so safe before validation ends)."""
        if entry.report is not None:
            return entry
        known = None if entry.orphan else self.configured_state(entry.desired.site)
        if known is not None:
            skipped = self.backing_off(entry, known)
            if skipped is not None:
                return skipped
        read = read_and_plan(
            client,
            entry.desired,
            self.options.allow_disconnect or entry.orphan,
            known.in_sync_version if known is not None else None,
            known.last_seen_at if known is not None else None,
        )
        read.orphan, read.order = entry.orphan, entry.order
        read.known, read.looked_up = known, True
        return read

    def configured_state(self, site: str) -> SiteState | None:
        """What the store remembers of a configured site, for this pass to settle: its
        spec is left out where the store can (`settled_state` sets it from the config)."""
        sites = self.state.sites
        if isinstance(sites, SiteFile):
            return sites.without_spec(site)
        return sites.get(site)

    def read_phase(self, client: Backend) -> list[Planned]:
        """Load the config and read every site; raises _InvalidConfig if the config is bad.
        Returns the sites that still have work after their read, in config order: the
        others are finished as their read returns (`keep_or_finish`).

        Without a --site filter the reads are pipelined with loading: a site's read starts
        as soon as its document is validated, so loading a big config costs no time before
        the first request. Reads only look; nothing is written, to a site or to the state
        store, until the whole config has loaded and passed the cross-file checks, and on
        an invalid config the reads done meanwhile are discarded. With --site, the whole
        config must load before the selection can be checked, so that path loads first.
        """
        options = self.options
        kept: list[Planned] = []
        read = self.guarded(lambda entry: self.read_one(client, entry))

        def work(entry: Planned) -> None:
            self.keep_or_finish(read(entry), kept)

        documents = self.store.document_cache()
        if options.sites or options.selector:
            try:
                loaded = list(_saving(documents, iter_load(options.paths, cache=documents)))
                if not loaded and not options.allow_empty:
                    raise empty_config_error(options.paths)
                desired = select_by_labels(select_sites(loaded, options.sites), options.selector)
            except SpecError as exc:
                raise _InvalidConfig(exc) from exc
            self.config_is_valid()
            self.freeze()
            for_each_site(self.entries(desired), work, options.concurrency)
            return sorted(kept, key=lambda e: e.order)
        # The reads run on a hub (reconciler/hub.py): the loader and every site in flight
        # share this thread, each site in a greenlet. The loader loads a document only when
        # a slot is free, so it never runs far ahead of the reads, and a slot freed by a
        # finished site hands the loader its turn without a thread to wake.
        hub = hubs.Hub()
        slots = hubs.Slots(hub, max(1, options.concurrency))

        def load_and_start() -> None:
            configured: set[str] = set()
            shard = options.shard
            try:
                loading = _saving(documents, iter_load(options.paths, cache=documents))
                for count, d in enumerate(loading, start=1):
                    configured.add(d.site)
                    self.fleet_total += 1
                    if not shard.owns(d.site):
                        continue  # another shard's site: counted, never read here
                    entry = self.entry(d, count)
                    if count % _FREEZE_EVERY == 0:
                        self.freeze()  # what is loaded so far stays for the pass
                    slots.spawn(work, entry)
                    hub.pause()  # its request goes out now, before the next document loads
                if not configured and not options.allow_empty:
                    # Zero documents would make every site in state an orphan.
                    raise empty_config_error(options.paths)
            except SpecError as exc:
                # The reads in flight finish (hub.run waits for them) before the pass
                # reports; no other read starts.
                raise _InvalidConfig(exc) from exc
            self.config_is_valid()
            self.freeze()
            for orphan in self.orphan_entries(configured):
                slots.spawn(work, orphan)  # as a configured site: its exception fails the pass

        hub.run(load_and_start)  # a site's exception is a bug: re-raised once all ended
        return sorted(kept, key=lambda e: e.order)

    def keep_or_finish(self, entry: Planned, kept: list[Planned]) -> None:
        """Keep a site that still has work (writes to make, an orphan, a stop, or --probe
        wants every site at the end); finish the others now: their state to the store,
        their report to the spool, and nothing of them left in memory."""
        report = None
        if not (self.options.probe or entry.orphan or entry.applies):
            report = self.final_report(entry, {})
        if report is None:
            with self.settling:
                kept.append(entry)
            return
        d = entry.desired
        settled = self.settled_state(entry, report, None)
        record = SpooledSite(report, self.conclude(entry, settled), dict(d.labels))
        self.specs.pop(d.site, None)
        with self.settling:
            self.finished += 1
            deferred = not self.validated  # recorded once the whole config has loaded
            self.deferring += deferred
        if not deferred:
            self.spool.append(record)
            self.store.record_site(settled.state)
            return
        # Spooled outside the shared lock (its JSON is most of finishing a site); nothing
        # in it waits on the hub, so `config_is_valid`, in the loader's greenlet, never
        # finds one half done; a caller on threads would wait for it.
        try:
            self.spool.append(dataclasses.replace(record, state=settled.state.to_text()))
        finally:
            with self.settling:
                self.deferring -= 1
                if not self.deferring:
                    self.spooled_deferred.notify_all()

    def config_is_valid(self) -> None:
        """The whole config has loaded: record the states of the sites finished while it
        loaded, and from now on each as it finishes."""
        with self.settling:
            self.validated = True
            while self.deferring:  # sites that saw it unset are still being spooled
                self.spooled_deferred.wait()
            deferred = self.spool.snapshot()
        for site, text in self.spool.states(deferred):
            self.store.record_site_text(site, text)

    def decide(self, entries: list[Planned]) -> SafetyDecision:
        """The fleet safety threshold, judged on the whole fleet even when sharded."""
        options = self.options

        def judge(destructive: int) -> SafetyDecision:
            return check_threshold(
                destructive,
                self.fleet_total,
                max_percent=options.max_destructive_percent,
                max_sites=options.max_destructive_sites,
                force=options.force,
            )

        mine = sum(1 for e in entries if e.destructive)
        if not options.shard.sharded:
            return judge(mine)
        assert self.run_id is not None  # sharded
        return fleet_decision(
            self.store,
            self.run_id,
            options.shard,
            mine,
            judge,
            wait_s=options.shard_wait_s,
            stop=self.stop,
            force=options.force,
        )

    def execute(self, client: Backend, git: Any, clock: float) -> PassResult:
        options = self.options
        entries = self.read_phase(client)
        if not options.shard.sharded:
            # a --site selection is its own fleet
            self.fleet_total = len(entries) + self.finished
        decision = self.decide(entries)
        results: dict[str, tuple[SiteReport, SiteResult | None]] = {}
        for entry in entries:  # done after phase 1: remembered before any write starts
            if not entry.applies:
                self.settle(entry, self.final_report(entry, results), None)

        def phase2(entry: Planned) -> Planned:
            results[entry.desired.site] = done = apply_planned(
                client,
                entry,
                site_lock=self.store.site_lock,
                pass_no=self.pass_no,
                allow_disconnect=options.allow_disconnect or entry.orphan,
                refuse_destructive=decision.reason if decision.refused else None,
                max_replans=options.max_replans,
            )
            self.settle(entry, done[0], done[1])  # durable before the next site starts
            return entry

        for_each_site([e for e in entries if e.applies], self.guarded(phase2), options.concurrency)
        reports = [self.final_report(e, results) for e in entries]
        probes = probe_sites(client, entries, reports) if options.probe else {}
        return self.record(entries, reports, results, probes, decision, git, clock)

    @staticmethod
    def final_report(
        entry: Planned, results: dict[str, tuple[SiteReport, SiteResult | None]]
    ) -> SiteReport | None:
        if entry.desired.site in results:
            return results[entry.desired.site][0]
        if entry.report is not None:
            return entry.report
        if entry.skipped is SkipReason.STOPPED or entry.plan is None or entry.live is None:
            return None
        return SiteReport.from_plan(entry.desired, entry.plan, entry.live)

    def settle(
        self, entry: Planned, report: SiteReport | None, result: SiteResult | None
    ) -> _Settled | None:
        """The site's state as this pass leaves it, recorded in the store at once (with
        PostgreSQL a kill -9 then loses at most the sites in flight). Computed once per
        site; orphans and sites this pass never handled (stopped) have nothing to settle."""
        if entry.orphan or report is None:
            return None
        with self.settling:
            found = self.settled.get(entry.desired.site)
            if found is not None:
                return found
            found = self.settled[entry.desired.site] = self.settled_state(entry, report, result)
        self.store.record_site(found.state)
        return found

    def settled_state(
        self, entry: Planned, report: SiteReport, result: SiteResult | None
    ) -> _Settled:
        """What this pass makes of the site's state: backoff, sync, drift history."""
        d = entry.desired
        now = time.time()
        known = entry.known if entry.looked_up else self.state.sites.get(d.site)
        drifted_from = drift_baseline(known, self.spec_of(d)[1])
        st = known or SiteState(site=d.site, name=d.name)
        st.name, st.managed, st.last_pass, st.last_seen_at = d.name, True, self.pass_no, now
        st.spec_json, st.spec_hash = self.spec_of(d)
        if entry.skipped in (SkipReason.BACKING_OFF, SkipReason.NOT_REACHED):
            pass  # the counters stand until the site is tried again
        elif report.status is SiteStatus.FAILED:
            st.record_failure(
                self.pass_no, report.error or "failed", self.options.max_backoff_passes
            )
        elif entry.skipped is None:
            st.record_success(now)
        if report.live is not None:
            st.last_version = report.live.version
            st.in_sync = converged(report)
        resolved = resolve_drift(entry, report, result)
        # Only real drift goes into the history that flags "keeps drifting back":
        # onboarding, a waiting site and a config edit differ from the spec too.
        st.note_drift(
            self.pass_no,
            now,
            [
                (item.field, how)
                for item, how, _ in resolved
                if drifted_from is None or item.field in drifted_from
            ],
        )
        return _Settled(st, resolved)

    def conclude(
        self, entry: Planned, settled: _Settled, probe: dict[str, Any] | None = None
    ) -> FleetSite:
        """The site's part of the report's fleet section, its notes and drift counts."""
        d = entry.desired
        st, resolved = settled.state, settled.resolved
        notes: list[str] = []
        flapping = st.flapping()
        if flapping is not None and resolved:
            notes.append(
                f"{d.name} keeps drifting back: {flapping['count']} times since pass "
                f"{flapping['since_pass']} at {_iso(flapping['since'])} "
                f"({', '.join(flapping['fields'])})"
            )
        for item, _, who in resolved:
            if who is not None:
                notes.append(f"{d.name}: {item.field} was changed {who.describe()}")
        if probe is not None:  # --probe asked: say how it went either way
            if probe["ok"]:
                notes.append(
                    f"{d.name}: probe ok: pre-cancel page {probe['session_id']} created "
                    "(cancellations reach Brightback)"
                )
            else:
                notes.append(f"{d.name}: probe failed: {probe['error']}")
        if resolved or notes:  # most sites have neither: no lock taken
            corrected = sum(1 for _, how, _ in resolved if how is Resolution.CORRECTED)
            with self.settling:
                self.drift_counts["found"] += len(resolved)
                self.drift_counts["corrected"] += corrected
                self.site_notes.extend((entry.order, note) for note in notes)
        return FleetSite(
            drift=tuple(ResolvedDrift(*item) for item in resolved),
            failures=st.failures,
            retry_after_pass=st.retry_after_pass,
            flapping=flapping,
            skipped=entry.skipped,
            probe=probe,
        )

    def record(
        self,
        entries: list[Planned],
        reports: list[SiteReport | None],
        results: dict[str, tuple[SiteReport, SiteResult | None]],
        probes: dict[str, dict[str, Any]],
        decision: SafetyDecision,
        git: Any,
        clock: float,
    ) -> PassResult:
        """Close the pass in the store and build the report: drift, history, backoff,
        orphans."""
        removed: set[str] = set()
        orphan_by_site = {o.site: o for o in self.orphans}
        for entry, report in zip(entries, reports, strict=True):
            d = entry.desired
            if report is None:
                continue
            labels = dict(d.labels)
            if entry.orphan:
                orphan = orphan_by_site[d.site]
                if report.status is SiteStatus.FAILED:
                    orphan.action = OrphanAction.FAILED
                    orphan.message = f"disconnect failed: {report.error}"
                elif report.status is SiteStatus.BLOCKED:
                    refused = decision.refused
                    orphan.action = OrphanAction.REFUSED if refused else OrphanAction.BLOCKED
                elif report.live is not None and not report.live.connected:
                    orphan.action = OrphanAction.DISCONNECTED
                    orphan.message = "disconnected, fallback restored"
                    removed.add(d.site)
                self.spool.append(SpooledSite(report, None, labels))
                continue
            settled = self.settle(entry, report, results.get(d.site, (report, None))[1])
            assert settled is not None  # not an orphan, and it has a report
            fleet_site = self.conclude(entry, settled, probes.get(d.name))
            self.spool.append(SpooledSite(report, fleet_site, labels))
        notes = [note for _, note in sorted(self.site_notes, key=lambda n: n[0])]
        if decision.refused:
            notes.insert(
                0,
                f"fleet safety threshold: {decision.reason}; no destructive step "
                "was applied (re-run with --force after review)",
            )
        notes.extend(f"orphan {o.name} ({o.site}): {o.message}" for o in self.orphans)
        if self.not_attempted:
            notes.append(f"stopped: {len(self.not_attempted)} site(s) not reconciled this pass")
        if self.not_reached:
            notes.append(
                f"pass timeout: {len(self.not_reached)} site(s) not reached within "
                f"{self.options.pass_timeout_s:g}s (--pass-timeout)"
            )
        sharded = self.options.shard.sharded
        fleet = FleetSection(
            pass_no=self.pass_no,
            git=git.to_dict() if git is not None else None,
            safety=Safety(
                refused=decision.refused,
                destructive_sites=decision.destructive_sites,
                total_sites=decision.total_sites,
                reason=decision.reason,
                forced=self.options.force and decision.destructive_sites > 0,
            ),
            orphans=tuple(self.orphans),
            not_attempted=tuple(self.not_attempted),
            not_reached=tuple(self.not_reached),
            sites=self.spool.fleet_sites(),
            shard={**self.options.shard.to_dict(), "run_id": self.run_id} if sharded else None,
        )
        if git is not None:
            notes.insert(0, f"config at commit {git.commit[:12]}{' (dirty)' if git.dirty else ''}")
        run_report = RunReport(
            "reconcile",
            self.spool.sites(),
            notes=tuple(notes),
            refused=decision.refused,
            fleet=fleet,
        )
        orphans = [o.to_dict() for o in self.orphans]
        self.store.finish_pass(self.note(git, run_report), removed, orphans)
        return _finish(
            self.store,
            self.options,
            run_report,
            self.pass_no,
            self.started,
            clock,
            git,
            self.drift_counts,
            stopped=bool(self.not_attempted),
        )


@dataclass(frozen=True)
class _Settled:
    """A site's state after this pass and the drift it resolved (for the report)."""

    state: SiteState
    resolved: list[tuple[Drift, Resolution, ChangedBy | None]]


__all__ = [
    "PassOptions",
    "PassResult",
    "Tick",
    "converged",
    "run_pass",
]
