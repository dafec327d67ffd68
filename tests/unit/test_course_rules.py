"""The course of a case after the report: inquiries and their answers, family support and the
updates promised, the notification plan and the notification, languages, protection risks.
Every refusal names its field; every rule has a case where it lets the command through."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

from ledger.application import CaseLedger
from ledger.case import MissingPersonCase
from ledger.commands import ConfirmIdentification, NotifyFamily, RecordPersonLocatedAlive, WithdrawConsent
from ledger.course_commands import (
    AnswerInquiry,
    FlagProtectionRisk,
    GiveFamilyUpdate,
    PlanNotification,
    RecordContactDetails,
    RecordPersonDetails,
    RecordSupportProvided,
    ReferSupport,
    SendInquiry,
    SetUpdateCadence,
)
from ledger.errors import ConsentRequired, InvalidField, RuleBroken
from ledger.values import Place, TeamMember
from ledger.vocabulary import LANGUAGES, SOURCES
from tests.factories import FAMILY, FORENSIC, ctx
from tests.unit.test_case_rules import confirmed_match, new_case

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
SUPPORT = "family_support"
TEAM = (TeamMember("Dra. Lucía Méndez", "forensic_expert"), TeamMember("Lic. Ana Ruiz", "psychologist"))


@pytest.fixture
def ledger() -> CaseLedger:
    return CaseLedger("MX", env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=lambda: NOW)


def events_of(ledger: CaseLedger, case_id: UUID) -> list[str]:
    return [type(e).__name__ for e in ledger.repository.event_store.get(case_id)]


SENT = datetime(2026, 5, 6, 9, tzinfo=UTC)  # an inquiry sent weeks ago


def inquiry(case_id: UUID, sent: datetime | None = None, **changes: object) -> SendInquiry:
    fields: dict[str, object] = {
        "addressee": "mx-estacion-migratoria-tapachula",
        "addressee_kind": "detention_centre",
        "question": "¿Se encuentra detenida María José López Chávez, o lo estuvo desde febrero?",
        "due_on": "2026-06-15",
        **changes,
    }
    return SendInquiry(**ctx(occurred_at=sent), case_id=case_id, **fields)  # type: ignore[arg-type]


# ---------------------------------------------------------------- inquiries


def test_an_inquiry_is_sent_answered_and_leaves_the_overdue_list(ledger: CaseLedger) -> None:
    case_id = new_case(ledger)
    ledger.send_inquiry(inquiry(case_id, SENT, due_on="2026-05-20"))
    ledger.send_inquiry(
        inquiry(case_id, addressee="mx-hospital-general-tapachula", addressee_kind="hospital")
    )
    overdue = ledger.overdue_inquiries()
    assert [(i["inquiry"], i["addressee"], i["days_overdue"]) for i in overdue] == [
        (1, "mx-estacion-migratoria-tapachula", 12)
    ]
    assert overdue[0]["sent_by"] == "mx-casa-migrante-tapachula" and overdue[0]["due_on"] == date(2026, 5, 20)
    # The second is due on the 15th: overdue on the 16th, and not before.
    assert len(ledger.overdue_inquiries(date(2026, 6, 15))) == 1
    assert len(ledger.overdue_inquiries(date(2026, 6, 16))) == 2
    ledger.answer_inquiry(
        AnswerInquiry(
            **ctx(),
            case_id=case_id,
            inquiry=1,
            outcome="not_found",
            answered_on="2026-05-30",
            learned="no record under her name or her aliases since January",
        )
    )
    assert ledger.overdue_inquiries(date(2026, 6, 16))[0]["inquiry"] == 2
    assert events_of(ledger, case_id)[-3:] == ["InquirySent", "InquirySent", "InquiryAnswered"]


def test_an_answer_to_an_inquiry_never_sent_is_refused_naming_the_field(ledger: CaseLedger) -> None:
    case_id = new_case(ledger)
    answer = AnswerInquiry(**ctx(), case_id=case_id, inquiry=1, outcome="found", answered_on="2026-05-30")
    with pytest.raises(InvalidField, match=r"^inquiry: no inquiry 1 was sent on this case"):
        ledger.answer_inquiry(answer)
    ledger.send_inquiry(inquiry(case_id))
    ledger.answer_inquiry(answer)  # the control: once sent, it is answered
    again = AnswerInquiry(**ctx(), case_id=case_id, inquiry=1, outcome="no_answer", answered_on="2026-05-30")
    with pytest.raises(RuleBroken, match=r"^inquiry: inquiry 1 was answered already"):
        ledger.answer_inquiry(again)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"addressee_kind": "embassy"}, "addressee_kind"),
        ({"addressee": "  "}, "addressee"),
        ({"question": ""}, "question"),
        ({"due_on": "2026-05-31"}, "due_on"),  # before the inquiry was sent
        ({"due_on": "2028-01-01"}, "due_on"),  # further than a year ahead
        ({"due_on": "tomorrow"}, "due_on"),
    ],
)
def test_a_bad_inquiry_is_refused_naming_the_field(
    ledger: CaseLedger, changes: dict[str, object], field: str
) -> None:
    case_id = new_case(ledger)
    with pytest.raises(InvalidField) as refused:
        ledger.send_inquiry(inquiry(case_id, **changes))
    assert refused.value.field == field
    assert events_of(ledger, case_id) == ["CaseReported"]


def test_an_inquiry_for_a_purpose_the_family_withdrew_leaves_the_overdue_list(ledger: CaseLedger) -> None:
    case_id = new_case(ledger)
    ledger.send_inquiry(inquiry(case_id, SENT, due_on="2026-06-01"))
    assert len(ledger.overdue_inquiries(date(2026, 6, 2))) == 1
    ledger.withdraw_consent(
        WithdrawConsent(**ctx(FAMILY), case_id=case_id, consent_purpose="search", withdrawn_by="Rosa Chávez")
    )
    assert ledger.overdue_inquiries(date(2026, 6, 2)) == []
    with pytest.raises(ConsentRequired):
        ledger.send_inquiry(inquiry(case_id))


# ---------------------------------------------------------------- family support


def test_support_is_referred_and_provided_under_the_family_support_purpose(ledger: CaseLedger) -> None:
    case_id = new_case(ledger)
    refer = ReferSupport(**ctx(purpose=SUPPORT), case_id=case_id, kind="psychosocial", provider="Cruz Roja")
    ledger.refer_support(refer)
    ledger.record_support_provided(
        RecordSupportProvided(
            **ctx(purpose=SUPPORT), case_id=case_id, referral=1, provided_on="2026-05-30", outcome="ongoing"
        )
    )
    assert events_of(ledger, case_id)[-2:] == ["SupportReferred", "SupportProvided"]
    with pytest.raises(
        InvalidField, match=r"^purpose: support to the family is recorded for the family_support"
    ):
        ledger.refer_support(ReferSupport(**ctx(), case_id=case_id, kind="legal", provider="FJEDD"))
    with pytest.raises(InvalidField, match=r"^referral: no referral 2 was made"):
        ledger.record_support_provided(
            RecordSupportProvided(
                **ctx(purpose=SUPPORT),
                case_id=case_id,
                referral=2,
                provided_on="2026-05-30",
                outcome="provided",
            )
        )
    with pytest.raises(InvalidField) as refused:
        ledger.refer_support(
            ReferSupport(**ctx(purpose=SUPPORT), case_id=case_id, kind="spiritual", provider="X")
        )
    assert refused.value.field == "kind"


def test_support_needs_the_family_s_consent_to_family_support(ledger: CaseLedger) -> None:
    case_id = ledger.report_missing_person(__import__("tests.factories").factories.report())  # search only
    with pytest.raises(ConsentRequired):
        ledger.refer_support(
            ReferSupport(**ctx(purpose=SUPPORT), case_id=case_id, kind="legal", provider="FJEDD")
        )


def test_a_promised_update_not_given_is_overdue_for_its_focal_point(ledger: CaseLedger) -> None:
    case_id = new_case(ledger)
    other = new_case(ledger)
    ledger.set_update_cadence(
        SetUpdateCadence(
            **ctx(purpose=SUPPORT), case_id=case_id, every_days=30, focal_point="hn-consulado-tapachula"
        )
    )
    assert ledger.overdue_updates(date(2026, 7, 1)) == []  # due on 1 July: not yet late
    late = ledger.overdue_updates(date(2026, 7, 2))
    assert [(u["case_id"], u["focal_point"], u["days_overdue"]) for u in late] == [
        (str(case_id), "hn-consulado-tapachula", 1)
    ]
    ledger.give_family_update(
        GiveFamilyUpdate(
            **ctx(purpose=SUPPORT),
            case_id=case_id,
            given_on="2026-05-31",
            given_by="Cónsul Marta Reyes",
            means="phone",
            language="es",
            summary="two inquiries sent; the detention centre has not answered yet",
        )
    )
    # The next is due 30 days after the one given: 30 June... and late on 1 July.
    assert ledger.overdue_updates(date(2026, 6, 30)) == []
    assert ledger.overdue_updates(date(2026, 7, 1))[0]["next_due"] == date(2026, 6, 30)
    assert other not in {UUID(u["case_id"]) for u in ledger.overdue_updates(date(2027, 1, 1))}


def test_an_update_without_a_cadence_says_when_the_family_hears_next(ledger: CaseLedger) -> None:
    case_id = new_case(ledger)
    update = GiveFamilyUpdate(
        **ctx(purpose=SUPPORT),
        case_id=case_id,
        given_on="2026-05-31",
        given_by="Ana",
        means="phone",
        language="mam",
    )
    with pytest.raises(InvalidField, match=r"^next_update_on: say when the family will hear next"):
        ledger.give_family_update(update)
    ledger.give_family_update(
        GiveFamilyUpdate(
            **ctx(purpose=SUPPORT),
            case_id=case_id,
            given_on="2026-05-31",
            given_by="Ana",
            means="phone",
            language="mam",
            next_update_on="2026-06-30",
        )
    )
    with pytest.raises(InvalidField) as refused:
        ledger.give_family_update(
            GiveFamilyUpdate(
                **ctx(purpose=SUPPORT),
                case_id=case_id,
                given_on="2026-05-31",
                given_by="Ana",
                means="phone",
                language="klingon",
                next_update_on="2026-06-30",
            )
        )
    assert refused.value.field == "language"


# ---------------------------------------------------------------- notification


def identified(ledger: CaseLedger) -> UUID:
    case_id = new_case(ledger)
    match, _ = confirmed_match(ledger, case_id)
    ledger.confirm_identification(
        ConfirmIdentification(**ctx(FORENSIC, "forensic_identification"), case_id=case_id, match_id=match)
    )
    return case_id


def plan(case_id: UUID, **changes: object) -> PlanNotification:
    fields: dict[str, object] = {
        "planned_on": "2026-06-10",
        "team": TEAM,
        "contact": "Rosa Chávez",
        "language": "es",
        "place": "Casa del Migrante, Tapachula",
        "report_copy_handed_over": True,
        **changes,
    }
    return PlanNotification(**ctx(purpose=SUPPORT), case_id=case_id, **fields)  # type: ignore[arg-type]


def test_an_identification_is_notified_as_planned_from_its_report(ledger: CaseLedger) -> None:
    case_id = identified(ledger)
    notify = NotifyFamily(
        **ctx(purpose=SUPPORT), case_id=case_id, means="in_person", report_reference="SEMEFO-1"
    )
    with pytest.raises(InvalidField, match=r"^plan: an identification is explained to the family as planned"):
        ledger.notify_family(notify)
    ledger.plan_notification(plan(case_id))
    without_report = NotifyFamily(**ctx(purpose=SUPPORT), case_id=case_id, means="in_person")
    with pytest.raises(InvalidField, match=r"^report_reference: name the identification report"):
        ledger.notify_family(without_report)
    ledger.notify_family(
        NotifyFamily(
            **ctx(purpose=SUPPORT),
            case_id=case_id,
            means="in_person",
            report_reference="SEMEFO-1",
            acknowledgement="the family accepts the identification",
            questions=("¿Cuándo la podemos enterrar?",),
        )
    )
    event = list(ledger.repository.event_store.get(case_id))[-1]
    assert type(event).__name__ == "FamilyNotified"
    assert event.language == "es" and event.plan == 1 and event.contact == "Rosa Chávez"  # type: ignore[attr-defined]
    assert event.team == [m.checked("t") for m in TEAM] and event.report_copy_handed_over is True  # type: ignore[attr-defined]
    assert event.questions == ["¿Cuándo la podemos enterrar?"]  # type: ignore[attr-defined]


def test_a_notification_in_a_language_the_contact_does_not_speak_needs_an_interpreter(
    ledger: CaseLedger,
) -> None:
    case_id = identified(ledger)
    ledger.record_contact_details(
        RecordContactDetails(
            **ctx(purpose=SUPPORT), case_id=case_id, contact="rosa chavez", languages=("mam",)
        )
    )
    with pytest.raises(InvalidField, match=r"^interpreter: Rosa Chávez does not speak es \(recorded: mam\)"):
        ledger.plan_notification(plan(case_id))
    ledger.plan_notification(plan(case_id, language="mam"))
    spanish = NotifyFamily(
        **ctx(purpose=SUPPORT), case_id=case_id, means="in_person", report_reference="R-1", language="es"
    )
    with pytest.raises(InvalidField) as refused:
        ledger.notify_family(spanish)
    assert refused.value.field == "interpreter"
    ledger.notify_family(
        NotifyFamily(
            **ctx(purpose=SUPPORT),
            case_id=case_id,
            means="in_person",
            report_reference="R-1",
            language="es",
            interpreter="Juan Tomás, intérprete de mam",
        )
    )
    assert events_of(ledger, case_id)[-1] == "FamilyNotified"


def test_a_plan_names_a_contact_of_the_case_and_a_team_of_two(ledger: CaseLedger) -> None:
    case_id = identified(ledger)
    with pytest.raises(InvalidField) as refused:
        ledger.plan_notification(plan(case_id, contact="Pedro Páramo"))
    assert refused.value.field == "contact"
    with pytest.raises(InvalidField) as refused:
        ledger.plan_notification(plan(case_id, team=TEAM[:1]))
    assert refused.value.field == "team"
    with pytest.raises(InvalidField) as refused:
        ledger.plan_notification(plan(case_id, team=(*TEAM, TeamMember("X", "astrologer"))))
    assert refused.value.field == "team[2].role"


def test_a_located_person_s_family_is_notified_without_a_plan_but_in_a_language(ledger: CaseLedger) -> None:
    case_id = new_case(ledger)
    ledger.record_person_located_alive(
        RecordPersonLocatedAlive(
            **ctx(),
            case_id=case_id,
            located_on="2026-05-20",
            place=Place("US"),
            whereabouts_may_be_shared=True,
        )
    )
    with pytest.raises(InvalidField, match=r"^language: say in which language"):
        ledger.notify_family(NotifyFamily(**ctx(purpose=SUPPORT), case_id=case_id, means="phone"))
    ledger.notify_family(NotifyFamily(**ctx(purpose=SUPPORT), case_id=case_id, means="phone", language="quc"))


def test_a_family_notified_as_the_first_release_stored_it_still_loads(ledger: CaseLedger) -> None:
    case_id = new_case(ledger)
    ledger.record_person_located_alive(
        RecordPersonLocatedAlive(
            **ctx(),
            case_id=case_id,
            located_on="2026-05-20",
            place=Place("US"),
            whereabouts_may_be_shared=True,
        )
    )
    version = ledger.get_case(case_id).version
    v1 = {
        "timestamp": {"_type_": "datetime_iso", "_data_": "2026-05-21T10:00:00+00:00"},
        "originator_topic": "ledger.case:MissingPersonCase",
        "command_id": "notified-v1",
        "occurred_at": {"_type_": "datetime_iso", "_data_": "2026-05-21T09:00:00+00:00"},
        "recorded_by": {"organisation": "Casa del Migrante", "role": "caseworker"},
        "purpose": SUPPORT,
        "outcome": "located_alive",
        "means": "phone",
        "whereabouts_shared": False,
    }
    ledger.recorder.insert_events(
        [
            StoredEvent(
                originator_id=case_id,
                originator_version=version + 1,
                topic="ledger.case:MissingPersonCase.FamilyNotified",
                state=json.dumps(v1).encode(),
            )
        ]
    )
    event = list(ledger.repository.event_store.get(case_id))[-1]
    assert isinstance(event, MissingPersonCase.FamilyNotified)
    assert event.means == "phone" and event.language is None and event.team == [] and event.questions == []


# ---------------------------------------------------------------- protection, languages, sources


def test_a_protection_risk_marks_the_case_to_be_handled_with_care(ledger: CaseLedger) -> None:
    case_id = new_case(ledger)
    assert not ledger.get_case(case_id).handle_with_care
    with pytest.raises(InvalidField) as refused:
        ledger.flag_protection_risk(FlagProtectionRisk(**ctx(), case_id=case_id, risks=("bad luck",)))
    assert refused.value.field == "risks[0]"
    with pytest.raises(InvalidField) as refused:
        ledger.flag_protection_risk(
            FlagProtectionRisk(**ctx(), case_id=case_id, risks=("threats",), contact="Nadie")
        )
    assert refused.value.field == "contact"
    ledger.flag_protection_risk(
        FlagProtectionRisk(**ctx(), case_id=case_id, risks=("threats", "extortion"), contact="Rosa Chavez")
    )
    case = ledger.get_case(case_id)
    assert case.handle_with_care
    assert case.__dict__["course"]["protection"] == {
        "case": False,
        "contacts": ["rosa chavez"],
        "by": "mx-casa-migrante-tapachula",
        "flags": 1,
    }


def test_a_protection_risk_is_recorded_whatever_the_consents(ledger: CaseLedger) -> None:
    case_id = ledger.report_missing_person(__import__("tests.factories").factories.report())  # search only
    ledger.flag_protection_risk(
        FlagProtectionRisk(**ctx(purpose="accountability"), case_id=case_id, risks=("trafficking",))
    )
    assert ledger.get_case(case_id).handle_with_care


def test_person_details_are_checked_field_by_field(ledger: CaseLedger) -> None:
    case_id = new_case(ledger)
    for changes, field in (
        ({"languages": ("es", "es")}, "languages"),
        ({"languages": ("xx",)}, "languages[0]"),
        ({"gender_identity": "alien"}, "gender_identity"),
        ({"pregnant": "yes"}, "pregnant"),
        ({}, "languages"),
    ):
        with pytest.raises(InvalidField) as refused:
            ledger.record_person_details(RecordPersonDetails(**ctx(), case_id=case_id, **changes))  # type: ignore[arg-type]
        assert refused.value.field == field
    ledger.record_person_details(
        RecordPersonDetails(
            **ctx(), case_id=case_id, languages=("quc", "es"), gender_identity="trans_woman", pregnant=True
        )
    )
    assert events_of(ledger, case_id)[-1] == "PersonDetailsRecorded"


def test_the_languages_and_sources_the_field_needs_are_in_the_vocabulary() -> None:
    assert {"es", "en", "quc", "mam", "kek", "cak", "cab", "ht", "fr"} <= set(LANGUAGES)
    assert LANGUAGES["quc"] == "K'iche'" and LANGUAGES["cab"] == "Garífuna"
    assert {"smuggler", "survivor", "accompanying_person", "activist", "hotline", "media"} <= set(SOURCES)


def test_the_course_survives_a_snapshot_on_sqlite(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "events.db"
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
    first = CaseLedger("MX", env=env, clock=lambda: NOW, snapshot_interval=2)
    case_id = new_case(first)
    first.send_inquiry(inquiry(case_id, SENT, due_on="2026-06-01"))
    first.flag_protection_risk(FlagProtectionRisk(**ctx(), case_id=case_id, risks=("violence",)))
    first.set_update_cadence(
        SetUpdateCadence(**ctx(purpose=SUPPORT), case_id=case_id, every_days=14, focal_point="hn-cofamipro")
    )
    again = CaseLedger("MX", env=env, clock=lambda: NOW, snapshot_interval=2, keys=first.keys)
    case = again.get_case(case_id)
    assert case.handle_with_care
    assert [i["inquiry"] for i in again.overdue_inquiries(date(2026, 6, 2))] == [1]
    assert again.overdue_updates(date(2026, 6, 16))[0]["focal_point"] == "hn-cofamipro"


def test_a_consent_records_whether_the_risks_of_sharing_were_explained(ledger: CaseLedger) -> None:
    from ledger.commands import Actor, GrantConsent

    REPORTER = Actor("mx-casa-migrante-tapachula", "caseworker")  # the factory's report

    case_id = new_case(ledger)
    explained = {"explained_by": "Casa del Migrante: Ana", "language": "es"}
    with pytest.raises(InvalidField) as refused:
        ledger.grant_consent(
            GrantConsent(
                **ctx(REPORTER),
                case_id=case_id,
                consent_purpose="accountability",
                given_by="Rosa",
                risks_explained="yes",
                **explained,  # type: ignore[arg-type]
            )
        )
    assert refused.value.field == "risks_explained"
    ledger.grant_consent(
        GrantConsent(
            **ctx(REPORTER),
            case_id=case_id,
            consent_purpose="accountability",
            given_by="Rosa",
            risks_explained=True,
            **explained,
        )
    )
    event = list(ledger.repository.event_store.get(case_id))[-1]
    assert type(event).__name__ == "ConsentGranted" and event.risks_explained is True  # type: ignore[attr-defined]


def test_an_erased_case_still_loads_and_leaves_the_overdue_lists(ledger: CaseLedger) -> None:
    from ledger.commands import EraseData

    case_id = new_case(ledger)
    ledger.send_inquiry(inquiry(case_id, SENT, due_on="2026-05-20"))
    ledger.set_update_cadence(
        SetUpdateCadence(**ctx(purpose=SUPPORT), case_id=case_id, every_days=7, focal_point="hn-cofamipro")
    )
    ledger.flag_protection_risk(
        FlagProtectionRisk(**ctx(), case_id=case_id, risks=("threats",), contact="Rosa Chávez")
    )
    ledger.record_contact_details(
        RecordContactDetails(
            **ctx(purpose=SUPPORT), case_id=case_id, contact="Rosa Chávez", languages=("es",)
        )
    )
    assert ledger.overdue_inquiries() and ledger.overdue_updates(date(2026, 7, 1))
    ledger.erase_data(EraseData(**ctx(FAMILY), case_id=case_id, requested_by="Rosa Chávez, madre"))
    if ledger.repository.cache is not None:
        ledger.repository.cache.get(case_id, evict=True)
    case = ledger.get_case(case_id)  # every sealed field reads as None now
    assert case.erased and case.handle_with_care
    assert ledger.overdue_inquiries() == [] and ledger.overdue_updates(date(2026, 7, 1)) == []
