"""Access rules as data: who may read which tier of whose cases, for which purpose.

The rules file's tables and the checks made when it is loaded are described in
ledger/rules_file.py; the terms (organisation kinds, agreements, mandates, decisions) are
ledger/rules_terms.py, and are named here too.

Besides agreements, the origin's own organisations read their jurisdiction's cases:
public, common and reserved for any purpose but statistics; forensic if they are forensic
institutes, commissions or genetic laboratories; genetic if they are genetic laboratories.
The origin's node reads public, common and reserved. Statistics read the public tier only.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ledger import rules_file
from ledger.errors import InvalidField
from ledger.rules_terms import (
    CONDITIONS,
    FORENSIC_READERS,
    GENETIC_READERS,
    MANDATE_HOLDERS,
    ORGANISATION_KINDS,
    SAMPLE_POLICY,
    Agreement,
    Decision,
    Mandate,
    Organisation,
    RulesError,
)
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
    return AccessRules(*rules_file.read(raw))
