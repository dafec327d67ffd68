"""The one verified reader of the log: records in, checked and decoded messages out, in
batches, with the position a restart resumes from.

Every consumer of the shared log reads through it: the relay's recovery, `audit verify`,
the projections, a refold, the consular feed and the feed's own topic. It polls assigned
partitions from given positions up to given ends (nothing past them), verifies each run's
batch signature (topics/run_signatures.py: a run is held until its last message arrives), hands out
each batch with the positions safe to store (never past the first message of a run still
held), and, once every partition reached its end, flushes the runs that never closed as
unverifiable. The chain check (`check_envelope`, `chain_step`) and the decoding that loads
a batch's data keys in one query (`decode_batch`) live here too, so no second copy of the
loop or of its checks grows elsewhere (tests/unit/test_one_reader.py fails if one does).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ledger.keystore import KeyStore
from topics.avro import Decoded, SchemaRegistry, UndecodableMessage
from topics.catalogue import Catalogue
from topics.grants import GrantRuns
from topics.log import EventLog, LogRecord, LogUnavailable, TopicPartition
from topics.mapping import CREATION_EVENTS
from topics.run_signatures import Checked, RunChecker, Verify, place_in_run
from topics.signing import GENESIS, chain_hash

__all__ = [
    "POLL_S",
    "Batch",
    "ChainHead",
    "LogReader",
    "Unapplicable",
    "chain_step",
    "check_envelope",
    "decode",
    "decode_batch",
    "run_start",
]

# A poll that reaches a partition's closing transaction marker returns nothing and waits out its
# timeout: short polls keep that wait to a few milliseconds (a live pass reads to a marker on
# every partition it touches; 50 ms polls were a third of a live pass).
POLL_S = 0.01
ChainHead = tuple[int, bytes]  # an aggregate's last applied version and its chain hash


@dataclass(frozen=True)
class Batch:
    """One poll's worth of the read.

    records: the records polled (within the ends), in offset order per partition;
    checked: those whose signature check is done, each with what it found (empty for a
    read that verifies nothing); read: each partition's reader position, past transaction
    markers, capped at its end; resume: where a restart must read again from (the read
    position, or the first message of a run still held); done: every partition is read."""

    records: list[LogRecord]
    checked: list[Checked]
    read: dict[TopicPartition, int]
    resume: dict[TopicPartition, int]
    done: bool


def _timed_out(timeout_s: float) -> Exception:
    return LogUnavailable(f"the log did not deliver in {timeout_s:.0f} s")


class LogReader:
    """A bounded, verified read of some partitions of the log.

    verify: (origin, data, signature) -> problem or None, e.g. KeyRegistry.verify; None for a
    topic whose messages carry no signature (a feed's own topic): then only `records` is
    filled. grants: the topic holds key grants (topics/grants.py GrantRuns). timed_out: the
    exception raised after timeout_s without progress."""

    def __init__(
        self,
        event_log: EventLog,
        verify: Verify | None,
        origin_of: Callable[[str], str | None] = lambda topic: None,
        *,
        max_records: int = 1000,
        timeout_s: float = 30.0,
        timed_out: Callable[[], Exception] | None = None,
        grants: bool = False,
    ) -> None:
        self.grants = grants
        self.event_log = event_log
        self.verify = verify
        self.origin_of = origin_of
        self.max_records = max_records
        self.timeout_s = timeout_s
        self.timed_out = timed_out or (lambda: _timed_out(timeout_s))

    def batches(
        self,
        positions: Mapping[TopicPartition, int],
        ends: Mapping[TopicPartition, int] | None = None,
        *,
        through: Mapping[TopicPartition, int] | None = None,
        run_floor: Mapping[TopicPartition, int] | None = None,
    ) -> Iterator[Batch]:
        """Read each partition from its position up to its end (the current end if none).

        through: stop a partition once it has read past this offset and holds no run begun at
        or before it. run_floor: when a partition's first message read sits inside a run, go
        back to the run's first message (not before the floor) so the run can be verified."""
        tps = list(positions)
        if not tps:
            return
        ends = dict(ends) if ends is not None else self.event_log.end_offsets(tps)
        checker = self._checker()
        read = {tp: min(positions[tp], ends[tp]) for tp in tps}
        fed = dict(read)  # the next offset to feed the checker, per partition
        first = set(run_floor or ())  # partitions whose first message is still to come

        def finished(tp: TopicPartition) -> bool:
            if read[tp] >= ends[tp]:
                return True
            if through is None or tp not in through or read[tp] <= through[tp]:
                return False
            held = checker.held_from(tp) if checker is not None else None
            return held is None or held > through[tp]

        pending = [tp for tp in tps if not finished(tp)]
        if not pending:
            return
        reader = self.event_log.reader()
        try:
            reader.assign({tp: read[tp] for tp in pending})
            deadline = time.monotonic() + self.timeout_s
            while pending:
                # Short polls: a partition's last offset is a transaction marker, which a poll
                # passes without returning a record, so it waits out its whole timeout. At 0.5 s
                # that wait was 0.6 of a 5,000-event replay's read; timeout_s still bounds stalls.
                polled = reader.poll(POLL_S, max_records=self.max_records)
                if first and polled and self._rewound(reader, polled, first, run_floor or {}, fed, pending):
                    continue
                records = _before_ends(polled, ends, fed)
                before = dict(read)
                read.update({tp: max(read[tp], min(reader.position(tp), ends[tp])) for tp in pending})
                checked = checker.feed(records) if checker is not None else []
                pending = [tp for tp in pending if not finished(tp)]
                if not pending and checker is not None:
                    checked += checker.flush()  # runs that never closed: unverifiable
                resume = {tp: self._resume(checker, tp, read[tp]) for tp in tps}
                if records or read != before:
                    deadline = time.monotonic() + self.timeout_s  # timeout_s without progress
                elif pending and time.monotonic() > deadline:
                    raise self.timed_out()
                yield Batch(records, checked, dict(read), resume, not pending)
        finally:
            reader.close()

    def check(self, records: Sequence[LogRecord]) -> list[Checked]:
        """Records already in hand (whole runs, or messages signed alone), checked."""
        if self.verify is None:
            raise ValueError("this reader verifies nothing")
        checker = self._checker()
        assert checker is not None
        return checker.feed(records) + checker.flush()

    def _checker(self) -> RunChecker | GrantRuns | None:
        if self.verify is None:
            return None
        return GrantRuns(self.verify) if self.grants else RunChecker(self.verify, self.origin_of)

    @staticmethod
    def _resume(checker: RunChecker | GrantRuns | None, tp: TopicPartition, read: int) -> int:
        held = checker.held_from(tp) if checker is not None else None
        return read if held is None else held

    @staticmethod
    def _rewound(
        reader: Any,
        polled: Sequence[LogRecord],
        first: set[TopicPartition],
        floor: Mapping[TopicPartition, int],
        fed: dict[TopicPartition, int],
        pending: Sequence[TopicPartition],
    ) -> bool:
        """Back to the start of a run the read began inside; True when the poll is dropped."""
        back: dict[TopicPartition, int] = {}
        for record in polled:
            tp = TopicPartition(record.topic, record.partition)
            if tp not in first:
                continue
            first.discard(tp)
            place = place_in_run(record)
            if place is not None and place[0] > 1 and record.offset - (place[0] - 1) >= floor[tp]:
                back[tp] = record.offset - (place[0] - 1)
        if not back:
            return False
        reader.assign({tp: back.get(tp, fed[tp]) for tp in pending})
        fed.update(back)
        return True


def run_start(item: Checked) -> int:
    """The offset of the first message of the run a verified message belongs to (its own
    offset for a message signed alone): where a cursor must read again from to verify it."""
    place = place_in_run(item.record) if item.problem is None else None
    if place is not None and 0 < place[0] < place[1]:
        return item.record.offset - place[0] + 1
    return item.record.offset + 1


# The hash chain: each message carries its aggregate's previous message's hash.
CHAIN_OK, CHAIN_REPEAT, CHAIN_REWRITE = "ok", "repeat", "rewrite"
CHAIN_GAP, CHAIN_MISMATCH = "gap", "mismatch"


def chain_step(head: ChainHead | None, version: int, previous: bytes, value: bytes) -> tuple[str, bytes]:
    """How a message of this version, carrying this previous hash, follows its aggregate's
    head, and the message's own chain hash."""
    digest = chain_hash(previous, value)
    if head is not None and head[0] >= version:
        return (CHAIN_REPEAT if head[0] == version and head[1] == digest else CHAIN_REWRITE), digest
    expected = GENESIS if version == 1 else (head[1] if head is not None and head[0] == version - 1 else None)
    if expected is None:
        return CHAIN_GAP, digest
    return (CHAIN_OK if previous == expected else CHAIN_MISMATCH), digest


class Unapplicable(Exception):
    """A decoded event this projection cannot apply; the reason goes to dead-letter."""


def check_envelope(
    catalogue: Catalogue,
    record: LogRecord,
    meta: dict[str, Any],
    heads: dict[str, ChainHead],
    signed: str | None,
) -> tuple[str, ChainHead] | None:
    """Check the envelope against its topic, what the signature check found (signed: None
    when the origin vouches for the message), and the hash chain; the new chain head, or
    None for a repeat."""
    origin = catalogue.origin_of(record.topic)
    if origin is None or meta["origin"] != origin:
        raise Unapplicable(f"envelope origin {meta['origin']!r} does not match topic {record.topic}")
    if signed is not None:
        raise Unapplicable(signed)
    aggregate_id, version = str(meta["aggregate_id"]), int(meta["aggregate_version"])
    if record.key != aggregate_id.encode() or record.header("aggregate_version") != str(version).encode():
        raise Unapplicable("the message key or version header differs from the envelope's")
    found, digest = chain_step(
        heads.get(aggregate_id), version, record.header("previous_hash") or b"", record.value or b""
    )
    if found == CHAIN_REPEAT:
        return None
    if found == CHAIN_REWRITE:
        raise Unapplicable(
            f"broken hash chain: version {version} arrives after version {heads[aggregate_id][0]}"
        )
    if found == CHAIN_GAP:
        raise Unapplicable(f"broken hash chain: version {version} arrives without version {version - 1}")
    if found == CHAIN_MISMATCH:
        raise Unapplicable(f"broken hash chain: previous hash of version {version} does not match")
    if (version == 1) != (meta["event_type"] in CREATION_EVENTS):
        raise Unapplicable(
            f"{meta['event_type']} as version {version} of {meta['aggregate_type']}: an aggregate "
            "begins with its creation event, and only there"
        )
    return aggregate_id, (version, digest)


def decode(registry: SchemaRegistry, record: LogRecord) -> Decoded | UndecodableMessage:
    """The record decoded, or why it cannot be."""
    try:
        return registry.decode(record.value)
    except UndecodableMessage as error:
        return error


def decode_batch(
    registry: SchemaRegistry, keys: KeyStore | None, records: Iterable[LogRecord]
) -> list[Decoded | UndecodableMessage]:
    """Each record decoded (or why not), with the data keys their sealed tiers and envelopes
    name loaded in one query, ready for topics.mapping.open_record."""
    decodings = [decode(registry, r) for r in records]
    if keys is not None:
        keys.load(
            str(sealed["key_id"])
            for d in decodings
            if isinstance(d, Decoded)
            for sealed in (*d.record.get("sealed", ()), d.record.get("meta", {}).get("sealed_envelope"))
            if sealed
        )
    return decodings


def _before_ends(
    polled: Sequence[LogRecord], ends: Mapping[TopicPartition, int], fed: dict[TopicPartition, int]
) -> list[LogRecord]:
    """The records polled that lie before their partition's end, each partition's next offset
    to feed the checker moved past them."""
    records = [r for r in polled if r.offset < ends[TopicPartition(r.topic, r.partition)]]
    for r in records:
        fed[TopicPartition(r.topic, r.partition)] = r.offset + 1
    return records
