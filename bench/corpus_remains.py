"""Unidentified remains for the synthetic corpus of bench/corpus.py, and what the families said
of each reported person, in the ledger's own shapes (CaseReported, ComprehensiveDataAdded,
RemainsRecovered, PostMortemRecorded) so the matcher is measured through its real interface.

Each person gets a body (stature, build, hair, eyes, marks, teeth, clothes and effects) and a
place on the migrant route (Guatemala, Mexico, the United States border). A family knows part
of it and says it with some error; an examination sees what the remains' condition allows
(skin marks are gone from skeletonised remains; sex and age are estimated, sometimes
undetermined); remains lie along the route after the person was last seen, sometimes years
later. Some remains are of people nobody reported.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from bench.corpus import Corpus, Report, _noisy, _person
from ledger.vocabulary import BODY_SITES, CLOTHING_CATEGORIES, COLOURS, EFFECT_CATEGORIES

WAYPOINTS = (
    ("Tecún Umán", "GT", 14.68, -92.14), ("Ciudad de Guatemala", "GT", 14.63, -90.51),
    ("El Ceibo", "GT", 17.26, -90.99), ("Tapachula", "MX", 14.90, -92.26),
    ("Arriaga", "MX", 16.24, -93.90), ("Ixtepec", "MX", 16.56, -95.10),
    ("Tenosique", "MX", 17.47, -91.42), ("Palenque", "MX", 17.51, -91.98),
    ("Coatzacoalcos", "MX", 18.15, -94.43), ("Veracruz", "MX", 19.17, -96.13),
    ("Orizaba", "MX", 18.85, -97.10), ("Ciudad de México", "MX", 19.43, -99.13),
    ("Celaya", "MX", 20.52, -100.81), ("San Luis Potosí", "MX", 22.15, -100.98),
    ("Monterrey", "MX", 25.69, -100.32), ("Reynosa", "MX", 26.09, -98.28),
    ("Nuevo Laredo", "MX", 27.48, -99.51), ("Guadalajara", "MX", 20.66, -103.35),
    ("Hermosillo", "MX", 29.07, -110.96), ("Altar", "MX", 30.71, -111.83),
    ("Sonoyta", "MX", 31.86, -112.85), ("Ciudad Juárez", "MX", 31.69, -106.42),
    ("Mexicali", "MX", 32.62, -115.45), ("McAllen", "US", 26.20, -98.23),
    ("Laredo", "US", 27.53, -99.49), ("El Paso", "US", 31.76, -106.49),
    ("Tucson", "US", 32.22, -110.97), ("Sasabe", "US", 31.48, -111.54),
    ("Falfurrias", "US", 27.23, -98.14),
)  # fmt: skip
BRANDS = ("Nike", "Adidas", "Levi's", "Puma", "Converse", "Samsung", "Motorola", "Casio", "Wrangler")
TEXTS = ("Virgen de Guadalupe", "Cristo Rey", "te quiero mamá", "Real Madrid", "Olimpia", "Jesús")
MARK_KINDS = ("tattoo", "scar", "birthmark", "amputation", "piercing")
MARK_ODDS = (0.35, 0.45, 0.12, 0.03, 0.05)
TEETH = tuple(10 * q + t for q in range(1, 5) for t in range(1, 9))
CONDITIONS = ("missing", "filling", "crown", "gold", "prosthesis")
CONDITION_ODDS = (0.35, 0.35, 0.15, 0.10, 0.05)
SITES = tuple(s for s in BODY_SITES if s != "unknown")


@dataclass(frozen=True)
class Body:
    """What a person's body and belongings truly were, and where they were last seen."""

    stature: int
    build: str
    hair: str
    eyes: str
    marks: tuple[tuple[str, str], ...]
    teeth: tuple[tuple[int, str], ...]
    effects: tuple[tuple[str, str, str | None, str | None], ...]
    waypoint: int


@dataclass(frozen=True)
class Remains:
    """Remains as recovered and examined; `person` is the truth (None: never reported)."""

    id: str
    person: int | None
    recovered: dict[str, Any]
    post_mortem: dict[str, Any]


