"""Linkage encodings on the log, the finding side (issue 19, item 3); the relay's publishing
side is topics/linkage_publishing.py.

A node's LinkageFinder reads every origin's linkage topic (its own included) through
LogReader, dead-letters what it cannot verify or use (unsigned, from an unknown node, of
another schema version or length) with the reason, never comparing it, and finds the pairs of
its own cases and another origin's whose match probability reaches the schema's threshold
(anonlink's blocking, then field-by-field scoring). Each pair is handed to `found` with the two
case ids, the other origin and the score: nothing else of the other side's record is known here.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from ledger.access_rules import AccessRules
from ledger.linkage import SCHEMA_VERSION, Encoding, LinkageError, candidates
from topics.catalogue import Catalogue
from topics.dead_letters import DeadLetters
from topics.linkage_publishing import (
    DISCLOSURE,
    ROTATION,
    EncodingStore,
)
from topics.log import EventLog, LogRecord, TopicPartition
from topics.reader import LogReader
from topics.run_signatures import Verify

__all__ = ["DisclosureRequest", "Found", "LinkageFinder"]

log = logging.getLogger(__name__)


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
