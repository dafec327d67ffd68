"""Staff never overturn the family: a consent the family withdrew is given again by the family
only, and staff grant on its behalf only from the organisation that reported the case, in
plain sight of the family's page."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from ledger.access_rules import SAMPLE_POLICY
from ledger.application import CaseLedger
from ledger.commands import Actor, GrantConsent, WithdrawConsent
from ledger.errors import NotOnBehalf
from services.bootstrap import build_node
from services.http.app import create_app
from services.settings import Settings
from services.tokens import TokenStore
from tests.factories import FAMILY, ctx, report
from tests.unit.test_web_hardening import SAME, form_token

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
REPORTER = Actor("mx-casa-migrante-tapachula", "caseworker")  # the factory's report
ELSEWHERE = Actor("mx-fiscalia-migrantes", "caseworker")


@pytest.fixture
def ledger() -> CaseLedger:
    return CaseLedger("MX", env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=lambda: NOW)


def grant(ledger: CaseLedger, actor: Actor, case_id: UUID, purpose: str) -> int:
    return ledger.grant_consent(
        GrantConsent(
            **ctx(actor),
            case_id=case_id,
            consent_purpose=purpose,
            given_by="la madre",
            explained_by="Comité de Familiares: Lucía Pérez",
            language="es",
        )
    )


def test_after_the_family_withdrew_only_the_family_gives_consent_again(ledger: CaseLedger) -> None:
    case_id = ledger.report_missing_person(report(consented_purposes=("search", "family_support")))
    ledger.withdraw_consent(
        WithdrawConsent(**ctx(FAMILY), case_id=case_id, consent_purpose="search", withdrawn_by="la madre")
    )
    for staff in (REPORTER, ELSEWHERE, Actor("mx-casa-migrante-tapachula", "node_operator")):
        with pytest.raises(NotOnBehalf, match="only the family"):
            grant(ledger, staff, case_id, "search")
    assert not ledger.get_case(case_id).has_consent("search"), "nothing was written"
    grant(ledger, FAMILY, case_id, "search")
    assert ledger.get_case(case_id).has_consent("search")


def test_staff_grant_on_the_familys_behalf_only_from_the_reporting_organisation(
    ledger: CaseLedger,
) -> None:
    case_id = ledger.report_missing_person(report())
    with pytest.raises(NotOnBehalf, match="organisation that reported"):
        grant(ledger, ELSEWHERE, case_id, "accountability")
    grant(ledger, REPORTER, case_id, "accountability")
    case = ledger.get_case(case_id)
    assert case.has_consent("accountability")
    assert case.consents_on_behalf == {"accountability": REPORTER.organisation}
    # A staff withdrawal is not the family's: the reporting organisation may grant again.
    ledger.withdraw_consent(
        WithdrawConsent(
            **ctx(REPORTER), case_id=case_id, consent_purpose="accountability", withdrawn_by="la madre"
        )
    )
    grant(ledger, REPORTER, case_id, "accountability")


REPORT = {
    "given_names": "Yesenia",
    "first_surname": "Cruz",
    "sex": "female",
    "nationalities": ["HN"],
    "date_of_birth": "1994-10-10",
    "last_seen_date": "2026-05-05",
    "last_seen_country": "MX",
    "consented_purposes": ["search", "forensic_identification"],
    "consent_explained_by": "Fiscalía: Ana Ruiz",
    "consent_language": "es",
}


def test_the_api_refuses_staff_overturning_a_withdrawal_and_the_family_sees_grants_on_its_behalf(
    tmp_path: Path,
) -> None:
    node = build_node(Settings(node="MX", data_dir=tmp_path, access_rules=SAMPLE_POLICY))
    tokens = TokenStore(tmp_path / "api-tokens.json")
    api = TestClient(create_app(node, tokens, catch_up=True))

    def bearer(organisation: str, role: str, case_id: str | None = None) -> dict[str, str]:
        token, _ = tokens.issue(organisation, role, case_id)
        return {"Authorization": f"Bearer {token}", "X-Purpose": "family_support"}

    try:
        staff = bearer("mx-fiscalia-migrantes", "caseworker")
        case_id = api.post("/cases", json=REPORT, headers={**staff, "X-Purpose": "search"}).json()["id"]
        family_token, _ = tokens.issue("Rosa Cruz, madre", "family_member", case_id)
        family = {"Authorization": f"Bearer {family_token}", "X-Purpose": "family_support"}
        withdrawal = {"consent_purpose": "forensic_identification", "withdrawn_by": "Rosa"}
        done = api.post(f"/cases/{case_id}/consent-withdrawals", json=withdrawal, headers=family)
        assert done.status_code == 200, done.text
        explained = {"explained_by": "Fiscalía: Ana Ruiz", "language": "es"}
        again = {"consent_purpose": "forensic_identification", "given_by": "Rosa Cruz, madre", **explained}
        overturned = api.post(f"/cases/{case_id}/consents", json=again, headers=staff)
        assert overturned.status_code == 403, overturned.text
        assert [e["loc"] for e in overturned.json()["detail"]] == [["body", "consent_purpose"]]
        assert not node.ledger.get_case(UUID(case_id)).has_consent("forensic_identification")

        other = bearer("mx-casa-migrante-tapachula", "caseworker")  # not the reporting organisation
        behalf = {"consent_purpose": "accountability", "given_by": "the family", **explained}
        assert api.post(f"/cases/{case_id}/consents", json=behalf, headers=other).status_code == 403
        assert api.post(f"/cases/{case_id}/consents", json=behalf, headers=staff).status_code == 200

        csrf = form_token(api, "/family/login?lang=en")
        signed_in = api.post(
            "/family/login?lang=en",
            data={"token": family_token, "csrf": csrf},
            headers=SAME,
            follow_redirects=True,
        )
        assert signed_in.status_code == 200, signed_in.text
        shown = signed_in.text
        assert 'id="on-behalf-accountability"' in shown and "Given on your behalf by" in shown
        # The organisation by its name in the rules, not its id (no codes on a family's page).
        assert "Unidad de Investigación de Delitos para Personas Migrantes" in shown
        assert "mx-fiscalia-migrantes" not in shown and 'id="on-behalf-search"' not in shown
        by_family = {"consent_purpose": "forensic_identification", "given_by": "Rosa Cruz, madre"}
        assert api.post(f"/cases/{case_id}/consents", json=by_family, headers=family).status_code == 200
    finally:
        node.close()
