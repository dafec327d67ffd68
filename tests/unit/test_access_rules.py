"""Access rules as data: the sample network policy loads, decides as its agreements say,
and the loader refuses contradictory or dangling rules, naming the rule."""

from __future__ import annotations

import copy
import tomllib
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from ledger.access_rules import SAMPLE_POLICY, AccessRules, RulesError, load, parse

ON = date(2026, 6, 1)
RULES = load()
RAW = tomllib.loads(SAMPLE_POLICY.read_text(encoding="utf-8"))


def decide(reader: str, origin: str, tier: str, purpose: str = "search", **facts: Any) -> Any:
    return RULES.decide(reader, origin, tier, purpose, on=facts.pop("on", ON), **facts)


def test_the_sample_network_policy_loads() -> None:
    assert isinstance(RULES, AccessRules)
    assert set(RULES.jurisdictions) == {"MX", "GT", "HN", "SV"}
    assert RULES.organisations["hn-consulado-tapachula"].represents == "HN"


def test_a_consulate_reads_the_common_tier_of_its_own_nationals_only() -> None:
    allowed = decide("hn-consulado-tapachula", "MX", "common", nationalities=["HN"])
    assert allowed and allowed.agreement == "mx-cases-to-hn-consulate"
    assert not decide("hn-consulado-tapachula", "MX", "common", nationalities=["GT"])
    assert not decide("hn-consulado-tapachula", "MX", "reserved", nationalities=["HN"])
    assert not decide("hn-consulado-tapachula", "MX", "common", "accountability", nationalities=["HN"])


def test_a_consulate_sees_a_minors_name_only_under_an_agreement_that_names_minors() -> None:
    refused = decide("hn-consulado-tapachula", "MX", "common", nationalities=["HN"], minor=True)
    assert not refused and "reserved tier" in refused.reason
    allowed = decide("gt-consulado-tapachula", "MX", "common", nationalities=["GT"], minor=True)
    assert allowed and allowed.agreement == "mx-cases-to-gt-consulate"


def test_a_forensic_service_reads_its_own_nationals_cases_abroad_only() -> None:
    """nationality_is_recipient_country: Honduras's forensic service reads Mexico's cases of
    Hondurans (children's too) for identification; a Guatemalan's case is refused (the control)."""
    fi = "forensic_identification"
    allowed = decide("hn-medicina-forense", "MX", "common", fi, nationalities=["HN"], minor=True)
    assert allowed and allowed.agreement == "mx-cases-to-hn-medicina-forense"
    assert not decide("hn-medicina-forense", "MX", "common", fi, nationalities=["GT"])
    assert not decide("hn-medicina-forense", "MX", "common", fi)
    assert not decide("hn-medicina-forense", "MX", "common", "search", nationalities=["HN"])
    assert "hn-medicina-forense" not in RULES.entitled("MX", "common", nationalities=["GT"], on=ON)
    assert "hn-medicina-forense" in RULES.entitled("MX", "common", nationalities=["HN"], on=ON)


def test_an_expired_agreement_is_refused_and_named() -> None:
    refused = decide("mx-mecanismo-externo", "HN", "reserved", "accountability", on=date(2028, 1, 1))
    assert not refused and refused.reason == "agreement hn-cases-to-mx-mechanism expired"
    assert decide("mx-mecanismo-externo", "HN", "reserved", "accountability", on=date(2027, 12, 31))


def test_forensic_and_genetic_data_reach_only_who_the_rules_name() -> None:
    assert decide("mx-semefo-chiapas", "HN", "forensic", "forensic_identification")
    assert not decide("mx-semefo-chiapas", "HN", "forensic", "search")
    assert not decide("mx-semefo-chiapas", "HN", "genetic", "forensic_identification")
    assert decide("mx-lab-genetica", "HN", "genetic", "forensic_identification")
    assert not decide("mx-fiscalia-migrantes", "HN", "forensic", "forensic_identification")


def test_the_origins_own_organisations_and_node_read_its_cases() -> None:
    assert decide("mx-casa-migrante-tapachula", "MX", "reserved")
    assert not decide("mx-casa-migrante-tapachula", "MX", "forensic", "forensic_identification")
    assert decide("mx-semefo-chiapas", "MX", "forensic", "forensic_identification")
    assert decide("mx-lab-genetica", "MX", "genetic", "forensic_identification")
    assert decide("MX", "MX", "reserved") and not decide("MX", "MX", "forensic")
    # A consulate sitting in Mexico speaks for its own country, not for Mexico.
    assert not decide("hn-consulado-tapachula", "MX", "reserved", nationalities=["HN"])


