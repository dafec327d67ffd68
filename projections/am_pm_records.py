"""The ante-mortem and post-mortem records on a node's log, for the matcher (#14, items 5-6).

The views keep cases up to their common tier, so a case's ante-mortem data (forensic tier)
is read from the log: every origin's events topic, each message checked as the views check
it (run signature, envelope against its topic, hash chain). The messages of cases and remains
are kept as they travel, sealed, in this process's memory; they are opened only while
matching, with the data keys this node holds, and only the tiers the caller may read are
merged (AmPmRecords.case / .remains). An erasure destroys the keys, so what is kept opens to
nothing afterwards, and DataErased drops the aggregate at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ledger.keystore import KeyStore
from ledger.tier_split import merge
from projections.checks import Unapplicable, check_envelope, decode
from projections.views import ChainHead
from topics.avro import Decoded, SchemaRegistry, UndecodableMessage
from topics.catalogue import Catalogue
from topics.log import EventLog, TopicPartition
from topics.mapping import open_record
from topics.reader import LogReader
from topics.signing import KeyRegistry

__all__ = ["AmPmRecords", "Held"]

CASE, REMAINS = "MissingPersonCase", "UnidentifiedRemains"
# The events the matcher folds; the rest of a case's or remains' history only advances its chain.
_KEPT = frozenset(
    {
        "CaseReported",
        "ComprehensiveDataAdded",
        "DataAmended",
        "RemainsRecovered",
        "PostMortemRecorded",
        "RemainsIdentified",
        "RemainsIdentificationRevised",
    }
)
# Which tiers a caller may read of a record: (tier) -> bool.
Allowed = Callable[[str], bool]


@dataclass
class Held:
    """One case or remains as the log carries it: its origin and its kept messages, sealed."""

    origin: str
    aggregate_type: str
    events: list[Decoded] = field(default_factory=list)


class AmPmRecords:
    """Every case and remains on the log this node reads, kept sealed; caught up on demand."""

    def __init__(
        self,
        event_log: EventLog,
        registry: SchemaRegistry,
        catalogue: Catalogue,
        keys: KeyRegistry,
        data_keys: KeyStore,
        batch_size: int = 1000,
    ) -> None:
        self.event_log, self.registry, self.catalogue = event_log, registry, catalogue
        self.keys, self.data_keys, self.batch_size = keys, data_keys, batch_size
        self.held: dict[str, Held] = {}
        self._heads: dict[str, ChainHead] = {}
        self._positions: dict[TopicPartition, int] = {}

    @classmethod
    def of(cls, projector: Any) -> AmPmRecords:
        """The records read through the same log, schemas, signatures and data keys as a
        jurisdiction's projector (services: node.projector(jurisdiction))."""
        return cls(
            projector.event_log,
            projector.registry,
            projector.catalogue,
            projector.keys,
            projector.data_keys,
            projector.batch_size,
        )

    # ------------------------------------------------------------------ reading the log

    def catch_up(self, timeout_s: float = 60.0) -> int:
        """Read what the log holds beyond what was read before; the number of records read."""
        topics = self.catalogue.events_topics(self.event_log.list_topics())
        tps = [tp for topic in topics for tp in self.event_log.partitions(topic)]
        ends = self.event_log.end_offsets(tps)
        pending = {tp for tp in tps if self._positions.get(tp, 0) < ends[tp]}
        if not pending:
            return 0
        reader = LogReader(
            self.event_log,
            self.keys.verify,
            self.catalogue.origin_of,
            max_records=self.batch_size,
            timeout_s=timeout_s,
            timed_out=lambda: TimeoutError(f"the log did not deliver in {timeout_s} s"),
        )
        read = {tp: self._positions.get(tp, 0) for tp in pending}
        count = 0
        for batch in reader.batches(read, {tp: ends[tp] for tp in pending}):
            for item in batch.checked:
                self._keep(item.record, item.problem)
            count += len(batch.records)
            read.update(batch.read)
        self._positions.update(read)
        return count

    def _keep(self, record: Any, problem: str | None) -> None:
        """Keep a verified message of a case or remains; the views dead-letter the others."""
        decoded = decode(self.registry, record)
        if isinstance(decoded, UndecodableMessage):
            return
        meta = decoded.record.get("meta") or {}
        if meta.get("aggregate_type") not in (CASE, REMAINS):
            return
        try:
            link = check_envelope(self.catalogue, record, meta, self._heads, problem)
        except Unapplicable:
            return
        if link is None:
            return  # delivered again
        aggregate_id, head = link
        self._heads[aggregate_id] = head
        name = decoded.name
        if name == "DataErased":
            self.held.pop(aggregate_id, None)
            return
        if name in ("CaseReported", "RemainsRecovered"):
            self.held[aggregate_id] = Held(str(meta["origin"]), str(meta["aggregate_type"]))
        held = self.held.get(aggregate_id)
        if held is not None and name in _KEPT:
            held.events.append(decoded)

    # ------------------------------------------------------------------ opening, for one caller

    def ids(self, aggregate_type: str) -> list[str]:
        return [i for i, h in self.held.items() if h.aggregate_type == aggregate_type]

    def _opened(self, aggregate_id: str, allowed: Allowed) -> list[tuple[str, dict[str, Any]]] | None:
        """Each kept event's fields, from its public part and the tiers both this node holds
        keys for and the caller may read (the other tiers' fields read as None); None when
        the record's first event does not open here (its origin wrapped no key for this node:
        a refugee's case withheld from it, an erased one)."""
        held = self.held[aggregate_id]
        self.data_keys.load(str(t["key_id"]) for d in held.events for t in d.record.get("sealed", ()))
        out: list[tuple[str, dict[str, Any]]] = []
        for decoded in held.events:
            opened = open_record(self.registry, self.data_keys, decoded)
            if not out and "common" in opened.closed:
                return None
            tiers = {tier: fields for tier, fields in opened.tiers.items() if allowed(tier)}
            out.append((decoded.name, merge(decoded.name, opened.public, tiers)))
        return out

    def case(self, case_id: str, allowed: Allowed) -> dict[str, Any] | None:
        """{"id", "person", "last_seen", "ante_mortem": [...]} (projections/am_pm.case_from_record)
        as the caller may read it, amendments applied; None when no report was read."""
        opened = self._opened(case_id, allowed) if case_id in self.held else None
        if opened is None:
            return None
        person: dict[str, Any] = {}
        seen: dict[str, Any] = {}
        records: list[dict[str, Any]] = []
        for name, fields in opened:
            if name == "CaseReported":
                person, seen = dict(fields.get("person") or {}), dict(fields.get("last_seen") or {})
            elif name == "ComprehensiveDataAdded":
                records.append(fields)
            elif name == "DataAmended":
                _amend(person, seen, fields.get("changes") or ())
        if not person and not seen:
            return None
        return {"id": case_id, "person": person, "last_seen": seen, "ante_mortem": records}

    def remains(self, remains_id: str, allowed: Allowed) -> dict[str, Any] | None:
        """{"id", "recovered_on", "place", "post_mortem": [...], "identified"}
        (projections/am_pm.remains_from_record) as the caller may read them."""
        opened = self._opened(remains_id, allowed) if remains_id in self.held else None
        if opened is None:
            return None
        found: dict[str, Any] = {"id": remains_id, "post_mortem": [], "identified": False}
        for name, fields in opened:
            if name == "RemainsRecovered":
                found.update(recovered_on=fields.get("recovered_on"), place=fields.get("place") or {})
            elif name == "PostMortemRecorded":
                found["post_mortem"].append(fields)
            elif name == "RemainsIdentified":
                found["identified"] = True
            elif name == "RemainsIdentificationRevised":
                found["identified"] = False
        return found

    def origin(self, aggregate_id: str) -> str | None:
        held = self.held.get(aggregate_id)
        return held.origin if held is not None else None


def _amend(person: dict[str, Any], seen: dict[str, Any], changes: Iterable[Mapping[str, Any] | None]) -> None:
    """A family's corrections to the person or where they were last seen (those opened)."""
    for change in changes:
        if not change or change.get("value") is None:
            continue
        head, _, leaf = str(change.get("field", "")).partition(".")
        target = {"person": person, "last_seen": seen}.get(head)
        if target is None or not leaf or "." in leaf:
            continue
        try:
            target[leaf] = json.loads(change["value"])
        except (TypeError, ValueError):
            continue
