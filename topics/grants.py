"""Data keys on `ledger.keys`: grants for the readers the rules entitle, and tombstones.

The relay publishes a key's grant in the same transaction as the first message it seals
with that key (in each run of the relay), so a reader never sees ciphertext whose grant is
still to come. Each grant wraps the key separately for every entitled reader that has a
registered X25519 key; the message is signed by the origin node. When a family's data is
erased, the relay publishes a signed tombstone for each of the case's keys: compaction
drops the grants, and every node destroys its copy when it reads the tombstone.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from ledger.crypto import Ephemerals, wrap_for
from ledger.keystore import KeyStore, parse_key_id
from ledger.tiers import is_minor
from topics.avro import SchemaRegistry
from topics.catalogue import Catalogue
from topics.log import LogRecord, OutgoingRecord, TopicPartition
from topics.run_signatures import RUN_SIGNATURE, Checked, Verify, place_in_run, run_bytes
from topics.signing import KeyRegistry, NodeKey

__all__ = [
    "CaseContext",
    "GrantRuns",
    "Granting",
    "Readers",
    "Withheld",
    "disclosed_by",
    "grant_context",
    "grant_digest",
    "grant_problem",
    "granted",
    "own_cases_only",
    "signed_grant",
    "verify_grant",
]

log = logging.getLogger(__name__)

# (origin, tier, nationalities, minor) -> the readers (organisation ids, jurisdictions)
Readers = Callable[[str, str, Sequence[str], bool], Iterable[str]]
# aggregate id -> (nationalities, minor) of the case it concerns
CaseContext = Callable[[str], tuple[Sequence[str], bool]]
# (aggregate id, the event being published or None) -> the readers the case is withheld from
Withheld = Callable[[str, Any], frozenset[str]]


def disclosed_by(origin: str) -> frozenset[str]:
    """What a reader's key store records, for a key it received by an approved disclosure (#19),
    in place of the readers an origin records for its own keys: which origin disclosed it. Its
    views honour it only for that origin's cases (projections/projector.py)."""
    return frozenset({f"disclosure:{origin}"})


def grant_context(key_id: str) -> bytes:
    return f"grant:{key_id}".encode()


def signed_grant(key_id: str, value: bytes | None) -> bytes:
    """What the origin signs for a grant or (value None) a tombstone."""
    return (
        b"caseledger key grant\x00"
        + key_id.encode()
        + b"\x00"
        + (value if value is not None else b"tombstone")
    )


def own_cases_only(origin: str, tier: str, nationalities: Sequence[str], minor: bool) -> list[str]:
    """Without access rules: the origin's own node reads its own cases."""
    return [origin]


