"""Family safety (issue 12, item 7): where a located person is stays theirs (an adult's
agreement, a best-interests decision for a minor, both for a person who may be either, judged
by their age when located); a witness's name never reaches the family; a case kept from the
country its person fled reaches nothing of that country; consent is explicit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from ledger.access_rules import SAMPLE_POLICY, load
from ledger.application import CaseLedger
from ledger.commands import (
    Actor,
    NotifyFamily,
    RecordPersonLocatedAlive,
    RecordSighting,
)
from ledger.errors import InvalidField, RuleBroken
from ledger.protection_commands import DetermineBestInterests
from ledger.values import AgeRange, Place
from services.bootstrap import Node, build_node
from services.reading import CaseReading
from services.settings import Settings
from tests.factories import CASEWORKER, ctx, report

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
PURPOSES = ("search", "forensic_identification", "family_support")
OFFICER = Actor("mx-casa-migrante-tapachula", "child_protection_officer")  # DIF staff at the shelter
SHELTER = "mx-casa-migrante-tapachula"  # MX organisations in the sample policy
PROSECUTOR = "mx-fiscalia-migrantes"
FAMILY = Actor("family:rosa", "family_member")


@pytest.fixture
def ledger() -> CaseLedger:
    return CaseLedger("MX", env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=lambda: NOW)


def located(ledger: CaseLedger, *, agreed: bool, on: str = "2026-05-20", **person: object) -> UUID:
    case_id = ledger.report_missing_person(report(consented_purposes=PURPOSES, **person))
    ledger.record_person_located_alive(
        RecordPersonLocatedAlive(
            **ctx(CASEWORKER),
            case_id=case_id,
            located_on=on,
            place=Place("MX", "Albergue Belén, Tapachula"),
            whereabouts_may_be_shared=agreed,
        )
    )
    return case_id


def notify(ledger: CaseLedger, case_id: UUID) -> int:
    return ledger.notify_family(
        NotifyFamily(
            **ctx(CASEWORKER, "family_support"),
            case_id=case_id,
            means="phone",
            language="es",
            whereabouts_shared=True,
        )
    )


def decide(ledger: CaseLedger, case_id: UUID, decision: str, actor: Actor = OFFICER) -> int:
    return ledger.determine_best_interests(
        DetermineBestInterests(
            **ctx(actor, "family_support"),
            case_id=case_id,
            decision=decision,
            reason="the mother asked for him; no risk found at home",
            decided_by="Lic. Ana Pérez",
        )
    )


# ------------------------------------------------------------ whereabouts and age


def test_a_person_of_unknown_age_who_agreed_still_needs_a_best_interests_decision(ledger: CaseLedger) -> None:
    case_id = located(ledger, agreed=True, date_of_birth=None)
    with pytest.raises(RuleBroken) as refused:
        notify(ledger, case_id)
    assert refused.value.rule == "whereabouts_shared"
    decide(ledger, case_id, "share_whereabouts")
    assert notify(ledger, case_id)


def test_a_person_of_unknown_age_who_did_not_agree_is_protected_as_an_adult(ledger: CaseLedger) -> None:
    case_id = located(ledger, agreed=False, date_of_birth=None)
    decide(ledger, case_id, "share_whereabouts")
    with pytest.raises(RuleBroken):
        notify(ledger, case_id)


def test_a_minor_when_missing_who_is_an_adult_when_located_decides_alone(ledger: CaseLedger) -> None:
    """17 when last seen, 18 when found: the adult's refusal holds, and no officer decides for them."""
    case_id = located(ledger, agreed=False, date_of_birth="2008-05-10", last_seen_date="2026-02-03")
    with pytest.raises(RuleBroken):
        notify(ledger, case_id)
    with pytest.raises(RuleBroken):
        decide(ledger, case_id, "share_whereabouts")


def test_an_age_estimate_grows_with_the_time_since_last_seen(ledger: CaseLedger) -> None:
    """Estimated 16-17 when last seen in August 2025, possibly 18 when found in May 2026: the
    stricter reading."""
    case_id = located(
        ledger,
        agreed=False,
        date_of_birth=None,
        age_range=AgeRange(16, 17),
        last_seen_date="2025-08-01",
    )
    decide(ledger, case_id, "share_whereabouts")
    with pytest.raises(RuleBroken):
        notify(ledger, case_id)


