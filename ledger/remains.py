"""UnidentifiedRemains: a body or remains recovered and not yet identified."""

from __future__ import annotations

import functools
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from uuid import NAMESPACE_URL, UUID, uuid5

from ledger.errors import RuleBroken
from ledger.events import LedgerAggregate, Recorded
from ledger.remains_course import RemainsResting

__all__ = ["POST_MORTEM_V2", "UnidentifiedRemains", "remains_id_for"]


@functools.lru_cache(maxsize=2048)  # a bulk import asks twice per row (uuid5: ~5 us)
def remains_id_for(origin: str, command_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"caseledger:remains:{origin}:{command_id}")


POST_MORTEM_V2 = (
    "time_since_death_days",
    "build",
    "hair",
    "eyes",
    "body_marks",
    "teeth",
    "medical_findings",
    "effects",
    "documents_found",
)


class UnidentifiedRemains(RemainsResting, LedgerAggregate):
    """Remains, from recovery to identification; post-mortem data is forensic tier."""

    class RemainsRecovered(LedgerAggregate.Created):
        """Remains recovered: where, when, in which context (desert, river, sea...)."""

        class_version = 2
        origin: str
        command_id: str
        occurred_at: datetime
        recorded_by: dict[str, str]
        purpose: str
        recovered_on: date
        place: dict[str, Any]
        context: str
        file_number: str | None
        circumstances: str | None
        imported_from: dict[str, str] | None = None  # the registry and its reference, when imported

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v1 was never imported from another registry."""
            state.setdefault("imported_from", None)

        def apply(self, aggregate: Any) -> None:
            aggregate.origin = self.origin
            aggregate.recovered_on = self.recovered_on
            aggregate.context = self.context
            aggregate.post_mortem_records = 0
            aggregate.identified_as = None
            aggregate.command_ids = {self.command_id}

    class PostMortemRecorded(Recorded):
        """Post-mortem examination: estimated sex, age and stature, condition, marks, effects;
        from v2 also in the DVI post-mortem form's categories beside the free text."""

        class_version = 2
        sex: str
        age_range: dict[str, int] | None
        stature_cm: dict[str, int] | None
        condition: str
        marks: list[str]
        dental: str | None
        clothing: list[str]
        belongings: list[str]
        time_since_death_days: dict[str, int] | None
        build: str | None
        hair: str | None
        eyes: str | None
        body_marks: list[dict[str, Any]] | None
        teeth: list[dict[str, Any]] | None
        medical_findings: list[dict[str, Any]] | None
        effects: list[dict[str, Any]] | None
        documents_found: list[dict[str, Any]] | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v1 had free text only: no structured findings were recorded."""
            for name in POST_MORTEM_V2:
                state.setdefault(name, None)

        def evolve(self, remains: Any) -> None:
            remains.post_mortem_records += 1

    class RemainsIdentified(Recorded):
        """Identified as the person of a case, through a confirmed match."""

        match_id: str
        case_id: str

        def evolve(self, remains: Any) -> None:
            remains.identified_as = self.case_id
            remains.identified_through = self.match_id

    class RemainsIdentificationRevised(Recorded):
        """The match that identified the remains was revised: they are unidentified again."""

        match_id: str
        reason: str

        def evolve(self, remains: Any) -> None:
            remains.identified_as = None
            remains.identified_through = None

    if TYPE_CHECKING:  # state set by events; not constructor arguments
        origin: str
        recovered_on: date
        identified_as: str | None

    def record_post_mortem(self, envelope: dict[str, Any], **data: Any) -> None:
        self.trigger_event(self.PostMortemRecorded, **envelope, **data)

    def identify(self, envelope: dict[str, Any], match_id: str, case_id: str) -> None:
        """The caller has checked that the match is confirmed and names these remains."""
        if self.identified_as is not None:
            raise RuleBroken(
                "identification", f"these remains are already identified (case {self.identified_as})"
            )
        self.trigger_event(self.RemainsIdentified, **envelope, match_id=match_id, case_id=case_id)

    def revise_identification(self, envelope: dict[str, Any], match_id: str, reason: str) -> None:
        if self.identified_as is None or getattr(self, "identified_through", match_id) != match_id:
            raise RuleBroken("match_id", "these remains were not identified through that match")
        self.trigger_event(self.RemainsIdentificationRevised, **envelope, match_id=match_id, reason=reason)
