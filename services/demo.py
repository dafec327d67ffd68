"""`caseledger demo`: a three-country story on the embedded default, told step by step, with
each country's view printed side by side at the end.

A family in Honduras reports their son missing in Mexico, through the Mexican mechanism that
takes reports from families abroad; a shelter in Mexico records a sighting; a forensic
institute in Chiapas records remains; a bone sample and a reference sample from the mother (taken
in Honduras) go to a genetics laboratory; a match is proposed and confirmed; the consulate of
Honduras tells the family, and its feed shows what its agreement allows. Meanwhile a family in
Guatemala reports a daughter missing; she is found alive, and asks that her data be erased.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ledger.access_rules import SAMPLE_POLICY
from ledger.access_rules import load as load_rules
from ledger.commands import (
    Actor,
    ConfirmIdentification,
    EraseData,
    NotifyFamily,
    RecordPersonLocatedAlive,
    RecordSighting,
    ReportMissingPerson,
)
from ledger.course_commands import PlanNotification
from ledger.forensic_commands import (
    ProposeMatch,
    RecordPostMortem,
    RecordProfile,
    RecordRemainsRecovered,
    ReviewMatch,
    TakeSample,
    TransferSample,
)
from ledger.values import AgeRange, FamilyContact, Place, TeamMember
from services.bootstrap import Node, build_node, public_keys
from services.feed import ConsularFeed
from services.settings import Settings

__all__ = [
    "CONSULATE",
    "COUNTRIES",
    "FI",
    "GT_FAMILY_GROUP",
    "HN_FORENSIC",
    "LAB",
    "MECHANISM",
    "SEMEFO",
    "SHELTER",
    "Network",
    "network",
    "play",
    "side_by_side",
]

COUNTRIES = ("MX", "GT", "HN")

MECHANISM = Actor("mx-mecanismo-externo", "caseworker")
SHELTER = Actor("mx-casa-migrante-tapachula", "caseworker")
SEMEFO = Actor("mx-semefo-chiapas", "forensic_expert")
LAB = Actor("mx-lab-genetica", "geneticist")
HN_FORENSIC = Actor("hn-medicina-forense", "forensic_expert")
CONSULATE = Actor("hn-consulado-tapachula", "consular_officer")
GT_FAMILY_GROUP = Actor("gt-famidegua", "caseworker")
FI = "forensic_identification"


@dataclass
class Network:
    nodes: dict[str, Node]

    def sync(self) -> None:
        """Every node publishes, then every node brings its own view up to date."""
        for node in self.nodes.values():
            node.relay.run_once()
        for country, node in self.nodes.items():
            node.projector(country).run_once()

    def close(self) -> None:
        for node in self.nodes.values():
            node.close()


def network(directory: Path) -> Network:
    """Three embedded nodes sharing one log, each with its keys, all named in one registry."""
    keys = directory / "keys"
    registry = keys / "nodes.json"
    settings = {
        country: Settings(
            node=country,
            data_dir=directory,
            node_key=keys / f"{country}.key",
            recipient_key=keys / f"{country}.x25519",
            key_registry=registry,
            access_rules=SAMPLE_POLICY,
        )
        for country in COUNTRIES
    }
    entries = {country: public_keys(s) for country, s in settings.items()}
    registry.write_text(json.dumps(entries, indent=2, sort_keys=True))
    return Network({country: build_node(s) for country, s in settings.items()})


def _ctx(actor: Actor, purpose: str = "search") -> dict[str, Any]:
    return {"command_id": f"demo:{uuid.uuid4()}", "recorded_by": actor, "purpose": purpose}


def play(directory: Path, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Tell the story on a fresh network in `directory`; return the ids it made."""
    # The sample rules name organisations that have no X25519 key in this demo's registry: the
    # relay's warning about each is right in a real network and noise here.
    logging.getLogger("topics.grants").setLevel(logging.ERROR)
    net = network(directory)
    try:
        step = _Steps(say)
        son = _kevin_reported(net, step)
        remains, bone = _remains_examined(net, step)
        _samples_profiled(net, son, bone, step)
        match = _identified_and_told(net, son, remains, step)
        daughter, before = _ana_found_and_erased(net, son, step)
        feed = _views_and_feed(net, {"Kevin (HN→MX)": son, "Ana Lucía (GT)": daughter}, before, say)
        return {"son": son, "daughter": daughter, "remains": remains, "match": match, "feed": feed}
    finally:
        net.close()


