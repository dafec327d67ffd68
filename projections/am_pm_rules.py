"""The comparisons between one post-mortem record and one ante-mortem record: hard exclusions,
then each field's outcome and weight in bits (log2 of how much likelier the outcome is for
the same person than for another). The weights are forensic judgements written down here so a
reviewer can weigh them again; projections/am_pm.py ranks with them."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rapidfuzz import fuzz

from ledger.names import compare, normalise, tokens
from projections.duplicates import Explained

__all__ = [
    "AGE_TOLERANCE",
    "DEFINITE",
    "MARK_WEIGHT",
    "PLACE_STEPS",
    "RESTORED_WEIGHT",
    "SPAN_DAYS",
    "STATURE_TOLERANCE",
    "Share",
    "distance_km",
    "exclusion",
    "explain",
    "posterior",
]

if TYPE_CHECKING:
    from projections.am_pm import AnteMortem, PostMortem

AGE_TOLERANCE = 1.0  # years: estimates are whole years, rounded either way
STATURE_TOLERANCE = 5.0  # cm: a family's "about 1.65 m" is often 5 cm off an osteometric range
DEFINITE = ("male", "female")
MARK_WEIGHT = {"tattoo": 5.0, "amputation": 6.0, "birthmark": 4.0, "scar": 3.0, "piercing": 2.0, "other": 2.0}
RESTORED_WEIGHT = {"gold": 3.5, "prosthesis": 3.0, "crown": 2.5, "filling": 2.0, "missing": 1.5}


def exclusion(pm: PostMortem, am: AnteMortem) -> str | None:
    """Why these remains cannot be this person, or None. Only what cannot be: estimates that
    merely fit badly are weighed, not excluded."""
    if pm.sex in DEFINITE and am.sex in DEFINITE and pm.sex != am.sex:
        return f"sex: the remains are {pm.sex}, the person {am.sex}"
    if pm.recovered is not None and am.seen is not None and pm.recovered < am.seen:
        return f"recovered_on: {pm.recovered} is before the person was last seen ({am.seen})"
    window = _age_window(pm, am)
    if window is not None and pm.age is not None:
        low, high = window
        if low > pm.age[1] + AGE_TOLERANCE or high < pm.age[0] - AGE_TOLERANCE:
            estimate = f"{pm.age[0]:.0f}–{pm.age[1]:.0f}"
            return f"age: {low:.0f}–{high:.0f} at recovery cannot be the estimated {estimate}"
    if pm.stature is not None and am.stature is not None and _gap(pm.stature, am.stature) > STATURE_TOLERANCE:
        return (
            f"stature: {am.stature[0]:.0f}–{am.stature[1]:.0f} cm cannot be the estimated "
            f"{pm.stature[0]:.0f}–{pm.stature[1]:.0f} cm"
        )
    return None


def _age_window(pm: PostMortem, am: AnteMortem) -> tuple[float, float] | None:
    """The person's possible age at recovery: their age when last seen, plus the years since."""
    if am.age is None:
        return None
    years = 0.0
    if pm.recovered is not None and am.seen is not None:
        years = max(0.0, (pm.recovered - am.seen).days / 365.25)
    return am.age[0], am.age[1] + years


def _gap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return max(a[0] - b[1], b[0] - a[1], 0.0)


Share = Callable[[tuple[Any, ...]], float | None]
"""How common a feature is among the cases compared (a mark on a site, a tooth's condition, a
garment's colour), or None when not known: rare agreements weigh more."""


def _unknown(key: tuple[Any, ...]) -> float | None:
    return None


def _rarity(share: float | None, m: float, default: float, ceiling: float) -> float:
    """log2(m/u): how much likelier the agreement is for the same person (m) than for any
    case (u, the feature's share among the cases), between 0.5 and the ceiling."""
    if share is None or share <= 0.0:
        return default
    return round(min(ceiling, max(0.5, math.log2(m / share))), 3)


def explain(pm: PostMortem, am: AnteMortem, share: Share = _unknown) -> list[Explained]:
    """Each comparison both sides allow, with its outcome and weight (exclusions apart)."""
    found: list[Explained] = []
    for rule in (_sex, _age, _stature, _time, _place, _names):
        found.extend(rule(pm, am))
    found.extend(_physique(pm, am, share))
    found.extend(_capped("marks", _marks(pm, am, share), -4.0, 15.0))
    found.extend(_capped("dental", _teeth(pm, am, share), -8.0, 12.0))
    found.extend(_capped("effects", _effects(pm, am, share), -2.0, 8.0))
    found.extend(_implants(pm, am))
    return found


