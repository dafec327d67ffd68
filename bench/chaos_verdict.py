"""The end of a chaos run: wait until the network has caught up with every command it answered,
stop its processes, and check what the topics, the views and the feeds hold
(bench/chaos_checks.py) against what the API said."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench import chaos_state as state
from bench.chaos_checks import (
    Event,
    RoundCounts,
    acknowledged_events,
    check_feed,
    check_origin,
    round_counts,
)
from bench.chaos_faults import Fault
from bench.chaos_load import Command, Load
from bench.chaos_network import CONSULATES, COUNTRIES, Network
from ledger.access_rules import SAMPLE_POLICY
from ledger.access_rules import load as load_rules
from services.bootstrap import Node, build_node
from tests.cluster import Cluster
from topics.log import LogUnavailable

AUDIT_EVENTS = ("ReadLogOpened", "ReadRecorded")  # the audit log of reads: no command of the load's


@dataclass
class Result:
    rounds: list[RoundCounts]
    commands: list[Command]
    faults: list[Fault]
    problems: list[str]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def table(self) -> str:
        return "\n".join(r.line() for r in self.rounds)


def feed_expected(network: Network, commands: Sequence[Command], organisation: str) -> set[Event]:
    """The events a consulate may see: by the network's rules, those of the cases of its
    country's nationals whose origin lets it read their public tier (the load's people are
    adults, and consented to search)."""
    rules = load_rules(SAMPLE_POLICY)
    country = rules.organisations[organisation].represents
    today = datetime.now(UTC).date()
    return {
        event
        for event, c in acknowledged_events(commands).items()
        if country in c.nationalities
        and rules.decide(organisation, c.node, "public", "search", nationalities=c.nationalities, on=today)
    }


def caught_up(network: Network, nodes: dict[str, Node], commands: Sequence[Command], timeout_s: float) -> str:
    """Wait until every acknowledged event is on its topic, in every node's views, and on the
    feeds that may show it; what is still missing when timeout_s runs out."""
    events = acknowledged_events(commands)
    feeds = {o: nodes["MX"].catalogue.feed(o).name for o in CONSULATES}
    expected = {o: feed_expected(network, commands, o) for o in CONSULATES}
    deadline = time.monotonic() + timeout_s
    missing = "nothing"
    said = time.monotonic()
    while time.monotonic() < deadline:
        if time.monotonic() - said > 30:
            print(f"  catching up: {missing}", flush=True)
            said = time.monotonic()
        try:
            counts = state.published(
                network.bootstrap, [n.catalogue.events(c).name for c, n in nodes.items()]
            )
            versions = state.view_versions(network.database_url, COUNTRIES)
            lag = {c: sum(n.projector(c).lag().values()) for c, n in nodes.items()}
            on_feeds = {
                o: {(i.case_id, i.version) for i in state.feed_items(network.bootstrap, t)}
                for o, t in feeds.items()
            }
        except Exception as error:  # the cluster may still be settling
            missing = f"({type(error).__name__} reading the state)"
            time.sleep(2)
            continue
        unpublished = sum(1 for e in events if counts[e] == 0)
        unprojected = len(events) - len(state.projected(versions, events))
        unfed = {o: len(expected[o] - on_feeds[o]) for o in CONSULATES}
        missing = (
            f"unpublished {unpublished}, unprojected {unprojected}, views lag {lag}, feeds missing {unfed}"
        )
        if not unpublished and not unprojected and not any(lag.values()) and not any(unfed.values()):
            return ""
        time.sleep(2)
    return missing


def verdict(
    cluster: Cluster,
    network: Network,
    load: Load,
    windows: Sequence[tuple[float, float]],
    faults: list[Fault],
    began: float,
    say: Callable[[str], None],
) -> Result:
    commands = list(load.commands)
    problems: list[str] = []
    notes: list[str] = []
    unanswered = load.unanswered()
    if unanswered:
        problems.append(f"{len(unanswered)} commands never answered for good, e.g. {unanswered[:2]}")
    nodes = {c: build_node(n.settings) for c, n in network.nodes.items()}
    try:
        notes += settled(cluster, network.prefix, say)
        late = caught_up(network, nodes, commands, timeout_s=240)
        if late:
            problems.append(f"the network did not catch up: {late}")
        network.stop()
        notes += [
            f"{p.name}: started {p.starts} times, killed {p.killed}, died unbidden {p.crashes}"
            for p in network.processes()
        ]
        # A process that dies unbidden is started again, as a supervisor would (a relay started
        # while PostgreSQL restarts exits with OperationalError): said, not failed on; what it
        # left undone shows in the checks below.
        problems += _topics(network, nodes, commands, notes)
        problems += _feeds(network, nodes, commands)
        problems += _views(cluster, network.prefix, nodes, say)
        counts = state.published(network.bootstrap, [n.catalogue.events(c).name for c, n in nodes.items()])
        versions = state.view_versions(network.database_url, COUNTRIES)
        done = state.projected(versions, acknowledged_events(commands))
        rounds = round_counts(windows, commands, counts, done)
    finally:
        for node in nodes.values():
            node.close()
    notes.insert(0, _tally(commands))
    return Result(rounds, commands, faults, problems, notes, time.monotonic() - began)


def _tally(commands: Sequence[Command]) -> str:
    kinds: dict[str, dict[str, int]] = {}
    for c in commands:
        outcome = "acknowledged" if c.acknowledged else "refused" if c.refused else "unanswered"
        kinds.setdefault(c.kind, {}).setdefault(outcome, 0)
        kinds[c.kind][outcome] += 1
    retried = sum(1 for c in commands if c.attempts > 1)
    return f"commands: {kinds}; sent more than once (no answer, or 5xx): {retried}"


def _topics(
    network: Network, nodes: dict[str, Node], commands: Sequence[Command], notes: list[str]
) -> list[str]:
    problems = []
    for country, node in nodes.items():
        records = state.read_topic(network.bootstrap, node.catalogue.events(country).name)
        on_topic = state.events_on_topic(node, records)
        mine = [c for c in commands if c.node == country]
        findings = check_origin(mine, on_topic, lambda r: r.event_type in AUDIT_EVENTS)
        audits = sum(1 for r in on_topic if r.event_type in AUDIT_EVENTS)
        notes.append(f"{country}: {len(on_topic)} events on its topic ({audits} of the audit log of reads)")
        problems += findings.problems(country)
        letters = state.dead_letters(network.bootstrap, node.catalogue.deadletter(country).name)
        if letters:
            reasons = "; ".join(f"{n} x {reason}" for reason, n in letters.most_common(3))
            problems.append(f"{country}: {letters.total()} records on its dead-letter topic ({reasons})")
    return problems


def _feeds(network: Network, nodes: dict[str, Node], commands: Sequence[Command]) -> list[str]:
    unknown = {(c.case_id, c.version) for c in commands if c.status is None and c.case_id and c.version}
    problems = []
    for organisation in CONSULATES:
        items = state.feed_items(network.bootstrap, nodes["MX"].catalogue.feed(organisation).name)
        expected = feed_expected(network, commands, organisation)
        if not expected:
            problems.append(
                f"feed {organisation}: the load gave it nothing to see (the check would be vacuous)"
            )
        problems += check_feed(organisation, expected, items, unknown)
    return problems


def settled(cluster: Cluster, prefix: str, say: Callable[[str], None], timeout_s: float = 180) -> list[str]:
    """Wait until every partition of the run's topics has a leader and all three replicas in
    sync: the checks read the cluster as it is after the faults, not while it still elects
    leaders (a read of a partition without a leader times out). What still lags is a note."""
    deadline = time.monotonic() + timeout_s
    lagging = ["(not asked yet)"]
    while time.monotonic() < deadline:
        try:
            lagging = cluster.out_of_sync(cluster.topics(prefix))
        except Exception as error:  # a broker just started may not answer metadata yet
            lagging = [type(error).__name__]
        if not lagging:
            return []
        time.sleep(2.0)
    said = f"the cluster was not in sync after {timeout_s:.0f} s: {', '.join(lagging[:5])}"
    say(f"  ({said})")
    return [said]


def _views(cluster: Cluster, prefix: str, nodes: dict[str, Node], say: Callable[[str], None]) -> list[str]:
    """Each node's views as the group workers left them, against a rebuild from zero. A rebuild
    the cluster did not serve (LogUnavailable) is tried again once the cluster is in sync; the
    views digest is compared only after a rebuild that completed."""
    problems = []
    for country, node in nodes.items():
        views = node.views(country)
        kept, rows = views.digest(), _snapshot(views)
        for attempt in range(1, 4):
            try:
                node.projector(country).rebuild()
                break
            except LogUnavailable as error:
                say(f"  ({country}: rebuild {attempt} not served by the cluster: {error}; waiting)")
                settled(cluster, prefix, say, timeout_s=60)
        else:
            problems.append(f"{country}: the cluster did not serve a rebuild of its views in three tries")
            continue
        if views.digest() != kept:
            differ = _difference(rows, _snapshot(views))
            problems.append(f"{country}: its views differ from a rebuild from zero: {differ}")
    return problems


def _snapshot(views: Any) -> dict[str, dict[str, Any]]:
    """The views' rows by kind and id, to say where two digests differ."""
    heads = views.all_chain_heads()
    return {
        "case": {r.case_id: r for r in views.cases()},
        "chain head": dict(heads),
        "timeline": {a: tuple(views.timeline(a)) for a in heads},
        "forensic": {r.aggregate_id: r for r in views.forensic()},
        "link": {f"{k.aggregate_id}:{k.linked_id}:{k.kind}": k for k in views.links()},
    }


