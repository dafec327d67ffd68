"""Remains after identification (#17, item 4): a Honduran case identified with remains held in
Mexico; Mexico buries, exhumes, releases and hands them over; Honduras receives them and buries
them at home; each node records only its own part, and nothing is recorded out of order."""

from __future__ import annotations

from uuid import UUID

import pytest

from ledger.errors import InvalidField, NotFound, RuleBroken
from ledger.forensic_commands import IdentifyRemains
from ledger.remains_commands import (
    BuryRemains,
    ExhumeRemains,
    HandOverRemains,
    ReceiveRemains,
    ReleaseRemains,
)
from ledger.values import Coordinates
from tests.factories import FORENSIC, ctx
from tests.unit.test_identification_rules import (
    FI,
    identify,
    names,
    new_case,
    new_remains,
    node,
    propose,
    review,
)


def bury(ledger: object, remains: UUID, **changes: object) -> int:
    fields: dict[str, object] = {
        "cemetery": "Panteón municipal de Tapachula",
        "grave": "fosa 112, sección C",
        "country": "MX",
        "buried_on": "2026-04-20",
        "coordinates": Coordinates(14.9, -92.26),
        **changes,
    }
    return ledger.bury_remains(BuryRemains(**ctx(FORENSIC, FI), remains_id=remains, **fields))  # type: ignore[attr-defined, arg-type]


def release(ledger: object, remains: UUID) -> int:
    return ledger.release_remains(  # type: ignore[attr-defined, no-any-return]
        ReleaseRemains(
            **ctx(FORENSIC, FI),
            remains_id=remains,
            released_to="consulate",
            recipient="hn-consulado-tapachula",
            released_on="2026-05-20",
        )
    )


def hand_over(ledger: object, remains: UUID) -> int:
    return ledger.hand_over_remains(  # type: ignore[attr-defined, no-any-return]
        HandOverRemains(
            **ctx(FORENSIC, FI),
            remains_id=remains,
            from_country="MX",
            to_country="HN",
            completed_on="2026-05-22",
        )
    )


def receive(ledger: object, case_id: UUID, remains: UUID, part: str, **changes: object) -> int:
    fields: dict[str, object] = {
        "from_country": "MX",
        "to_country": "HN",
        "completed_on": "2026-05-25",
        **changes,
    }
    return ledger.receive_remains(  # type: ignore[attr-defined, no-any-return]
        ReceiveRemains(
            **ctx(purpose="family_support"), case_id=case_id, remains_id=remains, part=part, **fields
        )  # type: ignore[arg-type]
    )


def test_remains_identified_in_mexico_come_home_to_honduras_each_node_recording_its_part() -> None:
    mx = node("MX")
    hn = node("HN", foreign_matches=mx.match_facts)
    case_id, remains = new_case(hn), new_remains(mx)
    bury(mx, remains)  # buried unidentified, as most are
    with pytest.raises(RuleBroken, match=r"^remains_id: only identified remains are released"):
        release(mx, remains)
    match = propose(mx, case_id, remains)
    review(mx, match)
    identify(hn, case_id, match)
    mx.identify_remains(IdentifyRemains(**ctx(FORENSIC, FI), remains_id=remains, match_id=match))
    with pytest.raises(RuleBroken, match=r"^remains_id: the remains are buried: record their exhumation"):
        release(mx, remains)
    with pytest.raises(RuleBroken, match=r"^remains_id: the remains were not released"):
        hand_over(mx, remains)
    mx.exhume_remains(
        ExhumeRemains(**ctx(FORENSIC, FI), remains_id=remains, exhumed_on="2026-05-18", reason="release")
    )
    release(mx, remains)
    with pytest.raises(RuleBroken, match=r"^remains_id: the remains were released to the consulate"):
        bury(mx, remains, buried_on="2026-05-21")
    with pytest.raises(RuleBroken, match=r"^part: the remains are received before they are buried at home"):
        receive(hn, case_id, remains, "buried_at_home")
    hand_over(mx, remains)
    receive(hn, case_id, remains, "received")
    receive(
        hn,
        case_id,
        remains,
        "buried_at_home",
        place="Cementerio de El Progreso, Yoro",
        completed_on="2026-05-27",
    )
    assert names(mx, remains)[-4:] == [
        "RemainsIdentified",
        "RemainsExhumed",
        "RemainsReleased",
        "RepatriationCompleted",
    ]
    assert names(hn, case_id)[-2:] == ["RepatriationCompleted", "RepatriationCompleted"]
    # Honduras does not hold the remains: it cannot bury them, nor hand them over, there.
    with pytest.raises(NotFound):
        bury(hn, remains, country="HN")
    with pytest.raises(InvalidField, match=r"^part: the remains' own node records that it handed them over"):
        receive(hn, case_id, remains, "handed_over")


def test_a_second_identification_of_the_same_remains_is_refused_anywhere() -> None:
    mx = node("MX")
    hn = node("HN", foreign_matches=mx.match_facts)
    first, second, remains = new_case(hn), new_case(hn), new_remains(mx)
    match = propose(mx, first, remains)
    review(mx, match)
    mx.identify_remains(IdentifyRemains(**ctx(FORENSIC, FI), remains_id=remains, match_id=match))
    identify(hn, first, match)
    other = propose(mx, second, remains)
    review(mx, other)
    with pytest.raises(RuleBroken, match=r"^match_id: the remains are identified already, as another person"):
        identify(hn, second, other)  # at the case's node
    with pytest.raises(RuleBroken, match="already identified"):
        mx.identify_remains(IdentifyRemains(**ctx(FORENSIC, FI), remains_id=remains, match_id=other))
    local = new_case(mx)
    third = propose(mx, local, remains)
    review(mx, third)
    with pytest.raises(RuleBroken, match=r"^match_id: the remains are identified already"):
        identify(mx, local, third)  # at the remains' node too


def test_a_burial_is_recorded_in_the_country_that_holds_the_remains() -> None:
    mx = node("MX")
    remains = new_remains(mx)
    with pytest.raises(InvalidField, match=r"^country: the remains are held in MX"):
        bury(mx, remains, country="GT")
    with pytest.raises(InvalidField) as refused:
        bury(mx, remains, grave="")
    assert refused.value.field == "grave"
    bury(mx, remains)
    with pytest.raises(RuleBroken, match=r"^remains_id: the remains are buried already"):
        bury(mx, remains)


def test_the_family_is_told_where_their_relative_rests() -> None:
    from services.http.pages.family import resting_place

    mx = node("MX")
    case_id, remains = new_case(mx), new_remains(mx)
    assert resting_place(mx.get_case(case_id), mx) is None
    match = propose(mx, case_id, remains)
    review(mx, match)
    identify(mx, case_id, match)  # the remains are here: identified in the same transaction
    bury(mx, remains, buried_on="2026-05-20")
    assert resting_place(mx.get_case(case_id), mx) == "Panteón municipal de Tapachula, fosa 112, sección C"
    hn = node("HN", foreign_matches=mx.match_facts)
    home, far = new_case(hn), new_remains(mx)
    other = propose(mx, home, far)
    review(mx, other)
    identify(hn, home, other)
    mx.identify_remains(IdentifyRemains(**ctx(FORENSIC, FI), remains_id=far, match_id=other))
    release(mx, far)
    hand_over(mx, far)
    receive(hn, home, far, "received")
    assert resting_place(hn.get_case(home), hn) is None  # received, not yet buried
    receive(hn, home, far, "buried_at_home", place="Cementerio de El Progreso")
    assert resting_place(hn.get_case(home), hn) == "Cementerio de El Progreso"