def posterior(explanation: list[Explained], prior_bits: float) -> float:
    bits = prior_bits + sum(e.weight for e in explanation)
    return 1.0 / (1.0 + 2.0 ** (-bits)) if bits > -60 else 0.0


def _capped(field: str, items: list[Explained], low: float, high: float) -> list[Explained]:
    """Many small agreements in one field count up to a ceiling (they are not independent)."""
    total = sum(e.weight for e in items)
    if low <= total <= high or not items:
        return items
    scale = (high if total > high else low) / total
    return [Explained(field, f"{e.comparison} (capped)", e.weight * scale) for e in items]


def _sex(pm: PostMortem, am: AnteMortem) -> list[Explained]:
    if pm.sex is None or am.sex is None:
        return []
    if pm.sex == am.sex:
        return [Explained("sex", "same sex", 1.0)]
    if pm.sex == f"probably_{am.sex}":
        return [Explained("sex", "probably the same sex", 0.6)]
    return [Explained("sex", f"estimated {pm.sex.replace('_', ' ')}, reported {am.sex}", -2.0)]


def _age(pm: PostMortem, am: AnteMortem) -> list[Explained]:
    window = _age_window(pm, am)
    if window is None or pm.age is None:
        return []
    if window[0] <= pm.age[1] and pm.age[0] <= window[1]:
        share = min(1.0, (pm.age[1] - pm.age[0] + 1.0) / 40.0)
        return [Explained("age", "within the estimated age", round(math.log2(0.95 / share), 3))]
    return [Explained("age", "at the edge of the estimated age", -1.0)]


def _stature(pm: PostMortem, am: AnteMortem) -> list[Explained]:
    if pm.stature is None or am.stature is None:
        return []
    if _gap(pm.stature, am.stature) == 0.0:
        width = (pm.stature[1] - pm.stature[0]) + (am.stature[1] - am.stature[0]) + 4.0
        share = min(1.0, width / 35.0)
        return [Explained("stature", "within the estimated stature", round(math.log2(0.9 / share), 3))]
    return [Explained("stature", "at the edge of the estimated stature", -0.5)]


SPAN_DAYS = 3650.0
"""The span over which a node's cases were last seen (ten years): what a random case's fit
with a time window is measured against."""


def _time(pm: PostMortem, am: AnteMortem) -> list[Explained]:
    """Death falls between last seen and recovery less the estimated time since death; without
    that estimate, remains found soon after the person was last seen are likelier theirs."""
    if pm.recovered is None or am.seen is None:
        return []
    days = (pm.recovered - am.seen).days
    if pm.dead_for_days is not None:
        low, high = pm.dead_for_days
        if days < low - 14:
            return [Explained("time", "dead longer, by the estimate, than since last seen", -4.0)]
        if days <= high + 90:
            share = min(1.0, (high + 104 - low) / SPAN_DAYS)
            weight = round(min(5.0, math.log2(0.9 / share)), 3)
            return [Explained("time", "last seen within the estimated time since death", weight)]
        return [Explained("time", "last seen long before the estimated time of death", -0.5)]
    if days <= 60:
        return [Explained("time", "recovered within 60 days of last seen", 1.5)]
    if days <= 365:
        return [Explained("time", "recovered within a year of last seen", 0.8)]
    if days > 1095:
        return [Explained("time", "recovered more than three years after last seen", -1.0)]
    return [Explained("time", "recovered one to three years after last seen", 0.0)]


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


PLACE_STEPS = ((25.0, 3.0), (100.0, 2.0), (300.0, 1.0), (800.0, 0.0))


def _place(pm: PostMortem, am: AnteMortem) -> list[Explained]:
    found = []
    if pm.country and am.country:
        same = pm.country == am.country
        found.append(
            Explained(
                "place", "same country" if same else "another country on the route", 0.5 if same else -0.3
            )
        )
    if pm.coordinates is not None and am.coordinates is not None:
        km = distance_km(pm.coordinates, am.coordinates)
        weight = next((w for limit, w in PLACE_STEPS if km <= limit), -1.5)
        found.append(Explained("place", f"recovered {km:.0f} km from where last seen", weight))
    elif pm.place_words & am.place_words:
        found.append(Explained("place", "recovered at a place named in the route or last-seen place", 2.0))
    return found


def _names(pm: PostMortem, am: AnteMortem) -> list[Explained]:
    if not pm.document_names or not am.name[0]:
        return []
    person = normalise(*am.name)
    best = 0.0
    for written in pm.document_names:
        words = tokens(written)
        for cut in range(1, len(words)):
            found = normalise(" ".join(words[:cut]), " ".join(words[cut:]))
            best = max(best, compare(person, found).score)
    if best >= 0.92:
        return [Explained("names", "an ID document found names the person", 9.0)]
    if best >= 0.8:
        return [Explained("names", "an ID document found names someone alike", 4.0)]
    if best >= 0.65:
        return [Explained("names", "an ID document found bears a similar name", 1.0)]
    return [Explained("names", "an ID document found names someone else", -2.0)]


