"""Reading a rules file: TOML in, the checked terms of ledger/rules_terms.py out.

A rules file (TOML) has these tables; every name below is checked when it is loaded:

    version = 1
    [[jurisdictions]]   code (ISO 3166-1 alpha-2), name
    [[organisations]]   id, name, kind, jurisdiction, represents (consulates only: the
                        country whose nationals they serve)
    [[agreements]]      id, from (origin jurisdiction), to (an organisation id, or a
                        jurisdiction code for that country's node), tiers, purposes,
                        conditions (optional), includes_minors (default false),
                        expires (optional date; the agreement holds through that day),
                        members (optional, to a node only: the kinds of that country's
                        organisations that read under it too; by default the node alone),
                        linkage (optional, to a node only, default false: the origin's
                        encodings for privacy-preserving linkage (ledger/linkage.py) are
                        published for that node to compare; minors' only if includes_minors)
    [[mandates]]        organisation, purposes, name (the law or instrument, as the family
                        will read it): a legal basis besides consent. The organisation's
                        reads for those purposes need no consent of the family (the tiers
                        are still the agreements'); they are always recorded, and the
                        family's page names the mandate. Only commissions, prosecutors and
                        search commissions hold mandates; never for statistics.

Organisation kinds: family_association, ngo, shelter, forensic_institute,
genetic_laboratory, consulate, commission, prosecutor, search_commission. Purposes:
search, forensic_identification, family_support, accountability, statistics. Tiers:
public, common, reserved, forensic, genetic. Conditions: nationality_is_represented_country
(the case's person holds the nationality the consulate represents);
nationality_is_recipient_country (the case's person holds the nationality of the country the
recipient sits in: a forensic service working for its own nationals missing abroad).

Besides agreements, the origin's own organisations read their jurisdiction's cases:
public, common and reserved for any purpose but statistics; forensic if they are forensic
institutes, commissions or genetic laboratories; genetic if they are genetic laboratories.
The origin's node reads public, common and reserved. Statistics read the public tier only.

The loader refuses a file that contradicts itself (genetic data to anyone but a genetic
laboratory, forensic data to anyone but forensic institutes, commissions and laboratories,
more than the public tier for statistics, a nationality condition on a recipient that
represents no country) or that names what it does not declare, naming the rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, NamedTuple

from ledger import validation as v
from ledger.errors import InvalidField
from ledger.rules_terms import (
    CONDITIONS,
    FORENSIC_READERS,
    GENETIC_READERS,
    MANDATE_HOLDERS,
    ORGANISATION_KINDS,
    Agreement,
    Mandate,
    Organisation,
    RulesError,
)
from ledger.tiers import TIERS
from ledger.vocabulary import PURPOSES

__all__ = ["Rules", "read"]


class Rules(NamedTuple):
    """What a rules file declares, checked."""

    jurisdictions: dict[str, str]
    organisations: dict[str, Organisation]
    agreements: tuple[Agreement, ...]
    mandates: tuple[Mandate, ...]


def read(raw: Mapping[str, Any]) -> Rules:
    """Validate rules already read into dicts; the first problem raises RulesError."""
    if raw.get("version") != 1:
        raise RulesError("version", "must be 1")
    jurisdictions: dict[str, str] = {}
    for index, item in enumerate(raw.get("jurisdictions", [])):
        rule = f"jurisdictions[{index}]"
        code = _checked(rule, v.country, "code", item.get("code"))
        if code in jurisdictions:
            raise RulesError(rule, f"jurisdiction {code} is declared twice")
        jurisdictions[code] = _checked(rule, v.required_text, "name", item.get("name"))
    organisations: dict[str, Organisation] = {}
    for index, item in enumerate(raw.get("organisations", [])):
        organisation = _organisation(f"organisations[{index}]", item, jurisdictions)
        if organisation.id in organisations or organisation.id in jurisdictions:
            raise RulesError(f"organisations[{organisation.id}]", "the id is used twice")
        organisations[organisation.id] = organisation
    agreements: list[Agreement] = []
    for index, item in enumerate(raw.get("agreements", [])):
        agreement = _agreement(f"agreements[{index}]", item, jurisdictions, organisations)
        if any(a.id == agreement.id for a in agreements):
            raise RulesError(f"agreements[{agreement.id}]", "the id is used twice")
        agreements.append(agreement)
    mandates = [_mandate(f"mandates[{i}]", m, organisations) for i, m in enumerate(raw.get("mandates", []))]
    unknown = set(raw) - {"version", "jurisdictions", "organisations", "agreements", "mandates"}
    if unknown:
        raise RulesError(sorted(unknown)[0], "is not a table of the rules schema")
    return Rules(jurisdictions, organisations, tuple(agreements), tuple(mandates))


def _mandate(rule: str, item: Mapping[str, Any], organisations: Mapping[str, Organisation]) -> Mandate:
    holder = organisations.get(str(item.get("organisation")))
    if holder is None:
        raise RulesError(rule, f"organisation = {item.get('organisation')!r} is not a declared organisation")
    rule = f"mandates[{holder.id}]"
    if holder.kind not in MANDATE_HOLDERS:
        holders = ", ".join(MANDATE_HOLDERS)
        raise RulesError(rule, f"a {holder.kind} holds no legal mandate; only {holders} do")
    purposes = _values(rule, "purposes", item.get("purposes"), PURPOSES)
    if "statistics" in purposes:
        raise RulesError(rule, "statistics read the public tier, which needs no mandate")
    name = _checked(rule, v.required_text, "name", item.get("name"))
    unknown = set(item) - {"organisation", "purposes", "name"}
    if unknown:
        raise RulesError(rule, f"{sorted(unknown)[0]} is not a field of a mandate")
    return Mandate(holder.id, purposes, name)


def _checked(rule: str, check: Any, *args: Any, **kwargs: Any) -> Any:
    """Run one of ledger.validation's checks; its InvalidField becomes a RulesError naming the rule."""
    try:
        return check(*args, **kwargs)
    except InvalidField as error:
        raise RulesError(rule, str(error)) from None


