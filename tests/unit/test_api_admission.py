"""Overload: commands beyond the node's bound get 503 with Retry-After at once, reads and the
operations routes still answer, and every command the API acknowledged is on the ledger."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger.access_rules import SAMPLE_POLICY
from services.bootstrap import Node, build_node
from services.http.admission import Gate
from services.http.app import create_app
from services.settings import Settings
from services.tokens import TokenStore
from tests.unit.test_operations import REPORT

Held = tuple[Node, threading.Event, TestClient, dict[str, str]]


def _reported(node: Node) -> list[str]:
    """The cases the ledger holds a CaseReported for (reads add their own audit records)."""
    notifications = node.ledger.recorder.select_notifications(start=1, limit=10_000)
    return [str(n.originator_id) for n in notifications if n.topic.endswith("CaseReported")]


def _node(tmp_path: Path, limit: int) -> Node:
    settings = Settings(
        node="MX", data_dir=tmp_path, access_rules=SAMPLE_POLICY, api_max_commands=limit, api_max_wait_s=3600
    )
    return build_node(settings)


@pytest.fixture
def held(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Held]:
    """A node whose bound is 2 and whose reports wait, once admitted, until the test releases them."""
    node = _node(tmp_path, limit=2)
    release = threading.Event()
    real = node.ledger.report_missing_person

    def slow(command: Any) -> Any:
        assert release.wait(20), "the test never released the held commands"
        return real(command)

    monkeypatch.setattr(node.ledger, "report_missing_person", slow)
    tokens = TokenStore(tmp_path / "tokens.json")
    token, _ = tokens.issue("mx-fiscalia-migrantes", "caseworker", None)
    headers = {"Authorization": f"Bearer {token}", "X-Purpose": "search"}
    api = TestClient(create_app(node, tokens, catch_up=True))
    try:
        yield node, release, api, headers
    finally:
        release.set()
        node.close()


def _gate(api: TestClient) -> Gate:
    gate = api.app.state.admission  # type: ignore[attr-defined]
    assert isinstance(gate, Gate)
    return gate


def _wait_for(predicate: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_commands_beyond_the_bound_get_503_at_once_and_nothing_acknowledged_is_lost(
    held: Held,
) -> None:
    node, release, api, headers = held
    gate = _gate(api)
    with ThreadPoolExecutor(2) as pool:
        admitted = [
            pool.submit(api.post, "/cases", json=REPORT, headers={**headers, "Idempotency-Key": f"in-{n}"})
            for n in range(2)
        ]
        _wait_for(lambda: gate.in_flight == 2)
        refused = []
        for n in range(10):  # the node is full: each answer comes at once, not after a timeout
            started = time.perf_counter()
            answer = api.post("/cases", json=REPORT, headers={**headers, "Idempotency-Key": f"over-{n}"})
            refused.append((answer, time.perf_counter() - started))
        # /health is not a command: it still answers (/ready and /metrics wait for the node's
        # lock, which the held command keeps; they are not refused either, see below)
        assert api.get("/health").status_code == 200
        release.set()
        acknowledged = [future.result() for future in admitted]
    for answer, took in refused:
        assert answer.status_code == 503, answer.text
        assert answer.headers["Retry-After"] == "1"
        assert answer.headers["Content-Type"] == "application/json"  # the API's one error shape
        assert answer.headers["X-Content-Type-Options"] == "nosniff"  # the security headers too
        body = answer.json()
        (item,) = body["detail"]
        assert body["reason"] == item["type"] == "overloaded" and "nothing was recorded" in item["msg"]
        assert took < 1.0  # refused at once
    assert [a.status_code for a in acknowledged] == [201, 201]
    # a refused command sent again with its key, once there is room, is recorded once
    again = api.post("/cases", json=REPORT, headers={**headers, "Idempotency-Key": "over-0"})
    assert again.status_code == 201
    ids = {a.json()["id"] for a in acknowledged} | {again.json()["id"]}
    for case_id in ids:  # every acknowledged command is on the ledger
        assert api.get(f"/cases/{case_id}", headers=headers).status_code == 200
    assert sorted(_reported(node)) == sorted(ids)  # and nothing refused is, nothing twice
    text = api.get("/metrics").text
    assert re.search(
        r'^caseledger_api_commands_refused_total\{node="MX",reason="overloaded"\} 10$', text, re.M
    )
    assert re.search(r'^caseledger_api_commands_in_flight\{node="MX"\} 0$', text, re.M)
    assert re.search(r'^caseledger_http_requests_total\{method="POST",status="503"\} 10$', text, re.M)
    assert gate.in_flight == 0


def test_control_under_the_bound_nothing_is_refused(tmp_path: Path) -> None:
    node = _node(tmp_path, limit=16)
    try:
        tokens = TokenStore(tmp_path / "tokens.json")
        token, _ = tokens.issue("mx-fiscalia-migrantes", "caseworker", None)
        headers = {"Authorization": f"Bearer {token}", "X-Purpose": "search"}
        api = TestClient(create_app(node, tokens))
        with ThreadPoolExecutor(8) as pool:  # eight at a time, under the bound of sixteen
            answers = list(
                pool.map(
                    lambda n: api.post(
                        "/cases", json=REPORT, headers={**headers, "Idempotency-Key": f"k{n}"}
                    ),
                    range(24),
                )
            )
        assert [a.status_code for a in answers] == [201] * 24
        assert _gate(api).refused == 0 and _gate(api).in_flight == 0
        assert sorted(_reported(node)) == sorted(a.json()["id"] for a in answers)
    finally:
        node.close()


def test_the_gate_counts_and_frees_its_places() -> None:
    gate = Gate(2, 3)
    assert gate.enter() and gate.enter() and not gate.enter()
    gate.leave(0.01)
    assert gate.enter() and not gate.enter()
    assert (gate.in_flight, gate.refused) == (2, 2)
    with pytest.raises(ValueError, match="api_max_commands"):
        Gate(0, 1)
    with pytest.raises(ValueError, match="api_max_wait_s"):
        Gate(1, 1, 0)


def test_the_gate_refuses_what_would_wait_longer_than_the_bound_at_the_nodes_pace() -> None:
    gate = Gate(100, 1, max_wait_s=1.0)
    assert gate.enter()  # none in flight: always admitted
    gate.leave(0.3, now=10.0)  # the node answers a command in 0.3 s
    assert gate.pace == pytest.approx(0.3)
    assert gate.enter() and gate.enter() and gate.enter()  # the third waits 0.9 s: admitted
    assert not gate.enter()  # a fourth would wait 1.2 s: refused, though far under the count
    assert gate.refused == 1
    gate.leave(0.5, now=10.5)  # commands were waiting: the pace is the time between answers
    assert gate.pace == pytest.approx(0.8 * 0.3 + 0.2 * 0.5)
    control = Gate(100, 1, max_wait_s=None)  # no time bound: only the count refuses
    control.enter()
    control.leave(5.0)
    assert all(control.enter() for _ in range(50))


def test_a_stale_slow_pace_never_shuts_an_idle_node() -> None:
    gate = Gate(100, 1, max_wait_s=1.0)
    gate.enter()
    gate.leave(30.0)  # one command took 30 s (the database restarted, say)
    assert gate.enter()  # idle: admitted anyway, and its answer renews the pace
    assert not gate.enter()
    gate.leave(0.01, now=1000.0)
    assert gate.pace == pytest.approx(0.8 * 30.0 + 0.2 * 0.01)


def test_a_bound_below_one_is_refused_with_the_setting_named() -> None:
    with pytest.raises(ValueError, match="api_max_commands"):
        Settings(api_max_commands=0)
