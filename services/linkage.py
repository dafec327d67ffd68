"""A node's linkage process (#19, item 3): reads every origin's linkage encodings through
topics/linkage_topic.py's LinkageFinder and records each candidate pair on this node's case
as LinkageCandidateFound (ledger/linkage_case.py), once per pair and score."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from ledger.access_rules import AccessRules
from ledger.commands import Actor, RecordRead
from ledger.errors import LedgerError, RuleBroken
from ledger.linkage_case import LINKAGE_ROLES, RecordLinkageCandidate, disclosures_of, linkage_of
from topics.linkage_topic import Found, LinkageFinder

__all__ = [
    "PROCESS_ROLE",
    "candidates_of",
    "command_id_for",
    "linkage_finder",
    "process_actor",
    "published_by",
    "recorder",
    "rotate_secret",
]

log = logging.getLogger(__name__)
PROCESS_ROLE = "node_operator"


def process_actor(node: Any) -> Actor:
    """The node itself, as the recorder of what its linkage process finds (ledger/acting.py lets
    a node's own process act on the records it keeps, and nothing else)."""
    return Actor(node.settings.node, PROCESS_ROLE)


def command_id_for(found: Found) -> str:
    """One command per pair, schema and score: found again (a restart) it records nothing."""
    return f"linkage:{found.other_origin}:{found.other_case_id}:v{found.schema_version}:{found.score:.4f}"


def recorder(node: Any, actor: Actor | None = None) -> Any:
    """found -> LinkageCandidateFound on this node's case; a case that no longer consents to
    search, or was erased meanwhile, records nothing (its tombstone is on its way)."""

    def record(found: Found) -> None:
        try:
            node.ledger.record_linkage_candidate(
                RecordLinkageCandidate(
                    command_id=command_id_for(found),
                    recorded_by=actor or process_actor(node),
                    purpose="search",
                    case_id=uuid.UUID(found.case_id),
                    other_origin=found.other_origin,
                    other_case_id=found.other_case_id,
                    score=found.score,
                    schema_version=found.schema_version,
                )
            )
        except LedgerError as error:
            log.info("linkage %s: a candidate was not recorded: %s", node.settings.node, type(error).__name__)

    return record


def linkage_finder(node: Any, rules: AccessRules, actor: Actor | None = None) -> LinkageFinder:
    """The node's linkage process, recording what it finds."""
    return LinkageFinder(
        node.settings.node, node.event_log, node.catalogue, node.keys.verify, rules, recorder(node, actor)
    )


def candidates_of(
    node: Any, case_id: uuid.UUID, reader: Actor, interface: str = "cli"
) -> list[dict[str, Any]]:
    """A case's linkage candidates (other origin, its case id, score) and the disclosures it
    asked, for this origin's designated roles only (LINKAGE_ROLES). Every look, granted or
    refused, is a recorded read the family's page shows."""
    case = node.ledger.get_case(case_id)
    if reader.role not in LINKAGE_ROLES:
        _record(
            node, case_id, reader, "refused", f"the role {reader.role} sees no linkage candidates", interface
        )
        raise RuleBroken("recorded_by.role", f"the role {reader.role} may not see linkage candidates")
    asked = disclosures_of(case)["asked"].values()
    found = [
        {
            "other_origin": key.split("/", 1)[0],
            "other_case_id": key.split("/", 1)[1],
            "score": item["score"],
            "disclosure_asked": any(f"{a['other_origin']}/{a['other_case_id']}" == key for a in asked),
        }
        for key, item in sorted(linkage_of(case).items())
    ]
    _record(node, case_id, reader, "granted", f"{len(found)} linkage candidates listed", interface)
    return found


def _record(node: Any, case_id: uuid.UUID, reader: Actor, outcome: str, reason: str, interface: str) -> None:
    node.ledger.record_read(
        RecordRead(
            command_id=str(uuid.uuid4()),
            recorded_by=reader,
            case_id=case_id,
            read_purpose="search",
            tiers=("reserved",) if outcome == "granted" else (),
            outcome=outcome,
            reason=reason,
            interface=interface,
        )
    )


def published_by(node: Any) -> dict[str, str]:
    """The cases this origin's linkage topic holds an encoding of now (case id -> the secret id
    it was made under), read and verified from the topic's beginning."""
    import json

    from topics.linkage_publishing import DISCLOSURE, ROTATION
    from topics.reader import LogReader

    topic = node.catalogue.linkage(node.settings.node).name
    if topic not in node.event_log.list_topics():
        return {}
    tps = node.event_log.partitions(topic)
    begins = node.event_log.beginning_offsets(tps)
    reader = LogReader(node.event_log, node.keys.verify, node.catalogue.linkage_origin)
    held: dict[str, str] = {}
    for batch in reader.batches(begins):
        for checked in batch.checked:
            key = (checked.record.key or b"").decode("utf-8", "replace")
            if checked.problem or key.startswith((DISCLOSURE, ROTATION)):
                continue
            if checked.record.value is None:
                held.pop(key, None)
            else:
                held[key] = str(json.loads(checked.record.value).get("secret_id", ""))
    return held


def rotate_secret(node: Any) -> tuple[int, list[str]]:
    """After the operators installed the network's new linkage secret on this node: announce
    the rotation on its linkage topic, signed, and publish each case it had published encoded
    again under the new secret, in one transaction. Returns how many cases were re-encoded and
    the secret ids they were made under before."""
    publishing = node.relay.linkage
    if publishing is None:
        raise RuleBroken("linkage_secret", "this node holds no linkage secret and rules")
    held = published_by(node)
    records = publishing.rotation(sorted(held), held.values())
    publisher = node.event_log.publisher(
        f"{node.catalogue.prefix}caseledger-linkage-rotation-{node.settings.node}"
    )
    try:
        publisher.publish(records)
        publishing.committed()
    except Exception:
        publishing.abandoned()
        raise
    finally:
        publisher.close()
    log.info(
        "linkage %s: rotated to secret %s, %d cases re-encoded",
        node.settings.node,
        publishing.secret_id,
        len(held),
    )
    return len(held), sorted(set(held.values()) - {publishing.secret_id})