def test_a_located_minors_whereabouts_are_shared_only_after_a_best_interests_decision(
    ledger: CaseLedger,
) -> None:
    case_id = located(ledger, agreed=True, date_of_birth="2012-01-01")
    with pytest.raises(RuleBroken):
        notify(ledger, case_id)
    decide(ledger, case_id, "withhold_whereabouts")
    with pytest.raises(RuleBroken):
        notify(ledger, case_id)
    decide(ledger, case_id, "share_whereabouts")
    assert ledger.get_case(case_id).whereabouts_shareable
    assert notify(ledger, case_id)


def test_a_best_interests_decision_is_a_child_protection_officers(ledger: CaseLedger) -> None:
    case_id = located(ledger, agreed=True, date_of_birth="2012-01-01")
    with pytest.raises(InvalidField) as refused:
        decide(ledger, case_id, "share_whereabouts", actor=CASEWORKER)
    assert refused.value.field == "recorded_by.role"
    minor = ledger.report_missing_person(report(consented_purposes=PURPOSES, date_of_birth="2012-01-01"))
    with pytest.raises(RuleBroken):  # nobody located yet: nothing to decide
        decide(ledger, minor, "share_whereabouts")


def test_an_adult_who_agreed_is_shared_without_any_decision(ledger: CaseLedger) -> None:
    case_id = located(ledger, agreed=True)
    assert notify(ledger, case_id)


# ------------------------------------------------------- what the family consults


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    built = build_node(Settings(node="MX", data_dir=tmp_path, access_rules=SAMPLE_POLICY))
    yield built
    built.close()


def located_at_node(node: Node, *, agreed: bool, **person: object) -> UUID:
    staff = Actor(SHELTER, "caseworker")
    case_id = node.ledger.report_missing_person(
        report(recorded_by=staff, consented_purposes=PURPOSES, **person)
    )
    node.ledger.record_sighting(
        RecordSighting(
            **ctx(staff),
            case_id=case_id,
            seen_on="2026-02-10",
            place=Place("MX", "Huixtla"),
            source="witness",
            witness="Juan Gómez, conductor",
        )
    )
    node.ledger.record_person_located_alive(
        RecordPersonLocatedAlive(
            **ctx(staff),
            case_id=case_id,
            located_on="2026-05-20",
            place=Place("MX", "Albergue Belén, Tapachula"),
            whereabouts_may_be_shared=agreed,
        )
    )
    return case_id


def fields_of(dossier: object, event_type: str) -> dict[str, object]:
    return next(e.fields for e in dossier.entries if e.event_type == event_type)  # type: ignore[attr-defined]


def test_the_family_never_sees_where_a_located_adult_is_who_did_not_agree_nor_a_witness(node: Node) -> None:
    case_id = located_at_node(node, agreed=False)
    reading = CaseReading(node, load(SAMPLE_POLICY))
    dossier = reading.consult(case_id, FAMILY)
    assert "Albergue" not in str(dossier) and "Juan Gómez" not in str(dossier)
    assert "place" not in fields_of(dossier, "PersonLocatedAlive")
    assert fields_of(dossier, "PersonLocatedAlive")["located_on"], "that they were found, the family is told"
    assert "Huixtla" in str(dossier), "where the person was seen serves the search"
    # Another organisation of the node reads the reserved tier, never the whereabouts either;
    # the shelter that recorded the location keeps what it wrote.
    other = reading.read(case_id, Actor(PROSECUTOR, "investigator"), "search")
    assert "Albergue" not in str(other)
    assert "Albergue" in str(reading.read(case_id, Actor(SHELTER, "caseworker"), "search"))


def test_the_family_sees_where_an_adult_is_who_agreed(node: Node) -> None:
    case_id = located_at_node(node, agreed=True)
    dossier = CaseReading(node, load(SAMPLE_POLICY)).consult(case_id, FAMILY)
    assert "Albergue" in str(fields_of(dossier, "PersonLocatedAlive"))
    assert "Juan Gómez" not in str(dossier), "a witness's name is never the family's"


def test_a_located_minors_whereabouts_reach_no_reader_without_a_best_interests_decision(node: Node) -> None:
    case_id = located_at_node(node, agreed=True, date_of_birth="2012-01-01")
    reading = CaseReading(node, load(SAMPLE_POLICY))
    assert "Albergue" not in str(reading.consult(case_id, FAMILY))
    assert "Albergue" not in str(reading.read(case_id, Actor(PROSECUTOR, "investigator"), "search"))
    decide(node.ledger, case_id, "share_whereabouts")  # type: ignore[arg-type]
    assert "Albergue" in str(reading.consult(case_id, FAMILY))
    assert "the mother asked" not in str(reading.consult(case_id, FAMILY))


