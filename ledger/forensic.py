"""The forensic side of a node's write side: remains, samples with their custody, matches."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from ledger.base import LedgerApplication
from ledger.case import MissingPersonCase, identified_remains
from ledger.errors import NotFound, RuleBroken
from ledger.events import LedgerAggregate, command_key
from ledger.forensic_commands import (
    DestroySample,
    IdentifyRemains,
    ProposeMatch,
    RecordPostMortem,
    RecordProfile,
    RecordRemainsRecovered,
    ReopenIdentification,
    ReviewMatch,
    ReviseMatch,
    TakeSample,
    TransferSample,
    WithdrawDonorConsent,
)
from ledger.match import Match, match_id_for
from ledger.remains import UnidentifiedRemains, remains_id_for
from ledger.sample import Sample, sample_id_for
from ledger.vocabulary import MATCH_REVIEWER_ROLES

__all__ = ["ForensicLedger", "identifying_match"]


def identifying_match(
    facts: Mapping[str, Any], *, case_id: str | None = None, remains_id: str | None = None
) -> str:
    """The remains id of a match that may identify: it names the case (or the remains) and is
    confirmed on a primary identifier or by two organisations; otherwise RuleBroken."""
    if case_id is not None and facts.get("case_id") != case_id:
        raise RuleBroken("match_id", "the match does not name this case")
    held_as = facts.get("remains_identified_as")
    if case_id is not None and held_as not in (None, case_id):
        raise RuleBroken(
            "match_id", f"the remains are identified already, as another person (case {held_as})"
        )
    if remains_id is not None and facts.get("remains_id") != remains_id:
        raise RuleBroken("match_id", "the match does not name these remains")
    if facts.get("outcome") != "confirmed":
        raise RuleBroken("match_id", f"the match is {facts.get('outcome') or 'not reviewed'}, not confirmed")
    if not facts.get("identifies"):
        raise RuleBroken(
            "match_id",
            f"the match rests on {facts.get('basis') or 'an unknown basis'}: an identification needs a "
            "primary identifier (DNA, fingerprints or dental) or a second organisation's confirming review",
        )
    return str(facts["remains_id"])


class ForensicLedger(LedgerApplication):
    """Handlers for remains, samples and matches."""

    def _local_case(self, case_id: str | None, purpose: str) -> None:
        """A case recorded here must hold consent for the purpose; one from elsewhere is
        checked by its own node."""
        if case_id is None:
            return
        try:
            case = self._load(MissingPersonCase, "case", UUID(case_id))
        except NotFound:
            return
        self.require_consent(case, purpose)

    def _require_remains(self, remains_id: str) -> None:
        self._load(UnidentifiedRemains, "remains", UUID(remains_id))

    # ---------------------------------------------------------------- remains

    def record_remains_recovered(self, command: RecordRemainsRecovered) -> UUID:
        envelope, data = self._checked(command)
        remains = UnidentifiedRemains._create(
            UnidentifiedRemains.RemainsRecovered,
            id=remains_id_for(self.origin, command_key(envelope["command_id"])),
            origin=self.origin,
            **envelope,
            **data,
        )
        return self._create(remains, envelope["command_id"])

    def record_post_mortem(self, command: RecordPostMortem) -> int:
        return self._act(
            UnidentifiedRemains,
            "remains",
            command.remains_id,
            command,
            lambda r, e, d: r.record_post_mortem(e, **d),
        )

    def identify_remains_here(
        self, envelope: dict[str, Any], remains_id: UUID, match_id: str, case_id: str
    ) -> list[LedgerAggregate]:
        """Mark remains recorded at this node as identified (in the same transaction)."""
        try:
            remains = self._load(UnidentifiedRemains, "remains", remains_id)
        except NotFound:
            return []  # the remains' own node records RemainsIdentified
        remains.identify({**envelope, "command_id": f"{envelope['command_id']}:remains"}, match_id, case_id)
        return [remains]

    def identify_remains(self, command: IdentifyRemains) -> int:
        """The remains' own node records their identification through a match confirmed
        elsewhere; remains identified already (to any case) are refused here."""

        def decide(remains: UnidentifiedRemains, envelope: dict[str, Any], data: dict[str, Any]) -> None:
            facts = self.match_facts(UUID(data["match_id"]))
            identifying_match(facts, remains_id=str(remains.id))
            remains.identify(envelope, data["match_id"], str(facts["case_id"]))

        return self._act(UnidentifiedRemains, "remains", command.remains_id, command, decide)

    # ---------------------------------------------------------------- samples

    def take_sample(self, command: TakeSample) -> UUID:
        envelope, data = self._checked(command)
        self._local_case(data["case_id"], envelope["purpose"])
        if data["remains_id"] is not None:
            self._require_remains(data["remains_id"])
        sample = Sample._create(
            Sample.SampleTaken,
            id=sample_id_for(self.origin, command_key(envelope["command_id"])),
            origin=self.origin,
            **envelope,
            **data,
        )
        return self._create(sample, envelope["command_id"])

    def transfer_sample(self, command: TransferSample) -> int:
        return self._act(Sample, "sample", command.sample_id, command, lambda s, e, d: s.transfer(e, **d))

    def record_profile(self, command: RecordProfile) -> int:
        return self._act(
            Sample, "sample", command.sample_id, command, lambda s, e, d: s.record_profile(e, **d)
        )

    def destroy_sample(self, command: DestroySample) -> int:
        return self._act(Sample, "sample", command.sample_id, command, lambda s, e, d: s.destroy(e, **d))

    def withdraw_donor_consent(self, command: WithdrawDonorConsent) -> int:
        """Record the donor's withdrawal, then shred the sample's own keys here (never the
        case's); the relay publishes tombstones and every node destroys its copies."""
        version = self._act(
            Sample, "sample", command.sample_id, command, lambda s, e, d: s.withdraw_donor_consent(e, **d)
        )
        self.shred(command.sample_id)
        return version

    # ---------------------------------------------------------------- matches

    def propose_match(self, command: ProposeMatch) -> UUID:
        envelope, data = self._checked(command)
        self._local_case(data["case_id"], envelope["purpose"])
        self._require_remains(data["remains_id"])
        match = Match._create(
            Match.MatchProposed,
            id=match_id_for(self.origin, command_key(envelope["command_id"])),
            origin=self.origin,
            **envelope,
            **data,
        )
        return self._create(match, envelope["command_id"])

    def review_match(self, command: ReviewMatch) -> int:
        def decide(match: Match, envelope: dict[str, Any], data: dict[str, Any]) -> None:
            if data["outcome"] == "confirmed" and envelope["recorded_by"]["role"] not in MATCH_REVIEWER_ROLES:
                raise RuleBroken(
                    "recorded_by.role",
                    "a match is confirmed by a forensic expert, a geneticist or a commission",
                )
            match.review(envelope, **data)

        return self._act(Match, "match", command.match_id, command, decide)

    def revise_match(self, command: ReviseMatch) -> int:
        """MatchRevised, and in the same transaction the reopening of what it identified here:
        the case (back to missing when nothing else identifies it) and the remains. A case or
        remains at another node are reopened there."""

        def decide(match: Match, envelope: dict[str, Any], data: dict[str, Any]) -> list[LedgerAggregate]:
            if envelope["recorded_by"]["role"] not in MATCH_REVIEWER_ROLES:
                raise RuleBroken(
                    "recorded_by.role",
                    "a match is revised by a forensic expert, a geneticist or a commission",
                )
            match.revise(envelope, data["reason"])
            match_id, reopened = str(match.id), list[LedgerAggregate]()
            try:
                case = self._load(MissingPersonCase, "case", UUID(match.case_id))
                if match_id in identified_remains(case).values():
                    case.revise_identification(
                        {**envelope, "command_id": f"{envelope['command_id']}:case"}, match_id, data["reason"]
                    )
                    reopened.append(case)
            except NotFound:
                pass
            try:
                remains = self._load(UnidentifiedRemains, "remains", UUID(match.remains_id))
                if (
                    remains.identified_as is not None
                    and getattr(remains, "identified_through", None) == match_id
                ):
                    remains.revise_identification(
                        {**envelope, "command_id": f"{envelope['command_id']}:remains"},
                        match_id,
                        data["reason"],
                    )
                    reopened.append(remains)
            except NotFound:
                pass
            return reopened

        return self._act(Match, "match", command.match_id, command, decide)

    def reopen_identification(self, command: ReopenIdentification) -> int:
        """A case held here, identified through a match another node revised: the revision is
        recorded here through this node's own command (the match's node reopened the match and
        the remains it holds)."""

        def decide(case: MissingPersonCase, envelope: dict[str, Any], data: dict[str, Any]) -> None:
            if self.match_facts(UUID(data["match_id"])).get("outcome") != "revised":
                raise RuleBroken("match_id", "the match was not revised; revise the match first")
            case.revise_identification(envelope, data["match_id"], data["reason"])

        return self._act(MissingPersonCase, "case", command.case_id, command, decide)
