"""Finding a case by a name spelled as people spell it: an in-memory index of a jurisdiction's
views, built in this process from the opened rows and kept up to date as the views change.

Why in memory, and not a blind index at rest. The views keep every name sealed under a views
key of the case's own and its search tokens keyed per case (projections/view_keys.py), so that
a case's erasure takes its names and tokens with its key. A per-case key means a query cannot
use a database index: it would have to compute the query's token under each of 100,000 keys.
A node-level blind index (HMAC under one node search key) would be indexable, but it is a
second copy of every name's words at rest, under a key that outlives every erasure: an erased
case's tokens would stay linkable to the same words in other cases until a purge found them,
and tolerant search (typos, phonetics, hypocoristics) would need many more tokens per word,
each a guessable dictionary word under that one key. So no name and no token is stored beyond
what the views keep: this process opens the views once (the names exist in clear only in its
memory, never written anywhere), keeps an inverted index of the folded name words
(ledger/names.py), and on every query reads the views' change serial (one row, which every
write of the views counts in its own transaction). When every write since the last look was
this process's own (the projector running in this process, as `serve` and the CLI do), it
opens again only the cases those wrote; when another process wrote, it reads each case's
signature (version, restricted, sealed value gone) and opens again only the rows whose
signature changed. A case erased, restricted or taken away drops out of the index at the next query.

Candidates come from the index by word: the word itself, the names a hypocoristic stands for
(Chepe, José), the Spanish phonetic key (Basques, Vásquez), one edit away (a deletion
neighbourhood over the distinct words: Hernadez, Hernández), and for an initial every word
with that letter. A case is a candidate when every word sought finds one of its words. The
candidates are ranked by the words' similarity, and the best of them again by
`ledger.names.compare` over the ways the query may split into given names and surnames.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz.distance import JaroWinkler

from ledger.names import PersonName, compare, given_forms, normalise, phonetic, tokens
from projections.views import PURGED_COLUMNS, CaseRow, JurisdictionViews

__all__ = ["FACETS", "CaseIndex", "Hit", "index_for", "kind_of", "word_similarity"]

WORD_THRESHOLD = 0.8  # a word this alike or more counts as found
REFINED = 50  # how many of the best candidates are ranked again by names.compare
_CHUNK = 500


def word_similarity(sought: str, held: str) -> float:
    """How alike two folded words of names are, as ledger.names compares them."""
    if sought == held:
        return 1.0
    if given_forms(sought) & given_forms(held):
        return 0.97
    if len(sought) == 1 or len(held) == 1:  # an initial
        return 0.85 if sought[0] == held[0] else 0.0
    if phonetic(sought) == phonetic(held):
        return 0.95
    return float(JaroWinkler.similarity(sought, held))


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))} if len(word) >= 4 else set()


@dataclass
class _Entry:
    row: CaseRow
    signature: tuple[int, bool, bool]
    name: PersonName
    keys: frozenset[str]  # the index keys this case is posted under
    order: tuple[float, str]  # its place in the list: newest report first, then by id

    @property
    def words(self) -> int:
        return len(self.name.given) + len(self.name.surnames)


@dataclass(frozen=True)
class Hit:
    row: CaseRow
    score: float
    order: tuple[float, str]  # its place in the list among equal scores: newest report first


@dataclass
class CaseIndex:
    """One jurisdiction's views, indexed in this process's memory."""

    views: JurisdictionViews
    entries: dict[str, _Entry] = field(default_factory=dict)
    stamp: int | None = None  # the views' change serial when last looked at
    _postings: dict[str, set[str]] = field(default_factory=dict)
    _phonetic: dict[str, set[str]] = field(default_factory=dict)
    _neighbours: dict[str, set[str]] = field(default_factory=dict)
    _initials: dict[str, set[str]] = field(default_factory=dict)
    _ordered: list[tuple[tuple[float, float, str], CaseRow]] | None = None
    _ordered_keys: list[tuple[float, float, str]] = field(default_factory=list)
    _kinds: dict[tuple[object, ...], set[str]] = field(default_factory=dict)  # cases by kind_of()
    _facets: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # cases by public field
    _own: set[int] = field(default_factory=set)  # the change serials of this process's writes
    _pending: set[str] = field(default_factory=set)  # the cases they wrote

    # ------------------------------------------------------------------ keeping up

    def refresh(self) -> None:
        """Bring the index up to the views: nothing to do when they were not written since the
        last look; when every write since was this process's own, open again the cases those
        wrote; otherwise open again every row whose signature changed and drop those gone."""
        stamp = self.views.change_stamp()
        if stamp == self.stamp:
            return
        if self.stamp is not None and set(range(self.stamp + 1, stamp + 1)) <= self._own:
            self._reopen(sorted(self._pending))
        else:
            signatures = self.views.case_signatures()
            if not self.entries and signatures:  # the first build: one pass over every row
                self._ordered = None
                for row in self.views.cases():
                    self._put(row)
            else:
                for gone in [c for c in self.entries if c not in signatures]:
                    self._drop(gone)
                entries = self.entries
                self._reopen(
                    [c for c, s in signatures.items() if c not in entries or entries[c].signature != s]
                )
        self.stamp = stamp
        self._own = {serial for serial in self._own if serial > stamp}
        if not self._own:  # a write of this process still to come keeps the cases it names
            self._pending.clear()

    def _reopen(self, case_ids: Sequence[str]) -> None:
        if len(case_ids) > 1000:  # sorted again when next asked, rather than moved case by case
            self._ordered = None
        for start in range(0, len(case_ids), _CHUNK):
            chunk = case_ids[start : start + _CHUNK]
            rows = self.views.rows(chunk)
            for case_id in chunk:
                if case_id in rows:
                    self._put(rows[case_id])
                else:
                    self._drop(case_id)

    def applied(self, case_ids: Sequence[str], serial: int) -> None:
        """This process's views wrote these cases as change `serial` (JurisdictionViews.watch)."""
        self._own.add(serial)
        self._pending.update(case_ids)

    def _put(self, row: CaseRow) -> None:
        self._drop(row.case_id)
        # as case_signatures() gives it: the sealed value is stored empty when every field is
        signature = (row.version, row.restricted, all(getattr(row, c) is None for c in PURGED_COLUMNS))
        name = normalise(row.given_names, row.first_surname, row.second_surname)
        if row.restricted:
            name = PersonName((), ())
        keys = frozenset({form for word in name.given for form in given_forms(word)} | set(name.surnames))
        entry = self.entries[row.case_id] = _Entry(
            row, signature, name, keys, (-row.reported_at.timestamp(), row.case_id)
        )
        if self._ordered is not None:  # the list's order kept, case by case
            place = bisect.bisect_left(self._ordered_keys, (0.0, *entry.order))
            self._ordered_keys.insert(place, (0.0, *entry.order))
            self._ordered.insert(place, ((0.0, *entry.order), row))
        self._kinds.setdefault(kind_of(row), set()).add(row.case_id)
        for facet in _facets_of(row):
            self._facets.setdefault(facet, set()).add(row.case_id)
        for key in keys:
            posting = self._postings.get(key)
            if posting is None:
                posting = self._postings[key] = set()
                self._phonetic.setdefault(phonetic(key), set()).add(key)
                self._initials.setdefault(key[0], set()).add(key)
                for near in _deletes(key) | {key}:
                    self._neighbours.setdefault(near, set()).add(key)
            posting.add(row.case_id)

    def _drop(self, case_id: str) -> None:
        entry = self.entries.pop(case_id, None)
        if entry is None:
            return
        if self._ordered is not None:
            place = bisect.bisect_left(self._ordered_keys, (0.0, *entry.order))
            if place < len(self._ordered_keys) and self._ordered_keys[place] == (0.0, *entry.order):
                del self._ordered_keys[place], self._ordered[place]
        _discard(self._kinds, kind_of(entry.row), case_id)
        for facet in _facets_of(entry.row):
            _discard(self._facets, facet, case_id)
        for key in entry.keys:
            posting = self._postings.get(key)
            if posting is None:
                continue
            posting.discard(case_id)
            if not posting:  # the word leaves the vocabulary with its last case
                del self._postings[key]
                for table, at in ((self._phonetic, phonetic(key)), (self._initials, key[0])):
                    table[at].discard(key)
                    if not table[at]:
                        del table[at]
                for near in _deletes(key) | {key}:
                    self._neighbours[near].discard(key)
                    if not self._neighbours[near]:
                        del self._neighbours[near]

    # ------------------------------------------------------------------ reading

    def ordered(self) -> list[tuple[tuple[float, float, str], CaseRow]]:
        """Every case, newest report first (as the views list them), each behind its place in
        that order: (0, minus its report's timestamp, its id)."""
        if self._ordered is None:
            keyed = [((0.0, -e.row.reported_at.timestamp(), c), e.row) for c, e in self.entries.items()]
            keyed.sort(key=lambda k: k[0])
            self._ordered, self._ordered_keys = keyed, [k for k, _ in keyed]
        return self._ordered

    def after(self, key: tuple[float, float, str] | None) -> int:
        """Where in ordered() the cases after `key` begin."""
        self.ordered()
        return 0 if key is None else bisect.bisect_right(self._ordered_keys, key)

    def kinds(self) -> dict[tuple[object, ...], set[str]]:
        """The cases by kind_of(): every case of a kind is read alike by any one caller."""
        return self._kinds

    def facet(self, wanted: Sequence[tuple[str, str]]) -> set[str] | None:
        """The cases whose public fields hold every (field, value) wanted (None: no facet asked)."""
        if not wanted:
            return None
        sets = sorted((self._facets.get(w, set()) for w in wanted), key=len)
        return set(sets[0]).intersection(*sets[1:])

    def _keys_for(self, word: str) -> dict[str, float]:
        """The index keys a sought word finds, each with its similarity."""
        if len(word) == 1:
            return dict.fromkeys(self._initials.get(word, ()), 0.85)
        found: set[str] = set()
        for form in given_forms(word):
            found.update(self._phonetic.get(phonetic(form), ()))
            for near in _deletes(form) | {form}:
                found.update(self._neighbours.get(near, ()))
        scored = {key: word_similarity(word, key) for key in found}
        return {key: score for key, score in scored.items() if score >= WORD_THRESHOLD}

    def search(self, query: str, readable: Callable[[CaseRow], CaseRow | None]) -> list[Hit]:
        """The cases whose names answer `query`, scored (the best first, the rest in no order).
        `readable` gives a case as the caller may read it (None: not at all); a case whose names
        the caller may not read is never looked at by name, so it is found exactly as a case
        that does not exist."""
        words = list(dict.fromkeys(tokens(query)))
        if not words:
            return []
        per_word: list[dict[str, float]] = []
        for word in words:
            best: dict[str, float] = {}
            for key, score in sorted(self._keys_for(word).items(), key=lambda kv: -kv[1]):
                for case_id in self._postings.get(key, ()):
                    if case_id not in best:
                        best[case_id] = score
            if not best:
                return []
            per_word.append(best)
        smallest = min(per_word, key=len)
        scored: list[tuple[float, tuple[float, str], CaseRow, PersonName]] = []
        for case_id in smallest:
            if not all(case_id in found for found in per_word):
                continue
            entry = self.entries[case_id]
            shown = readable(entry.row)
            if shown is None or shown.restricted or shown.given_names != entry.row.given_names:
                continue  # the caller may not read this case's names: never found by them
            mean = sum(found[case_id] for found in per_word) / len(per_word)
            score = round(mean * 0.98 ** max(0, entry.words - len(words)), 6)
            scored.append((-score, entry.order, shown, entry.name))
        best_first = heapq.nsmallest(REFINED, scored, key=lambda s: (s[0], s[1]))
        refined = [Hit(row, _refine(words, name), order) for _, order, row, name in best_first]
        floor = min((h.score for h in refined), default=1.0)
        chosen = {h.row.case_id for h in refined}
        rest = [
            Hit(row, min(-neg, floor), order) for neg, order, row, _ in scored if row.case_id not in chosen
        ]
        return refined + rest


