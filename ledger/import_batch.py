"""Recording imported records in batches: many new aggregates per transaction of the event
store, and for a record imported before, nothing (unchanged) or an amendment of what changed.

eventsourcing saves several aggregates atomically in one call (one transaction, one lock of
the table on PostgreSQL): a batch of 500 new cases costs one commit instead of 500.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.domain import CanInitAggregate
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic

from ledger.case import MissingPersonCase, case_id_for
from ledger.commands import AMENDABLE, AmendData, Command, ReportMissingPerson
from ledger.errors import CommandIdReused, InvalidField, LedgerError
from ledger.events import LedgerAggregate, command_key
from ledger.fast_json import FastTranscoder
from ledger.forensic_commands import RecordRemainsRecovered
from ledger.import_postgres import copy_events, existing_and_held, keys_in_database
from ledger.remains import UnidentifiedRemains, remains_id_for
from ledger.sealed_store import SealingMapper
from ledger.tier_split import tiers_of

__all__ = ["BODY_FIELD", "FIXED_REPORT_FIELDS", "Created", "ImportBatch", "Outcome"]

Created = CanInitAggregate[UUID]  # the first event of an aggregate

# Fields of a report that an amendment cannot change: a row that changes them is refused.
FIXED_REPORT_FIELDS = (
    "person.sex",
    "person.nationalities",
    "person.id_documents",
    "person.age_range",
    "person.photo",
    "last_seen.date",
    "last_seen.country",
    "last_seen.coordinates",
    "family_contacts",
)


# The request body's name of each event path (what a row's columns are mapped to).
BODY_FIELD = {
    "last_seen.date": "last_seen_date",
    "last_seen.country": "last_seen_country",
    "last_seen.coordinates": "last_seen_coordinates",
    "last_seen.place": "last_seen_place",
    "last_seen.route": "route",
}


@dataclass(frozen=True)
class Outcome:
    """What became of one command: recorded, unchanged, amended, or refused (field, problem)."""

    outcome: str
    record_id: str | None = None
    field: str | None = None
    problem: str | None = None


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)


def _at(state: dict[str, Any], path: str) -> Any:
    head, _, leaf = path.partition(".")
    value = state.get(head)
    if leaf:
        return (value or {}).get(leaf)
    return value


class ImportBatch:
    """Checks creating commands against a ledger and saves the new aggregates together."""

    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger
        # The ledger's own sealing, its JSON encoded by orjson: the same bytes, sooner.
        codec = getattr(ledger.mapper, "codec", None)  # tiers in wire form, as the ledger stores them
        self.mapper = SealingMapper(FastTranscoder(ledger.mapper.transcoder), ledger.keys, codec)

    # ------------------------------------------------------------------ deciding

    def new_aggregate(self, command: Command) -> tuple[LedgerAggregate, str]:
        """The aggregate a creating command would record, and its stored command id; InvalidField."""
        envelope, data = self._decided(command)
        if isinstance(command, ReportMissingPerson):
            return MissingPersonCase.report(self.ledger.origin, envelope, data), envelope["command_id"]
        if isinstance(command, RecordRemainsRecovered):
            remains = UnidentifiedRemains._create(
                UnidentifiedRemains.RemainsRecovered,
                id=remains_id_for(self.ledger.origin, command_key(envelope["command_id"])),
                origin=self.ledger.origin,
                **envelope,
                **data,
            )
            return remains, envelope["command_id"]
        raise TypeError(f"{type(command).__name__} is not imported in batches")

    def new_event(self, command: Command) -> tuple[Created, str]:
        """The event new_aggregate's aggregate would hold pending (the same checks, the same
        attributes), made without folding it into an aggregate that a bulk import never reads:
        the fold cost about a twentieth of an imported row."""
        envelope, data = self._decided(command)
        return self.event_for(command, envelope, data), envelope["command_id"]

    def event_for(self, command: Command, envelope: dict[str, Any], data: dict[str, Any]) -> Created:
        """The creating event of a checked command (its envelope and attributes)."""
        origin = self.ledger.origin
        key = command_key(envelope["command_id"])
        made: tuple[type[LedgerAggregate], type[Created], UUID]
        if isinstance(command, ReportMissingPerson):
            made = MissingPersonCase, MissingPersonCase.CaseReported, case_id_for(origin, key)
        elif isinstance(command, RecordRemainsRecovered):
            made = UnidentifiedRemains, UnidentifiedRemains.RemainsRecovered, remains_id_for(origin, key)
        else:
            raise TypeError(f"{type(command).__name__} is not imported in batches")
        aggregate_type, aggregate_id = made[0], made[2]
        event_type: Any = made[1]  # its own fields are keywords mypy cannot see
        # What Aggregate._create gives a creating event, then the attributes it is made with.
        event: Created = event_type(
            originator_topic=get_topic(aggregate_type),
            originator_id=aggregate_id,
            originator_version=aggregate_type.INITIAL_VERSION,
            timestamp=event_type.create_timestamp(),
            origin=origin,
            **envelope,
            **data,
        )
        return event

    def _decided(self, command: Command) -> tuple[dict[str, Any], dict[str, Any]]:
        envelope, data = self.ledger._checked(command)
        self.check_origin(command, data)
        return envelope, data

    def check_origin(self, command: Command, data: dict[str, Any]) -> None:
        """InvalidField if a report would withhold the case from the node that records it."""
        if isinstance(command, ReportMissingPerson) and self.ledger.origin in data["withheld_from_countries"]:
            raise InvalidField(
                "withheld_from_countries",
                f"the case is recorded in {self.ledger.origin}; it cannot be withheld from it",
            )

    def aggregate_id(self, command: Command) -> UUID:
        return self.id_for(type(command), command.command_id)

    def id_for(self, command_type: type, command_id: str) -> UUID:
        """The id of the aggregate a creating command of this type and id makes."""
        if issubclass(command_type, ReportMissingPerson):
            return case_id_for(self.ledger.origin, command_id)
        return remains_id_for(self.ledger.origin, command_id)

    def existing_and_held(
        self, ids: Sequence[UUID], command_ids: Sequence[str]
    ) -> tuple[set[UUID], dict[str, str] | None]:
        """existing(ids), and on PostgreSQL the claims of these command ids too, in the same
        round trip (ledger/import_postgres.py); None: claims.known() is left to fetch them."""
        if ids and self.ledger.claims.postgres and hasattr(self.ledger.recorder, "events_table_name"):
            return existing_and_held(self.ledger, ids, command_ids)
        return self.existing(ids), None

    def existing(self, ids: Sequence[UUID]) -> set[UUID]:
        """Which of these aggregates the event store already holds (one query per batch)."""
        if not ids:
            return set()
        recorder: Any = self.ledger.recorder
        datastore: Any = getattr(recorder, "datastore", None)
        table = getattr(recorder, "events_table_name", "")
        if hasattr(datastore, "schema"):  # PostgreSQL
            with datastore.transaction(commit=False) as cursor:
                cursor.execute(
                    f'SELECT originator_id FROM "{datastore.schema}"."{table}" '
                    "WHERE originator_id = ANY(%s) AND originator_version = 1",
                    (list(ids),),
                )
                return {UUID(str(row["originator_id"])) for row in cursor.fetchall()}
        if hasattr(datastore, "transaction"):  # SQLite: ids as 32 hex digits when typed uuid
            uuid_ids = getattr(datastore, "originator_id_type", "uuid") == "uuid"
            marks = ",".join("?" * len(ids))
            with datastore.transaction(commit=False) as cursor:
                cursor.execute(
                    f"SELECT originator_id FROM {table} WHERE originator_version = 1 "
                    f"AND originator_id IN ({marks})",
                    [i.hex if uuid_ids else str(i) for i in ids],
                )
                return {UUID(str(row[0])) for row in cursor.fetchall()}
        index = recorder._stored_events_index  # in memory (POPO)
        return {i for i in ids if index.get(str(i))}

    # ------------------------------------------------------------------ saving

    def save_new(self, commands: Sequence[Command], events: Sequence[Any] | None = None) -> list[Outcome]:
        """Record the creating events of new aggregates (new_event) in one transaction; if one
        was recorded meanwhile (by another process), each is decided and saved alone.
        InvalidField and other ledger errors are raised by new_event before anything is saved.
        An event may come sealed ahead (ledger/import_ahead.py: its stored row and keys)."""
        if not commands:
            return []
        if events is None:
            events = [self.new_event(c)[0] for c in commands]
        if any(type(e) is tuple for e in events):
            if all(type(e) is tuple for e in events) and self._copies():
                return self._save_sealed(commands, events)
            events = [
                self.new_event(c)[0] if type(e) is tuple else e for c, e in zip(commands, events, strict=True)
            ]
        keys = self.ledger.keys
        made = self._tiers(events)
        if hasattr(keys, "make_first_keys"):  # every new aggregate's keys in one round trip
            keys.make_first_keys(made)
        try:
            self._save_together(events)
            return [Outcome("recorded", str(e.originator_id)) for e in events]
        except IntegrityError:
            pass  # saving collected the events: each is made again below
        finally:
            if hasattr(keys, "forget_cached"):  # memory stays flat however long the file
                keys.forget_cached(made)
        return self._save_each(commands)

    def _save_each(self, commands: Sequence[Command]) -> list[Outcome]:
        results: list[Outcome] = []
        for command in commands:
            aggregate = self.new_aggregate(command)[0]
            try:
                self.ledger.save(aggregate)
                results.append(Outcome("recorded", str(aggregate.id)))
            except IntegrityError:
                results.append(self.update(command, "recorded meanwhile"))
        return results

    def _save_sealed(self, commands: Sequence[Command], sealed: Sequence[Any]) -> list[Outcome]:
        """save_new of events sealed ahead: their keys inserted in one round trip, an event
        whose key the store held already sealed again here under the store's key."""
        keys: Any = self.ledger.keys
        key_rows = [row for _, rows in sealed for row in rows]
        if keys_in_database(self.ledger):  # the keys in the events' transaction
            try:
                copy_events(self.ledger, [row for row, _ in sealed], key_rows)
                return [Outcome("recorded", str(row[0])) for row, _ in sealed]
            except IntegrityError:
                pass  # a key or an event there already: the keys apart, as below
        inserted = keys.add_first_keys(key_rows)
        rows: list[Any] = []
        again: dict[str, set[str]] = {}
        for n, (row, key_rows) in enumerate(sealed):  # commands[n]: made again if need be
            if all(k.key_id in inserted for k in key_rows):
                rows.append(row)
                continue
            event = self.new_event(commands[n])[0]
            again.update(self._tiers([event]))
            stored = self.mapper.to_stored_event(event)
            rows.append((stored.originator_id, stored.originator_version, stored.topic, stored.state))
        try:
            self._copy(rows)
            return [Outcome("recorded", str(row[0])) for row in rows]
        except IntegrityError:
            pass
        finally:
            keys.forget_cached(again)
        return self._save_each(commands)

    def _copies(self) -> bool:
        """Whether new events go in by COPY (PostgreSQL), where events sealed ahead are saved."""
        recorder: Any = self.ledger.recorder
        return hasattr(getattr(recorder, "datastore", None), "schema") and hasattr(recorder, "_lock_table")

    def _save_together(self, events: Sequence[Created]) -> None:
        """ledger.save(*events), on PostgreSQL with the rows sent by binary COPY: the
        library's INSERT passes an array of composite rows as text, whose escaping of the
        sealed bytes in Python took about a fifth of a bulk import's time (py-spy, bench/import.py).
        IntegrityError if one of the aggregates was recorded meanwhile."""
        if not self._copies():
            self.ledger.save(*events)
            return
        to_stored = self.mapper.to_stored_event
        stored = [to_stored(event) for event in events]
        self._copy([(e.originator_id, e.originator_version, e.topic, e.state) for e in stored])

    def _copy(self, rows: Sequence[tuple[Any, int, str, bytes]]) -> None:
        """The stored rows in by binary COPY (ledger/import_postgres.py); IntegrityError if one
        of them is there already."""
        copy_events(self.ledger, rows)

    def _tiers(self, events: Sequence[Created]) -> dict[str, set[str]]:
        wanted: dict[str, set[str]] = {}
        for event in events:  # every tier the event type may seal
            wanted.setdefault(str(event.originator_id), set()).update(tiers_of(type(event).__name__))
        return wanted

    def update(self, command: Command, reason: str) -> Outcome:
        """A record imported before: unchanged, or (a report) amended where the row changed."""
        record_id = self.aggregate_id(command)
        aggregate = self.ledger.repository.get(record_id)
        if getattr(aggregate, "erased", False):
            return Outcome(
                "refused", str(record_id), "imported_from", "the case was erased; it is not imported again"
            )
        if isinstance(command, ReportMissingPerson):
            return self._amend_report(command, aggregate, reason)
        envelope, _ = self.ledger._checked(command)
        try:
            aggregate.already_applied(envelope["command_id"])
        except CommandIdReused:
            return Outcome(
                "refused",
                str(record_id),
                "imported_from.reference",
                "differs from the record imported before under this reference; remains cannot "
                "be amended by an import",
            )
        return Outcome("unchanged", str(record_id))

    def _amend_report(self, command: ReportMissingPerson, case: Any, reason: str) -> Outcome:
        today = self.ledger.clock().date()
        wanted = command.checked(today)
        held = {
            "person": dict(case.person or {}),
            "last_seen": dict(case.last_seen or {}),
            "family_contacts": list(case.family_contacts or []),
            "circumstances": case.circumstances,
        }
        for path in FIXED_REPORT_FIELDS:
            if _canonical(_at(wanted, path)) != _canonical(_at(held, path)):
                return Outcome(
                    "refused",
                    str(case.id),
                    BODY_FIELD.get(path, path.rpartition(".")[2]),
                    "changed since it was imported; an import amends names, dates of birth, "
                    "places and circumstances only: correct this one on the case itself",
                )
        changes = {
            path: _at(wanted, path)
            for path in AMENDABLE
            if _canonical(_at(wanted, path)) != _canonical(_at(held, path))
        }
        if not changes:
            return Outcome("unchanged", str(case.id))
        # The id names the version amended: a run interrupted after it finds nothing to amend.
        key = hashlib.sha256(f"{command.command_id}\x00{case.version}".encode()).hexdigest()[:32]
        amendment = AmendData(
            command_id=f"import:amend:{key}",
            recorded_by=command.recorded_by,
            purpose=command.purpose,
            case_id=case.id,
            changes={k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in changes.items()},
            reason=reason,
            expected_version=case.version,
        )
        try:
            self.ledger.amend_data(amendment)
        except LedgerError as error:
            field = getattr(error, "field", "changes")
            return Outcome("refused", str(case.id), field, getattr(error, "problem", str(error)))
        return Outcome("amended", str(case.id))