def _kevin_reported(net: Network, step: _Steps) -> uuid.UUID:
    """Kevin's mother reports him at MX's node; a shelter saw him."""
    mx = net.nodes["MX"]
    son = mx.ledger.report_missing_person(
        ReportMissingPerson(
            **_ctx(MECHANISM),
            given_names="Kevin Alexander",
            first_surname="Mejía",
            second_surname="Rivera",
            sex="male",
            date_of_birth="2002-05-19",
            nationalities=("HN",),
            last_seen_date="2026-01-15",
            last_seen_country="MX",
            last_seen_place="Tapachula, Chiapas",
            route="San Pedro Sula – Tecún Umán – Tapachula",
            family_contacts=(FamilyContact("Gloria Rivera", "mother", phone="+504 5555 0142"),),
            source="family",
            consented_purposes=("search", FI, "family_support"),
            consent_explained_by="COFAMIPRO: Lucía Pérez",
            consent_language="es",
        )
    )
    step("HN→MX", "Gloria, in San Pedro Sula, reports her son Kevin missing in Mexico (MX node)")
    mx.ledger.record_sighting(
        RecordSighting(
            **_ctx(SHELTER),
            case_id=son,
            seen_on="2026-02-02",
            place=Place("MX", "Arriaga, Chiapas"),
            source="shelter",
            source_reliability="high",
            description="stayed two nights at the shelter",
        )
    )
    step("MX", "The shelter in Tapachula records that he stayed in Arriaga on 2 February")
    return son


def _remains_examined(net: Network, step: _Steps) -> tuple[uuid.UUID, uuid.UUID]:
    """Remains found and examined in Mexico; a bone sample sent to the laboratory."""
    mx = net.nodes["MX"]
    remains = mx.ledger.record_remains_recovered(
        RecordRemainsRecovered(
            **_ctx(SEMEFO, FI),
            recovered_on="2026-04-10",
            place=Place("MX", "Las Palmas, Chiapas"),
            context="railway",
        )
    )
    mx.ledger.record_post_mortem(
        RecordPostMortem(
            **_ctx(SEMEFO, FI),
            remains_id=remains,
            sex="male",
            condition="decomposed",
            age_range=AgeRange(18, 30),
        )
    )
    step(
        "MX",
        "The forensic institute of Chiapas records remains found by the railway, and their examination",
    )
    bone = mx.ledger.take_sample(
        TakeSample(
            **_ctx(SEMEFO, FI),
            taken_on="2026-04-11",
            sample_type="bone",
            holder="SEMEFO Chiapas",
            remains_id=remains,
        )
    )
    mx.ledger.transfer_sample(
        TransferSample(
            **_ctx(SEMEFO, FI),
            sample_id=bone,
            from_holder="SEMEFO Chiapas",
            to_holder="Laboratorio de Genética, CDMX",
            reason="DNA analysis",
        )
    )
    return remains, bone


def _samples_profiled(net: Network, son: uuid.UUID, bone: uuid.UUID, step: _Steps) -> None:
    """The mother's reference sample, taken in Honduras, and the bone sample reach the
    laboratory and are profiled."""
    mx, hn = net.nodes["MX"], net.nodes["HN"]
    net.sync()  # Honduras's node learns of the case it takes a reference sample for
    mother = hn.ledger.take_sample(
        TakeSample(
            **_ctx(HN_FORENSIC, FI),
            taken_on="2026-04-20",
            sample_type="buccal_swab",
            holder="Medicina Forense, Tegucigalpa",
            case_id=son,
            donor_relationship="mother",
            donor_consent_given_by="the donor herself",
        )
    )
    hn.ledger.transfer_sample(
        TransferSample(
            **_ctx(HN_FORENSIC, FI),
            sample_id=mother,
            from_holder="Medicina Forense, Tegucigalpa",
            to_holder="Laboratorio de Genética, CDMX",
            reason="comparison with remains in Mexico",
        )
    )
    for node, sample in ((mx, bone), (hn, mother)):
        node.ledger.record_profile(
            RecordProfile(
                **_ctx(LAB, FI),
                sample_id=sample,
                laboratory="LGF-CDMX",
                kind="autosomal_str",
                profile="(a profile)",
            )
        )
    step(
        "MX+HN",
        "A bone sample and a reference sample from Gloria (taken in Honduras) reach the laboratory",
    )


def _identified_and_told(net: Network, son: uuid.UUID, remains: uuid.UUID, step: _Steps) -> uuid.UUID:
    """The laboratory proposes, the forensic institute confirms; the consulate tells the family."""
    mx = net.nodes["MX"]
    match = mx.ledger.propose_match(
        ProposeMatch(
            **_ctx(LAB, FI), case_id=son, remains_id=remains, basis="dna", score=0.99998, by_matcher=True
        )
    )
    # Two people: the laboratory proposes, the forensic institute confirms.
    mx.ledger.review_match(ReviewMatch(**_ctx(SEMEFO, FI), match_id=match, outcome="confirmed"))
    mx.ledger.confirm_identification(ConfirmIdentification(**_ctx(SEMEFO, FI), case_id=son, match_id=match))
    step("MX", "A match is proposed, reviewed and confirmed: the remains are identified")
    mx.ledger.plan_notification(
        PlanNotification(
            **_ctx(CONSULATE, "family_support"),
            case_id=son,
            planned_on=date.today().isoformat(),
            team=(
                TeamMember("Cónsul de Honduras", "consular_officer"),
                TeamMember("SEMEFO", "forensic_expert"),
            ),
            contact="Gloria Rivera",
            language="es",
            place="Consulado de Honduras en Tapachula",
            report_copy_handed_over=True,
        )
    )
    mx.ledger.notify_family(
        NotifyFamily(
            **_ctx(CONSULATE, "family_support"),
            case_id=son,
            means="through_consulate",
            report_reference="SEMEFO-CHIS-2026-0311",
        )
    )
    step("MX", "The consulate of Honduras in Tapachula tells the family")

    return match