def test_nodes_and_statistics() -> None:
    assert decide("GT", "MX", "common") and not decide("GT", "MX", "reserved")
    assert not decide("GT", "HN", "common")
    assert decide("regional-observatory", "MX", "public", "statistics")
    assert not decide("regional-observatory", "MX", "common", "statistics")
    assert not decide("GT", "MX", "common", "marketing")
    assert not decide("someone-unknown", "MX", "public")


def mutated(path: str, value: Any) -> dict[str, Any]:
    """The sample rules with one value replaced; path like 'agreements.0.tiers'."""
    raw = copy.deepcopy(RAW)
    *parents, last = path.split(".")
    target: Any = raw
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if value is KeyError:
        del target[int(last) if last.isdigit() else last]
    else:
        target[int(last) if last.isdigit() else last] = value
    return raw


def index_of(table: str, identifier: str) -> int:
    return next(i for i, item in enumerate(RAW[table]) if item.get("id") == identifier)


AGREEMENT = index_of("agreements", "mx-cases-to-hn-consulate")
CONSULATE = index_of("organisations", "hn-consulado-tapachula")
SHELTER = index_of("organisations", "mx-casa-migrante-tapachula")


@pytest.mark.parametrize(
    ("path", "value", "rule", "problem"),
    [
        ("version", 2, "version", "must be 1"),
        (
            f"agreements.{AGREEMENT}.to",
            "nobody",
            "agreements[mx-cases-to-hn-consulate]",
            "neither a declared",
        ),
        (
            f"agreements.{AGREEMENT}.from",
            "BR",
            "agreements[mx-cases-to-hn-consulate]",
            "not a declared jurisdiction",
        ),
        (
            f"agreements.{AGREEMENT}.tiers",
            ["public", "genetic"],
            "agreements[mx-cases-to-hn-consulate]",
            "genetic laboratories only",
        ),
        (
            f"agreements.{AGREEMENT}.tiers",
            ["secret"],
            "agreements[mx-cases-to-hn-consulate]",
            "'secret' is not one",
        ),
        (f"agreements.{AGREEMENT}.tiers", [], "agreements[mx-cases-to-hn-consulate]", "non-empty list"),
        (
            f"agreements.{AGREEMENT}.purposes",
            ["marketing"],
            "agreements[mx-cases-to-hn-consulate]",
            "'marketing'",
        ),
        (
            f"agreements.{AGREEMENT}.purposes",
            ["statistics"],
            "agreements[mx-cases-to-hn-consulate]",
            "public tier only",
        ),
        (f"agreements.{AGREEMENT}.expires", "soon", "agreements[mx-cases-to-hn-consulate]", "must be a date"),
        (
            f"agreements.{AGREEMENT}.scope",
            "all",
            "agreements[mx-cases-to-hn-consulate]",
            "scope is not a field",
        ),
        (
            f"agreements.{AGREEMENT}.id",
            "hn-cases-to-mx-semefo",
            "agreements[hn-cases-to-mx-semefo]",
            "used twice",
        ),
        (
            f"organisations.{CONSULATE}.represents",
            KeyError,
            "organisations[hn-consulado-tapachula]",
            "must say which country",
        ),
        (
            f"organisations.{SHELTER}.represents",
            "HN",
            "organisations[mx-casa-migrante-tapachula]",
            "only a consulate",
        ),
        (
            f"organisations.{SHELTER}.kind",
            "church",
            "organisations[mx-casa-migrante-tapachula]",
            "kind: 'church'",
        ),
        (
            f"organisations.{SHELTER}.jurisdiction",
            "BR",
            "organisations[mx-casa-migrante-tapachula]",
            "not declared",
        ),
        (
            f"organisations.{SHELTER}.jurisdiction",
            "XX",
            "organisations[mx-casa-migrante-tapachula]",
            "not a known ISO 3166-1",
        ),
        ("jurisdictions.1.code", "MX", "jurisdictions[1]", "declared twice"),
        ("sharing", [], "sharing", "not a table"),
    ],
)
def test_contradictory_or_dangling_rules_are_refused_naming_the_rule(
    path: str, value: Any, rule: str, problem: str
) -> None:
    with pytest.raises(RulesError) as refused:
        parse(mutated(path, value))
    assert refused.value.rule == rule
    assert problem in refused.value.problem


