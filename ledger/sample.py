"""Sample: a biological sample from a relative or from remains, with its chain of custody."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from uuid import NAMESPACE_URL, UUID, uuid5

from ledger.errors import RuleBroken
from ledger.events import LedgerAggregate, Recorded

__all__ = ["Sample", "sample_id_for"]


def sample_id_for(origin: str, command_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"caseledger:sample:{origin}:{command_id}")


class Sample(LedgerAggregate):
    """A sample and who holds it; custody passes only from the current holder."""

    class SampleTaken(LedgerAggregate.Created):
        """Taken from a relative of a missing person (reference, with the donor's own consent)
        or from remains."""

        class_version = 2
        origin: str
        command_id: str
        occurred_at: datetime
        recorded_by: dict[str, str]
        purpose: str
        taken_on: date
        sample_type: str
        holder: str
        case_id: str | None
        donor_relationship: str | None
        donor_consent_given_by: str | None
        remains_id: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v1 did not record who consented to a reference sample."""
            state["donor_consent_given_by"] = None

        def apply(self, aggregate: Any) -> None:
            aggregate.origin = self.origin
            aggregate.holder = self.holder
            aggregate.custody = [self.holder]
            aggregate.case_id = self.case_id
            aggregate.remains_id = self.remains_id
            aggregate.profiles = 0
            aggregate.destroyed = False
            aggregate.command_ids = {self.command_id}

    class SampleTransferred(Recorded):
        """Custody passed from one holder to the next."""

        from_holder: str
        to_holder: str
        reason: str

        def evolve(self, sample: Any) -> None:
            sample.holder = self.to_holder
            sample.custody.append(self.to_holder)

    class ProfileRecorded(Recorded):
        """A DNA profile obtained from the sample (genetic tier)."""

        laboratory: str
        kind: str
        profile: str

        def evolve(self, sample: Any) -> None:
            sample.profiles += 1

    class SampleDestroyed(Recorded):
        """The sample was used up or destroyed; nothing more can be done with it."""

        reason: str

        def evolve(self, sample: Any) -> None:
            sample.destroyed = True

    class DonorConsentWithdrawn(Recorded):
        """The donor of a reference sample withdrew their consent; the sample's keys are
        destroyed with this event, so its data and profile are erased everywhere."""

        withdrawn_by: str

        def evolve(self, sample: Any) -> None:
            sample.consent_withdrawn = True

    if TYPE_CHECKING:  # state set by events; not constructor arguments
        origin: str
        holder: str
        custody: list[str]
        case_id: str | None
        remains_id: str | None
        destroyed: bool

    def _refuse_if_destroyed(self, action: str) -> None:
        if getattr(self, "consent_withdrawn", False):
            raise RuleBroken(
                "consent", f"the donor withdrew their consent to this sample; {action} is not accepted"
            )
        if self.destroyed:
            raise RuleBroken("destroyed sample", f"the sample was destroyed; {action} is not accepted")

    def withdraw_donor_consent(self, envelope: dict[str, Any], withdrawn_by: str) -> None:
        if self.case_id is None and self.remains_id is not None:
            raise RuleBroken("sample_id", "a sample from remains has no donor's consent to withdraw")
        if getattr(self, "consent_withdrawn", False):
            raise RuleBroken("consent", "the donor withdrew their consent to this sample already")
        self.trigger_event(self.DonorConsentWithdrawn, **envelope, withdrawn_by=withdrawn_by)

    def transfer(self, envelope: dict[str, Any], from_holder: str, to_holder: str, reason: str) -> None:
        self._refuse_if_destroyed("SampleTransferred")
        if from_holder != self.holder:
            raise RuleBroken(
                "from_holder",
                f"custody can pass only from the current holder, {self.holder!r}, not {from_holder!r}",
            )
        if to_holder == from_holder:
            raise RuleBroken("to_holder", "custody passes to another holder")
        self.trigger_event(
            self.SampleTransferred, **envelope, from_holder=from_holder, to_holder=to_holder, reason=reason
        )

    def record_profile(self, envelope: dict[str, Any], laboratory: str, kind: str, profile: str) -> None:
        self._refuse_if_destroyed("ProfileRecorded")
        self.trigger_event(
            self.ProfileRecorded, **envelope, laboratory=laboratory, kind=kind, profile=profile
        )

    def destroy(self, envelope: dict[str, Any], reason: str) -> None:
        self._refuse_if_destroyed("SampleDestroyed")
        self.trigger_event(self.SampleDestroyed, **envelope, reason=reason)
