"""IOM Missing Migrants Project incident rows from the public tier of a jurisdiction's views.

Each row counts, for one month and country, either the remains recovered in one context
(desert, river, sea...) -- the dead -- or the cases still missing last seen there on one
route. Only public fields are read (the month, country, context, route, sex and age band);
every count under 5 is suppressed as the monthly statistics are (projections/statistics.py),
and no row names a person, a place finer than a country, or an exact date.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter, defaultdict
from collections.abc import Iterable

import pycountry

from projections.linked import coarse
from projections.statistics import SMALLEST_CELL
from projections.views import JurisdictionViews

__all__ = ["COLUMNS", "incidents", "region", "shown", "to_csv"]

COLUMNS = (
    "Incident ID",
    "Incident Type",
    "Region of Incident",
    "Incident Date",
    "Year",
    "Reported Month",
    "Number of Dead",
    "Minimum Estimated Number of Missing",
    "Total Number of Dead and Missing",
    "Number of Survivors",
    "Number of Females",
    "Number of Males",
    "Number of Children",
    "Cause of Death",
    "Migration Route",
    "Location of death",
    "Information Source",
    "Coordinates",
    "UNSD Geographical Grouping",
    "Source Quality",
    "URL",
)
# MMP's region and the UN M49 grouping of the countries migrants cross towards North America.
_CENTRAL = {"BZ", "CR", "GT", "HN", "MX", "NI", "PA", "SV"}
_CARIBBEAN = {"CU", "DO", "HT", "JM", "PR", "BS", "TT"}
_SOUTH = {"AR", "BO", "BR", "CL", "CO", "EC", "GY", "PE", "PY", "SR", "UY", "VE"}
_CHILD_BANDS = {"0-11", "12-17"}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def region(country: str) -> tuple[str, str]:
    """(MMP region of incident, UNSD geographical grouping) of a country; empty if unknown."""
    if country in _CENTRAL:
        return "Central America", "Central America"
    if country in _CARIBBEAN:
        return "Caribbean", "Caribbean"
    if country in _SOUTH:
        return "South America", "South America"
    if country in ("US", "CA"):
        return "North America", "Northern America"
    return "", ""


def shown(count: int) -> str:
    return str(count) if count >= SMALLEST_CELL else f"<{SMALLEST_CELL}"


def _country_name(code: str) -> str:
    found = pycountry.countries.get(alpha_2=code)
    return found.name if found else code


def incidents(views: JurisdictionViews, jurisdiction: str) -> list[dict[str, str]]:
    """Every incident row, ordered by month, country and what it counts."""
    groups: dict[tuple[str, str, str, str], Counter[str]] = defaultdict(Counter)
    for row in views.cases():
        if row.status != "missing":
            continue  # located, identified or closed: not missing; the dead are counted as remains
        key = ("missing", row.reported_at.strftime("%Y-%m"), row.last_seen_country, row.route or "")
        counts = groups[key]
        counts["missing"] += 1
        counts[row.sex] += 1
        counts["children"] += row.age_band in _CHILD_BANDS
    remains = [r.aggregate_id for r in views.forensic("UnidentifiedRemains")]
    for entries in (views.timelines(remains) if remains else {}).values():
        recovered = next((e for e in entries if e.event_type == "RemainsRecovered"), None)
        if recovered is None:
            continue
        public = json.loads(recovered.public)
        month = coarse(recovered.occurred_at).strftime("%Y-%m")
        key = (
            "dead",
            month,
            str((public.get("place") or {}).get("country", "")),
            str(public.get("context", "")),
        )
        counts = groups[key]
        counts["dead"] += 1
        sexes = [json.loads(e.public).get("sex") for e in entries if e.event_type == "PostMortemRecorded"]
        sex = next((s for s in reversed(sexes) if s), None)
        if sex in ("female", "male"):
            counts[sex] += 1
    return [_row(key, counts, jurisdiction) for key, counts in sorted(groups.items())]


def _row(key: tuple[str, str, str, str], counts: Counter[str], jurisdiction: str) -> dict[str, str]:
    kind, month, country, detail = key
    year, number = month.split("-")
    dead, missing = counts["dead"], counts["missing"]
    mmp_region, unsd = region(country)
    digest = hashlib.sha256("|".join((jurisdiction, *key)).encode()).hexdigest()[:12]
    return {
        "Incident ID": f"caseledger-{jurisdiction}-{digest}",
        "Incident Type": "Cumulative Incident",
        "Region of Incident": mmp_region,
        "Incident Date": month,
        "Year": year,
        "Reported Month": (
            ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        )[int(number) - 1],
        "Number of Dead": shown(dead) if kind == "dead" else "",
        "Minimum Estimated Number of Missing": shown(missing) if kind == "missing" else "",
        "Total Number of Dead and Missing": shown(dead + missing),
        "Number of Survivors": "",
        "Number of Females": shown(counts["female"]),
        "Number of Males": shown(counts["male"]),
        "Number of Children": shown(counts["children"]) if kind == "missing" else "",
        "Cause of Death": "Mixed or unknown" if kind == "dead" else "",
        "Migration Route": detail if kind == "missing" else "",
        "Location of death": f"{detail}, {_country_name(country)}" if kind == "dead" else "",
        "Information Source": f"caseledger node, views of {jurisdiction}",
        "Coordinates": "",
        "UNSD Geographical Grouping": unsd,
        "Source Quality": "",
        "URL": "",
    }


def to_csv(rows: Iterable[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
