"""A legal basis besides consent (issue 16, item 2): the rules give an organisation a purpose by
mandate; its reads for it need no consent of the family, are always recorded naming the
mandate, and the family's page shows them so. And every read of a case's data by others is
recorded, the common tier included."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger.access_rules import SAMPLE_POLICY, RulesError, load, parse
from ledger.commands import Actor, WithdrawConsent
from services.bootstrap import Node, build_node
from services.http.pages.family_view import Words
from services.reading import MANDATE_REASON, CaseReading, ReadRefused
from services.settings import Settings
from tests.factories import FAMILY, ctx, report

MECHANISM = Actor("mx-mecanismo-externo", "commissioner")
SEARCH_COMMISSION = Actor("mx-busqueda-nacional", "commissioner")  # a commission without a mandate
CONSULATE = Actor("gt-consulado-tapachula", "consular_officer")
RAW = tomllib.loads(SAMPLE_POLICY.read_text(encoding="utf-8"))


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    built = build_node(Settings(node="MX", data_dir=tmp_path, access_rules=SAMPLE_POLICY))
    yield built
    built.close()


def with_mandates(*mandates: dict[str, Any]) -> dict[str, Any]:
    raw = copy.deepcopy(RAW)
    raw["mandates"] = list(mandates)
    return raw


def test_the_sample_policy_gives_the_mechanism_an_accountability_mandate() -> None:
    rules = load()
    mandate = rules.mandate("mx-mecanismo-externo", "accountability")
    assert mandate is not None and "A/117/15" in mandate.name
    assert rules.mandate("mx-mecanismo-externo", "search") is None, "for that purpose only"
    assert rules.mandate("mx-busqueda-nacional", "accountability") is None, "that organisation only"


@pytest.mark.parametrize(
    ("mandate", "problem"),
    [
        (
            {"organisation": "nobody", "purposes": ["accountability"], "name": "x"},
            "not a declared organisation",
        ),
        (
            {"organisation": "regional-observatory", "purposes": ["accountability"], "name": "x"},
            "ngo holds no",
        ),
        (
            {"organisation": "hn-consulado-tapachula", "purposes": ["search"], "name": "x"},
            "consulate holds no",
        ),
        ({"organisation": "mx-fiscalia-migrantes", "purposes": ["statistics"], "name": "x"}, "statistics"),
        ({"organisation": "mx-fiscalia-migrantes", "purposes": ["revenge"], "name": "x"}, "purposes"),
        ({"organisation": "mx-fiscalia-migrantes", "purposes": ["accountability"]}, "name"),
        (
            {"organisation": "mx-fiscalia-migrantes", "purposes": ["search"], "name": "x", "tiers": []},
            "tiers",
        ),
    ],
)
def test_the_loader_refuses_a_mandate_that_cannot_be(mandate: dict[str, Any], problem: str) -> None:
    with pytest.raises(RulesError) as refused:
        parse(with_mandates(mandate))
    assert problem in str(refused.value) and "mandates[" in str(refused.value)


def test_a_prosecutor_may_hold_a_mandate() -> None:
    rules = parse(
        with_mandates({"organisation": "mx-fiscalia-migrantes", "purposes": ["search"], "name": "Ley"})
    )
    assert rules.mandate("mx-fiscalia-migrantes", "search") is not None


def withdrawn_accountability(node: Node) -> Any:
    case_id = node.ledger.report_missing_person(
        report(consented_purposes=("search", "accountability"), nationalities=("GT",))
    )
    node.ledger.withdraw_consent(
        WithdrawConsent(**ctx(FAMILY), case_id=case_id, consent_purpose="accountability", withdrawn_by="Rosa")
    )
    return case_id


def test_a_read_by_mandate_needs_no_consent_and_is_recorded_naming_it(node: Node) -> None:
    reading = CaseReading(node, load())
    case_id = withdrawn_accountability(node)
    dossier = reading.read(case_id, MECHANISM, "accountability", interface="http")
    assert "common" in dossier.tiers and any(e.fields.get("person") for e in dossier.entries)
    (read,) = [
        r for r in node.ledger.reads_of(case_id) if r.recorded_by["organisation"] == MECHANISM.organisation
    ]
    assert read.outcome == "granted" and read.reason.startswith(MANDATE_REASON) and "A/117/15" in read.reason


def test_the_check_catches_a_read_without_consent_or_mandate(node: Node) -> None:
    reading = CaseReading(node, load())
    case_id = withdrawn_accountability(node)
    with pytest.raises(ReadRefused):
        reading.read(case_id, SEARCH_COMMISSION, "accountability")  # the same kind, no mandate
    node.ledger.withdraw_consent(
        WithdrawConsent(**ctx(FAMILY), case_id=case_id, consent_purpose="search", withdrawn_by="Rosa")
    )
    with pytest.raises(ReadRefused):
        reading.read(case_id, MECHANISM, "search")  # the mandate is for accountability only
    refused = [r for r in node.ledger.reads_of(case_id) if r.outcome == "refused"]
    assert len(refused) == 2 and not any(r.reason.startswith(MANDATE_REASON) for r in refused)


def test_a_read_of_the_common_tier_is_recorded_for_the_family(node: Node) -> None:
    reading = CaseReading(node, load())
    case_id = node.ledger.report_missing_person(report(consented_purposes=("search",), nationalities=("GT",)))
    dossier = reading.read(case_id, CONSULATE, "search")
    assert dossier.tiers == ("common",), "the consulate reads its national's common tier only"
    (read,) = node.ledger.reads_of(case_id)
    assert tuple(read.tiers) == ("common",) and read.recorded_by["organisation"] == CONSULATE.organisation


def test_the_family_page_names_the_mandate_and_folds_its_own_visits(node: Node) -> None:
    rules = load()
    reading = CaseReading(node, rules)
    case_id = withdrawn_accountability(node)
    reading.read(case_id, MECHANISM, "accountability")
    for _ in range(3):
        dossier = reading.consult(case_id, Actor("family:0123456789ab", "family_member"))
    for lang, word in (("es", "veces"), ("en", "times")):
        others, own = Words(lang, rules).reads(dossier)
        assert len(others) == 1, "the family's own visits do not flood the list"
        assert others[0].who == "Mecanismo de Apoyo Exterior de Búsqueda e Investigación"
        assert others[0].mandate is not None and "A/117/15" in others[0].mandate
        assert own is not None and "3" in own and word in own
        assert any("A/117/15" in line for line in Words(lang, rules).mandates())
