"""Which role may run which command, and which kinds of organisation can hold such a role: the
rules every interface applies (the HTTP API and the command line alike) before a command
reaches the ledger. Keyed by the ledger's method that carries the command out.

A family member's credential is not a role of an organisation: FAMILY_COMMANDS are the ones
a family member may issue for their own case, as the family."""

from __future__ import annotations

from collections.abc import Mapping

from ledger import vocabulary
from ledger.errors import LedgerError
from ledger.roles import KIND_ROLES

__all__ = [
    "BEST_INTERESTS",
    "CASEWORK",
    "COMMAND_ROLES",
    "FAMILY_BEHALF",
    "FAMILY_COMMANDS",
    "FORENSIC",
    "GENETICS",
    "IMPORTED_AS",
    "PROTECTION",
    "REVIEWERS",
    "RoleRefused",
    "kinds_for",
    "may_run",
    "require_role",
]

CASEWORK = frozenset({"caseworker", "consular_officer", "investigator", "forensic_expert", "node_operator"})
FORENSIC = frozenset({"forensic_expert", "geneticist"})
GENETICS = frozenset({"geneticist"})
REVIEWERS = frozenset(vocabulary.MATCH_REVIEWER_ROLES)
# Consent and erasure are the family's; a caseworker may record them on the family's behalf.
FAMILY_BEHALF = frozenset({"caseworker", "node_operator"})
PROTECTION = CASEWORK | {"child_protection_officer"}
BEST_INTERESTS = frozenset(vocabulary.BEST_INTERESTS_ROLES)
_REMAINS_HOLDERS = FORENSIC | REVIEWERS

COMMAND_ROLES: Mapping[str, frozenset[str]] = {
    # a case
    "report_missing_person": CASEWORK,
    "record_sighting": CASEWORK,
    "add_comprehensive_data": CASEWORK,
    "amend_data": CASEWORK,
    "grant_consent": FAMILY_BEHALF,
    "withdraw_consent": FAMILY_BEHALF,
    "withhold_sharing": CASEWORK - {"consular_officer"},
    "link_cases": CASEWORK,
    "judge_cases_distinct": CASEWORK,
    "record_person_located_alive": CASEWORK,
    "confirm_identification": FORENSIC,
    "reopen_identification": REVIEWERS,
    "notify_family": CASEWORK,
    "determine_best_interests": BEST_INTERESTS,
    "close_case": CASEWORK,
    "reopen_case": CASEWORK,
    "erase_data": FAMILY_BEHALF,
    # remains, samples and matches
    "record_remains_recovered": FORENSIC,
    "record_post_mortem": FORENSIC,
    "identify_remains": REVIEWERS,
    "take_sample": FORENSIC,
    "transfer_sample": FORENSIC,
    "record_profile": GENETICS,
    "destroy_sample": FORENSIC,
    "withdraw_donor_consent": FORENSIC | FAMILY_BEHALF,
    "propose_match": FORENSIC,
    "review_match": FORENSIC,
    "revise_match": REVIEWERS,
    # the course of a case
    "send_inquiry": CASEWORK,
    "answer_inquiry": CASEWORK,
    "refer_support": CASEWORK,
    "record_support_provided": CASEWORK,
    "set_update_cadence": CASEWORK,
    "give_family_update": CASEWORK,
    "plan_notification": CASEWORK,
    "record_person_details": CASEWORK,
    "record_contact_details": CASEWORK,
    "receive_remains": CASEWORK,
    "bury_remains": _REMAINS_HOLDERS,
    "exhume_remains": _REMAINS_HOLDERS,
    "transfer_remains": _REMAINS_HOLDERS,
    "release_remains": _REMAINS_HOLDERS,
    "hand_over_remains": _REMAINS_HOLDERS,
    "flag_protection_risk": PROTECTION,
}
"""Who may issue each command."""

FAMILY_COMMANDS = frozenset(
    {
        "amend_data",
        "grant_consent",
        "withdraw_consent",
        "close_case",
        "reopen_case",
        "erase_data",
        "record_person_details",
        "record_contact_details",
    }
)
"""The commands a family member may issue, on their own case."""

IMPORTED_AS: Mapping[str, str] = {"reports": "report_missing_person", "remains": "record_remains_recovered"}
"""The command each row of a bulk import becomes, by the import's kind: who may import is who
may issue it."""

assert set(COMMAND_ROLES) >= FAMILY_COMMANDS, "a family's command is a command"
assert set().union(*COMMAND_ROLES.values()) <= set(vocabulary.ROLES), "only the vocabulary's roles"


class RoleRefused(LedgerError):
    """A role that may not run the command, or that the organisation's kind cannot hold."""

    def __init__(self, command: str, role: str, message: str) -> None:
        super().__init__(message)
        self.command, self.role = command, role


def may_run(command: str, role: str) -> bool:
    """Whether the role may issue the command (KeyError for a command the table does not know)."""
    return role in COMMAND_ROLES[command]


def kinds_for(command: str) -> frozenset[str]:
    """The kinds of organisation whose staff can hold a role that may issue the command."""
    roles = COMMAND_ROLES[command]
    return frozenset(kind for kind, held in KIND_ROLES.items() if held & roles)


def require_role(command: str, role: str, kind: str | None = None) -> None:
    """RoleRefused unless the role may issue the command and, when the organisation's kind is
    known (under the network's rules), an organisation of that kind can hold the role."""
    if not may_run(command, role):
        allowed = ", ".join(sorted(COMMAND_ROLES[command]))
        raise RoleRefused(command, role, f"the role {role} may not run {command} (it is for {allowed})")
    if kind is not None and role not in KIND_ROLES[kind]:
        raise RoleRefused(command, role, f"an organisation of kind {kind} cannot hold the role {role}")
