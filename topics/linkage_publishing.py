"""Linkage encodings on the log, the publishing side (issue 19, item 2); the finding side is
topics/linkage_topic.py.

On `ledger.linkage.<origin>` the relay publishes, keyed by case id, the encoding
(ledger/linkage.py) of each case whose family consented to search and whose rules let its
origin's encodings be compared by another node (an agreement with `linkage = true`; a minor's,
or a case of unknown age, only under one that names minors). The message holds the case id,
the origin, the schema version, the encoding and the nodes that may compare it; no other
personal field. When the case is erased, or search consent is withdrawn, or the rules stop
allowing it, a tombstone follows and the node's own store of encodings forgets the case.
Each message is signed by its origin on its own (the same signed bytes as an event signed
alone), so a reader verifies it through topics/reader.py like any message of the log.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from typing import Any, Protocol

from ledger.access_rules import AccessRules
from ledger.linkage import SCHEMA_VERSION, Encoding, encode, secret_id
from ledger.tiers import is_minor
from topics.catalogue import Catalogue
from topics.log import OutgoingRecord
from topics.signing import GENESIS, NodeKey, signed_bytes

__all__ = [
    "DECIDING_EVENTS",
    "DISCLOSURE",
    "ERASED",
    "ROTATION",
    "CaseState",
    "EncodingStore",
    "LinkagePublishing",
    "linkage_record",
    "linkage_value",
]

# The events after which a case's encoding is decided again (published, changed or withdrawn).
DECIDING_EVENTS = (
    ".CaseReported",
    ".DataAmended",
    ".ConsentGranted",
    ".ConsentWithdrawn",
    ".SharingWithheld",
    ".PersonLocatedAlive",
    ".DataErased",
)
ERASED = (".DataErased",)
DISCLOSURE = "disclosure/"  # the key of a disclosure request routed on the linkage topic
# The key of an origin's announcements that it rotated to another linkage secret: one key, so
# that they stay in order and compaction keeps the latest. Its encodings made under any other
# secret are withdrawn from comparison.
ROTATION = "rotation"


class CaseState(Protocol):
    """What the decision reads of a case (ledger/case.py MissingPersonCase has it)."""

    person: dict[str, Any]
    last_seen: dict[str, Any]
    consents: dict[str, bool]
    erased: bool
    withheld_from: set[str]


class EncodingStore:
    """The encodings a node holds: its own as published, or every origin's as read. Keyed by
    (origin, case id); forgetting a case drops its encoding."""

    def __init__(self) -> None:
        self._held: dict[tuple[str, str], Encoding] = {}
        self._recipients: dict[tuple[str, str], frozenset[str]] = {}

    def put(self, encoding: Encoding, recipients: Iterable[str] = ()) -> None:
        key = (encoding.origin, encoding.case_id)
        self._held[key] = encoding
        self._recipients[key] = frozenset(recipients)

    def get(self, origin: str, case_id: str) -> Encoding | None:
        return self._held.get((origin, case_id))

    def recipients(self, origin: str, case_id: str) -> frozenset[str]:
        return self._recipients.get((origin, case_id), frozenset())

    def forget(self, origin: str, case_id: str) -> None:
        self._held.pop((origin, case_id), None)
        self._recipients.pop((origin, case_id), None)

    def of(self, origin: str) -> list[Encoding]:
        return [e for (o, _), e in sorted(self._held.items()) if o == origin]

    def origins(self) -> set[str]:
        return {o for o, _ in self._held}

    def __len__(self) -> int:
        return len(self._held)


def linkage_record(
    catalogue: Catalogue,
    signer: NodeKey,
    origin: str,
    case_id: str,
    version: int,
    value: bytes | None,
) -> OutgoingRecord:
    """A signed linkage message (value None: the case's tombstone). The origin signs what it
    signs for an event alone: origin, case id, the case's version, and the value."""
    signature = signer.sign(signed_bytes(origin, case_id, version, GENESIS, value or b""))
    headers = (
        ("origin", origin.encode()),
        ("aggregate_version", str(version).encode()),
        ("previous_hash", GENESIS),
        ("signature", signature),
    )
    return OutgoingRecord(
        catalogue.linkage(origin).name,
        case_id.encode(),
        value,
        headers,
        int(datetime.now(UTC).timestamp() * 1000),
    )


def linkage_value(encoding: Encoding, recipients: Iterable[str]) -> bytes:
    """The message: the case id, origin, schema version, encoding and comparing nodes only."""
    return json.dumps({**encoding.to_json(), "recipients": sorted(recipients)}, sort_keys=True).encode()


class LinkagePublishing:
    """The relay's linkage step: for each event published, the linkage messages that follow it.

    case_of: aggregate id -> the case as it stands (None if unknown). secret: the network's
    linkage secret (ledger/linkage.py: at least 32 bytes; from settings, never the repository)."""

    def __init__(
        self,
        origin: str,
        secret: bytes,
        rules: AccessRules,
        signer: NodeKey,
        catalogue: Catalogue,
        case_of: Callable[[str], CaseState | None],
        store: EncodingStore | None = None,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        self.origin, self.secret, self.rules, self.signer = origin, secret, rules, signer
        self.catalogue, self.case_of, self.today = catalogue, case_of, today
        self.store = store if store is not None else EncodingStore()
        self.secret_id = secret_id(secret)
        self._pending: list[tuple[str, Encoding | None, frozenset[str]]] = []

    def recipients(self, case: CaseState | None) -> frozenset[str]:
        """The nodes this case's encoding is published for; empty: none (a tombstone)."""
        if case is None or case.erased or not case.consents.get("search", False):
            return frozenset()
        return self.rules.linkage_recipients(
            self.origin,
            minor=is_minor(case.person, case.last_seen),
            withheld_from=case.withheld_from,
            on=self.today(),
        )

    def messages_for(self, event_topic: str, case_id: str, version: int) -> list[OutgoingRecord]:
        """The encoding or tombstone the event calls for, if any (nothing when unchanged); a
        disclosure request is routed to the origin it asks."""
        if event_topic.endswith(".DisclosureRequested"):
            return self._routed(case_id, version)
        if not event_topic.endswith(DECIDING_EVENTS) or "MissingPersonCase." not in event_topic:
            return []
        case = None if event_topic.endswith(ERASED) else self.case_of(case_id)
        recipients = self.recipients(case)
        held = self._held(case_id)
        if not recipients or case is None:
            if held is None and not event_topic.endswith((*ERASED, ".ConsentWithdrawn")):
                return []  # never published: nothing to withdraw
            self._pending.append((case_id, None, frozenset()))
            return [linkage_record(self.catalogue, self.signer, self.origin, case_id, version, None)]
        return self._encoded(case_id, version, case, recipients, held)

    def _encoded(
        self,
        case_id: str,
        version: int,
        case: CaseState,
        recipients: frozenset[str],
        held: tuple[Encoding, frozenset[str]] | None,
    ) -> list[OutgoingRecord]:
        [bits] = encode([case.person], self.secret)
        encoding = Encoding(case_id, self.origin, SCHEMA_VERSION, bits, self.secret_id)
        if held is not None and held[0] == encoding and held[1] == recipients:
            return []
        self._pending.append((case_id, encoding, recipients))
        value = linkage_value(encoding, recipients)
        return [linkage_record(self.catalogue, self.signer, self.origin, case_id, version, value)]

    def rotation(self, published: Iterable[str], previous: Iterable[str] = ()) -> list[OutgoingRecord]:
        """After the network's linkage secret was rotated (the node holds the new one): the
        signed announcement that this origin now encodes under it, then each case it had
        published encoded again under it (or its tombstone, if it may no longer be linked).
        Readers withdraw this origin's encodings made under any other secret on reading the
        announcement; the re-encodings replace them on the compacted topic."""
        body = {
            "kind": "secret_rotated",
            "origin": self.origin,
            "secret_id": self.secret_id,
            "previous": sorted(set(previous) - {self.secret_id}),
            "rotated_at": datetime.now(UTC).isoformat(),
        }
        value = json.dumps(body, sort_keys=True).encode()
        out = [linkage_record(self.catalogue, self.signer, self.origin, ROTATION, 0, value)]
        for case_id in dict.fromkeys(published):
            case = self.case_of(case_id)
            version = int(getattr(case, "version", 0) or 0)
            recipients = self.recipients(case)
            if case is None or not recipients:
                self._pending.append((case_id, None, frozenset()))
                out.append(linkage_record(self.catalogue, self.signer, self.origin, case_id, version, None))
            else:
                out.extend(self._encoded(case_id, version, case, recipients, None))
        return out

    def _routed(self, case_id: str, version: int) -> list[OutgoingRecord]:
        case = self.case_of(case_id)
        asked = getattr(case, "__dict__", {}).get("disclosures", {}).get("asked", {})
        out = []
        for request, item in asked.items():
            if item.get("version") != version:
                continue
            body = {
                "kind": "disclosure_request",
                "request": request,
                "from_origin": self.origin,
                "from_case_id": case_id,
                "to_origin": item["other_origin"],
                "to_case_id": item["other_case_id"],
            }
            value = json.dumps(body, sort_keys=True).encode()
            key = f"{DISCLOSURE}{request}"
            out.append(linkage_record(self.catalogue, self.signer, self.origin, key, version, value))
        return out

    def _held(self, case_id: str) -> tuple[Encoding, frozenset[str]] | None:
        for pending_id, encoding, recipients in reversed(self._pending):
            if pending_id == case_id:
                return None if encoding is None else (encoding, recipients)
        found = self.store.get(self.origin, case_id)
        return None if found is None else (found, self.store.recipients(self.origin, case_id))

    def committed(self) -> None:
        """The batch is on the log: the store holds what was published and forgets what was withdrawn."""
        for case_id, encoding, recipients in self._pending:
            if encoding is None:
                self.store.forget(self.origin, case_id)
            else:
                self.store.put(encoding, recipients)
        self._pending = []

    def abandoned(self) -> None:
        self._pending = []
