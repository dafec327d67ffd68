"""Access rules as data: who may read which tier of whose cases, for which purpose.

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

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ledger import validation as v
from ledger.errors import InvalidField, LedgerError
from ledger.tiers import TIERS
from ledger.vocabulary import PURPOSES

__all__ = [
    "CONDITIONS",
    "FORENSIC_READERS",
    "GENETIC_READERS",
    "MANDATE_HOLDERS",
    "ORGANISATION_KINDS",
    "SAMPLE_POLICY",
    "AccessRules",
    "Agreement",
    "Decision",
    "Mandate",
    "Organisation",
    "RulesError",
    "load",
    "parse",
]

ORGANISATION_KINDS = (
    "family_association",
    "ngo",
    "shelter",
    "forensic_institute",
    "genetic_laboratory",
    "consulate",
    "commission",
    "prosecutor",
    "search_commission",
    # Where people may be held or treated, asked by families and NGOs (InquirySent): they answer
    # inquiries and may record that a person is there, under the network's rules like any member.
    "migration_authority",
    "detention_centre",
    "hospital",
)
CONDITIONS = ("nationality_is_represented_country", "nationality_is_recipient_country")
FORENSIC_READERS = ("forensic_institute", "genetic_laboratory", "commission", "search_commission")
GENETIC_READERS = ("genetic_laboratory",)
MANDATE_HOLDERS = ("commission", "prosecutor", "search_commission")
SAMPLE_POLICY = Path(__file__).resolve().parent / "policies" / "central-america-mexico.toml"


class RulesError(LedgerError):
    """A rules file the loader refuses; the message names the rule and the problem."""

    def __init__(self, rule: str, problem: str) -> None:
        super().__init__(f"rule {rule}: {problem}")
        self.rule = rule
        self.problem = problem


@dataclass(frozen=True)
class Organisation:
    id: str
    name: str
    kind: str
    jurisdiction: str
    represents: str | None = None


@dataclass(frozen=True)
class Agreement:
    id: str
    origin: str
    recipient: str
    tiers: frozenset[str]
    purposes: frozenset[str]
    conditions: frozenset[str]
    includes_minors: bool
    expires: date | None
    members: frozenset[str] = frozenset()  # a node's agreement: the kinds of its organisations it extends to
    linkage: bool = False  # the origin's linkage encodings are published for the recipient node

    def in_force(self, on: date) -> bool:
        return self.expires is None or on <= self.expires


@dataclass(frozen=True)
class Mandate:
    """A legal basis besides consent: `organisation` reads for `purposes` by law (`name`)."""

    organisation: str
    purposes: frozenset[str]
    name: str


@dataclass(frozen=True)
class Decision:
    """Whether a read is allowed, why, and under which agreement (for the audit trail)."""

    allowed: bool
    reason: str
    agreement: str | None = None

    def __bool__(self) -> bool:
        return self.allowed


@dataclass(frozen=True)
class AccessRules:
    """A validated set of rules. Build it with load() or parse()."""

    jurisdictions: Mapping[str, str]
    organisations: Mapping[str, Organisation]
    agreements: Sequence[Agreement]
    mandates: Sequence[Mandate] = ()

    def mandate(self, organisation: str, purpose: str) -> Mandate | None:
        """The mandate by which this organisation reads for this purpose without consent, if any."""
        return next(
            (m for m in self.mandates if m.organisation == organisation and purpose in m.purposes), None
        )

    def decide(
        self,
        reader: str,
        origin: str,
        tier: str,
        purpose: str,
        *,
        nationalities: Iterable[str] = (),
        minor: bool = False,
        withheld_from: Iterable[str] = (),
        on: date,
    ) -> Decision:
        """May `reader` (an organisation id or a jurisdiction's node) read `tier` of a case
        from `origin` for `purpose` on that day? A minor's common fields count as reserved
        unless an agreement names minors. withheld_from: the countries the case is never
        shared with (a refugee's), whatever the agreements say."""
        if tier not in TIERS:
            raise InvalidField("tier", f"{tier!r} is not one of: {', '.join(TIERS)}")
        if self.withholds(reader, withheld_from):
            return Decision(False, f"{reader} may not read this case")  # why would tell a refugee apart
        if purpose not in PURPOSES:
            return Decision(False, f"purpose {purpose!r} is not in the rules")
        if reader not in self.organisations and reader not in self.jurisdictions:
            return Decision(False, f"{reader!r} is neither an organisation nor a jurisdiction of these rules")
        if purpose == "statistics" and tier != "public":
            return Decision(False, "statistics read the public tier only")
        needed = "reserved" if minor and tier == "common" else tier
        home = self._home(reader, origin, needed, purpose)
        if home:
            return home
        expired = None
        for agreement in self.agreements:
            if agreement.recipient != reader:
                continue
            found = self._under(agreement, origin, tier, purpose, nationalities, minor, on)
            if found:
                return found
            if agreement.origin == origin and purpose in agreement.purposes and not agreement.in_force(on):
                expired = agreement.id
        if expired:
            return Decision(False, f"agreement {expired} expired", expired)
        return Decision(
            False, f"no agreement lets {reader} read the {needed} tier of {origin} cases for {purpose}"
        )

    def decide_member(
        self,
        organisation: str,
        origin: str,
        tier: str,
        purpose: str,
        *,
        nationalities: Iterable[str] = (),
        minor: bool = False,
        withheld_from: Iterable[str] = (),
        on: date,
    ) -> Decision:
        """What an organisation may read: on its own account, and under an agreement held by
        its jurisdiction's node that names the organisation's kind among its `members` (a
        consulate speaks for another country and is never a member)."""
        own = self.decide(
            organisation,
            origin,
            tier,
            purpose,
            nationalities=nationalities,
            minor=minor,
            withheld_from=withheld_from,
            on=on,
        )
        member = self.organisations.get(organisation)
        if own or member is None or member.kind == "consulate" or self.withholds(organisation, withheld_from):
            return own
        for agreement in self.agreements:
            if agreement.recipient != member.jurisdiction or member.kind not in agreement.members:
                continue
            node = self._under(agreement, origin, tier, purpose, nationalities, minor, on)
            if node:
                return Decision(
                    True,
                    f"{node.reason}, held by {member.jurisdiction}'s node for its {member.kind}s",
                    node.agreement,
                )
        return own

    def _under(
        self,
        agreement: Agreement,
        origin: str,
        tier: str,
        purpose: str,
        nationalities: Iterable[str],
        minor: bool,
        on: date,
    ) -> Decision | None:
        """Whether this one agreement lets its recipient read the tier (decide()'s test)."""
        needed = "reserved" if minor and tier == "common" else tier
        if agreement.origin != origin or purpose not in agreement.purposes or not agreement.in_force(on):
            return None
        if purpose == "statistics" and tier != "public":
            return None
        covers = needed in agreement.tiers or (
            minor and tier == "common" and agreement.includes_minors and "common" in agreement.tiers
        )
        if covers and self._conditions_hold(agreement, nationalities):
            return Decision(True, f"agreement {agreement.id}", agreement.id)
        return None

    def entitled(
        self,
        origin: str,
        tier: str,
        *,
        nationalities: Iterable[str] = (),
        minor: bool = False,
        withheld_from: Iterable[str] = (),
        on: date,
    ) -> dict[str, Decision]:
        """Every organisation and node that may read this tier of a case for some purpose: the
        recipients its data key is wrapped for. Purposes stay checked at each read."""
        found: dict[str, Decision] = {}
        readers = [*self.organisations, *self.jurisdictions]
        for reader in readers:
            for purpose in PURPOSES:
                decision = self.decide(
                    reader,
                    origin,
                    tier,
                    purpose,
                    nationalities=nationalities,
                    minor=minor,
                    withheld_from=withheld_from,
                    on=on,
                )
                if decision:
                    found[reader] = decision
                    break
        return found

    def linkage_recipients(
        self, origin: str, *, minor: bool = False, withheld_from: Iterable[str] = (), on: date
    ) -> frozenset[str]:
        """The nodes whose linkage process may compare an origin's case's encoding with their
        own: those an agreement in force from the origin names with `linkage = true` (a minor's,
        or a case of unknown age, only under one that also names minors), less the countries
        the case is withheld from."""
        withheld = set(withheld_from)
        return frozenset(
            a.recipient
            for a in self.agreements
            if a.linkage
            and a.origin == origin
            and a.in_force(on)
            and (a.includes_minors or not minor)
            and a.recipient not in withheld
        )

    def disclosure_members(self, origin: str, recipient: str, *, on: date) -> frozenset[str]:
        """The kinds of the recipient node's organisations that read a case the origin disclosed
        to it on a linkage candidate's request (#19): those named in `members` of an agreement
        in force from the origin to that node with `linkage = true`. None named: the node's
        organisations read nothing of it in lists (its audited reads still decide)."""
        return frozenset(
            kind
            for a in self.agreements
            if a.linkage and a.origin == origin and a.recipient == recipient and a.in_force(on)
            for kind in a.members
        )

    def withholds(self, reader: str, countries: Iterable[str]) -> bool:
        """Whether a case withheld from these countries is kept from this reader: the
        country's node, every organisation sitting there, and the consulates that represent it
        wherever they sit."""
        withheld = set(countries)
        if not withheld:
            return False
        organisation = self.organisations.get(reader)
        if organisation is None:
            return reader in withheld
        return organisation.jurisdiction in withheld or organisation.represents in withheld

    def _home(self, reader: str, origin: str, tier: str, purpose: str) -> Decision | None:
        organisation = self.organisations.get(reader)
        jurisdiction = organisation.jurisdiction if organisation else reader
        if jurisdiction != origin or (organisation and organisation.kind == "consulate"):
            return None  # a consulate speaks for another country, wherever it sits
        if tier in ("public", "common", "reserved"):
            return Decision(True, f"{reader} belongs to the origin jurisdiction {origin}")
        if organisation and tier == "forensic" and organisation.kind in FORENSIC_READERS:
            return Decision(True, f"{reader} is a {organisation.kind} of the origin jurisdiction")
        if organisation and tier == "genetic" and organisation.kind in GENETIC_READERS:
            return Decision(True, f"{reader} is a genetic laboratory of the origin jurisdiction")
        return None

    def _conditions_hold(self, agreement: Agreement, nationalities: Iterable[str]) -> bool:
        held = set(nationalities)
        member = self.organisations.get(agreement.recipient)
        if "nationality_is_represented_country" in agreement.conditions and (
            member is None or member.represents not in held
        ):
            return False
        country = member.jurisdiction if member else agreement.recipient
        return "nationality_is_recipient_country" not in agreement.conditions or country in held


def load(path: Path = SAMPLE_POLICY) -> AccessRules:
    """Read and validate a rules file."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise RulesError(str(path), f"cannot be read as TOML: {error}") from None
    return parse(raw)


def parse(raw: Mapping[str, Any]) -> AccessRules:
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
    return AccessRules(jurisdictions, organisations, tuple(agreements), tuple(mandates))


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
    includes_minors = item.get("includes_minors", False)
    if not isinstance(includes_minors, bool):
        raise RulesError(rule, "includes_minors must be true or false")
    members = _values(
        rule,
        "members",
        item.get("members", []),
        [k for k in ORGANISATION_KINDS if k != "consulate"],
        required=False,
    )
    if members and recipient not in jurisdictions:
        raise RulesError(rule, "members names kinds of a node's organisations: to must be a jurisdiction")
    linkage = item.get("linkage", False)
    if not isinstance(linkage, bool):
        raise RulesError(rule, "linkage must be true or false")
    if linkage and recipient not in jurisdictions:
        raise RulesError(rule, "linkage encodings are compared by a node: to must be a jurisdiction")
    unknown = set(item) - {
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
    if unknown:
        raise RulesError(rule, f"{sorted(unknown)[0]} is not a field of an agreement")
    organisation = organisations.get(str(recipient))
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


def _values(
    rule: str, field: str, values: Any, allowed: Sequence[str], *, required: bool = True
) -> frozenset[str]:
    if not isinstance(values, list) or (required and not values):
        raise RulesError(rule, f"{field} must be a non-empty list" if required else f"{field} must be a list")
    for value in values:
        if value not in allowed:
            raise RulesError(rule, f"{field}: {value!r} is not one of {', '.join(allowed)}")
    return frozenset(values)
