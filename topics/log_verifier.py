"""`caseledger audit verify`: check every message on the events topics (or one case's) for
what makes the history trustworthy, and report the first break.

For each message, in offset order per partition (an aggregate's messages share one
partition): it decodes; its envelope names the origin of its topic; the origin's Ed25519
key signed it (with the rest of its run, topics/run_signatures.py); and it carries the hash of its
aggregate's previous message, versions following 1, 2, 3... A repeat of a message already
seen (same version, same bytes) is not a break. The hash chain is over the bytes as
published, so erased (crypto-shredded) cases verify like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from topics.avro import SchemaRegistry, UndecodableMessage
from topics.catalogue import Catalogue
from topics.log import EventLog, LogRecord, LogUnavailable
from topics.mapping import CREATION_EVENTS
from topics.reader import CHAIN_GAP, CHAIN_MISMATCH, CHAIN_REPEAT, CHAIN_REWRITE, LogReader, chain_step
from topics.signing import KeyRegistry

__all__ = ["Break", "LogVerifier", "Report"]


@dataclass(frozen=True)
class Break:
    """The first message that does not verify, and why."""

    topic: str
    partition: int
    offset: int
    aggregate_id: str
    version: int | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.topic}[{self.partition}]@{self.offset}"
        which = f"aggregate {self.aggregate_id}" + (f" v{self.version}" if self.version is not None else "")
        return f"{where}, {which}: {self.reason}"


@dataclass
class Report:
    messages: int = 0
    aggregates: int = 0
    repeats: int = 0
    breaks: list[Break] = field(default_factory=list)

    @property
    def first_break(self) -> Break | None:
        return self.breaks[0] if self.breaks else None


class LogVerifier:
    def __init__(
        self,
        event_log: EventLog,
        keys: KeyRegistry,
        registry: SchemaRegistry | None = None,
        catalogue: Catalogue | None = None,
    ) -> None:
        self.event_log = event_log
        self.keys = keys
        self.registry = registry or SchemaRegistry()
        self.catalogue = catalogue or Catalogue()

    def size(self) -> int:
        """How many messages the events topics hold now (for a progress bar)."""
        topics = self.catalogue.events_topics(self.event_log.list_topics())
        tps = [tp for topic in topics for tp in self.event_log.partitions(topic)]
        if not tps:
            return 0
        ends, begins = self.event_log.end_offsets(tps), self.event_log.beginning_offsets(tps)
        return sum(ends[tp] - begins[tp] for tp in tps)

    def verify(
        self,
        aggregate_id: str | None = None,
        progress: Callable[[int], None] = lambda n: None,
        timeout_s: float = 120.0,
    ) -> Report:
        """Read every events topic from its beginning to its current end."""
        report = Report()
        heads: dict[str, tuple[int, bytes]] = {}
        broken: set[str] = set()  # after an aggregate's first break its later messages say nothing new
        topics = self.catalogue.events_topics(self.event_log.list_topics())
        tps = [tp for topic in topics for tp in self.event_log.partitions(topic)]
        if not tps:
            return report
        ends = self.event_log.end_offsets(tps)
        begins = self.event_log.beginning_offsets(tps)
        reader = LogReader(
            self.event_log,
            self.keys.verify,
            self.catalogue.origin_of,
            max_records=2000,
            timeout_s=timeout_s,
            timed_out=lambda: LogUnavailable(f"the log did not deliver everything in {timeout_s:.0f} s"),
        )
        for batch in reader.batches({tp: begins[tp] for tp in tps if begins[tp] < ends[tp]}, ends):
            for item in batch.checked:
                record = item.record
                key = (record.key or b"").decode(errors="replace")
                if aggregate_id is not None and key != aggregate_id:
                    continue
                report.messages += 1
                if key in broken:
                    continue
                found = self._check(record, key, heads, item.problem)
                if isinstance(found, Break):
                    report.breaks.append(found)
                    broken.add(key)
                elif found is None:
                    report.repeats += 1
            progress(len(batch.records))
        report.aggregates = len(heads)
        return report

    def _check(
        self, record: LogRecord, key: str, heads: dict[str, tuple[int, bytes]], signed: str | None
    ) -> Break | bool | None:
        """signed: what the signature check found (None: the origin vouches for the message)."""

        def broke(reason: str, version: int | None = None) -> Break:
            return Break(record.topic, record.partition, record.offset, key, version, reason)

        try:
            meta = self.registry.decode(record.value).record["meta"]
        except UndecodableMessage as error:
            return broke(str(error))
        version = int(meta["aggregate_version"])
        origin = self.catalogue.origin_of(record.topic) or ""
        if meta["origin"] != origin:
            return broke(f"envelope origin {meta['origin']!r} on the topic of {origin}", version)
        if str(meta["aggregate_id"]) != key:
            return broke("the message key is not the envelope's aggregate id", version)
        if (version == 1) != (meta["event_type"] in CREATION_EVENTS):
            return broke(
                f"{meta['event_type']} as version {version}: an aggregate begins with its creation", version
            )
        if signed is not None:
            return broke(signed, version)
        if record.header("aggregate_version") != str(version).encode():
            return broke("the version header is not the envelope's version", version)
        previous = record.header("previous_hash") or b""
        head = heads.get(key)
        found, digest = chain_step(head, version, previous, record.value or b"")
        if found == CHAIN_REPEAT:
            return None  # the same message again
        if found == CHAIN_REWRITE and head is not None:
            return broke(f"version {version} again, with other bytes, after version {head[0]}", version)
        if found == CHAIN_GAP:
            return broke(f"version {version} without version {version - 1} before it", version)
        if found == CHAIN_MISMATCH:
            return broke(f"previous hash of version {version} does not match version {version - 1}", version)
        heads[key] = (version, digest)
        return True
