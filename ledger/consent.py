"""Who decides a case's consent: the family, and staff only on its behalf (ledger/case.py)."""

from __future__ import annotations

from typing import Any

FAMILY_ROLE = "family_member"


def family_consent_state(case: Any) -> tuple[set[str], dict[str, str]]:
    """The purposes the family itself withdrew, and the consents staff granted on its behalf
    (made empty for a case folded from a snapshot taken before they were kept)."""
    if not hasattr(case, "withdrawn_by_family"):
        case.withdrawn_by_family = set()
        case.consents_on_behalf = {}
    return case.withdrawn_by_family, case.consents_on_behalf
