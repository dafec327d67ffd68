"""A case folded anew from the log, for a family that consents again: withdrawing consent
emptied the views' row and timeline of the case down to its public fields, and only the log
still holds the rest."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ledger.keystore import KeyStore
from projections.checks import Unapplicable, check_envelope
from projections.rows import RowMaker, public_only, status_before_closure
from projections.views import CaseRow, ChainHead, JurisdictionViews, TimelineRow
from topics.avro import Decoded, SchemaRegistry, UndecodableMessage
from topics.catalogue import Catalogue
from topics.log import EventLog, LogRecord, TopicPartition
from topics.mapping import open_record
from topics.reader import LogReader, decode_batch
from topics.run_signatures import Verify

__all__ = ["Refolding", "refold"]


@dataclass(frozen=True)
class Refolding:
    """What folding a case again reads: the log, checked as on the first pass, opened with
    the keys these views hold, and made into rows by their row maker."""

    jurisdiction: str
    event_log: EventLog
    views: JurisdictionViews
    verify: Verify
    catalogue: Catalogue
    registry: SchemaRegistry
    data_keys: KeyStore
    row_maker: RowMaker
    batch_size: int = 1000


def refold(source: Refolding, case_id: str, upto: LogRecord) -> tuple[CaseRow | None, list[TimelineRow]]:
    """A case folded again from its events in the log, up to and including `upto`, blind to
    consent on the way: the row and the timeline entries these views would hold had the
    family never withdrawn it. Its messages are checked as on their first pass (run
    signatures, envelope, hash chain); those refused then are passed over again.

    The partition is read from the run holding the first record stamped at or after the
    earliest instant in the case's timeline (a record's timestamp is its event's
    occurred_at), or from its beginning if that finds no start of the case."""
    tp = TopicPartition(upto.topic, upto.partition)
    beginning = source.event_log.beginning_offsets([tp])[tp]
    earliest = min((e.occurred_at for e in source.views.timeline(case_id)), default=None)
    start = beginning
    stamp = int(earliest.timestamp() * 1000) - 1 if earliest is not None else -1
    if stamp >= 0:  # a millisecond earlier: Kafka's time index is inclusive below
        start = max(beginning, source.event_log.offsets_for_time([tp], stamp)[tp])
    row, entries = _fold(source, case_id, upto, start, beginning)
    if row is None and start > beginning:
        row, entries = _fold(source, case_id, upto, beginning, beginning)
    return row, entries


def _fold(
    source: Refolding, case_id: str, upto: LogRecord, start: int, beginning: int
) -> tuple[CaseRow | None, list[TimelineRow]]:
    tp = TopicPartition(upto.topic, upto.partition)
    mine = upto.key
    reader = LogReader(
        source.event_log,
        source.verify,
        source.catalogue.origin_of,
        max_records=source.batch_size,
        timeout_s=60.0,
        timed_out=lambda: TimeoutError(
            f"views for {source.jurisdiction}: {tp.topic} delivered nothing in 60 s"
        ),
    )
    # A run's signature covers the whole run: read on past `upto` until its run closes, and
    # from the start of the run the read begins in.
    checked = [
        c
        for batch in reader.batches({tp: start}, through={tp: upto.offset}, run_floor={tp: beginning})
        for c in batch.checked
        if c.record.key == mine
    ]
    decodings = decode_batch(source.registry, source.data_keys, (c.record for c in checked))
    maker = source.row_maker.refolded()
    heads: dict[str, ChainHead] = {}
    row: CaseRow | None = None
    names: list[str] = []
    entries: list[TimelineRow] = []
    for item, decoded in zip(checked, decodings, strict=True):
        if item.record.offset > upto.offset or isinstance(decoded, UndecodableMessage):
            continue
        try:
            link = check_envelope(source.catalogue, item.record, decoded.record["meta"], heads, item.problem)
        except Unapplicable:
            continue
        if link is None:
            continue
        heads[case_id] = link[1]
        opened = open_record(source.registry, source.data_keys, decoded)
        names.append(decoded.name)
        readable = Decoded(decoded.name, decoded.writer_version, opened.plain)
        row = maker.to_row(readable, row, opened.closed) or row
        if decoded.name == "CaseReopened" and row is not None:
            row = replace(row, status=status_before_closure(names[:-1]))
        entries.append(maker.timeline_entry(decoded.name, opened, row))
    if row is not None and source.row_maker.purpose not in row.consents:
        return public_only(row), []
    return row, entries