def _difference(kept: dict[str, dict[str, Any]], rebuilt: dict[str, dict[str, Any]]) -> str:
    said = []
    for kind, rows in kept.items():
        other = rebuilt[kind]
        only_kept = sorted(set(rows) - set(other))
        only_rebuilt = sorted(set(other) - set(rows))
        changed = sorted(k for k in set(rows) & set(other) if rows[k] != other[k])
        if only_kept or only_rebuilt or changed:
            example = (
                f" (e.g. {changed[0]}: {_fields(rows[changed[0]], other[changed[0]])})" if changed else ""
            )
            counts = f"{len(only_kept)} only kept, {len(only_rebuilt)} only rebuilt, {len(changed)} differ"
            said.append(f"{kind}: {counts}{example}")
    return "; ".join(said) or "no row differs (the digest's order?)"


def _fields(kept: Any, rebuilt: Any) -> str:
    """Which fields of a row differ (their names only: the values may be personal data)."""
    if isinstance(kept, tuple) and isinstance(rebuilt, tuple):
        if len(kept) != len(rebuilt):
            return f"{len(kept)} entries kept, {len(rebuilt)} rebuilt"
        return "; ".join(
            f"entry {n}: {_fields(a, b)}"
            for n, (a, b) in enumerate(zip(kept, rebuilt, strict=True))
            if a != b
        )
    if hasattr(kept, "__dataclass_fields__"):
        return ", ".join(
            f for f in kept.__dataclass_fields__ if getattr(kept, f) != getattr(rebuilt, f, None)
        )
    return "the value"