def _organisation(rule: str, item: Mapping[str, Any], jurisdictions: Mapping[str, str]) -> Organisation:
    identifier = _checked(rule, v.required_text, "id", item.get("id"), max_length=100)
    rule = f"organisations[{identifier}]"
    kind = _checked(rule, v.choice, "kind", item.get("kind"), ORGANISATION_KINDS)
    jurisdiction = _checked(rule, v.country, "jurisdiction", item.get("jurisdiction"))
    if jurisdiction not in jurisdictions:
        raise RulesError(rule, f"jurisdiction {jurisdiction} is not declared in [[jurisdictions]]")
    represents = item.get("represents")
    if represents is not None:
        represents = _checked(rule, v.country, "represents", represents)
        if kind != "consulate":
            raise RulesError(rule, "only a consulate represents a country")
    elif kind == "consulate":
        raise RulesError(rule, "a consulate must say which country it represents")
    name = _checked(rule, v.required_text, "name", item.get("name"))
    return Organisation(identifier, name, kind, jurisdiction, represents)


def _agreement(
    rule: str,
    item: Mapping[str, Any],
    jurisdictions: Mapping[str, str],
    organisations: Mapping[str, Organisation],
) -> Agreement:
    identifier = _checked(rule, v.required_text, "id", item.get("id"), max_length=100)
    rule = f"agreements[{identifier}]"
    origin = item.get("from")
    if origin not in jurisdictions:
        raise RulesError(rule, f"from = {origin!r} is not a declared jurisdiction")
    recipient = item.get("to")
    if recipient not in organisations and recipient not in jurisdictions:
        raise RulesError(rule, f"to = {recipient!r} is neither a declared organisation nor a jurisdiction")
    tiers = _values(rule, "tiers", item.get("tiers"), TIERS)
    purposes = _values(rule, "purposes", item.get("purposes"), PURPOSES)
    conditions = _values(rule, "conditions", item.get("conditions", []), CONDITIONS, required=False)
    expires = item.get("expires")
    if expires is not None and not isinstance(expires, date):
        raise RulesError(rule, "expires must be a date (YYYY-MM-DD)")
    includes_minors = _flag(rule, item, "includes_minors")
    members = _values(
        rule,
        "members",
        item.get("members", []),
        [k for k in ORGANISATION_KINDS if k != "consulate"],
        required=False,
    )
    if members and recipient not in jurisdictions:
        raise RulesError(rule, "members names kinds of a node's organisations: to must be a jurisdiction")
    linkage = _flag(rule, item, "linkage")
    if linkage and recipient not in jurisdictions:
        raise RulesError(rule, "linkage encodings are compared by a node: to must be a jurisdiction")
    unknown = set(item) - _AGREEMENT_FIELDS
    if unknown:
        raise RulesError(rule, f"{sorted(unknown)[0]} is not a field of an agreement")
    _fits(rule, organisations.get(str(recipient)), tiers, purposes, conditions)
    return Agreement(
        identifier,
        str(origin),
        str(recipient),
        tiers,
        purposes,
        conditions,
        includes_minors,
        expires,
        members,
        linkage,
    )


_AGREEMENT_FIELDS = {
    "id",
    "from",
    "to",
    "tiers",
    "purposes",
    "conditions",
    "includes_minors",
    "expires",
    "members",
    "linkage",
}


def _flag(rule: str, item: Mapping[str, Any], field: str) -> bool:
    value = item.get(field, False)
    if not isinstance(value, bool):
        raise RulesError(rule, f"{field} must be true or false")
    return value


def _fits(
    rule: str,
    organisation: Organisation | None,
    tiers: frozenset[str],
    purposes: frozenset[str],
    conditions: frozenset[str],
) -> None:
    """What an agreement may give its recipient: the refusals that keep a file from
    contradicting itself (genetic and forensic data to their readers only, statistics public)."""
    kind = organisation.kind if organisation else "node"
    if "genetic" in tiers and kind not in GENETIC_READERS:
        raise RulesError(rule, f"genetic data goes to genetic laboratories only, not to a {kind}")
    if "forensic" in tiers and kind not in FORENSIC_READERS:
        raise RulesError(
            rule, f"forensic data goes to forensic institutes, laboratories and commissions, not to a {kind}"
        )
    if "statistics" in purposes and tiers != {"public"}:
        raise RulesError(rule, "statistics may use the public tier only")
    if "nationality_is_represented_country" in conditions and (
        organisation is None or not organisation.represents
    ):
        raise RulesError(
            rule, "nationality_is_represented_country needs a recipient that represents a country"
        )


def _values(
    rule: str, field: str, values: Any, allowed: Sequence[str], *, required: bool = True
) -> frozenset[str]:
    if not isinstance(values, list) or (required and not values):
        raise RulesError(rule, f"{field} must be a non-empty list" if required else f"{field} must be a list")
    for value in values:
        if value not in allowed:
            raise RulesError(rule, f"{field}: {value!r} is not one of {', '.join(allowed)}")
    return frozenset(values)
