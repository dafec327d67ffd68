"""A case withheld from this node's country (a refugee's, ledger/protection.py) leaves nothing
in its views, not even its public tier (issue 12, item 7).

Its origin wraps no key of the case for the country it is withheld from (topics/grants.py),
but the public tier of its events travels on the shared topic, readable by every node. The
country it is withheld from is named in the common tier, which that country cannot open; what
its node can tell is that the origin did not grant it a tier the agreements would have: a
withholding (SharingWithheld, an event type every node sees, recorded with the report too when
the case is withheld from the start) whose common tier is under a key this node never held, or
a report's common tier under such a key where the rules entitle this node even to a minor's.
Either way its views remove the case (row and timeline) and pass over its later events, and
its feeds pass over them too, so its organisations and the consulates sitting there list,
find, follow and count nothing of it.

A withholding a node cannot open removes the case there, whoever it is withheld from (the
stricter reading: it may be the country withheld, and it showed the public tier only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from ledger.keystore import KeyStore
from ledger.vocabulary import PURPOSES
from projections.access import AccessPolicy

__all__ = ["WITHHOLDING_EVENTS", "entitled", "withheld_here"]

WITHHOLDING_EVENTS = frozenset({"CaseReported", "SharingWithheld"})


def _common_key(record: Mapping[str, Any]) -> str | None:
    for entry in record.get("sealed") or ():
        if str(entry.get("tier")) == "common":
            return str(entry["key_id"])
    return None


def _never_held(keys: KeyStore, aggregate_id: str, key_id: str) -> bool:
    return keys.get(key_id) is None and key_id not in keys.known(aggregate_id)


def entitled(
    policy: AccessPolicy,
    jurisdiction: str,
    origin: str,
    nationalities: Sequence[str],
    *,
    minor: bool = False,
    on: date | None = None,
) -> bool:
    """Whether the rules let this jurisdiction's node read an adult's common tier of a case from
    origin for some purpose (what the origin wraps its keys by)."""
    rules = getattr(policy, "rules", None)
    if rules is None:
        return False
    today = on or getattr(policy, "today", lambda: datetime.now(UTC).date())()
    return any(
        rules.decide(
            jurisdiction, origin, "common", purpose, nationalities=nationalities, minor=minor, on=today
        )
        for purpose in PURPOSES
    )


def withheld_here(
    name: str,
    record: Mapping[str, Any],
    keys: KeyStore,
    policy: AccessPolicy,
    jurisdiction: str,
) -> bool:
    """Whether this event of a case tells that the case is withheld from this node's country
    (record: the decoded message, with its sealed tiers)."""
    if name not in WITHHOLDING_EVENTS:
        return False
    meta = record["meta"]
    if meta.get("aggregate_type") != "MissingPersonCase" or meta.get("origin") == jurisdiction:
        return False
    aggregate_id, key_id = str(meta["aggregate_id"]), _common_key(record)
    if key_id is None or not _never_held(keys, aggregate_id, key_id):
        return False
    if name == "SharingWithheld":
        return True
    # A report: only where the rules would have given this node a possible minor's common tier
    # too (a minor's is not granted to every node, and nothing public tells a minor apart).
    person = record.get("person") or {}
    nationalities = tuple(person.get("nationalities") or ())
    return entitled(policy, jurisdiction, str(meta["origin"]), nationalities, minor=True)