def test_the_api_takes_a_best_interests_decision_from_a_child_protection_officer_only(
    node: Node, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from services.http.app import create_app
    from services.tokens import TokenStore

    tokens = TokenStore(tmp_path / "api-tokens.json")
    api = TestClient(create_app(node, tokens, max_body_bytes=20_000, catch_up=True))
    case_id = located_at_node(node, agreed=True, date_of_birth="2012-01-01")
    body = {"decision": "share_whereabouts", "reason": "safe at home", "decided_by": "Lic. Ana Pérez"}

    def post(role: str) -> int:
        token, _ = tokens.issue(SHELTER, role)
        headers = {"Authorization": f"Bearer {token}", "X-Purpose": "family_support"}
        return api.post(f"/cases/{case_id}/best-interests", json=body, headers=headers).status_code

    assert post("caseworker") == 403
    assert post("child_protection_officer") == 200
    assert node.ledger.get_case(case_id).whereabouts_shareable


# ------------------------------------------- withheld from the country a person fled

HN_CONSULATE = "hn-consulado-tapachula"
CONSENTED = {
    "consented_purposes": ("search", "family_support"),
    "consent_explained_by": "Casa del Migrante: Juan Ruiz",
    "consent_language": "es",
}


def test_the_rules_withhold_a_case_from_every_reader_of_the_country_whatever_the_agreements() -> None:
    rules = load(SAMPLE_POLICY)
    on = NOW.date()
    asks = {"nationalities": ("HN",), "on": on}
    assert rules.decide(HN_CONSULATE, "MX", "common", "search", **asks)  # its agreement names its nationals
    for reader in (HN_CONSULATE, "HN", "hn-cofamipro"):
        for tier in ("public", "common"):
            decision = rules.decide_member(reader, "MX", tier, "search", withheld_from=("HN",), **asks)
            assert not decision and "HN" not in decision.reason.replace(reader, ""), "no reason gives it away"
    assert rules.decide("GT", "MX", "common", "search", withheld_from=("HN",), **asks), (
        "other countries still read"
    )
    assert HN_CONSULATE not in rules.entitled(
        "MX", "common", nationalities=("HN",), withheld_from=("HN",), on=on
    )
    assert "HN" not in rules.entitled("MX", "public", nationalities=("HN",), withheld_from=("HN",), on=on)


def granting_for(ledger: CaseLedger, nationality: str) -> Any:
    """The relay's key granting under the sample rules, every reader holding a key."""
    from ledger.crypto import MasterKey, RecipientKey, new_data_key
    from ledger.memory_key_store import MemoryKeyStore
    from services.bootstrap import readers_by_rules, withheld_readers
    from topics.avro import SchemaRegistry
    from topics.catalogue import Catalogue
    from topics.grants import Granting
    from topics.signing import NodeKey

    rules = load(SAMPLE_POLICY)
    recipients = {r: RecipientKey.generate().public for r in (*rules.organisations, *rules.jurisdictions)}
    return Granting(
        "MX",
        MemoryKeyStore(MasterKey(new_data_key())),
        SchemaRegistry(),
        Catalogue(),
        NodeKey.generate(),
        recipients,
        readers=readers_by_rules(rules),
        context=lambda aggregate_id: ((nationality,), False),
        withheld=withheld_readers(rules, ledger),
    )


def granted_to(granting: Any, aggregate_id: UUID, tier: str = "common") -> set[str]:
    key_id, _ = granting.key_for(str(aggregate_id), tier)
    messages = granting.grants_for([key_id])
    granting.granted()
    return set(granting.registry.decode(messages[0].value).record["grants"]) if messages else set()


def test_a_case_withheld_from_a_country_wraps_no_key_for_its_readers(ledger: CaseLedger) -> None:
    from ledger.protection_commands import WithholdSharing

    granting = granting_for(ledger, "HN")

    def granted(case_id: UUID) -> set[str]:
        return granted_to(granting, case_id)

    open_case = ledger.report_missing_person(report(nationalities=("HN",), **CONSENTED))
    assert HN_CONSULATE in granted(open_case)
    fled = ledger.report_missing_person(
        report(nationalities=("HN",), withheld_from_countries=("HN",), **CONSENTED)
    )
    assert granted(fled) and not granted(fled) & {HN_CONSULATE, "HN", "hn-cofamipro"}
    # Withheld later: the key rotates, and the consulate holds nothing of what comes next.
    ledger.withhold_sharing(
        WithholdSharing(**ctx(CASEWORKER), case_id=open_case, countries=("HN",), reason="asylum requested")
    )
    assert granting.key_for(str(open_case), "common")[0].endswith("/common/2")
    assert HN_CONSULATE not in granted(open_case)


def test_a_case_cannot_be_withheld_from_the_country_that_records_it(ledger: CaseLedger) -> None:
    with pytest.raises(InvalidField) as refused:
        ledger.report_missing_person(report(withheld_from_countries=("MX",), **CONSENTED))
    assert refused.value.field == "withheld_from_countries"


def test_the_consulate_of_the_country_fled_reads_lists_and_follows_nothing_of_the_case(
    node: Node, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from services.http.app import create_app
    from services.reading import ReadRefused
    from services.tokens import TokenStore

    staff = Actor(SHELTER, "caseworker")
    fled = node.ledger.report_missing_person(
        report(
            recorded_by=staff,
            given_names="Refugiada",
            nationalities=("HN",),
            withheld_from_countries=("HN",),
            **CONSENTED,
        )
    )
    other = node.ledger.report_missing_person(
        report(recorded_by=staff, given_names="Migrante", nationalities=("HN",), **CONSENTED)
    )
    reading = CaseReading(node, load(SAMPLE_POLICY))
    with pytest.raises(ReadRefused):
        reading.read(fled, Actor(HN_CONSULATE, "consular_officer"), "search")
    assert "Migrante" in str(reading.read(other, Actor(HN_CONSULATE, "consular_officer"), "search"))
    assert "Refugiada" in str(reading.read(fled, Actor(PROSECUTOR, "investigator"), "search"))

    tokens = TokenStore(tmp_path / "api-tokens.json")
    api = TestClient(create_app(node, tokens, max_body_bytes=20_000, catch_up=True))
    token, _ = tokens.issue(HN_CONSULATE, "consular_officer")
    consulate = {"Authorization": f"Bearer {token}", "X-Purpose": "search"}
    listed = api.get("/cases", headers=consulate).json()
    assert [c["case_id"] for c in listed] == [str(other)], "not even the public tier of the withheld case"
    searched = api.get("/cases", params={"q": "Refugiada", "nationality": "HN"}, headers=consulate)
    assert searched.status_code == 200 and searched.json() == [], "nor found by a search"
    assert api.get(f"/cases/{other}/candidates", headers=consulate).status_code == 200  # the control
    assert str(fled) not in api.get(f"/cases/{other}/candidates", headers=consulate).text
    assert api.get(f"/cases/{fled}", headers=consulate).status_code == 403
    assert api.get(f"/timeline/{fled}", headers=consulate).status_code == 404
    assert api.get(f"/timeline/{other}", headers=consulate).status_code == 200
    assert api.get(f"/cases/{fled}/history", headers=consulate).status_code == 404
    feed = api.get("/feed", params={"follow": "false"}, headers=consulate)
    assert str(other) in feed.text and str(fled) not in feed.text and "Refugiada" not in feed.text
    # Mexico's own organisations list it, without its names (read through the audited read only).
    token, _ = tokens.issue(PROSECUTOR, "caseworker")
    mexico = api.get("/cases", headers={"Authorization": f"Bearer {token}", "X-Purpose": "search"}).json()
    [row] = [c for c in mexico if c["case_id"] == str(fled)]
    assert row["given_names"] is None


# ------------------------------------------------------------------ explicit consent


def test_a_report_without_a_consented_purpose_shares_nothing_beyond_public(node: Node) -> None:
    case_id = node.ledger.report_missing_person(
        report(consented_purposes=(), consent_explained_by=None, consent_language=None, nationalities=("GT",))
    )
    assert not any(node.ledger.get_case(case_id).has_consent(p) for p in PURPOSES)
    node.sync("MX")
    [row] = [r for r in node.views("MX").cases() if r.case_id == str(case_id)]
    assert row.given_names is None and row.consents == ()
    from services.reading import ReadRefused

    with pytest.raises(ReadRefused) as refused:
        CaseReading(node, load(SAMPLE_POLICY)).read(case_id, Actor(PROSECUTOR, "investigator"), "search")
    assert "not consented" in refused.value.reason, "the read log keeps why; the reader is told less"


def test_consent_records_who_explained_it_and_in_which_language(ledger: CaseLedger) -> None:
    from ledger.commands import GrantConsent

    with pytest.raises(InvalidField) as refused:
        ledger.report_missing_person(report(consent_explained_by=None))
    assert refused.value.field == "consent_explained_by"
    with pytest.raises(InvalidField) as refused:
        ledger.report_missing_person(report(consent_language=None))
    assert refused.value.field == "consent_language"
    case_id = ledger.report_missing_person(report(consent_language="mam"))
    [reported] = ledger.events.get(case_id)
    assert (reported.consent_explained_by, reported.consent_language) == (
        "Comité de Familiares: Lucía Pérez",
        "mam",
    )
    grant = {"case_id": case_id, "consent_purpose": "family_support", "given_by": "Rosa Chávez, mother"}
    reporter = Actor("mx-casa-migrante-tapachula", "caseworker")  # only it grants on their behalf
    with pytest.raises(InvalidField) as refused:  # staff recording it on the family's behalf
        ledger.grant_consent(GrantConsent(**ctx(reporter), **grant, language="es"))
    assert refused.value.field == "explained_by"
    ledger.grant_consent(GrantConsent(**ctx(reporter), **grant, explained_by="Juan Ruiz", language="k'iche'"))
    granted = list(ledger.events.get(case_id))[-1]
    assert (granted.explained_by, granted.language) == ("Juan Ruiz", "k'iche'")


# ------------------------------------------------------------------------- erasure


def test_an_erasure_is_asked_by_the_person_or_the_family_member_the_case_names(ledger: CaseLedger) -> None:
    from ledger.commands import EraseData

    case_id = ledger.report_missing_person(report(**CONSENTED))  # contact: Rosa Chávez, mother
    for stranger in ("the family", "Rosa", "Juan Pérez, neighbour"):
        with pytest.raises(RuleBroken) as refused:
            ledger.erase_data(EraseData(**ctx(FAMILY), case_id=case_id, requested_by=stranger))
        assert refused.value.rule == "requested_by"
    assert not ledger.get_case(case_id).erased
    ledger.erase_data(EraseData(**ctx(FAMILY), case_id=case_id, requested_by="rosa chavez, su madre"))
    assert ledger.get_case(case_id).erased


def test_a_located_adult_gets_a_credential_of_their_own_and_asks_for_erasure_with_it(
    node: Node, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from services.http.app import create_app
    from services.tokens import TokenStore

    minor = located_at_node(node, agreed=False, date_of_birth="2012-01-01")
    with pytest.raises(RuleBroken):
        node.ledger.get_case(minor).check_own_credential()
    missing = node.ledger.report_missing_person(report(**CONSENTED))
    with pytest.raises(RuleBroken):
        node.ledger.get_case(missing).check_own_credential()
    case_id = located_at_node(node, agreed=False)
    node.ledger.get_case(case_id).check_own_credential()

    tokens = TokenStore(tmp_path / "api-tokens.json")
    token, credential = tokens.issue("María José López", "data_subject", str(case_id))
    assert credential.actor.organisation.startswith("family:"), "named on the ledger by a pseudonym"
    with pytest.raises(InvalidField):
        tokens.issue("María José López", "data_subject")  # bound to their own case
    api = TestClient(create_app(node, tokens, max_body_bytes=20_000, catch_up=True))
    own = {"Authorization": f"Bearer {token}", "X-Purpose": "family_support"}
    consulted = api.get(f"/cases/{case_id}", headers=own)
    assert consulted.status_code == 200 and "Albergue" in consulted.text, "where they are is theirs to read"
    assert "Juan Gómez" not in consulted.text
    assert api.get(f"/cases/{missing}", headers=own).status_code == 403
    erased = api.post(f"/cases/{case_id}/erasure", json={"requested_by": "anyone"}, headers=own)
    assert erased.status_code == 200, erased.text
    assert node.ledger.get_case(case_id).erased


def test_a_withheld_country_that_is_no_country_is_named(ledger: CaseLedger) -> None:
    with pytest.raises(InvalidField) as refused:
        ledger.report_missing_person(report(withheld_from_countries=("Honduras",), **CONSENTED))
    assert refused.value.field.startswith("withheld_from_countries")
    case_id = ledger.report_missing_person(report(**CONSENTED))
    from ledger.protection_commands import WithholdSharing

    with pytest.raises(InvalidField) as refused:
        ledger.withhold_sharing(WithholdSharing(**ctx(CASEWORKER), case_id=case_id, countries=(), reason="x"))
    assert refused.value.field == "countries"


def test_the_family_page_says_that_something_is_kept_to_protect_a_person(node: Node, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from services.http.app import create_app
    from services.tokens import TokenStore
    from tests.unit.test_web_hardening import SAME, form_token

    case_id = located_at_node(node, agreed=False)
    tokens = TokenStore(tmp_path / "api-tokens.json")
    token, _ = tokens.issue("Rosa Chávez, madre", "family_member", str(case_id))
    client = TestClient(create_app(node, tokens, max_body_bytes=20_000, catch_up=True))
    csrf = form_token(client, "/family/login?lang=es")
    signed_in = client.post("/family/login?lang=es", data={"token": token, "csrf": csrf}, headers=SAME)
    assert signed_in.status_code == 200, signed_in.text
    page = client.get("/family?lang=es").text
    assert "Huixtla" in page and "Albergue Belén" not in page and "Juan Gómez" not in page
    assert "para proteger a una persona" in page


def test_a_consulate_feed_never_carries_where_a_located_person_is(tmp_path: Path) -> None:
    """Even under an agreement that names the reserved tier, the feed leaves the place out."""
    from fastapi.testclient import TestClient

    from services.http.app import create_app
    from services.tokens import TokenStore

    policy = tmp_path / "rules.toml"
    policy.write_text(
        SAMPLE_POLICY.read_text().replace(
            'to = "hn-consulado-tapachula"\ntiers = ["public", "common"]',
            'to = "hn-consulado-tapachula"\ntiers = ["public", "common", "reserved"]',
        )
    )
    assert load(policy).decide(HN_CONSULATE, "MX", "reserved", "search", nationalities=("HN",), on=NOW.date())
    built = build_node(Settings(node="MX", data_dir=tmp_path / "node", access_rules=policy))
    try:
        case_id = located_at_node(built, agreed=False, nationalities=("HN",))
        tokens = TokenStore(tmp_path / "api-tokens.json")
        api = TestClient(create_app(built, tokens, max_body_bytes=20_000, catch_up=True))
        token, _ = tokens.issue(HN_CONSULATE, "consular_officer")
        feed = api.get(
            "/feed",
            params={"follow": "false"},
            headers={"Authorization": f"Bearer {token}", "X-Purpose": "search"},
        )
        assert str(case_id) in feed.text and "PersonLocatedAlive" in feed.text
        assert "Albergue" not in feed.text
    finally:
        built.close()


def test_a_case_withheld_later_leaves_every_list_and_timeline_of_its_names(node: Node) -> None:
    from ledger.protection_commands import WithholdSharing

    staff = Actor(SHELTER, "caseworker")
    case_id = node.ledger.report_missing_person(
        report(recorded_by=staff, given_names="Refugiada", nationalities=("HN",), **CONSENTED)
    )
    node.sync("MX")
    assert node.views("MX").rows([str(case_id)])[str(case_id)].given_names == "Refugiada"
    node.ledger.withhold_sharing(
        WithholdSharing(**ctx(staff), case_id=case_id, countries=("HN",), reason="asked for asylum")
    )
    node.sync("MX")
    row = node.views("MX").rows([str(case_id)])[str(case_id)]
    assert row.given_names is None and row.restricted
    assert "Refugiada" not in str(node.views("MX").timeline(str(case_id)))


def test_a_sample_of_a_withheld_case_wraps_no_key_for_that_country(ledger: CaseLedger) -> None:
    from ledger.forensic_commands import TakeSample
    from tests.factories import FORENSIC

    granting = granting_for(ledger, "GT")

    def sample_of(case_id: UUID) -> UUID:
        return ledger.take_sample(
            TakeSample(
                **ctx(FORENSIC, "forensic_identification"),
                taken_on="2026-04-05",
                sample_type="buccal_swab",
                holder="SEMEFO Chiapas",
                case_id=case_id,
                donor_relationship="mother",
                donor_consent_given_by="the donor herself",
            )
        )

    consented = {**CONSENTED, "consented_purposes": ("search", "forensic_identification")}
    open_case = ledger.report_missing_person(report(nationalities=("GT",), **consented))
    assert "gt-inacif" in granted_to(granting, sample_of(open_case), "forensic")
    fled = ledger.report_missing_person(
        report(nationalities=("GT",), withheld_from_countries=("GT",), **consented)
    )
    readers = granted_to(granting, sample_of(fled), "forensic")
    assert readers and not readers & {"gt-inacif", "GT"}
