"""The one case fold (ledger/case_fold.py) gives the answer the aggregate gives, for random
sequences of commands; and no second table of what a case's status becomes after an event
grows anywhere else in the tree."""

from __future__ import annotations

import ast
import contextlib
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.case import MissingPersonCase
from ledger.case_fold import STATUS_AFTER, CaseFold, fold_case
from ledger.errors import LedgerError
from ledger.vocabulary import PURPOSES
from projections.rows import status_before_closure
from tests.factories import report

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]

ACTIONS = st.sampled_from(
    ["locate", "identify", "revise", "close", "reopen", "erase", "grant", "withdraw", "withhold"]
)


def _envelope(role: str = "caseworker", organisation: str = "mx-casa-migrante-tapachula") -> dict[str, Any]:
    return {
        "command_id": str(uuid.uuid4()),
        "occurred_at": NOW,
        "recorded_by": {"organisation": organisation, "role": role},
        "purpose": "search",
    }


def _act(case: MissingPersonCase, action: str, pick: int, matches: list[str]) -> None:
    """One command on the case; a refusal (RuleBroken) leaves it as it was."""
    purpose = PURPOSES[pick % len(PURPOSES)]
    family = _envelope("family_member", "family:3f0a9c1d2e4b") if pick % 2 else _envelope()
    if action == "locate":
        case.locate_alive(_envelope(), date(2026, 5, 1), {"country": "MX"}, bool(pick % 2))
    elif action == "identify":
        match = str(uuid.uuid4())  # one match for one remains
        case.confirm_identification(_envelope(), match, str(uuid.uuid4()))
        matches.append(match)
    elif action == "revise" and matches:
        case.revise_identification(_envelope(), matches.pop(pick % len(matches)), "revised")
    elif action == "close":
        case.close(_envelope(), "other")
    elif action == "reopen":
        case.reopen(_envelope(), "new information")
    elif action == "erase":
        case.erase(_envelope("data_subject", "self"), "self")
    elif action == "grant":
        case.grant_consent(family, purpose, "family", explained_by=None, language=None, risks_explained=None)
    elif action == "withdraw":
        case.withdraw_consent(family, purpose, "family")
    elif action == "withhold":
        case.withhold_from(_envelope(), [("HN", "SV", "NI")[pick % 3]], "asylum")


def _aggregate_standing(case: MissingPersonCase) -> CaseFold:
    return CaseFold(
        status=case.status.value,
        before_closure=None if case.status_before_closure is None else case.status_before_closure.value,
        consents=frozenset(p for p, given in case.consents.items() if given),
        erased=case.erased,
        withheld=frozenset(case.withheld_countries),
    )


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(st.tuples(ACTIONS, st.integers(0, 11)), max_size=25))
def test_the_fold_answers_as_the_aggregate_does(steps: list[tuple[str, int]]) -> None:
    command = report(command_id=str(uuid.uuid4()))
    case = MissingPersonCase.report("MX", command.envelope(NOW), command.checked(NOW.date()))
    [reported] = case.collect_events()
    folded = CaseFold().after("CaseReported", vars(reported))
    names = ["CaseReported"]
    matches: list[str] = []
    for action, pick in steps:
        with contextlib.suppress(LedgerError):  # a refused command leaves the case as it was
            _act(case, action, pick, matches)
        for event in case.collect_events():  # one event a command at most
            name = type(event).__name__
            if name == "CaseReopened":
                # A reader of the event types alone (the views' timeline) finds the same status.
                assert status_before_closure(names) == case.status.value
            folded = folded.after(name, vars(event))
            names.append(name)
        assert _without_count(folded) == _aggregate_standing(case)
    # A reader of the types alone (no revision's status to read) comes to the same status.
    assert fold_case((n, None) for n in names).status == folded.status


def _without_count(fold: CaseFold) -> CaseFold:
    """The fold without its count of identifications (the aggregate keeps them by remains)."""
    return CaseFold(fold.status, fold.before_closure, 0, fold.consents, fold.erased, fold.withheld)


def test_the_fold_is_exercised_by_the_sequences() -> None:
    """Control: a sequence that passes through every status, so the test above can fail."""
    envelope = report(command_id="fold-control").envelope(NOW)
    case = MissingPersonCase.report("MX", envelope, report().checked(NOW.date()))
    matches: list[str] = []
    for action in ("locate", "close", "reopen", "identify", "identify", "revise", "close", "revise"):
        _act(case, action, 0, matches)
    folded = fold_case((type(e).__name__, vars(e)) for e in case.collect_events())
    assert (folded.status, folded.before_closure, folded.identified) == ("closed", "missing", 0)
    assert case.status_before_closure is not None and case.status_before_closure.value == "missing"
    # A fold that forgot the revision while closed would answer otherwise.
    closed = fold_case([("IdentificationConfirmed", {}), ("CaseClosed", {})])
    assert closed.before_closure == "identified_deceased"


# ------------------------------------------------------------------ one fold only

STATUS_VALUES = {"missing", "located_alive", "identified_deceased", "closed"}


def second_status_tables(source: str) -> list[int]:
    """Lines of dict literals that map an event type that sets a case's status to a status:
    a second fold's table."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Dict):
            continue
        pairs = [
            (k.value, v.value)
            for k, v in zip(node.keys, node.values, strict=True)
            if isinstance(k, ast.Constant) and isinstance(v, ast.Constant)
        ]
        if any(k in STATUS_AFTER or k == "CaseClosed" for k, v in pairs if v in STATUS_VALUES):
            found.append(node.lineno)
    return found


def test_no_second_table_of_case_status_outside_the_fold() -> None:
    offenders = []
    for path in sorted(ROOT.glob("*/**/*.py")):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in ("tests", ".venv") or relative == Path("ledger/case_fold.py"):
            continue
        for line in second_status_tables(path.read_text()):
            offenders.append(f"{relative}:{line}")
    assert offenders == [], "fold a case's status with ledger/case_fold.py, not a table of its own"


@pytest.mark.parametrize(
    "source",
    [
        '_CASE_STATUS = {"PersonLocatedAlive": "located_alive", "CaseClosed": "closed"}',
        'def f():\n    return {"IdentificationConfirmed": "identified_deceased"}.get(name)',
    ],
)
def test_the_lint_finds_a_second_table(source: str) -> None:
    """Control: the table rows.py held before the one fold is found."""
    assert second_status_tables(source) != []
    assert second_status_tables('NAMES = {"CaseClosed": "CaseClosed", "located_alive": 1}') == []