def _physique(pm: PostMortem, am: AnteMortem, share: Share) -> list[Explained]:
    found = []
    for field, agree in (("build", 0.5), ("hair", 0.5), ("eyes", 0.3)):
        ours, theirs = pm.physique.get(field), am.physique.get(field)
        if ours and theirs:
            if ours == theirs:
                weight = _rarity(share((field, ours)), 0.8, agree, 3.0)
                found.append(Explained(field, "same", weight))
            else:
                found.append(Explained(field, f"{theirs} reported, {ours} found", -0.7))
    return found


def _side_swapped(site: str) -> str:
    for a, b in (("left_", "right_"), ("right_", "left_")):
        if site.startswith(a):
            return b + site[len(a) :]
    return site


def _marks(pm: PostMortem, am: AnteMortem, share: Share) -> list[Explained]:
    found = []
    if pm.marks and am.marks:
        for kind, site in sorted(pm.marks):
            if (kind, site) in am.marks:
                weight = _rarity(share(("mark", kind, site)), 0.6, MARK_WEIGHT.get(kind, 2.0), 8.0)
                found.append(Explained("marks", f"{kind} on {site}: on both", weight))
            elif (kind, _side_swapped(site)) in am.marks:
                found.append(Explained("marks", f"{kind} on {site}: reported on the other side", 1.5))
            else:
                found.append(Explained("marks", f"{kind} on {site}: not in the description", -1.0))
    for kind, site in sorted(am.marks - pm.marks):
        # Skin marks show only on fresh remains; an amputation shows on the bones too.
        visible = kind == "amputation" or (pm.condition == "fresh" and kind in ("tattoo", "birthmark"))
        if visible and (kind, _side_swapped(site)) not in pm.marks:
            found.append(Explained("marks", f"{kind} on {site}: reported, not found", -1.5))
    return found


def _teeth(pm: PostMortem, am: AnteMortem, share: Share) -> list[Explained]:
    found = []
    for tooth in sorted(set(pm.teeth) & set(am.teeth)):
        life, death = am.teeth[tooth], pm.teeth[tooth]
        if life == death:
            weight = _rarity(share(("tooth", tooth, life)), 0.7, RESTORED_WEIGHT.get(life, 2.0), 7.0)
            found.append(Explained("dental", f"tooth {tooth}: {life} on both", weight))
        elif life == "missing":
            found.append(Explained("dental", f"tooth {tooth}: missing in life, {death} after death", -4.0))
        elif death == "missing":
            found.append(Explained("dental", f"tooth {tooth}: {life} in life, missing after death", -0.5))
        else:
            found.append(Explained("dental", f"tooth {tooth}: {life} in life, {death} after death", -1.5))
    if pm.teeth:  # a post-mortem chart lists what it found: a tooth not listed is sound
        for tooth in sorted(set(am.teeth) - set(pm.teeth)):
            life = am.teeth[tooth]
            weight = -3.0 if life == "missing" else -1.0
            found.append(Explained("dental", f"tooth {tooth}: {life} in life, sound after death", weight))
    return found


def _effects(pm: PostMortem, am: AnteMortem, share: Share) -> list[Explained]:
    found = []
    for category, colour, brand, text in pm.effects:
        same = [e for e in am.effects if e[0] == category]
        if not same:
            continue
        best: Explained | None = None
        for _, their_colour, their_brand, their_text in same:
            weight, said = 0.3, [category]
            if colour and their_colour:
                rare = _rarity(share(("effect", category, colour)), 0.4, 1.3, 6.0) - 0.3
                weight += rare if colour == their_colour else -0.8
                said.append(colour if colour == their_colour else f"{their_colour} reported, {colour} found")
            if brand and their_brand and brand == their_brand:
                weight, said = weight + 2.0, [*said, f"brand {brand}"]
            if text and their_text and fuzz.token_set_ratio(text, their_text) >= 85:
                weight, said = weight + 2.5, [*said, "same text"]
            if best is None or weight > best.weight:
                best = Explained("effects", ", ".join(said), round(weight, 3))
        if best is not None:
            found.append(best)
    return found


def _implants(pm: PostMortem, am: AnteMortem) -> list[Explained]:
    same = pm.implants & am.implants
    if same:
        return [Explained("medical", "an implant's serial number matches", 12.0)]
    if pm.implants and am.implants:
        return [Explained("medical", "implant serial numbers differ", -3.0)]
    return []
