"""Searching and listing a jurisdiction's cases: the parameters (one parser for the API, the
CLI and the review pages, each refusal naming its parameter), the filters, the order (best
name match first, then newest report), and pages behind an opaque cursor.

Search reads only what the caller may read: each case goes through the caller's reading of
the views (services/caller_view.py) before anything else looks at it. Filters apply to the
case as the caller sees it (a field the caller may not read matches no filter), and a case
whose names the caller may not read is never compared with the name sought, so a search that
finds nothing because of the rules answers exactly as a search for a name no case has. The
names are compared in this process's memory only (projections/search_index.py).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import heapq
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, date, timedelta

from ledger.errors import InvalidField
from ledger.names import tokens
from ledger.validation import choice, country
from ledger.vocabulary import SEXES
from projections.search_index import FACETS, CaseIndex, Hit, index_for, kind_of
from projections.views import CaseRow, JurisdictionViews
from services.caller_view import CallerView, public_listing

__all__ = [
    "AGE_BANDS",
    "MAX_QUERY",
    "PARAMETERS",
    "STATUSES",
    "CaseSearch",
    "Found",
    "Key",
    "Page",
    "as_listed",
    "find",
    "from_query",
    "parse",
    "reader",
]

STATUSES = ("missing", "located_alive", "identified_deceased", "closed")
AGE_BANDS = ("0-11", "12-17", "18-29", "30-44", "45-59", "60+")
DEFAULT_LIMIT, MAX_LIMIT = 50, 500
MAX_QUERY = 200


@dataclass(frozen=True)
class CaseSearch:
    """What a caller asks of the case list; every field optional."""

    q: str | None = None
    status: str | None = None
    nationality: str | None = None
    sex: str | None = None
    age_band: str | None = None
    last_seen_country: str | None = None
    last_seen_from: date | None = None
    last_seen_to: date | None = None
    reported_from: date | None = None
    reported_to: date | None = None
    origin: str | None = None
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None

    def fingerprint(self) -> str:
        """What a cursor is bound to: the search without its page."""
        asked = {
            f.name: str(getattr(self, f.name)) for f in fields(self) if f.name not in ("limit", "cursor")
        }
        return hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()[:12]


PARAMETERS = tuple(f.name for f in fields(CaseSearch))


def _day(name: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidField(name, f"{text!r} is not a date (YYYY-MM-DD)") from None


def _query(label: str, text: str) -> str:
    if len(text) > MAX_QUERY:
        raise InvalidField(label, f"must be at most {MAX_QUERY} characters")
    if not tokens(text):
        raise InvalidField(label, "holds no name to search for")
    return text


def _limit(label: str, text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise InvalidField(label, f"{text!r} is not a whole number from 1 to {MAX_LIMIT}")
    return int(text)


# How each parameter but limit is checked, in the order they are checked (the first fault is
# named); then the dates' order, then limit.
_CHECKS: dict[str, Callable[[str, str], object]] = {
    "q": _query,
    "status": lambda label, text: choice(label, text, STATUSES),
    "sex": lambda label, text: choice(label, text, SEXES),
    "age_band": lambda label, text: choice(label, text, AGE_BANDS),
    "nationality": country,
    "last_seen_country": country,
    "origin": country,
    "last_seen_from": lambda label, text: _day(label, text),
    "last_seen_to": lambda label, text: _day(label, text),
    "reported_from": lambda label, text: _day(label, text),
    "reported_to": lambda label, text: _day(label, text),
}


def parse(given: Mapping[str, str | None], *, names: Mapping[str, str] | None = None) -> CaseSearch:
    """The search from its parameters as text (empty ones ignored). InvalidField names the
    parameter at fault, as the caller spelt it (`names` maps a field to that spelling)."""
    shown = names or {}

    def label(name: str) -> str:
        return shown.get(name, name)

    unknown = [k for k in given if k not in PARAMETERS]
    if unknown:
        raise InvalidField(
            label(unknown[0]), f"is not a parameter of the case list (known: {', '.join(PARAMETERS)})"
        )
    raw = {k: v.strip() for k, v in given.items() if v is not None and v.strip()}
    values: dict[str, object] = {
        name: check(label(name), raw[name]) for name, check in _CHECKS.items() if name in raw
    }
    for first, last in (("last_seen_from", "last_seen_to"), ("reported_from", "reported_to")):
        start, end = values.get(first), values.get(last)
        if isinstance(start, date) and isinstance(end, date) and end < start:
            raise InvalidField(label(last), f"{end} is before {label(first)} {start}")
    if "limit" in raw:  # after the dates' order, as it always was
        values["limit"] = _limit(label("limit"), raw["limit"])
    search = CaseSearch(**values)  # type: ignore[arg-type]
    if "cursor" in raw:
        _decode(raw["cursor"], search, label("cursor"))
        search = CaseSearch(**{**values, "cursor": raw["cursor"]})  # type: ignore[arg-type]
    return search


# ---------------------------------------------------------------------- pages

Key = tuple[float, float, str]


def _key(row: CaseRow, score: float | None) -> Key:
    """A case's place in the list: best score first, then newest report, then by id."""
    return (-(score or 0.0), -row.reported_at.timestamp(), row.case_id)