def body(report: Report, seed: int) -> Body:
    """A person's body and belongings, the same for every report of them."""
    rng = random.Random(seed * 1_000_003 + report.person)
    male = report.sex == "male"
    places = [i for i, w in enumerate(WAYPOINTS) if w[1] == report.last_seen_country] or [0]
    marks = {
        (rng.choices(MARK_KINDS, MARK_ODDS)[0], rng.choice(SITES))
        for _ in range(rng.choices((0, 1, 2, 3), (0.35, 0.35, 0.2, 0.1))[0])
    }
    teeth = {
        rng.choice(TEETH): rng.choices(CONDITIONS, CONDITION_ODDS)[0] for _ in range(rng.randrange(0, 6))
    }
    effects = tuple(
        (
            rng.choice(CLOTHING_CATEGORIES + EFFECT_CATEGORIES),
            rng.choice(COLOURS),
            rng.choice(BRANDS) if rng.random() < 0.25 else None,
            rng.choice(TEXTS) if rng.random() < 0.15 else None,
        )
        for _ in range(rng.randrange(2, 5))
    )
    return Body(
        stature=round(rng.gauss(168 if male else 155, 7 if male else 6)),
        build=rng.choice(("slim", "medium", "heavy", "muscular")),
        hair=rng.choices(("black", "dark_brown", "light_brown", "grey"), (0.7, 0.2, 0.05, 0.05))[0],
        eyes=rng.choices(("brown", "black", "hazel", "green"), (0.7, 0.2, 0.08, 0.02))[0],
        marks=tuple(sorted(marks)),
        teeth=tuple(sorted(teeth.items())),
        effects=effects,
        waypoint=rng.choice(places),
    )


def _colour(rng: random.Random, colour: str) -> str:
    return rng.choice(COLOURS) if rng.random() < 0.1 else colour


def _jitter(rng: random.Random, waypoint: int, km: float) -> dict[str, float]:
    _, _, lat, lon = WAYPOINTS[waypoint]
    return {"latitude": lat + rng.gauss(0, km / 111), "longitude": lon + rng.gauss(0, km / 111)}


def case_record(report: Report, seed: int) -> dict[str, Any]:
    """A report as the ledger keeps it, with what this family said of the body (partly, with
    error): {"id", "person", "last_seen", "ante_mortem": [ComprehensiveDataAdded fields]}."""
    truth = body(report, seed)
    rng = random.Random(zlib.crc32(f"{seed}:{report.id}".encode()))
    name = WAYPOINTS[truth.waypoint][0]
    person = {
        "given_names": report.given_names,
        "first_surname": report.first_surname,
        "second_surname": report.second_surname,
        "sex": report.sex,
        "date_of_birth": report.date_of_birth,
        "age_range": {"minimum": report.age_range[0], "maximum": report.age_range[1]}
        if report.age_range
        else None,
        "nationalities": [report.nationality],
        "origin": report.origin,
    }
    last_seen = {
        "date": report.last_seen_date,
        "country": report.last_seen_country,
        "place": name if rng.random() < 0.9 else None,
        "coordinates": _jitter(rng, truth.waypoint, 5) if rng.random() < 0.6 else None,
        "route": None,
    }
    said = round((truth.stature + rng.gauss(0, 3)) / 5) * 5
    ante_mortem = {
        "stature_cm": {"minimum": said, "maximum": said} if rng.random() < 0.7 else None,
        "build": truth.build if rng.random() < 0.5 else None,
        "hair": truth.hair if rng.random() < 0.6 else None,
        "eyes": truth.eyes if rng.random() < 0.5 else None,
        "body_marks": [
            {"kind": k, "body_site": _swap(rng, s, 0.08), "description": None}
            for k, s in truth.marks
            if rng.random() < 0.8
        ],
        "teeth": [
            {"tooth": t, "condition": c, "description": None}
            for t, c in truth.teeth
            if rng.random() < (0.7 if c in ("gold", "missing") else 0.4)
        ],
        "effects": [
            {"category": c, "colour": _colour(rng, col), "brand": b, "text": x}
            for c, col, b, x in truth.effects
            if rng.random() < 0.65
        ],
        "medical_findings": [],
    }
    return {"id": report.id, "person": person, "last_seen": last_seen, "ante_mortem": [ante_mortem]}


def _swap(rng: random.Random, site: str, odds: float) -> str:
    if rng.random() >= odds:
        return site
    if site.startswith("left_"):
        return "right_" + site[5:]
    return "left_" + site[6:] if site.startswith("right_") else site


