"""AM/PM candidates end to end at an embedded node (bench/linkage.py --only remains --node):
the synthetic reports and remains recorded through the ledger, relayed and projected, then
the batch run a forensic expert asks for (read the log, open the records, rank every remains,
record each case read, propose the pairs at the threshold), beside the naive matcher on the
same records in memory."""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.corpus import Corpus
from bench.corpus_remains import Remains, case_record
from ledger.commands import Actor, AddComprehensiveData, ReportMissingPerson
from ledger.forensic_commands import RecordPostMortem, RecordRemainsRecovered
from ledger.values import AgeRange, Coordinates, Effect, FoundDocument, Mark, MedicalFinding, Place, Tooth
from services.bootstrap import build_node
from services.candidates_am_pm import AmPmCandidates
from services.settings import Settings

EXPERT = Actor("Servicio Médico Forense", "forensic_expert")
FAMILIES = Actor("Comité de Familiares", "caseworker")
PURPOSE = "forensic_identification"


def _ctx(actor: Actor) -> dict[str, Any]:
    return {"command_id": str(uuid.uuid4()), "recorded_by": actor, "purpose": PURPOSE}


def _range(value: Any) -> tuple[int, int] | None:
    return (int(value["minimum"]), int(value["maximum"])) if value else None


def _place(place: dict[str, Any]) -> Place:
    found = place.get("coordinates")
    where = Coordinates(found["latitude"], found["longitude"]) if found else None
    return Place(country=place["country"], place=place.get("place"), coordinates=where)


def _details(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "stature_cm": _range(data.get("stature_cm")),
        "build": data.get("build"),
        "hair": data.get("hair"),
        "eyes": data.get("eyes"),
        "body_marks": tuple(
            Mark(m["kind"], m["body_site"], m.get("description")) for m in data["body_marks"]
        ),
        "teeth": tuple(Tooth(t["tooth"], t["condition"]) for t in data["teeth"]),
        "effects": tuple(
            Effect(e["category"], e.get("colour"), e.get("brand"), e.get("text")) for e in data["effects"]
        ),
        "medical_findings": tuple(
            MedicalFinding(f["kind"], f.get("body_site"), f.get("description"), f.get("serial"))
            for f in data["medical_findings"]
        ),
    }


def _report(record: dict[str, Any]) -> ReportMissingPerson:
    person, seen = record["person"], record["last_seen"]
    ages = person.get("age_range")
    where = seen.get("coordinates")
    return ReportMissingPerson(
        **_ctx(FAMILIES),
        given_names=person["given_names"],
        first_surname=person["first_surname"],
        second_surname=person.get("second_surname"),
        sex=person["sex"],
        nationalities=tuple(person["nationalities"]),
        date_of_birth=person.get("date_of_birth"),
        age_range=AgeRange(ages["minimum"], ages["maximum"]) if ages else None,
        last_seen_date=seen["date"],
        last_seen_country=seen["country"],
        last_seen_place=seen.get("place"),
        last_seen_coordinates=Coordinates(where["latitude"], where["longitude"]) if where else None,
        route=seen.get("route"),
        consented_purposes=(PURPOSE,),
        consent_explained_by="Comité de Familiares: Lucía Pérez",
        consent_language="es",
    )


def bench_node(
    corpus: Corpus,
    found: list[Remains],
    seed: int,
    naive: Callable[[], list[list[str]]],
    quality: Callable[[list[list[str]]], tuple[float, float, float]],
    threshold: float = 0.9,
) -> None:
    """Record everything at a fresh embedded node, then time the batch run beside naive()."""
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(node="MX", data_dir=Path(folder), match_threshold=threshold)
        # The synthetic corpus runs into the coming years: the ledger's clock is set after it.
        node = build_node(settings, clock=lambda: datetime(2031, 1, 1, tzinfo=UTC))
        try:
            started = time.perf_counter()
            ids: dict[str, str] = {}
            for report in corpus.reports:
                record = case_record(report, seed)
                case_id = node.ledger.report_missing_person(_report(record))
                ids[str(case_id)] = report.id
                for data in record["ante_mortem"]:
                    details = _details(data)
                    if any(details.values()):  # a family that could describe nothing adds nothing
                        node.ledger.add_comprehensive_data(
                            AddComprehensiveData(**_ctx(FAMILIES), case_id=case_id, **details)
                        )
            remains_ids: dict[str, str] = {}
            for remains in found:
                recovered = remains.recovered
                remains_id = node.ledger.record_remains_recovered(
                    RecordRemainsRecovered(
                        **_ctx(EXPERT),
                        recovered_on=recovered["recovered_on"],
                        place=_place(recovered["place"]),
                        context="other",
                    )
                )
                remains_ids[str(remains_id)] = remains.id
                pm = remains.post_mortem
                ages = pm.get("age_range")
                node.ledger.record_post_mortem(
                    RecordPostMortem(
                        **_ctx(EXPERT),
                        remains_id=remains_id,
                        sex=pm["sex"],
                        condition=pm["condition"],
                        age_range=AgeRange(ages["minimum"], ages["maximum"]) if ages else None,
                        time_since_death_days=_range(pm.get("time_since_death_days")),
                        documents_found=tuple(
                            FoundDocument(d["kind"], d["name"], d.get("number"), d.get("issuing_country"))
                            for d in pm["documents_found"]
                        ),
                        **_details(pm),
                    )
                )
            node.sync("MX")
            recorded = time.perf_counter() - started
            started = time.perf_counter()
            batch = AmPmCandidates(node, None).batch("MX", EXPERT, PURPOSE, 0.0, "cli")
            ours_t = time.perf_counter() - started
            started = time.perf_counter()
            baseline = naive()
            naive_t = time.perf_counter() - started
            ranked: dict[str, list[str]] = {}
            for candidate in batch:  # best first within each remains
                ranked.setdefault(remains_ids[candidate.left], []).append(ids[candidate.right])
            ours = [ranked.get(r.id, []) for r in found]
            proposed = sum(c.score >= threshold for c in batch)
        finally:
            node.close()
    at1, at10, mrr = quality(ours)
    bat1, bat10, bmrr = quality(baseline)
    print(f"  end to end at an embedded node: recorded, relayed and projected in {recorded:.1f} s")
    print(
        f"    batch run (log, open, rank, reads recorded, {proposed:,} proposed): {ours_t:.1f} s "
        f"recall@1 {at1:.3f} recall@10 {at10:.3f} MRR {mrr:.3f}"
    )
    print(
        f"    naive sex and age, in memory: {naive_t:.1f} s recall@1 {bat1:.3f} recall@10 {bat10:.3f} "
        f"MRR {bmrr:.3f}; time ratio {ours_t / max(naive_t, 1e-9):.1f}"
    )