def _ana_found_and_erased(net: Network, son: uuid.UUID, step: _Steps) -> tuple[uuid.UUID, str]:
    """Ana Lucía reported at GT's node, found alive, her data erased at her request; with the
    views as they were before the erasure."""
    gt = net.nodes["GT"]
    daughter = gt.ledger.report_missing_person(
        ReportMissingPerson(
            **_ctx(GT_FAMILY_GROUP),
            given_names="Ana Lucía",
            first_surname="Pérez",
            sex="female",
            date_of_birth="1998-09-03",
            nationalities=("GT",),
            last_seen_date="2026-03-01",
            last_seen_country="MX",
            last_seen_place="Ciudad Hidalgo, Chiapas",
            consented_purposes=("search",),
            consent_explained_by="Casa del Migrante: Juan Ruiz",
            consent_language="es",
        )
    )
    step("GT", "A family in Guatemala reports Ana Lucía missing in Mexico (GT node)")
    net.sync()
    before = side_by_side(net, {"Kevin (HN→MX)": son, "Ana Lucía (GT)": daughter})
    gt.ledger.record_person_located_alive(
        RecordPersonLocatedAlive(
            **_ctx(GT_FAMILY_GROUP),
            case_id=daughter,
            located_on="2026-05-02",
            place=Place("US"),
            whereabouts_may_be_shared=False,
        )
    )
    gt.ledger.erase_data(
        EraseData(
            # Her own credential, once located: the ledger names her by a pseudonym only.
            **_ctx(Actor("family:5e1f0c9a2b47", "data_subject"), "family_support"),
            case_id=daughter,
            requested_by="Ana Lucía herself",
        )
    )
    step("GT", "Ana Lucía is found alive in the United States, and asks that her data be erased")
    net.sync()

    return daughter, before


def _views_and_feed(
    net: Network, cases: dict[str, uuid.UUID], before: str, say: Callable[[str], None]
) -> Any:
    """Each country's view before and after the erasure, and the consulate's feed."""
    mx = net.nodes["MX"]
    say("")
    say("Each country's view before the erasure:")
    say(before)
    say("")
    say("And after it (her keys destroyed at every node, her rows purged):")
    say(side_by_side(net, cases))
    feed, _ = ConsularFeed(mx, load_rules(SAMPLE_POLICY), CONSULATE.organisation, "family_support").read()
    say("")
    say(f"The feed of {CONSULATE.organisation} (its nationals, as its agreement allows):")
    for item in feed:
        person = item.fields.get("person")
        name = (
            f"  {person.get('given_names')}" if isinstance(person, dict) and person.get("given_names") else ""
        )
        say(f"  {item.event_type:<24} case {item.aggregate_id[:8]}  tiers {', '.join(item.tiers)}{name}")
    return feed


class _Steps:
    def __init__(self, say: Callable[[str], None]) -> None:
        self.say, self.n = say, 0

    def __call__(self, where: str, what: str) -> None:
        self.n += 1
        self.say(f"{self.n:>2}. [{where}] {what}")


def side_by_side(net: Network, cases: dict[str, uuid.UUID]) -> str:
    """One line per case, one column per country's view: the name it shows (or "restricted"),
    and the status; then what each view holds of remains and matches."""
    width = 40
    lines = ["".ljust(16) + "".join(f"view of {c}".ljust(width) for c in COUNTRIES)]
    for label, case_id in cases.items():
        cells = []
        for country in COUNTRIES:
            row = net.nodes[country].views(country).rows([str(case_id)]).get(str(case_id))
            if row is None:
                cells.append("(not in this view)")
            else:
                name = row.given_names or "(restricted)"
                cells.append(f"{name}, {row.status}")
        lines.append(label.ljust(16) + "".join(cell[: width - 2].ljust(width) for cell in cells))
    for kind, label in (("UnidentifiedRemains", "remains"), ("Match", "matches")):
        cells = []
        for country in COUNTRIES:
            rows = net.nodes[country].views(country).forensic(kind)
            cells.append(", ".join(r.status for r in rows) or "none")
        lines.append(label.ljust(16) + "".join(cell[: width - 2].ljust(width) for cell in cells))
    return "\n".join(lines)