def _examined(rng: random.Random, truth: Body, report: Report, rid: str, pid: int | None) -> Remains:
    seen = report.last_seen_date
    death = seen + timedelta(days=int(rng.expovariate(1 / 30)))
    condition = rng.choices(("fresh", "decomposed", "skeletonised"), (0.25, 0.35, 0.4))[0]
    dead_for = {"fresh": (1, 10), "decomposed": (10, 90), "skeletonised": (90, 1500)}[condition]
    days = rng.randrange(*dead_for)
    recovered = death + timedelta(days=days)
    near = [i for i, w in enumerate(WAYPOINTS) if abs(w[2] - WAYPOINTS[truth.waypoint][2]) < 6]
    waypoint = truth.waypoint if rng.random() < 0.55 else rng.choice(near)
    name, country, _, _ = WAYPOINTS[waypoint]
    years = (report.age_range[0] + report.age_range[1]) // 2 if report.age_range else 30
    born = report.date_of_birth or date(seen.year - years, 6, 1)
    age = (recovered - born).days / 365.25
    width = {"fresh": 10, "decomposed": 12, "skeletonised": 15}[condition]
    low = round(age - rng.uniform(0.15, 0.85) * width + rng.gauss(0, 1))
    definite = {"fresh": 0.85, "decomposed": 0.85, "skeletonised": 0.55}[condition]
    roll = rng.random()
    sex: str = report.sex
    if roll >= definite:
        sex = "undetermined" if roll >= definite + 0.15 else f"probably_{report.sex}"
        if sex.startswith("probably") and rng.random() < 0.05:
            sex = "probably_female" if report.sex == "male" else "probably_male"
    seen_odds = {"fresh": 0.9, "decomposed": 0.6, "skeletonised": 0.0}[condition]
    centre = truth.stature + rng.gauss(0, 2)
    half = rng.randrange(4, 8)
    found = 0.55 if condition != "skeletonised" else 0.4
    post_mortem = {
        "sex": sex,
        "condition": condition,
        "age_range": {"minimum": max(0, low), "maximum": max(0, low) + width},
        "stature_cm": {"minimum": round(centre - half), "maximum": round(centre + half)},
        "time_since_death_days": {"minimum": days // 2, "maximum": int(days * 1.6) + 5},
        "hair": truth.hair if condition != "skeletonised" and rng.random() < 0.7 else None,
        "eyes": truth.eyes if condition == "fresh" and rng.random() < 0.5 else None,
        "build": truth.build if condition == "fresh" and rng.random() < 0.5 else None,
        "body_marks": [
            {"kind": k, "body_site": s, "description": None}
            for k, s in truth.marks
            if rng.random() < (0.9 if k == "amputation" else seen_odds)
        ],
        "teeth": [
            {"tooth": t, "condition": c, "description": None} for t, c in truth.teeth if rng.random() < 0.9
        ],
        "effects": [
            {"category": c, "colour": _colour(rng, col), "brand": b, "text": x}
            for c, col, b, x in truth.effects
            if rng.random() < found
        ],
        "medical_findings": [],
        "documents_found": [],
    }
    if rng.random() < 0.08:
        written = _noisy(rng, report, rid)
        full = f"{written.given_names} {written.first_surname} {written.second_surname or ''}".strip()
        post_mortem["documents_found"] = [{"kind": "national_id", "name": full}]
    recovery = {
        "recovered_on": recovered,
        "place": {"country": country, "place": name, "coordinates": _jitter(rng, waypoint, 30)},
    }
    return Remains(rid, pid, recovery, post_mortem)


def remains(corpus: Corpus, count: int = 2_000, *, seed: int = 7, unreported: float = 0.2) -> list[Remains]:
    """`count` remains: most of people in the corpus (one each), `unreported` of people who
    were never reported."""
    rng = random.Random(seed + 101)
    first: dict[int, Report] = {}
    for report in corpus.reports:
        first.setdefault(report.person, report)
    people = sorted(first)
    rng.shuffle(people)
    out: list[Remains] = []
    stranger = max(people) + 1_000_000
    for i in range(count):
        rid = f"m{i}"
        if rng.random() < unreported or not people:
            person = _person(rng, stranger + i)
            out.append(_examined(rng, body(person, seed), person, rid, None))
        else:
            report = first[people.pop()]
            out.append(_examined(rng, body(report, seed), report, rid, report.person))
    return out