def _encode(key: Key, search: CaseSearch) -> str:
    text = json.dumps([key[0], key[1], key[2], search.fingerprint()])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(cursor: str, search: CaseSearch, name: str) -> Key:
    try:
        score, reported, case_id, bound = json.loads(
            base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        )
        key = (float(score), float(reported), str(case_id))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidField(name, "is not a cursor this list gave") from None
    if bound != search.fingerprint():
        raise InvalidField(name, "was given for another search (same q and filters needed)")
    return key


@dataclass(frozen=True)
class Found:
    row: CaseRow
    score: float | None  # how well the name answers q (0 to 1); None without q


@dataclass(frozen=True)
class Page:
    items: list[Found]
    total: int
    next_cursor: str | None


def _public_match(row: CaseRow, search: CaseSearch) -> bool:
    """The filters on the public tier, which every caller reads alike."""
    if search.status and row.status != search.status:
        return False
    if search.sex and row.sex != search.sex:
        return False
    if search.nationality and search.nationality not in row.nationalities:
        return False
    if search.last_seen_country and row.last_seen_country != search.last_seen_country:
        return False
    return not (search.origin and row.origin != search.origin)


def _shown_match(row: CaseRow, search: CaseSearch) -> bool:
    """The filters on fields above public: on the case as the caller reads it (a field it may
    not read is None, and matches no filter; a report's instant read at the public tier is its
    month, services/caller_view.py)."""
    if search.reported_from or search.reported_to:
        # The public envelope says only the month a case was reported (Envelope v2): a case
        # answers when its month meets the dates asked.
        first = row.reported_at.astimezone(UTC).date().replace(day=1)
        last = (first + timedelta(days=31)).replace(day=1) - timedelta(days=1)
        if (search.reported_from and last < search.reported_from) or (
            search.reported_to and first > search.reported_to
        ):
            return False
    if search.age_band and row.age_band != search.age_band:
        return False
    if search.last_seen_from or search.last_seen_to:
        seen = row.last_seen_date
        if seen is None:
            return False
        if (search.last_seen_from and seen < search.last_seen_from) or (
            search.last_seen_to and seen > search.last_seen_to
        ):
            return False
    return True


def find(views: JurisdictionViews, readable: Callable[[CaseRow], CaseRow | None], search: CaseSearch) -> Page:
    """One page of the cases `readable` lets the caller see that answer `search`: with q, best
    name first; without, newest report first (as the views list them)."""
    index = index_for(views)
    after = _decode(search.cursor, search, "cursor") if search.cursor else None
    if after is not None:
        after = _placed(index, readable, after)
    if not search.q:
        return _listing(index, readable, search, after)
    keyed: list[tuple[Key, Hit]] = [
        ((-hit.score, *hit.order), hit)
        for hit in index.search(search.q, readable)
        if _public_match(hit.row, search) and _shown_match(hit.row, search)  # as the caller reads it
    ]
    total = len(keyed)
    if after is not None:
        keyed = [k for k in keyed if k[0] > after]
    page = heapq.nsmallest(search.limit + 1, keyed, key=lambda k: k[0])
    items = [Found(hit.row, hit.score) for _, hit in page[: search.limit]]
    last = _encode(page[search.limit - 1][0], search) if len(page) > search.limit else None
    return Page(items, total, last)


def _placed(index: CaseIndex, readable: Callable[[CaseRow], CaseRow | None], after: Key) -> Key:
    """A cursor's place in the list: its case's own, where the caller lists that case (a case
    listed at its public tier gives its report's month, the cursor too, never the instant)."""
    entry = index.entries.get(after[2])
    if entry is None or readable(entry.row) is None:
        return after
    return (after[0], *entry.order)


