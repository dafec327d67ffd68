"""The plumbing of a node's write side: every handler checks the command, loads what it
touches, lets the aggregate decide, and saves. Publishing happens elsewhere."""

from __future__ import annotations

import contextlib
import dataclasses
import hmac
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any, TypeVar, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Mapper, Transcoding

from ledger import validation as v
from ledger.acting import Acting
from ledger.case import MissingPersonCase
from ledger.command_claims import CommandClaims
from ledger.commands import (
    AmendData,
    CaseCommand,
    CloseCase,
    Command,
    EraseData,
    GrantConsent,
    RecordRead,
    ReopenCase,
    WithdrawConsent,
)
from ledger.course_commands import FlagProtectionRisk
from ledger.crypto import MasterKey, new_data_key
from ledger.errors import CaseNotFound, ConsentRequired, NotFound, VersionConflict
from ledger.events import DIGEST_LENGTH, LedgerAggregate, with_digest
from ledger.group_commit import GroupCommit
from ledger.keystore import KeyStore
from ledger.match import Match
from ledger.memory_key_store import MemoryKeyStore
from ledger.protection_commands import DetermineBestInterests, WithholdSharing
from ledger.sealed_store import SealingMapper
from ledger.tier_codec import TierCodec

__all__ = ["CONSENT_EXEMPT", "A", "DateAsISO", "LedgerApplication", "SetAsList"]

A = TypeVar("A", bound=LedgerAggregate)

# What the family does with its own case needs no consent for a purpose.
CONSENT_EXEMPT = (
    GrantConsent,
    WithdrawConsent,
    AmendData,
    EraseData,
    CloseCase,
    ReopenCase,
    DetermineBestInterests,  # a child-protection decision never waits on a purpose
    WithholdSharing,  # nor does protecting a refugee from the country they fled
    FlagProtectionRisk,  # nor does flagging a threat to the person or their family
)


class DateAsISO(Transcoding):
    """Calendar dates (birth, last seen) as ISO 8601 text."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class SetAsList(Transcoding):
    """Sets (command ids, linked cases) in snapshots."""

    type = set
    name = "set"

    def encode(self, obj: set[Any]) -> list[Any]:
        return sorted(obj)

    def decode(self, data: list[Any]) -> set[Any]:
        return set(data)


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
# json.dumps(content, sort_keys=True, default=str, ensure_ascii=False), the encoder made once.
_CANONICAL = json.JSONEncoder(sort_keys=True, default=str, ensure_ascii=False)


def _field_names(command_type: type) -> tuple[str, ...]:
    """A command class's field names (dataclasses.fields() costs a bulk import per row)."""
    names = _FIELD_NAMES.get(command_type)
    if names is None:
        names = _FIELD_NAMES[command_type] = tuple(f.name for f in dataclasses.fields(command_type))
    return names


