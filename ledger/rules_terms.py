"""The terms of the access rules: the organisation kinds, conditions and reader kinds they
name, and what a loaded rules file is made of (organisations, agreements, mandates) and what a
decision says. The rules themselves are ledger/access_rules.py; reading a rules file is
ledger/rules_file.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ledger.errors import LedgerError

__all__ = [
    "CONDITIONS",
    "FORENSIC_READERS",
    "GENETIC_READERS",
    "MANDATE_HOLDERS",
    "ORGANISATION_KINDS",
    "SAMPLE_POLICY",
    "Agreement",
    "Decision",
    "Mandate",
    "Organisation",
    "RulesError",
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
