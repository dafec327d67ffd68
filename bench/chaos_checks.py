"""What the chaos run checks once the faults are over, as pure functions over what it read:

- every command the API acknowledged is on its origin's events topic exactly once, and each
  case's events are there in version order (1, 2, 3 ... by offset);
- nothing else is there: no event the API did not acknowledge, no command it refused;
- each consulate's feed holds every event it may see exactly once, and nothing else;
- per round (by the instant the API acknowledged): accepted, published, projected, lost,
  duplicated.

The reading of topics and views lives in bench/chaos_state.py; these functions only count."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from bench.chaos_load import Command

# (case id, version): one event of one case
Event = tuple[str, int]


@dataclass(frozen=True)
class OnTopic:
    """One record of an events topic, as the checks need it."""

    key: str
    version: int
    partition: int
    offset: int
    event_type: str
    command_id: str | None = None  # from the opened envelope, where the reader holds the key


@dataclass
class OriginFindings:
    lost: list[Event] = field(default_factory=list)
    duplicated: list[tuple[Event, int]] = field(default_factory=list)
    out_of_order: list[str] = field(default_factory=list)
    unexpected: list[tuple[Event, str]] = field(default_factory=list)  # on the topic, never acknowledged
    refused_present: list[str] = field(default_factory=list)

    def problems(self, origin: str) -> list[str]:
        said = []
        if self.lost:
            said.append(f"{origin}: {len(self.lost)} acknowledged events missing, e.g. {self.lost[:3]}")
        if self.duplicated:
            said.append(f"{origin}: {len(self.duplicated)} events more than once, e.g. {self.duplicated[:3]}")
        if self.out_of_order:
            said.append(
                f"{origin}: {len(self.out_of_order)} cases out of version order, e.g. {self.out_of_order[:3]}"
            )
        if self.unexpected:
            said.append(
                f"{origin}: {len(self.unexpected)} events never acknowledged, e.g. {self.unexpected[:3]}"
            )
        if self.refused_present:
            said.append(
                f"{origin}: {len(self.refused_present)} refused commands recorded: {self.refused_present[:3]}"
            )
        return said


def acknowledged_events(commands: Iterable[Command]) -> dict[Event, Command]:
    """The event each acknowledged report or sighting recorded."""
    found: dict[Event, Command] = {}
    for c in commands:
        if c.acknowledged and c.kind in ("report", "sighting"):
            assert c.case_id is not None and c.version is not None
            found[(c.case_id, c.version)] = c
    return found


def check_origin(
    commands: Sequence[Command], records: Sequence[OnTopic], allowed_others: Callable[[OnTopic], bool]
) -> OriginFindings:
    """The origin's topic against the commands sent to its API. allowed_others: whether a record
    of an aggregate no command names may be there (the audit log of reads, say)."""
    acknowledged = acknowledged_events(commands)
    cases = {case for case, _ in acknowledged}
    counts = Counter((r.key, r.version) for r in records if r.key in cases)
    findings = OriginFindings()
    findings.lost = sorted(e for e in acknowledged if counts[e] == 0)
    findings.duplicated = sorted((e, n) for e, n in counts.items() if n > 1)
    by_case: dict[str, list[tuple[int, int, int]]] = {}
    for r in records:
        if r.key in cases:
            by_case.setdefault(r.key, []).append((r.partition, r.offset, r.version))
        elif not allowed_others(r):
            findings.unexpected.append(((r.key, r.version), r.event_type))
    for case, seen in sorted(by_case.items()):
        if len({p for p, _, _ in seen}) != 1 or [v for _, _, v in sorted(seen)] != sorted(
            v for *_, v in seen
        ):
            findings.out_of_order.append(case)
    findings.unexpected += sorted((e, "") for e in counts if e not in acknowledged)
    refused = {c.command_id: c for c in commands if c.refused and c.kind != "reused"}
    # Each with the answers its attempts got (0: none), to say how a recorded command came to
    # be refused: a retry after an answer lost, or a refusal of the first attempt.
    findings.refused_present = sorted(
        f"{command_id} ({refused[command_id].kind}, answers {refused[command_id].answers})"
        for command_id in (r.command_id.rpartition("#")[0] or r.command_id for r in records if r.command_id)
        if command_id in refused
    )
    return findings


@dataclass(frozen=True)
class FeedItem:
    case_id: str
    version: int
    event_type: str


def check_feed(
    organisation: str, expected: set[Event], items: Sequence[FeedItem], allowed: set[Event]
) -> list[str]:
    """Every event the consulate may see on its feed exactly once; nothing it may not.
    allowed: events that may be there besides (commands never answered for good)."""
    counts = Counter((i.case_id, i.version) for i in items if i.event_type != "ItemsRetracted")
    missing = sorted(expected - set(counts))
    twice = sorted(e for e, n in counts.items() if n > 1)
    stray = sorted(set(counts) - expected - allowed)
    said = []
    if missing:
        said.append(f"feed {organisation}: {len(missing)} events missing, e.g. {missing[:3]}")
    if twice:
        said.append(f"feed {organisation}: {len(twice)} events more than once, e.g. {twice[:3]}")
    if stray:
        said.append(f"feed {organisation}: {len(stray)} events it may not see, e.g. {stray[:3]}")
    return said


@dataclass
class RoundCounts:
    round: int
    accepted: int = 0
    published: int = 0
    projected: int = 0
    lost: int = 0
    duplicated: int = 0
    refused: int = 0

    def line(self) -> str:
        return (
            f"round {self.round:>2}: accepted {self.accepted:>5}  published {self.published:>5}  "
            f"projected {self.projected:>5}  lost {self.lost:>3}  duplicated {self.duplicated:>3}  "
            f"(refused {self.refused})"
        )


def round_counts(
    windows: Sequence[tuple[float, float]],
    commands: Iterable[Command],
    published: Counter[Event],
    projected: set[Event],
) -> list[RoundCounts]:
    """Per round, by the instant the API answered: the commands it acknowledged, how many of
    their events are on their origin's topic (published), in every node's views that show the
    case (projected), on no topic (lost), or on it more than once (duplicated)."""
    rounds = [RoundCounts(n + 1) for n in range(len(windows))]
    for c in commands:
        if c.answered_at is None:
            continue
        n = next((i for i, (a, b) in enumerate(windows) if a <= c.answered_at < b), None)
        if n is None:
            continue
        if c.refused:
            rounds[n].refused += 1
        if not (c.acknowledged and c.kind in ("report", "sighting")):
            continue
        assert c.case_id is not None and c.version is not None
        event = (c.case_id, c.version)
        counts = rounds[n]
        counts.accepted += 1
        counts.published += published[event] > 0
        counts.projected += event in projected
        counts.lost += published[event] == 0
        counts.duplicated += published[event] > 1
    return rounds
