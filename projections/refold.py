"""A case folded anew from the log, for a family that consents again: withdrawing consent
emptied the views' row and timeline of the case down to its public fields, and only the log
still holds the rest."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING

from projections.checks import Unapplicable, check_envelope, decode
from projections.rows import public_only, status_before_closure
from projections.views import CaseRow, ChainHead, TimelineRow
from topics.avro import Decoded, UndecodableMessage
from topics.log import LogRecord, TopicPartition
from topics.mapping import open_record
from topics.seals import Checked, RunChecker, place_in_run

if TYPE_CHECKING:
    from projections.projector import Projector


def refold(projector: Projector, case_id: str, upto: LogRecord) -> tuple[CaseRow | None, list[TimelineRow]]:
    """A case folded again from its events in the log, up to and including `upto`, blind to
    consent on the way: the row and the timeline entries these views would hold had the
    family never withdrawn it. Its messages are checked as on their first pass (run
    signatures, envelope, hash chain); those refused then are passed over again.

    The partition is read from the run holding the first record stamped at or after the
    earliest instant in the case's timeline (a record's timestamp is its event's
    occurred_at), or from its beginning if that finds no start of the case."""
    tp = TopicPartition(upto.topic, upto.partition)
    beginning = projector.event_log.beginning_offsets([tp])[tp]
    earliest = min((e.occurred_at for e in projector.views.timeline(case_id)), default=None)
    start = beginning
    stamp = int(earliest.timestamp() * 1000) - 1 if earliest is not None else -1
    if stamp >= 0:  # a millisecond earlier: Kafka's time index is inclusive below
        start = max(beginning, projector.event_log.offsets_for_time([tp], stamp)[tp])
    row, entries = _fold(projector, case_id, upto, start, beginning)
    if row is None and start > beginning:
        row, entries = _fold(projector, case_id, upto, beginning, beginning)
    return row, entries


def _fold(
    projector: Projector, case_id: str, upto: LogRecord, start: int, beginning: int
) -> tuple[CaseRow | None, list[TimelineRow]]:
    tp = TopicPartition(upto.topic, upto.partition)
    checker = RunChecker(projector.keys.verify, projector.catalogue.origin_of)
    checked: list[Checked] = []
    mine = upto.key

    def held_in_run() -> bool:  # a run's signature covers the whole run: read on until it closes
        held = checker.held_from(tp)
        return held is not None and held <= upto.offset

    reader = projector.event_log.reader()
    try:
        end = projector.event_log.end_offsets([tp])[tp]
        reader.assign({tp: start})
        first = start > beginning
        deadline = time.monotonic() + 60.0
        while reader.position(tp) < end and (reader.position(tp) <= upto.offset or held_in_run()):
            records = reader.poll(0.5, max_records=projector.batch_size)
            place = place_in_run(records[0]) if first and records else None
            if records:
                first = False
            if place is not None and place[0] > 1 and records[0].offset - (place[0] - 1) >= beginning:
                reader.assign({tp: records[0].offset - (place[0] - 1)})  # back to the run's start
                continue
            checked += [c for c in checker.feed(records) if c.record.key == mine]
            if records:
                deadline = time.monotonic() + 60.0  # 60 s without a record, not 60 s in all
            elif time.monotonic() > deadline:
                raise TimeoutError(
                    f"views for {projector.jurisdiction}: {tp.topic} delivered nothing in 60 s"
                )
    finally:
        reader.close()
    checked += [c for c in checker.flush() if c.record.key == mine]  # runs that never closed
    maker = projector.row_maker.refolded()
    heads: dict[str, ChainHead] = {}
    row: CaseRow | None = None
    names: list[str] = []
    entries: list[TimelineRow] = []
    for item in checked:
        decoded = decode(projector.registry, item.record)
        if item.record.offset > upto.offset or isinstance(decoded, UndecodableMessage):
            continue
        try:
            link = check_envelope(
                projector.catalogue, item.record, decoded.record["meta"], heads, item.problem
            )
        except Unapplicable:
            continue
        if link is None:
            continue
        heads[case_id] = link[1]
        opened = open_record(projector.registry, projector.data_keys, decoded)
        names.append(decoded.name)
        readable = Decoded(decoded.name, decoded.writer_version, opened.plain)
        row = maker.to_row(readable, row, opened.closed) or row
        if decoded.name == "CaseReopened" and row is not None:
            row = replace(row, status=status_before_closure(names[:-1]))
        entries.append(maker.timeline_entry(decoded.name, opened, row))
    if row is not None and projector.row_maker.purpose not in row.consents:
        return public_only(row), []
    return row, entries