def test_forensic_data_to_a_shelter_and_conditions_without_a_consulate_are_contradictions() -> None:
    forensic = mutated(f"agreements.{AGREEMENT}.to", "mx-casa-migrante-tapachula")
    forensic["agreements"][AGREEMENT]["tiers"] = ["forensic"]
    forensic["agreements"][AGREEMENT]["conditions"] = []
    with pytest.raises(RulesError, match="forensic data goes to forensic institutes"):
        parse(forensic)
    with pytest.raises(RulesError, match="needs a recipient that represents a country"):
        parse(mutated(f"agreements.{AGREEMENT}.to", "GT"))


def test_a_file_that_is_not_toml_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "rules.toml"
    broken.write_text("version = = 1")
    with pytest.raises(RulesError, match="cannot be read as TOML"):
        load(broken)


def test_a_tiers_data_key_is_granted_to_exactly_the_entitled_readers() -> None:
    common = RULES.entitled("MX", "common", nationalities=["HN"], on=ON)
    assert "hn-consulado-tapachula" in common and "gt-consulado-tapachula" not in common
    assert {"MX", "GT", "mx-casa-migrante-tapachula", "gt-inacif"} <= set(common)
    assert "regional-observatory" not in common  # statistics: public tier only
    minor = RULES.entitled("MX", "common", nationalities=["HN", "GT"], minor=True, on=ON)
    assert "gt-consulado-tapachula" in minor and "hn-consulado-tapachula" not in minor
    genetic = RULES.entitled("HN", "genetic", on=ON)
    assert set(genetic) == {"mx-lab-genetica"}
    assert RULES.entitled("HN", "genetic", on=date(2030, 1, 1)) == {}  # the agreement expired


def test_an_organisation_reads_under_its_own_agreements_and_its_nodes_but_a_consulate_only_its_own() -> None:
    def member(reader: str, origin: str, tier: str, purpose: str = "search", **facts: Any) -> Any:
        return RULES.decide_member(reader, origin, tier, purpose, on=ON, **facts)

    # Guatemala's node may read Mexican cases' names to search; so may Guatemala's organisations.
    assert not decide("gt-inacif", "MX", "common")
    inherited = member("gt-inacif", "MX", "common")
    assert inherited and inherited.agreement == "network-search-mx-gt" and "GT's node" in inherited.reason
    assert not member("gt-inacif", "MX", "reserved"), "no further than the node's agreement"
    assert not member("gt-inacif", "MX", "common", "accountability"), "nor for another purpose"
    assert (
        member("gt-inacif", "MX", "forensic", "forensic_identification").agreement == "mx-cases-to-gt-inacif"
    )
    # A consulate sitting in Mexico speaks for its own country: Mexico's agreements are not its own.
    assert decide("MX", "GT", "common")
    assert not member("hn-consulado-tapachula", "GT", "common", nationalities=["HN"])
    assert not member("hn-consulado-tapachula", "MX", "common", nationalities=["GT"])
    # Only the kinds the node's agreement names as members: not the observatory, an NGO that
    # reads statistics.
    assert not member("regional-observatory", "MX", "common")
    assert member("regional-observatory", "MX", "public", "statistics")
    # What Mexico's own organisations read of Guatemalan cases is what Mexico's node may.
    assert member("mx-casa-migrante-tapachula", "GT", "common")
    assert not member("mx-casa-migrante-tapachula", "GT", "reserved")
    assert not member("mx-casa-migrante-tapachula", "SV", "common"), "no agreement from El Salvador"


def test_members_of_an_agreement_are_kinds_of_a_nodes_organisations() -> None:
    raw = copy.deepcopy(RAW)
    by_id = {a["id"]: a for a in raw["agreements"]}
    by_id["network-search-mx-gt"]["members"] = ["consulate"]
    with pytest.raises(RulesError, match=r"agreements\[network-search-mx-gt\].*members"):
        parse(raw)
    raw = copy.deepcopy(RAW)
    {a["id"]: a for a in raw["agreements"]}["mx-cases-to-gt-inacif"]["members"] = ["shelter"]
    with pytest.raises(RulesError, match="to must be a jurisdiction"):
        parse(raw)
    raw = copy.deepcopy(RAW)
    for agreement in raw["agreements"]:
        agreement.pop("members", None)
    node_only = parse(raw)
    assert not node_only.decide_member("gt-inacif", "MX", "common", "search", on=ON), (
        "by default the node alone"
    )
    assert node_only.decide("GT", "MX", "common", "search", on=ON)
