"""Linkage encodings on the log: published on the relay's path, compared by each node's
linkage process (issue 19, items 2 and 3).

Publishing. On `ledger.linkage.<origin>` the relay publishes, keyed by case id, the encoding
(ledger/linkage.py) of each case whose family consented to search and whose rules let its
origin's encodings be compared by another node (an agreement with `linkage = true`; a minor's,
or a case of unknown age, only under one that names minors). The message holds the case id,
the origin, the schema version, the encoding and the nodes that may compare it; no other
personal field. When the case is erased, or search consent is withdrawn, or the rules stop
allowing it, a tombstone follows and the node's own store of encodings forgets the case.
Each message is signed by its origin on its own (the same signed bytes as an event signed
alone), so a reader verifies it through topics/reader.py like any message of the log.

Finding. A node's LinkageFinder reads every origin's linkage topic (its own included)
through LogReader, dead-letters what it cannot verify or use (unsigned, from an unknown node,
of another schema version or length) with the reason, never comparing it, and finds the
pairs of its own cases and another origin's whose match probability reaches the schema's
threshold (anonlink's blocking, then field-by-field scoring). Each pair is handed to `found`
with the two case ids, the other origin and the score: nothing else of the other side's
record is known here.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from ledger.access_rules import AccessRules
from ledger.linkage import SCHEMA_VERSION, Encoding, LinkageError, candidates, encode, secret_id
from ledger.tiers import is_minor
from topics.catalogue import Catalogue
from topics.dead_letters import DeadLetters
from topics.log import EventLog, LogRecord, OutgoingRecord, TopicPartition
from topics.reader import LogReader
from topics.run_signatures import Verify
from topics.signing import GENESIS, NodeKey, signed_bytes

__all__ = [
    "DECIDING_EVENTS",
    "DISCLOSURE",
    "ERASED",
    "ROTATION",
    "CaseState",
    "DisclosureRequest",
    "EncodingStore",
    "Found",
    "LinkageFinder",
    "LinkagePublishing",
    "linkage_record",
    "linkage_value",
]

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class DisclosureRequest:
    """A request routed to this node: which of its cases, asked by which origin about which of
    its own (case ids and origins only)."""

    request: str
    from_origin: str
    from_case_id: str
    case_id: str


@dataclass(frozen=True)
class Found:
    """A candidate pair: this node's case, the other origin's case, and the match probability."""

    case_id: str
    other_origin: str
    other_case_id: str
    score: float
    schema_version: int = SCHEMA_VERSION


class LinkageFinder:
    """One node's linkage process: reads every origin's encodings and finds candidate pairs."""

    def __init__(
        self,
        node: str,
        event_log: EventLog,
        catalogue: Catalogue,
        verify: Verify,
        rules: AccessRules,
        found: Callable[[Found], None],
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
        timeout_s: float = 30.0,
    ) -> None:
        self.node, self.event_log, self.catalogue, self.verify = node, event_log, catalogue, verify
        self.rules, self.found, self.today, self.timeout_s = rules, found, today, timeout_s
        self.store = EncodingStore()
        self.positions: dict[TopicPartition, int] = {}
        self.reported: set[tuple[str, str, str]] = set()
        self.rejected: list[tuple[LogRecord, str]] = []
        self.requests: dict[str, DisclosureRequest] = {}  # routed here, for the designated roles
        # origin -> (when, the linkage secret) of the newest rotation it announced
        self.rotated: dict[str, tuple[datetime, str]] = {}
        self._deadletters = DeadLetters(
            *(event_log, catalogue, node, f"linkage {node}"),
            f"{catalogue.prefix}caseledger-linkage-deadletter-{node}",
        )

    def run_once(self) -> list[Found]:
        """Read what is new on every linkage topic, then report the new candidate pairs."""
        self.read()
        return self.find()

    def read(self) -> int:
        topics = sorted(t for t in self.event_log.list_topics() if self.catalogue.linkage_origin(t))
        tps = [tp for t in topics for tp in self.event_log.partitions(t)]
        begins = self.event_log.beginning_offsets([tp for tp in tps if tp not in self.positions])
        positions = {tp: self.positions.get(tp, begins.get(tp, 0)) for tp in tps}
        reader = LogReader(
            self.event_log, self.verify, self.catalogue.linkage_origin, timeout_s=self.timeout_s
        )
        applied = 0
        for batch in reader.batches(positions):
            for checked in batch.checked:
                problem = checked.problem or self._apply(checked.record)
                if problem:
                    self._dead_letter(checked.record, problem)
                else:
                    applied += 1
            self.positions.update(batch.resume)
        return applied

    def _apply(self, record: LogRecord) -> str | None:
        """Keep, replace or forget one case's encoding; the problem if it cannot be used."""
        origin = self.catalogue.linkage_origin(record.topic) or ""
        case_id = (record.key or b"").decode("utf-8", "replace")
        if case_id.startswith(DISCLOSURE):
            return self._request(origin, record.value)
        if case_id == ROTATION:
            return self._rotation(origin, record.value)
        if record.value is None:
            self.store.forget(origin, case_id)
            return None
        try:
            body = json.loads(record.value)
            recipients = frozenset(str(r) for r in body["recipients"])
            encoding = Encoding(
                str(body["case_id"]),
                str(body["origin"]),
                int(body["schema_version"]),
                base64.b64decode(str(body["bits"]), validate=True),
                str(body.get("secret_id", "")),
            ).checked()
        except LinkageError as error:
            return str(error)
        except (ValueError, KeyError, TypeError, binascii.Error) as error:
            return f"value: not a linkage encoding ({type(error).__name__})"
        if encoding.case_id != case_id or encoding.origin != origin:
            return "case_id: the encoding names another case or origin than its key and topic"
        if origin != self.node and self.node not in recipients:
            self.store.forget(origin, case_id)  # no longer for this node
            return None
        # Kept whatever secret made it: the latest per case replaces the earlier on the topic, and
        # comparison leaves out what a rotation withdrew (_pairs). Dropping it here would depend on
        # the order partitions are read in.
        self.store.put(encoding, recipients)
        return None

    def _rotation(self, origin: str, value: bytes | None) -> str | None:
        """An origin's announcement of the linkage secret it now encodes under. One older than
        the newest seen (an announcement replayed) changes nothing."""
        try:
            body = json.loads(value or b"")
            announced, named = str(body["secret_id"]), str(body["origin"])
            when = datetime.fromisoformat(str(body["rotated_at"]))
            if when.tzinfo is None:
                raise ValueError("rotated_at without a time zone")
        except (ValueError, KeyError, TypeError):
            return "value: not a linkage secret rotation"
        if named != origin:
            return "origin: the rotation names another origin than its topic"
        newest = self.rotated.get(origin)
        if newest is None or when > newest[0]:
            self.rotated[origin] = (when, announced)
        return None

    def _request(self, origin: str, value: bytes | None) -> str | None:
        try:
            body = json.loads(value or b"")
            request = DisclosureRequest(
                str(body["request"]),
                str(body["from_origin"]),
                str(body["from_case_id"]),
                str(body["to_case_id"]),
            )
            to_origin = str(body["to_origin"])
        except (ValueError, KeyError, TypeError):
            return "value: not a disclosure request"
        if request.from_origin != origin:
            return "from_origin: the request names another origin than its topic"
        if to_origin == self.node:
            self.requests[request.request] = request
        return None

    def comparable(self, origin: str) -> bool:
        """Whether the rules let this node compare its encodings with the origin's: an agreement
        with linkage from that origin to this node (the origin decides case by case too)."""
        return origin != self.node and self.node in self.rules.linkage_recipients(
            origin, minor=True, on=self.today()
        ) | self.rules.linkage_recipients(origin, on=self.today())

    def find(self) -> list[Found]:
        own = self.store.of(self.node)
        out: list[Found] = []
        for origin in sorted(self.store.origins()):
            if not own or not self.comparable(origin):
                continue
            for mine, other, score in self._pairs(
                self._current(own, self.node), self._current(self.store.of(origin), origin)
            ):
                key = (mine.case_id, origin, other.case_id)
                if key in self.reported:
                    continue
                self.reported.add(key)
                found = Found(mine.case_id, origin, other.case_id, round(score, 4))
                self.found(found)
                out.append(found)
        return out

    def _current(self, encodings: list[Encoding], origin: str) -> list[Encoding]:
        """An origin's encodings made under the secret it announced last (all, if it never
        announced a rotation): the others are withdrawn."""
        newest = self.rotated.get(origin)
        return encodings if newest is None else [e for e in encodings if e.secret_id == newest[1]]

    @staticmethod
    def _pairs(own: list[Encoding], theirs: list[Encoding]) -> list[tuple[Encoding, Encoding, float]]:
        """Candidate pairs among encodings made under the same linkage secret only (during a
        rotation the two sides may briefly hold different ones: those are never compared)."""
        out = []
        for secret in sorted({e.secret_id for e in own}):
            mine = [e for e in own if e.secret_id == secret]
            other = [e for e in theirs if e.secret_id == secret]
            if other:
                for pair in candidates([e.bits for e in mine], [e.bits for e in other]):
                    out.append((mine[pair.left], other[pair.right], pair.score))
        return out

    def _dead_letter(self, record: LogRecord, reason: str) -> None:
        self.rejected.append((record, reason))
        self._deadletters.send(record, reason)

    def close(self) -> None:
        self._deadletters.close()
