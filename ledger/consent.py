"""Who decides a case's consent: the family, and staff only on its behalf (ledger/case.py)."""

from __future__ import annotations

from typing import Any

from ledger.errors import NotOnBehalf

__all__ = ["FAMILY_ROLE", "family_consent_state", "refuse_grant_over_the_family"]

FAMILY_ROLE = "family_member"


def family_consent_state(case: Any) -> tuple[set[str], dict[str, str]]:
    """The purposes the family itself withdrew, and the consents staff granted on its behalf
    (made empty for a case folded from a snapshot taken before they were kept)."""
    if not hasattr(case, "withdrawn_by_family"):
        case.withdrawn_by_family = set()
        case.consents_on_behalf = {}
    return case.withdrawn_by_family, case.consents_on_behalf


def refuse_grant_over_the_family(case: Any, by: dict[str, str], purpose: str) -> None:
    """Staff never overturn the family: a purpose the family itself withdrew is granted again
    by the family only, and staff grant on its behalf only from the organisation that
    reported the case."""
    if by["role"] == FAMILY_ROLE:
        return
    withdrawn, _ = family_consent_state(case)
    if purpose in withdrawn:
        raise NotOnBehalf(
            "consent_purpose",
            f"the family withdrew consent for '{purpose}'; only the family, with its own "
            "credential, can give it again",
        )
    if by["organisation"] != getattr(case, "reported_by", None):
        raise NotOnBehalf(
            "recorded_by.organisation",
            "consent is given by the family, or on its behalf by the organisation that reported the case",
        )