class LedgerApplication(Application[UUID]):
    """The plumbing every handler shares: checking, loading, deciding, saving, consent."""

    name = "caseledger"

    def __init__(
        self,
        origin: str,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        foreign_matches: Callable[[UUID], Mapping[str, Any] | None] | None = None,
        keys: KeyStore | None = None,
        group_commit: bool = True,
        codec: TierCodec | None = None,
    ) -> None:
        """keys: where the data keys sealing the event store live; by default in memory under
        a master key made for this process (tests and throwaway ledgers). group_commit: on
        PostgreSQL, commit concurrent commands' saves together (ledger/group_commit.py).
        codec: stores sealed tiers as the log carries them (ledger/tier_codec.py), so the
        relay publishes them without opening them; without one, the older form. A node's
        event store needs one to be read: events it stored in that form are refused
        (ledger.crypto.Refused, naming the event) by a ledger built without a codec;
        services/bootstrap.py build_node always gives one."""
        self.codec = codec
        self.origin = v.country("origin", origin)
        self.clock = clock
        self.foreign_matches = foreign_matches
        self.keys: KeyStore = keys or MemoryKeyStore(MasterKey(new_data_key()))
        # Command ids are public (the envelope): the digest beside them is keyed, so it says
        # nothing of the request to anyone without this node's master key.
        self._digest_key = hmac.digest(self.keys.master.key, b"caseledger command digest v1", "sha256")
        super().__init__(env=env)
        self.claims = CommandClaims(self.recorder)  # a command id reused for another record
        # On PostgreSQL, concurrent commands' saves commit together (ledger/group_commit.py).
        grouped = group_commit and GroupCommit.usable(self)
        self.group: GroupCommit | None = GroupCommit(self) if grouped else None
        # Who may record what under the network's rules (ledger/acting.py); the composition
        # root sets it when the node has rules, with what its views know of others' records.
        self.acting: Acting | None = None
        # Set after every commit: the relay of this process wakes on it (topics/relay.py).
        self.saved = threading.Event()

    def _record(self, processing_event: Any) -> list[Any]:
        """The library's _record, through the group commit when there is one; a save's
        command_claim (a stored command id) is claimed in the transaction of its events."""
        claim = processing_event.saved_kwargs.pop("command_claim", None)
        if self.group is None:
            with self.claims.claimed(claim) if claim else contextlib.nullcontext():
                return cast(list[Any], super()._record(processing_event))
        recordings = self.group.record(processing_event.events, claim)
        if self.repository.cache and not self.repository.fastforward:
            for aggregate_id, aggregate in processing_event.aggregates.items():
                self.repository.cache.put(aggregate_id, aggregate)
        return recordings

    def _notify(self, recordings: list[Any]) -> None:
        super()._notify(recordings)
        self.saved.set()

    def construct_mapper(self) -> Mapper[UUID]:
        """Every tier above public is sealed before it reaches the database (ledger/sealed_store.py)."""
        return SealingMapper(self.construct_transcoder(), self.keys, self.codec)

    def shred(self, aggregate_id: UUID) -> list[str]:
        """Crypto-shredding: delete the aggregate's snapshots, then destroy its data keys, so
        what its events held above the public tier can no longer be read here; the events
        themselves (and their hash chain) stay as they are."""
        self._delete_snapshots(aggregate_id)
        destroyed = self.keys.destroy_aggregate(str(aggregate_id))
        if self.repository.cache is not None:
            with contextlib.suppress(KeyError):
                self.repository.cache.get(aggregate_id, evict=True)  # it holds the plaintext
        return destroyed

    def _delete_snapshots(self, aggregate_id: UUID) -> None:
        if self.snapshots is None:
            return
        recorder: Any = self.snapshots.recorder
        datastore: Any = getattr(recorder, "datastore", None)
        table = getattr(recorder, "events_table_name", "")
        if hasattr(datastore, "schema"):  # PostgreSQL
            statement = f'DELETE FROM "{datastore.schema}"."{table}" WHERE originator_id = %s'
            with datastore.transaction(commit=True) as cursor:
                cursor.execute(statement, (aggregate_id,))
        elif hasattr(datastore, "transaction"):  # SQLite
            with datastore.transaction(commit=True) as cursor:
                cursor.execute(f"DELETE FROM {table} WHERE originator_id = ?", (str(aggregate_id),))
        else:  # in memory (POPO): unindexed events are never selected again
            with recorder._database_lock:
                recorder._stored_events_index.pop(str(aggregate_id), None)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())
        transcoder.register(SetAsList())

    # -------------------------------------------------------------- plumbing

    def _checked(self, command: Any, claim_later: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
        """The envelope and the event's attributes; the envelope's command id carries the
        digest of the request (ledger/events.py), so a reused id is told from a retry.
        claim_later: the caller decides within claims_first and saves with the claim, which
        refuses a reused id in the save's own transaction: no read of the claims before."""
        envelope, data = self._prechecked(command)
        if not claim_later:
            self.claims.check(envelope["command_id"])
        if self.acting is not None and not isinstance(command, RecordRead):  # a read is logged, even refused
            with self.claims_first(envelope["command_id"]) if claim_later else contextlib.nullcontext():
                self.acting.check_command(command)
        return envelope, data

    @contextlib.contextmanager
    def claims_first(self, stored_command_id: str) -> Iterator[None]:
        """A command whose claim is taken with its save: a refusal met before the save names a
        reused command id first, as a check of the claims before anything was decided would."""
        try:
            yield
        except Exception:
            self.claims.check(stored_command_id)
            raise

    def _prechecked(self, command: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """What _checked finds without the database: the command's own checks and the keyed
        digest (a bulk import's worker processes run this part; ledger/import_batch.py)."""
        now = self.clock()
        envelope, data = command.envelope(now), command.checked(now.date())
        envelope["command_id"] = with_digest(envelope["command_id"], self._digest(command, envelope, data))
        return envelope, data

    def _digest(self, command: Any, envelope: dict[str, Any], data: dict[str, Any]) -> str:
        """What the command asks, less what a retry may change (the If-Match version, the
        time it was sent when the client did not state it)."""
        targets = {
            name: str(value)
            for name in _field_names(type(command))
            if isinstance(value := getattr(command, name), UUID)
        }
        content = {
            "command": type(command).__name__,
            "recorded_by": envelope["recorded_by"],
            "purpose": envelope["purpose"],
            "occurred_at": envelope["occurred_at"].isoformat() if command.occurred_at else None,
            "targets": targets,
            "data": data,
        }
        canonical = _CANONICAL.encode(content)
        # hmac.digest: the same HMAC-SHA256 as hmac.new(...).hexdigest(), in one C call.
        return hmac.digest(self._digest_key, canonical.encode(), "sha256").hex()[:DIGEST_LENGTH]

    def _load(self, cls: type[A], kind: str, aggregate_id: UUID) -> A:
        try:
            aggregate: object = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFound(kind, str(aggregate_id)) from None
        if not isinstance(aggregate, cls):
            raise NotFound(kind, str(aggregate_id))
        return aggregate

    def _save(self, loaded_version: int, *aggregates: LedgerAggregate, claim: str | None = None) -> None:
        try:
            self.save(*aggregates, command_claim=claim)
        except IntegrityError:
            first = aggregates[0]
            recorded = cast(LedgerAggregate, self.repository.get(first.id))
            if claim is not None and recorded.already_applied(claim):
                # This command's own events: a transaction retried after the connection died
                # at its commit (the group commit retries) finds what the first try committed.
                return
            # Someone else saved first: report the version they left.
            raise VersionConflict(str(first.id), loaded_version, recorded.version) from None

    def _create(self, aggregate: LedgerAggregate, command_id: str) -> UUID:
        try:
            self.save(aggregate, command_claim=command_id)
        except IntegrityError:
            existing = cast(LedgerAggregate, self.repository.get(aggregate.id))
            if not existing.already_applied(command_id):
                raise
        return aggregate.id

    def _act(
        self,
        cls: type[A],
        kind: str,
        aggregate_id: UUID,
        command: Command,
        decide: Callable[[A, dict[str, Any], dict[str, Any]], list[LedgerAggregate] | None],
    ) -> int:
        """The shared shape of every non-creating command; returns the aggregate's new version."""
        envelope, data = self._checked(command, claim_later=True)
        with self.claims_first(envelope["command_id"]):
            aggregate = self._load(cls, kind, aggregate_id)
            if aggregate.already_applied(envelope["command_id"]):
                return int(aggregate.version)  # a retry: it was recorded the first time
            if command.expected_version is not None and command.expected_version != aggregate.version:
                raise VersionConflict(str(aggregate_id), command.expected_version, aggregate.version)
            loaded_version = int(aggregate.version)
            others = decide(aggregate, envelope, data) or []
            self._save(loaded_version, aggregate, *others, claim=envelope["command_id"])
            return int(aggregate.version)

    def _case_act(
        self, command: CaseCommand, decide: Callable[[MissingPersonCase, dict[str, Any], dict[str, Any]], Any]
    ) -> int:
        def guarded(case: MissingPersonCase, envelope: dict[str, Any], data: dict[str, Any]) -> Any:
            if not isinstance(command, CONSENT_EXEMPT):
                self.require_consent(case, envelope["purpose"])
            return decide(case, envelope, data)

        return self._act(MissingPersonCase, "case", command.case_id, command, guarded)

    def require_consent(self, case: MissingPersonCase, purpose: str) -> None:
        if not case.has_consent(purpose):
            raise ConsentRequired(str(case.id), purpose)

    # -------------------------------------------------------------- queries

    def get_case(self, case_id: UUID) -> MissingPersonCase:
        """The case's current state, or CaseNotFound."""
        try:
            return self._load(MissingPersonCase, "case", case_id)
        except NotFound:
            raise CaseNotFound(str(case_id)) from None

    def match_facts(self, match_id: UUID) -> Mapping[str, Any]:
        """A match recorded here, or one this node learned of from another node's log: the case
        and remains it names, its outcome and basis, and whether it identifies (Match.identifies)."""
        try:
            match = self._load(Match, "match", match_id)
        except NotFound:
            found = self.foreign_matches(match_id) if self.foreign_matches else None
            if found is None:
                raise
            return found
        return {
            "case_id": match.case_id,
            "remains_id": match.remains_id,
            "outcome": match.outcome,
            "basis": getattr(match, "basis", None),
            "identifies": match.identifies,
        }