def _paged(
    candidates: Iterable[tuple[Key, CaseRow, float | None]],
    readable: Callable[[CaseRow], CaseRow | None],
    search: CaseSearch,
    after: Key | None,
) -> Page:
    """Every candidate (in order) checked against every filter and counted; one page kept."""
    items: list[Found] = []
    total, more = 0, False
    for key, row, score in candidates:
        if not _public_match(row, search):
            continue
        shown = row if score is not None else readable(row)  # a hit is already as the caller reads it
        if shown is None or not _shown_match(shown, search):
            continue
        total += 1
        if after is not None and key <= after:
            continue
        if len(items) < search.limit:
            items.append(Found(shown, score))
        else:
            more = True
    last = _encode(_key(items[-1].row, items[-1].score), search) if more and items else None
    return Page(items, total, last)


def _listing(
    index: CaseIndex, readable: Callable[[CaseRow], CaseRow | None], search: CaseSearch, after: Key | None
) -> Page:
    """The list without q. The public filters come from the index's sets, and each kind of case
    (kind_of) is read once; a page stops at its last case, and the total is counted from the
    sets, unless a filter must look at each case (dates, age band)."""
    wanted = [(f, str(getattr(search, f))) for f in (*FACETS, "nationality") if getattr(search, f)]
    candidates = index.facet(wanted)
    ordered = index.ordered()
    if candidates is not None and len(candidates) * 50 < len(ordered):  # a few: sorted apart
        entries = [index.entries[c] for c in candidates]
        rows = sorted(((0.0, *e.order), e.row) for e in entries)
        candidates = None  # every row here is one
    else:
        rows = ordered
    each = any(
        getattr(search, f)
        for f in ("reported_from", "reported_to", "age_band", "last_seen_from", "last_seen_to")
    )
    if each:
        return _paged(((k, r, None) for k, r in rows if candidates is None or r.case_id in candidates),
                      readable, search, after)  # fmt: skip
    members = candidates if rows is ordered else {row.case_id for _, row in rows}
    hidden: set[tuple[object, ...]] = set()
    total = 0
    for kind, ids in index.kinds().items():
        if index.entries[next(iter(ids))].row.restricted:
            # Restricted cases are not read alike: one may be withheld from the caller's country.
            counted = ids if members is None else ids & members
            total += sum(1 for i in counted if readable(index.entries[i].row) is not None)
        elif readable(index.entries[next(iter(ids))].row) is None:
            hidden.add(kind)
        else:
            total += len(ids) if members is None else len(ids & members)
    start = index.after(after) if rows is ordered else bisect.bisect_right([k for k, _ in rows], after or ())
    items: list[Found] = []
    more = False
    for _, row in rows[start:]:
        if (candidates is not None and row.case_id not in candidates) or kind_of(row) in hidden:
            continue
        if len(items) == search.limit:
            more = True
            break
        shown = readable(row)
        if shown is not None:
            items.append(Found(shown, None))
    last = _encode(_key(items[-1].row, None), search) if more and items else None
    return Page(items, total, last)


def reader(view: CallerView) -> Callable[[CaseRow], CaseRow | None]:
    """A case as this caller may read it (CallerView.case), decided once per kind of case
    (restricted, consents, origin, nationalities: what the decision reads) in one search."""
    decided: dict[tuple[object, ...], str] = {}

    def readable(row: CaseRow) -> CaseRow | None:
        # A case withheld from a country (a refugee's) is restricted in the views; whether this
        # caller's country is the one is the case's own, so it is part of the kind.
        kind = (*kind_of(row), view.withheld(row.case_id) if row.restricted else frozenset())
        outcome = decided.get(kind)
        if outcome is None and row.restricted and view.kept_from_caller(row.case_id):
            outcome = decided[kind] = "hidden"
        if outcome is None:
            if not view.lists(row.origin, row.nationalities) and not view.disclosed_to_caller(row):
                # no public tier (nor a disclosure to this caller, #19): not listed at all
                outcome = decided[kind] = "hidden"
            else:
                outcome = decided[kind] = "all" if view.case(row) is row else "public"
        if outcome == "all":
            return row
        return None if outcome == "hidden" else public_listing(row)

    return readable


def as_listed(row: CaseRow) -> CaseRow:
    """A case as a jurisdiction's own views show it (the node's operator, on the CLI)."""
    return row


def from_query(items: list[tuple[str, str]], *, names: Mapping[str, str] | None = None) -> CaseSearch:
    """The search from a query string's (name, value) pairs: a parameter given twice is refused."""
    seen: dict[str, str | None] = {}
    for name, value in items:
        if name in seen:
            raise InvalidField((names or {}).get(name, name), "is given more than once")
        seen[name] = value
    return parse(seen, names=names)
