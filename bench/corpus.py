"""A synthetic corpus of missing-person reports for measuring search and duplicate detection.

People from Guatemala, Honduras, El Salvador and Mexico with the region's given names, Spanish
and Maya surnames, reported one to three times by different stakeholders with the noise real
reports carry: accents dropped, surnames swapped or one missing, hypocoristics (Chepe for
José), abbreviations (Ma.), phonetic misspellings (b/v, s/z, ll/y, a dropped h), typing slips,
a date of birth missing or given as an age, a last-seen date off by days. Confusable
non-duplicates are there on purpose: siblings (the same surnames, origin and route, another
given name) and very common names shared by strangers. Every report carries its person's id,
the truth the measures are taken against.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta

GIVEN_MALE = (
    "José", "Juan", "Luis", "Carlos", "Jorge", "Miguel", "Pedro", "Francisco", "Jesús", "Manuel",
    "Antonio", "Mario", "Julio", "Óscar", "Edwin", "Byron", "Marvin", "Wilmer", "Elmer", "Selvin",
    "Kevin", "Brayan", "Erick", "Henry", "Walter", "Nelson", "Santos", "Ignacio", "Guillermo",
    "Alberto", "Roberto", "Eduardo", "Rafael", "Sergio", "Enrique", "Salvador", "Alfonso", "Javier",
    "Víctor", "Hugo", "Fernando", "Ángel", "Gerardo", "Rigoberto", "Domingo", "Cristóbal", "Mateo",
    "Diego", "Andrés", "Baltazar",
)  # fmt: skip
GIVEN_FEMALE = (
    "María", "Ana", "Rosa", "Marta", "Carmen", "Guadalupe", "Concepción", "Dolores", "Sandra",
    "Yesenia", "Glenda", "Heidy", "Dania", "Reina", "Gloria", "Isabel", "Teresa", "Juana", "Lucía",
    "Elena", "Sonia", "Blanca", "Delmy", "Karla", "Wendy", "Ingrid", "Maritza", "Olga", "Patricia",
    "Silvia", "Claudia", "Verónica", "Alejandra", "Gabriela", "Mercedes", "Rosario", "Consuelo",
    "Paola", "Josefa", "Francisca", "Margarita", "Xiomara", "Yolanda", "Amalia", "Ixchel",
)  # fmt: skip
SECOND_GIVEN_MALE = ("Luis", "Antonio", "José", "Manuel", "Alberto", "Carlos", "Ángel", "David", "Enrique")
SECOND_GIVEN_FEMALE = ("José", "Isabel", "Elena", "Guadalupe", "Lucía", "del Carmen", "de los Ángeles")
SPANISH_SURNAMES = (
    "García", "López", "Hernández", "Martínez", "González", "Pérez", "Rodríguez", "Sánchez",
    "Ramírez", "Cruz", "Flores", "Gómez", "Morales", "Vásquez", "Reyes", "Jiménez", "Torres", "Díaz",
    "Gutiérrez", "Ruiz", "Mendoza", "Aguilar", "Ortiz", "Castillo", "Chávez", "Ramos", "Romero",
    "Herrera", "Medina", "Méndez", "Álvarez", "Castro", "Juárez", "Velásquez", "Orellana", "Zelaya",
    "Maldonado", "Mejía", "Escobar", "Guzmán", "Ayala", "Lemus", "Barrios", "Estrada", "Villatoro",
    "Quiñónez", "Bautista", "de la Cruz", "del Valle", "Salazar", "Cifuentes", "Bonilla", "Funes",
    "Hidalgo", "Yanes", "Llanos", "Zúñiga", "Villeda", "Carías", "Argueta",
)  # fmt: skip
MAYA_SURNAMES = (
    "Xicará", "Tzul", "Batz", "Ajú", "Coc", "Caal", "Choc", "Pop", "Tzoc", "Cux", "Ixcoy", "Tum",
    "Chiquín", "Quej", "Cac", "Tiul", "Bol", "Maquín", "Xol", "Sicán", "Yat", "Chub", "Ical",
    "Tuyuc", "Cumes", "Sontay", "Xiloj", "Lux", "Mux", "Quiej", "Chumil", "Ajanel", "Yax", "Cutzal",
    "Sapón", "Quisquiná", "Pascual", "Tuy", "Chen", "Ixtabalán",
)  # fmt: skip
NATIONALITIES = ("GT", "HN", "SV", "MX")
WEIGHT = (0.36, 0.30, 0.19, 0.15)
HYPOCORISTIC = {
    "José": "Chepe", "Francisco": "Pancho", "Jesús": "Chuy", "Guadalupe": "Lupe",
    "Concepción": "Concha", "Ignacio": "Nacho", "Dolores": "Lola", "Guillermo": "Memo",
    "Alberto": "Beto", "Roberto": "Beto", "Eduardo": "Lalo", "Enrique": "Quique", "Rafael": "Rafa",
    "Sergio": "Checo", "Salvador": "Chava", "Alfonso": "Poncho", "Rosario": "Charo", "Teresa": "Tere",
    "Mercedes": "Meche", "Isabel": "Chabela", "Consuelo": "Chelo", "Antonio": "Toño",
}  # fmt: skip
ABBREVIATED = {"María": "Ma.", "Francisco": "Fco.", "Guadalupe": "Gpe."}
PHONETIC_SLIPS = (("v", "b"), ("b", "v"), ("z", "s"), ("s", "z"), ("ll", "y"), ("y", "ll"), ("qu", "k"))
ACCENTS = str.maketrans("áéíóúÁÉÍÓÚüÜ", "aeiouAEIOUuU")


@dataclass(frozen=True)
class Report:
    """One report of a missing person as a stakeholder wrote it; `person` is the truth."""

    id: str
    person: int
    given_names: str
    first_surname: str
    second_surname: str | None
    sex: str
    date_of_birth: date | None
    age_range: tuple[int, int] | None
    nationality: str
    last_seen_date: date
    last_seen_country: str
    origin: str


@dataclass(frozen=True)
class Corpus:
    reports: list[Report]

    def true_pairs(self) -> set[tuple[str, str]]:
        """Every pair of reports of the same person (ids in sorted order)."""
        by_person: dict[int, list[str]] = {}
        for r in self.reports:
            by_person.setdefault(r.person, []).append(r.id)
        pairs: set[tuple[str, str]] = set()
        for ids in by_person.values():
            for i, a in enumerate(ids):
                for b in ids[i + 1 :]:
                    pairs.add((min(a, b), max(a, b)))
        return pairs


def _person(rng: random.Random, pid: int) -> Report:
    sex = rng.choice(("male", "female"))
    nationality = rng.choices(NATIONALITIES, WEIGHT)[0]
    given = rng.choice(GIVEN_MALE if sex == "male" else GIVEN_FEMALE)
    if rng.random() < 0.45:
        second = rng.choice(SECOND_GIVEN_MALE if sex == "male" else SECOND_GIVEN_FEMALE)
        if second not in given:
            given = f"{given} {second}"
    maya = 0.45 if nationality == "GT" else 0.03
    first = rng.choice(MAYA_SURNAMES if rng.random() < maya else SPANISH_SURNAMES)
    second_surname = rng.choice(MAYA_SURNAMES if rng.random() < maya else SPANISH_SURNAMES)
    born = date(1960, 1, 1) + timedelta(days=rng.randrange(0, 365 * 50))
    seen = date(2019, 1, 1) + timedelta(days=rng.randrange(0, 365 * 7))
    return Report(
        id=f"p{pid}",
        person=pid,
        given_names=given,
        first_surname=first,
        second_surname=second_surname,
        sex=sex,
        date_of_birth=born,
        age_range=None,
        nationality=nationality,
        last_seen_date=seen,
        last_seen_country=rng.choice(("MX", "MX", "MX", "GT", "US")),
        origin=f"{nationality}-{rng.randrange(1, 40)}",
    )


def _slip(rng: random.Random, word: str) -> str:
    """One phonetic misspelling or typing slip in a word."""
    if rng.random() < 0.6:
        options = [(a, b) for a, b in PHONETIC_SLIPS if a in word.lower()]
        if options:
            a, b = rng.choice(options)
            return word.lower().replace(a, b, 1).capitalize()
        if word.lower().startswith("h"):
            return word[1:].capitalize()
    if len(word) > 4:
        i = rng.randrange(1, len(word) - 1)
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word


def _noisy(rng: random.Random, r: Report, rid: str) -> Report:
    given, first, second = r.given_names, r.first_surname, r.second_surname
    words = given.split()
    if rng.random() < 0.15 and words[0] in HYPOCORISTIC:
        words[0] = HYPOCORISTIC[words[0]]
    elif rng.random() < 0.1 and words[0] in ABBREVIATED:
        words[0] = ABBREVIATED[words[0]]
    if len(words) > 1 and rng.random() < 0.2:
        words = words[:1]  # the second given name left out
    given = " ".join(words)
    if rng.random() < 0.1 and second:
        first, second = second, first
    if rng.random() < 0.2:
        second = None
    if rng.random() < 0.2:
        first = _slip(rng, first)
    if rng.random() < 0.1:
        given = _slip(rng, given)
    if rng.random() < 0.5:
        given, first = given.translate(ACCENTS), first.translate(ACCENTS)
        second = second.translate(ACCENTS) if second else None
    if rng.random() < 0.2:
        given, first = given.upper(), first.upper()
        second = second.upper() if second else None
    born, age = r.date_of_birth, None
    if born is not None and rng.random() < 0.25:
        years = (r.last_seen_date - born).days // 365
        age, born = (max(0, years - 3), years + 3), None
    elif born is not None and rng.random() < 0.05 and born.day <= 12:
        born = date(born.year, born.day, born.month)  # day and month swapped
    seen = r.last_seen_date + timedelta(days=rng.randrange(-20, 21))
    return replace(
        r,
        id=rid,
        given_names=given,
        first_surname=first,
        second_surname=second,
        date_of_birth=born,
        age_range=age,
        last_seen_date=seen,
    )


def generate(reports: int = 10_000, *, seed: int = 7) -> Corpus:
    """About `reports` reports: 70% of people reported once, the rest two or three times;
    3% of people with a sibling reported too, and a pool of common names shared by strangers."""
    rng = random.Random(seed)
    out: list[Report] = []
    pid = 0

    def emit(person: Report) -> None:
        copies = rng.choices((1, 2, 3), (0.7, 0.22, 0.08))[0]
        for _ in range(copies):
            out.append(_noisy(rng, person, f"r{len(out)}"))

    while len(out) < reports:
        person = _person(rng, pid)
        pid += 1
        if rng.random() < 0.05:  # a very common name, shared by strangers
            person = replace(person, given_names="José Luis", first_surname="Hernández", sex="male")
        emit(person)
        if rng.random() < 0.03:  # a sibling who went with them
            sibling = _person(rng, pid)
            pid += 1
            sibling = replace(
                sibling,
                first_surname=person.first_surname,
                second_surname=person.second_surname,
                nationality=person.nationality,
                origin=person.origin,
                last_seen_date=person.last_seen_date,
                last_seen_country=person.last_seen_country,
            )
            emit(sibling)
    return Corpus(out[:reports])


def pairs(corpus: Corpus) -> Iterator[tuple[Report, Report]]:
    for i, a in enumerate(corpus.reports):
        for b in corpus.reports[i + 1 :]:
            yield a, b
