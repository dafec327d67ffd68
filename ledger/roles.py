"""Which roles an organisation's staff can hold, by the organisation's kind, and who may be
named as a recorder or given a credential under the network's rules."""

from __future__ import annotations

from collections.abc import Mapping

from ledger.access_rules import ORGANISATION_KINDS, Organisation
from ledger.errors import InvalidField
from ledger.vocabulary import ROLES

__all__ = ["KIND_ROLES", "check_staff", "known_organisation", "role_for_kind"]

_EVERY_KIND = ("caseworker",)  # every organisation has staff who work with families
_NATIONAL_BODY = ("commissioner", "investigator", "forensic_expert", "node_operator")
KIND_ROLES: Mapping[str, frozenset[str]] = {
    "family_association": frozenset(_EVERY_KIND),
    "ngo": frozenset(_EVERY_KIND),
    # Child-protection staff placed where located minors are sheltered (as Mexico's DIF and its
    # Procuraduría de Protección are) decide a minor's best interests; nobody else does.
    "shelter": frozenset({*_EVERY_KIND, "child_protection_officer"}),
    "forensic_institute": frozenset({*_EVERY_KIND, "forensic_expert", "geneticist"}),
    "genetic_laboratory": frozenset({*_EVERY_KIND, "geneticist", "forensic_expert"}),
    "consulate": frozenset({*_EVERY_KIND, "consular_officer"}),
    "commission": frozenset({*_EVERY_KIND, *_NATIONAL_BODY}),
    "search_commission": frozenset({*_EVERY_KIND, *_NATIONAL_BODY}),
    "prosecutor": frozenset({*_EVERY_KIND, "investigator", "forensic_expert"}),
    "migration_authority": frozenset({*_EVERY_KIND, "node_operator"}),
    "detention_centre": frozenset(_EVERY_KIND),
    "hospital": frozenset({*_EVERY_KIND, "forensic_expert"}),
}
"""A family member's role belongs to a person and their case, never to an organisation."""

assert set(KIND_ROLES) == set(ORGANISATION_KINDS), "every kind of organisation has its roles"
assert set().union(*KIND_ROLES.values()) <= set(ROLES), "only the vocabulary's roles"


def role_for_kind(field: str, kind: str, role: str) -> str:
    """The role, if an organisation of that kind can hold it; else InvalidField naming field."""
    allowed = KIND_ROLES.get(kind, frozenset())
    if role not in allowed:
        holds = ", ".join(sorted(allowed))
        raise InvalidField(
            field, f"an organisation of kind {kind} cannot hold the role {role!r}; it holds {holds}"
        )
    return role


def known_organisation(
    field: str, organisations: Mapping[str, Organisation], organisation: str
) -> Organisation:
    """The organisation as the rules declare it; InvalidField naming field if they do not."""
    found = organisations.get(organisation)
    if found is None:
        raise InvalidField(field, f"{organisation!r} is not an organisation of the network's rules")
    return found


def check_staff(
    organisations: Mapping[str, Organisation],
    organisation: str,
    role: str,
    *,
    prefix: str = "recorded_by.",
) -> Organisation:
    """An organisation the rules know, and a role its kind can hold (a recorder, a token)."""
    found = known_organisation(f"{prefix}organisation", organisations, organisation)
    role_for_kind(f"{prefix}role", found.kind, role)
    return found
