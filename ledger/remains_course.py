"""What becomes of remains after recovery and identification: a burial in a cemetery's grave
(recorded where the remains are held), an exhumation, the release of identified remains to
the family or a consulate, and a repatriation from node to node, each node recording its own
part (handed over at the remains' node; received and buried at home at the case's node).
Custody is continuous, as for samples: each RemainsTransferred passes the remains from the
current holder to the next (the first transfer names who held them since recovery), and a
release makes its recipient the holder.

A mixin of UnidentifiedRemains (the remains' part) and one of MissingPersonCase (the part the
family's country records); both carry RepatriationCompleted, one schema for both."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from ledger.errors import InvalidField, RuleBroken
from ledger.events import Recorded

__all__ = [
    "RELEASE_RECIPIENTS",
    "REPATRIATION_PARTS",
    "CaseRepatriation",
    "RemainsResting",
    "RepatriationCompleted",
    "custody_of",
    "resting_of",
]

REPATRIATION_PARTS = ("handed_over", "received", "buried_at_home")
RELEASE_RECIPIENTS = ("family", "consulate")


def resting_of(remains: Any) -> dict[str, Any]:
    """Where the remains rest and who holds them (created on first use: older snapshots lack it)."""
    found: dict[str, Any] | None = remains.__dict__.get("resting")
    if found is None:
        found = remains.__dict__["resting"] = {"buried": None, "released_to": None, "handed_over_to": None}
    return found


def custody_of(remains: Any) -> list[str]:
    """Who held the remains, in order; the last holds them now (empty: none named yet)."""
    found: list[str] | None = remains.__dict__.get("custody")
    if found is None:
        found = remains.__dict__["custody"] = []
    return found


class RepatriationCompleted(Recorded):
    """One node's part of a repatriation: the remains handed over (at the remains' node), or
    received and buried at home (at the node of the person's case)."""

    part: str
    remains_id: str
    from_country: str
    to_country: str
    completed_on: date
    place: str | None


class RemainsResting:
    """Events and decisions of UnidentifiedRemains about burial, exhumation, release, repatriation."""

    if TYPE_CHECKING:  # state and members of UnidentifiedRemains
        id: Any
        origin: str
        identified_as: str | None

        def trigger_event(self, event_class: Any, **kwargs: Any) -> None: ...

    class RemainsBuried(Recorded):
        """Buried in a cemetery's grave (identified or not), where the remains are held."""

        cemetery: str
        grave: str
        country: str
        coordinates: dict[str, float] | None
        buried_on: date

        def evolve(self, remains: Any) -> None:
            resting_of(remains)["buried"] = {"cemetery": self.cemetery, "grave": self.grave}

    class RemainsExhumed(Recorded):
        """Taken out of their grave (for examination, identification, release)."""

        exhumed_on: date
        reason: str

        def evolve(self, remains: Any) -> None:
            resting_of(remains)["buried"] = None

    class RemainsReleased(Recorded):
        """Identified remains released to the family or to a consulate by their holder, who
        gives them up: the recipient holds them from then on."""

        class_version = 2
        released_to: str
        recipient: str
        released_on: date
        from_holder: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v1 did not name the holder who gave the remains up."""
            state["from_holder"] = None

        def evolve(self, remains: Any) -> None:
            resting_of(remains)["released_to"] = self.released_to
            custody = custody_of(remains)
            if not custody and self.from_holder:
                custody.append(self.from_holder)
            custody.append(self.recipient)  # the recipient holds them now

    class RepatriationCompleted(RepatriationCompleted):
        def evolve(self, remains: Any) -> None:
            resting_of(remains)["handed_over_to"] = self.to_country

    class RemainsTransferred(Recorded):
        """Custody of the remains passed from their current holder to the next."""

        from_holder: str
        to_holder: str
        reason: str

        def evolve(self, remains: Any) -> None:
            custody = custody_of(remains)
            if not custody:  # the first transfer names who held them since recovery
                custody.append(self.from_holder)
            custody.append(self.to_holder)

    def transfer(self, envelope: dict[str, Any], from_holder: str, to_holder: str, reason: str) -> None:
        handed_over_to = resting_of(self)["handed_over_to"]
        if handed_over_to is not None:
            raise RuleBroken(
                "remains_id",
                f"the remains were handed over to {handed_over_to}: their custody continues there",
            )
        custody = custody_of(self)
        if custody and from_holder != custody[-1]:
            raise RuleBroken(
                "from_holder",
                f"custody can pass only from the current holder, {custody[-1]!r}, not {from_holder!r}",
            )
        if to_holder == from_holder:
            raise RuleBroken("to_holder", "custody passes to another holder")
        self.trigger_event(
            self.RemainsTransferred, **envelope, from_holder=from_holder, to_holder=to_holder, reason=reason
        )

    def bury(self, envelope: dict[str, Any], **data: Any) -> None:
        resting = resting_of(self)
        if resting["released_to"] is not None:
            raise RuleBroken(
                "remains_id",
                f"the remains were released to the {resting['released_to']}: this node no longer "
                "holds them, and their burial is recorded where they are",
            )
        if resting["buried"] is not None:
            raise RuleBroken("remains_id", "the remains are buried already; record their exhumation first")
        if data["country"] != self.origin:
            raise InvalidField("country", f"the remains are held in {self.origin}: they are buried there")
        self.trigger_event(self.RemainsBuried, **envelope, **data)

    def exhume(self, envelope: dict[str, Any], **data: Any) -> None:
        if resting_of(self)["buried"] is None:
            raise RuleBroken("remains_id", "the remains are not buried")
        self.trigger_event(self.RemainsExhumed, **envelope, **data)

    def release(self, envelope: dict[str, Any], **data: Any) -> None:
        resting = resting_of(self)
        if self.identified_as is None:
            raise RuleBroken("remains_id", "only identified remains are released")
        if resting["buried"] is not None:
            raise RuleBroken("remains_id", "the remains are buried: record their exhumation first")
        if resting["released_to"] is not None:
            raise RuleBroken(
                "remains_id", f"the remains were released already, to the {resting['released_to']}"
            )
        custody = custody_of(self)
        given = data.pop("from_holder", None)
        if custody and given is not None and given != custody[-1]:
            raise RuleBroken(
                "from_holder",
                f"the remains are released by their current holder, {custody[-1]!r}, not {given!r}",
            )
        holder = custody[-1] if custody else given
        self.trigger_event(self.RemainsReleased, **envelope, **data, from_holder=holder)

    def hand_over(self, envelope: dict[str, Any], **data: Any) -> None:
        resting = resting_of(self)
        if data["part"] != "handed_over":
            raise InvalidField("part", "the remains' node records that it handed them over")
        if resting["released_to"] is None:
            raise RuleBroken(
                "remains_id", "the remains were not released: a repatriation follows their release"
            )
        if resting["handed_over_to"] is not None:
            raise RuleBroken(
                "remains_id", f"the remains were handed over already, to {resting['handed_over_to']}"
            )
        if data["from_country"] != self.origin:
            raise InvalidField("from_country", f"the remains are held in {self.origin}")
        self.trigger_event(self.RepatriationCompleted, **envelope, remains_id=str(self.id), **data)


class CaseRepatriation:
    """The family's country's part of a repatriation, on the person's case."""

    if TYPE_CHECKING:
        origin: str

        def trigger_event(self, event_class: Any, **kwargs: Any) -> None: ...
        def _refuse_if_erased(self, action: str) -> None: ...

    class RepatriationCompleted(RepatriationCompleted):
        def evolve(self, case: Any) -> None:
            parts = case.__dict__.setdefault("repatriation", {})
            if self.remains_id:  # None once erased
                parts.setdefault(self.remains_id, []).append(self.part)
            if self.part == "buried_at_home":
                case.__dict__["resting_place"] = self.place or self.to_country

    def receive_remains(self, envelope: dict[str, Any], remains_id: str, **data: Any) -> None:
        from ledger.case import identified_remains  # the case module imports this one

        self._refuse_if_erased("RepatriationCompleted")
        if data["part"] == "handed_over":
            raise InvalidField("part", "the remains' own node records that it handed them over")
        if remains_id not in identified_remains(self):
            raise RuleBroken("remains_id", "these remains are not identified as this person")
        if data["to_country"] != self.origin:
            raise InvalidField(
                "to_country", f"the case is recorded in {self.origin}: the remains come home here"
            )
        done = self.__dict__.get("repatriation", {}).get(remains_id, [])
        if data["part"] in done:
            raise RuleBroken("part", f"{data['part']} is recorded already for these remains")
        if data["part"] == "buried_at_home" and "received" not in done:
            raise RuleBroken("part", "the remains are received before they are buried at home")
        self.trigger_event(self.RepatriationCompleted, **envelope, remains_id=remains_id, **data)
