"""A node's linkage process (#19, item 3): reads every origin's linkage encodings through
topics/linkage_topic.py's LinkageFinder and records each candidate pair on this node's case
as LinkageCandidateFound (ledger/linkage_case.py), once per pair and score."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from ledger.access_rules import AccessRules
from ledger.commands import Actor
from ledger.errors import LedgerError
from ledger.linkage_case import RecordLinkageCandidate
from topics.linkage_topic import Found, LinkageFinder

log = logging.getLogger(__name__)
PROCESS = Actor("caseledger linkage process", "node_operator")


def command_id_for(found: Found) -> str:
    """One command per pair, schema and score: found again (a restart) it records nothing."""
    return f"linkage:{found.other_origin}:{found.other_case_id}:v{found.schema_version}:{found.score:.4f}"


def recorder(node: Any, actor: Actor = PROCESS) -> Any:
    """found -> LinkageCandidateFound on this node's case; a case that no longer consents to
    search, or was erased meanwhile, records nothing (its tombstone is on its way)."""

    def record(found: Found) -> None:
        try:
            node.ledger.record_linkage_candidate(
                RecordLinkageCandidate(
                    command_id=command_id_for(found),
                    recorded_by=actor,
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


def linkage_finder(node: Any, rules: AccessRules, actor: Actor = PROCESS) -> LinkageFinder:
    """The node's linkage process, recording what it finds."""
    return LinkageFinder(
        node.settings.node, node.event_log, node.catalogue, node.keys.verify, rules, recorder(node, actor)
    )