def _discard(table: dict[Any, set[str]], at: Any, case_id: str) -> None:
    held = table.get(at)
    if held is not None:
        held.discard(case_id)
        if not held:
            del table[at]


def kind_of(row: CaseRow) -> tuple[object, ...]:
    """What a caller's reading of a case depends on (services/caller_view.py, CallerView.case):
    two cases of one kind are read alike."""
    return (row.restricted, row.consents, row.origin, row.nationalities, row.disclosed)


FACETS = ("status", "sex", "last_seen_country", "origin")


def _facets_of(row: CaseRow) -> list[tuple[str, str]]:
    return [*((f, str(getattr(row, f))) for f in FACETS), *(("nationality", n) for n in row.nationalities)]


def _splits(words: Sequence[str]) -> Iterable[PersonName]:
    """The ways a query may name a person: given names then surnames, or surnames first."""
    if len(words) == 1:
        yield PersonName(tuple(words), ())
        yield PersonName((), tuple(words))
        return
    for k in range(1, len(words)):
        yield PersonName(tuple(words[:k]), tuple(words[k:]))
        yield PersonName(tuple(words[k:]), tuple(words[:k]))


def _refine(words: Sequence[str], name: PersonName) -> float:
    return round(max(compare(split, name).score for split in _splits(words)), 6)


def index_for(views: JurisdictionViews) -> CaseIndex:
    """This process's index of these views (kept with them, gone with them), up to date."""
    index = views.__dict__.get("_search_index")
    if not isinstance(index, CaseIndex):
        index = views.__dict__["_search_index"] = CaseIndex(views)
        views.watch(index.applied)
    index.refresh()
    return index
