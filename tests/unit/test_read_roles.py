"""Who sees what is owed to families beyond their own organisation's (ledger/read_roles.py)."""

from __future__ import annotations

from ledger.read_roles import OVERSEERS, sees_overdue
from ledger.roles import KIND_ROLES


def test_an_organisation_sees_its_own_overdue_items_in_any_role() -> None:
    assert sees_overdue("mx-fiscalia", "caseworker", ("mx-fiscalia", "gt-consulado"), "c1")
    assert not sees_overdue("mx-cndh", "caseworker", ("mx-fiscalia", "gt-consulado"), "c1")  # control


def test_an_overseer_sees_those_of_the_cases_it_may_read() -> None:
    readable = {"c1"}.__contains__
    assert sees_overdue("mx-cndh", "commissioner", ("mx-fiscalia",), "c1", readable)
    assert not sees_overdue("mx-cndh", "commissioner", ("mx-fiscalia",), "c2", readable)
    assert sees_overdue("mx-cndh", "investigator", ("mx-fiscalia",), "c2")  # None: every case
    assert not sees_overdue("mx-cndh", "consular_officer", ("mx-fiscalia",), "c1", readable)


def test_overseers_are_roles_a_national_body_holds() -> None:
    assert OVERSEERS.issubset(KIND_ROLES["commission"])
    assert not OVERSEERS.issubset(KIND_ROLES["ngo"])  # control
