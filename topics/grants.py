"""Data keys on `ledger.keys`: grants for the readers the rules entitle, and tombstones.

The relay publishes a key's grant in the same transaction as the first message it seals
with that key (in each run of the relay), so a reader never sees ciphertext whose grant is
still to come. Each grant wraps the key separately for every entitled reader that has a
registered X25519 key; the message is signed by the origin node. When a family's data is
erased, the relay publishes a signed tombstone for each of the case's keys: compaction
drops the grants, and every node destroys its copy when it reads the tombstone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from ledger.crypto import wrap_for
from ledger.keystore import KeyStore, parse_key_id
from ledger.tiers import is_minor
from topics.avro import SchemaRegistry
from topics.catalogue import Catalogue
from topics.log import LogRecord, OutgoingRecord
from topics.signing import KeyRegistry, NodeKey

log = logging.getLogger(__name__)

# (origin, tier, nationalities, minor) -> the readers (organisation ids, jurisdictions)
Readers = Callable[[str, str, Sequence[str], bool], Iterable[str]]
# aggregate id -> (nationalities, minor) of the case it concerns
CaseContext = Callable[[str], tuple[Sequence[str], bool]]
# (aggregate id, the event being published or None) -> the readers the case is withheld from
Withheld = Callable[[str, Any], frozenset[str]]


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
    ) -> None:
        self.origin, self.keys, self.registry, self.catalogue = origin, keys, registry, catalogue
        self.signer, self.recipients, self.readers, self.context = signer, dict(recipients), readers, context
        self.withheld = withheld
        self._warned: set[str] = set()
        self._pending: dict[str, frozenset[str]] = {}
        self._readers: dict[tuple[str, tuple[str, ...], bool], frozenset[str]] = {}
        self._readers_of: Any = None  # the event the kept answers are for

    def context_for(self, aggregate_id: str, event: Any = None) -> tuple[Sequence[str], bool]:
        """The case's nationalities and minor status: from the report being published when it
        is one (no lookup), else from the node's own record of the case."""
        person, seen = getattr(event, "person", None), getattr(event, "last_seen", None)
        if isinstance(person, Mapping) and isinstance(seen, Mapping):
            return tuple(person.get("nationalities") or ()), is_minor(person, seen)
        return self.context(aggregate_id)

    def readers_for(self, aggregate_id: str, tier: str, event: Any = None) -> frozenset[str]:
        """Who the rules entitle today to this tier of this aggregate (and can receive a key).
        Sealing and granting both ask while one event is published: the answer is kept for
        that event."""
        nationalities, minor = self.context_for(aggregate_id, event)
        if event is None:
            return self._entitled(tier, nationalities, minor) - self.withheld(aggregate_id, None)
        if event is not self._readers_of:
            self._readers_of, self._readers = event, {}
        asked = (tier, tuple(sorted(nationalities)), minor)
        if asked not in self._readers:
            # A case withheld from a country (a refugee's) wraps no key for it, whatever the rules.
            self._readers[asked] = self._entitled(tier, nationalities, minor) - self.withheld(
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
            wrapped = {r: wrap_for(self.recipients[r], key, grant_context(key_id)) for r in sorted(readers)}
            value = self.registry.encode(
                "KeyGrant",
                {
                    "origin": self.origin,
                    "key_id": key_id,
                    "aggregate_id": aggregate_id,
                    "tier": tier,
                    "granted_at": datetime.now(UTC),
                    "grants": wrapped,
                },
            )
            self._pending[key_id] = readers
            out.append(self._message(key_id, value))
        return out

    def granted(self) -> None:
        """Called once the batch's messages are committed: remember whom each key went to."""
        self.keys.record_grants(self._pending)
        self._pending = {}

    def abandoned(self) -> None:
        """The batch was not committed: its grants will be made again."""
        self._pending = {}

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


def verify_grant(record: LogRecord, nodes: KeyRegistry) -> tuple[str, str]:
    """(origin, key id) of a grant or tombstone the origin signed, or ValueError with the reason."""
    origin = (record.header("origin") or b"").decode(errors="replace")
    signature = record.header("signature")
    if not record.key or signature is None:
        raise ValueError("key grant without key or signature")
    key_id = record.key.decode(errors="replace")
    problem = nodes.verify(origin, signed_grant(key_id, record.value), signature)
    if problem:
        raise ValueError(f"key grant: {problem}")
    try:
        parse_key_id(key_id)
    except ValueError:
        raise ValueError(f"key grant: {key_id!r} is not <aggregate>/<tier>/<generation>") from None
    return origin, key_id