class Granting:
    def __init__(
        self,
        origin: str,
        keys: KeyStore,
        registry: SchemaRegistry,
        catalogue: Catalogue,
        signer: NodeKey,
        recipients: Mapping[str, X25519PublicKey],
        readers: Readers = own_cases_only,
        context: CaseContext = lambda aggregate_id: ((), False),
        withheld: Withheld = lambda aggregate_id, event: frozenset(),
        disclosed: Callable[[str], frozenset[str]] = lambda aggregate_id: frozenset(),
        for_event: Callable[[Any], None] = lambda event: None,
    ) -> None:
        self.origin, self.keys, self.registry, self.catalogue = origin, keys, registry, catalogue
        self.signer, self.recipients, self.readers, self.context = signer, dict(recipients), readers, context
        self.withheld = withheld
        # aggregate id -> the nodes an approved disclosure (#19) lets read its common tier
        self.disclosed = disclosed
        # Told which event the questions from now on are about (None: none): the questions
        # above may keep the case they load for that event (services/relay_cases.py).
        self.for_event = for_event
        self._warned: set[str] = set()
        self._pending: dict[str, frozenset[str]] = {}
        self._ephemerals: Ephemerals = {}  # one ephemeral key per recipient and batch (ledger/crypto.py)
        self._readers: dict[tuple[str, tuple[str, ...], bool], frozenset[str]] = {}
        self._readers_of: Any = None  # the event the kept answers are for
        self._answers: dict[tuple[str, str], frozenset[str]] = {}
        self._answers_of: Any = None

    def context_for(self, aggregate_id: str, event: Any = None) -> tuple[Sequence[str], bool]:
        """The case's nationalities and minor status: from the report being published when it
        is one (no lookup), else from the node's own record of the case."""
        person, seen = getattr(event, "person", None), getattr(event, "last_seen", None)
        if isinstance(person, Mapping) and isinstance(seen, Mapping):
            return tuple(person.get("nationalities") or ()), is_minor(person, seen)
        self.for_event(event)
        return self.context(aggregate_id)

    def readers_for(self, aggregate_id: str, tier: str, event: Any = None) -> frozenset[str]:
        """Who the rules entitle today to this tier of this aggregate (and can receive a key).
        Sealing and granting both ask while one event is published: the answer is kept for
        that event. An approved disclosure (#19) adds its requesting node to the common tier."""
        if tier == "common":
            disclosed = self._asked(event, ("disclosed", aggregate_id), lambda: self.disclosed(aggregate_id))
            disclosed &= set(self.recipients)
            if disclosed:
                return self._readers_without_disclosure(aggregate_id, tier, event) | (
                    disclosed - self._withheld(aggregate_id, event)
                )
        return self._readers_without_disclosure(aggregate_id, tier, event)

    def _asked(
        self, event: Any, question: tuple[str, str], ask: Callable[[], frozenset[str]]
    ) -> frozenset[str]:
        """An answer kept while one event is published: each of its tiers asked again, and
        each question loaded the case from the event store (a round trip and a copy)."""
        self.for_event(event)
        if event is None:
            return ask()
        if event is not self._answers_of:
            self._answers_of, self._answers = event, {}
        if question not in self._answers:
            self._answers[question] = ask()
        return self._answers[question]

    def _withheld(self, aggregate_id: str, event: Any) -> frozenset[str]:
        return self._asked(event, ("withheld", aggregate_id), lambda: self.withheld(aggregate_id, event))

    def _readers_without_disclosure(self, aggregate_id: str, tier: str, event: Any) -> frozenset[str]:
        nationalities, minor = self._context_asked(aggregate_id, event)
        if event is None:
            return self._entitled(tier, nationalities, minor) - self._withheld(aggregate_id, None)
        if event is not self._readers_of:
            self._readers_of, self._readers = event, {}
        asked = (tier, tuple(sorted(nationalities)), minor)
        if asked not in self._readers:
            # A case withheld from a country (a refugee's) wraps no key for it, whatever the rules.
            self._readers[asked] = self._entitled(tier, nationalities, minor) - self._withheld(
                aggregate_id, event
            )
        return self._readers[asked]

    def _entitled(self, tier: str, nationalities: Sequence[str], minor: bool) -> frozenset[str]:
        entitled = set(self.readers(self.origin, tier, nationalities, minor))
        unwarned = entitled - set(self.recipients) - self._warned
        if unwarned:
            self._warned |= unwarned
            log.warning(
                "keys %s: entitled readers without a registered encryption key get no grants: %s",
                self.origin,
                ", ".join(sorted(unwarned)),
            )
        return frozenset(entitled & set(self.recipients))

    def _context_asked(self, aggregate_id: str, event: Any) -> tuple[Sequence[str], bool]:
        """The case's context when the readers depend on it. Without access rules they do not
        (own_cases_only): the report's tiers were opened, and any other event's case loaded
        from the event store, only to learn what no answer reads (most of the relay's time)."""
        if self.readers is own_cases_only:
            return (), False
        return self.context_for(aggregate_id, event)

    def key_for(self, aggregate_id: str, tier: str, event: Any = None) -> tuple[str, bytes]:
        """The key to seal a new message with. When a reader the current key was granted to is
        no longer entitled (an agreement expired or was withdrawn), the key is rotated: what it
        already holds stays readable to it, nothing new is."""
        key_id, key = self.keys.current(aggregate_id, tier)
        previous = self._pending.get(key_id) or self.keys.granted_to(key_id)
        if previous is not None and previous - self.readers_for(aggregate_id, tier, event):
            key_id, key = self.keys.rotate(aggregate_id, tier)
        return key_id, key

    def grants_for(self, key_ids: Iterable[str], event: Any = None) -> list[OutgoingRecord]:
        """Grant messages for keys whose entitled readers differ from those last granted (a new
        key, or a new reader); event: the domain event being published with them, if any."""
        out = []
        for key_id in dict.fromkeys(key_ids):
            key = self.keys.get(key_id)
            if key is None:
                continue  # destroyed meanwhile: nothing to grant
            aggregate_id, tier, _ = parse_key_id(key_id)
            readers = self.readers_for(aggregate_id, tier, event)
            if (self._pending.get(key_id) or self.keys.granted_to(key_id)) == readers:
                continue  # granted already to exactly these readers
            # Readers the rules do not entitle, wrapped for by an approved disclosure: the grant
            # says so, signed, so that their views open this case's tier and no other's.
            disclosed = readers - self._readers_without_disclosure(aggregate_id, tier, event)
            wrapped = {
                r: wrap_for(self.recipients[r], key, grant_context(key_id), self._ephemerals)
                for r in sorted(readers)
            }
            value = self.registry.encode(
                "KeyGrant",
                {
                    "origin": self.origin,
                    "key_id": key_id,
                    "aggregate_id": aggregate_id,
                    "tier": tier,
                    "granted_at": datetime.now(UTC),
                    "grants": wrapped,
                    "disclosed_to": sorted(disclosed),
                },
            )
            self._pending[key_id] = readers
            out.append(self._message(key_id, value))
        return out

    def granted(self) -> None:
        """Called once the batch's messages are committed: remember whom each key went to."""
        self.keys.record_grants(self._pending)
        self._pending, self._ephemerals = {}, {}

    def abandoned(self) -> None:
        """The batch was not committed: its grants will be made again."""
        self._pending, self._ephemerals = {}, {}

    def tombstones_for(self, aggregate_id: str) -> list[OutgoingRecord]:
        """A tombstone for every key the aggregate ever had."""
        return [self._message(key_id, None) for key_id in self.keys.known(aggregate_id)]

    def _message(self, key_id: str, value: bytes | None) -> OutgoingRecord:
        headers = (
            ("origin", self.origin.encode()),
            ("signature", self.signer.sign(signed_grant(key_id, value))),
        )
        return OutgoingRecord(
            self.catalogue.keys().name,
            key_id.encode(),
            value,
            headers,
            int(datetime.now(UTC).timestamp() * 1000),
        )


