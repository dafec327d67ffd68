"""What every command says (who acts, for which purpose, when, its id for safe retries) and the
checks that commands share: the record of a source and of how consent was explained."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from ledger import validation as v
from ledger.errors import InvalidField
from ledger.vocabulary import (
    PURPOSES,
    RELIABILITY,
    ROLES,
    SOURCES,
)

__all__ = ["Actor", "CaseCommand", "Command", "explained_consent", "source_fields"]


@dataclass(frozen=True)
class Actor:
    """Who acts: an organisation and the role of the person acting for it."""

    organisation: str
    role: str

    def checked(self, field_prefix: str = "recorded_by") -> dict[str, str]:
        return {
            "organisation": v.required_text(f"{field_prefix}.organisation", self.organisation),
            "role": v.choice(f"{field_prefix}.role", self.role, ROLES),
        }


@dataclass(frozen=True, kw_only=True)
class Command:
    """What every command says: its id (for safe retries), who, for which purpose, when."""

    command_id: str
    recorded_by: Actor
    purpose: str = "search"
    occurred_at: datetime | None = None
    expected_version: int | None = None

    def envelope(self, now: datetime) -> dict[str, Any]:
        occurred_at = self.occurred_at or now
        if not isinstance(occurred_at, datetime):
            raise InvalidField("occurred_at", "must be an instant (ISO 8601 with a time zone)")
        if occurred_at.tzinfo is None:
            raise InvalidField("occurred_at", "must carry a time zone")
        occurred_at = v.instant("occurred_at", occurred_at)
        if occurred_at > now:
            raise InvalidField("occurred_at", f"{occurred_at.isoformat()} is in the future")
        if self.expected_version is not None and (
            isinstance(self.expected_version, bool) or not isinstance(self.expected_version, int)
        ):
            raise InvalidField("expected_version", "must be a whole number")
        return {
            "command_id": v.required_text("command_id", self.command_id, max_length=100),
            "occurred_at": occurred_at.astimezone(UTC),
            "recorded_by": self.recorded_by.checked(),
            "purpose": v.choice("purpose", self.purpose, PURPOSES),
        }


def source_fields(source: str, reliability: str) -> dict[str, str]:
    return {
        "source": v.choice("source", source, SOURCES),
        "source_reliability": v.choice("source_reliability", reliability, RELIABILITY),
    }


@dataclass(frozen=True, kw_only=True)
class CaseCommand(Command):
    """A command about one recorded case."""

    case_id: UUID


def explained_consent(
    required: bool, explained_by: str | None, language: str | None, *, prefix: str = ""
) -> dict[str, str | None]:
    """Who explained a consent and in which language: required when staff record a consent."""
    checked = {
        "explained_by": v.optional_text(f"{prefix}explained_by", explained_by),
        "language": v.optional_text(f"{prefix}language", language, max_length=100),
    }
    if required and checked["explained_by"] is None:
        raise InvalidField(f"{prefix}explained_by", "say who explained each purpose before consent was given")
    if required and checked["language"] is None:
        raise InvalidField(f"{prefix}language", "say in which language consent was explained and given")
    return checked