def grant_digest(key_id: str, value: bytes | None) -> bytes:
    """What an origin vouches for, for one grant or tombstone, in a run's signature."""
    return hashlib.sha256(signed_grant(key_id, value)).digest()


def grant_problem(record: LogRecord, verify: Verify) -> str | None:
    """What checking a grant's own signature finds: None when its origin signed it."""
    origin = (record.header("origin") or b"").decode(errors="replace")
    signature = record.header("signature")
    if not record.key or signature is None:
        return "key grant without key or signature"
    problem = verify(origin, signed_grant(record.key.decode(errors="replace"), record.value), signature)
    return f"key grant: {problem}" if problem else None


class GrantRuns:
    """Verifies key grants as they are read. The relay seals each transaction's grants per
    partition as a run (topics/run_signatures.py) and signs each grant on its own as well: a whole run
    costs one signature check; a grant whose run is not whole (compaction drops superseded
    grants; several origins' transactions interleave, so runs are kept per origin) or does
    not verify is checked by its own signature, with the reason that check gives."""

    def __init__(self, verify: Verify) -> None:
        self._verify = verify
        self._held: dict[tuple[TopicPartition, str], list[LogRecord]] = {}

    def held_from(self, tp: TopicPartition) -> int | None:
        offsets = [held[0].offset for (p, _), held in self._held.items() if p == tp and held]
        return min(offsets) if offsets else None

    def feed(self, records: Sequence[LogRecord]) -> list[Checked]:
        out: list[Checked] = []
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            origin = (record.header("origin") or b"").decode(errors="replace")
            place = place_in_run(record)
            if place is None or not record.key or not 1 <= place[0] <= place[1]:
                out.append(Checked(record, grant_problem(record, self._verify)))
                continue
            i, n = place
            held = self._held.setdefault((tp, origin), [])
            if i != len(held) + 1:
                out.extend(self._alone(self._held.pop((tp, origin))))
                if i != 1:
                    out.append(Checked(record, grant_problem(record, self._verify)))
                    continue
                held = self._held.setdefault((tp, origin), [])
            held.append(record)
            if i == n:
                out.extend(self._close(tp, origin))
        return out

    def flush(self) -> list[Checked]:
        out: list[Checked] = []
        for key in list(self._held):
            out.extend(self._alone(self._held.pop(key)))
        return out

    def _alone(self, records: Sequence[LogRecord]) -> list[Checked]:
        return [Checked(r, grant_problem(r, self._verify)) for r in records]

    def _close(self, tp: TopicPartition, origin: str) -> list[Checked]:
        held = self._held.pop((tp, origin))
        signature = held[-1].header(RUN_SIGNATURE)
        digests = [grant_digest((r.key or b"").decode(errors="replace"), r.value) for r in held]
        if signature is None or self._verify(
            origin, run_bytes(origin, tp.topic, tp.partition, digests), signature
        ):
            return self._alone(held)
        return [Checked(r, None) for r in held]


def granted(item: Checked) -> tuple[str, str]:
    """(origin, key id) of a checked grant or tombstone, or ValueError with the reason."""
    if item.problem is not None:
        raise ValueError(item.problem)
    record = item.record
    origin = (record.header("origin") or b"").decode(errors="replace")
    key_id = (record.key or b"").decode(errors="replace")
    try:
        parse_key_id(key_id)
    except ValueError:
        raise ValueError(f"key grant: {key_id!r} is not <aggregate>/<tier>/<generation>") from None
    return origin, key_id


def verify_grant(record: LogRecord, nodes: KeyRegistry) -> tuple[str, str]:
    """(origin, key id) of a grant or tombstone the origin signed, or ValueError with the reason."""
    return granted(Checked(record, grant_problem(record, nodes.verify)))
