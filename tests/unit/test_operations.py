"""What an operator asks a node: /health, /ready (views within a bound of the log), /metrics
(Prometheus text), and `caseledger --version`."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ledger.access_rules import SAMPLE_POLICY
from services.bootstrap import Node, build_node
from services.http.app import create_app
from services.http.operations import add_operations
from services.settings import Settings
from services.tokens import TokenStore
from tests.infrastructure import cli_env

REPORT = {
    "given_names": "Yesenia",
    "first_surname": "Cruz",
    "sex": "female",
    "nationalities": ["HN"],
    "date_of_birth": "1994-10-10",
    "last_seen_date": "2026-05-05",
    "last_seen_country": "MX",
    "consented_purposes": ["search"],
    "consent_explained_by": "Fiscalía: Ana Ruiz",
    "consent_language": "es",
}


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    built = build_node(Settings(node="MX", data_dir=tmp_path, access_rules=SAMPLE_POLICY))
    yield built
    built.close()


def test_health_answers_without_a_credential(node: Node, tmp_path: Path) -> None:
    api = TestClient(create_app(node, TokenStore(tmp_path / "tokens.json")))
    response = api.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "alive", "node": "MX"}


def test_ready_only_while_the_views_are_within_the_bound(node: Node, tmp_path: Path) -> None:
    tokens = TokenStore(tmp_path / "tokens.json")
    token, _ = tokens.issue("mx-fiscalia-migrantes", "caseworker", None)
    headers = {"Authorization": f"Bearer {token}", "X-Purpose": "search"}
    api = TestClient(create_app(node, tokens))  # no catch-up: nothing projects behind our back
    for n in range(3):
        assert (
            api.post("/cases", json=REPORT, headers={**headers, "Idempotency-Key": f"k{n}"}).status_code
            == 201
        )
    node.relay.run_once()
    strict = FastAPI()
    add_operations(strict, node, __import__("threading").RLock(), ready_lag=2)
    behind = TestClient(strict).get("/ready")
    assert behind.status_code == 503 and behind.json()["behind"] == 3  # the control: three unapplied
    assert behind.headers["Retry-After"] == "5"
    node.sync("MX")
    caught_up = TestClient(strict).get("/ready")
    assert caught_up.status_code == 200 and caught_up.json() == {"status": "ready", "behind": 0}


def test_metrics_count_relayed_events_lag_and_requests_by_status(node: Node, tmp_path: Path) -> None:
    tokens = TokenStore(tmp_path / "tokens.json")
    token, _ = tokens.issue("mx-fiscalia-migrantes", "caseworker", None)
    headers = {"Authorization": f"Bearer {token}", "X-Purpose": "search"}
    api = TestClient(create_app(node, tokens))
    assert api.post("/cases", json=REPORT, headers=headers).status_code == 201
    assert api.get("/cases", headers={"X-Purpose": "search"}).status_code == 401
    node.relay.run_once()
    text = api.get("/metrics").text
    assert re.search(r'^caseledger_events_relayed_total\{node="MX"\} 1$', text, re.M), text
    assert re.search(r'^caseledger_dead_letters_total\{node="MX"\} 0$', text, re.M), text
    assert re.search(r'^caseledger_http_requests_total\{method="POST",status="201"\} 1$', text, re.M)
    assert re.search(r'^caseledger_http_requests_total\{method="GET",status="401"\} 1$', text, re.M)
    lag = re.findall(
        r'^caseledger_views_lag_events\{node="MX",topic="[^"]+",partition="\d+"\} (\d+)$', text, re.M
    )
    assert lag and sum(map(int, lag)) == 1  # the relayed report, not yet in the views
    for line in text.splitlines():  # every sample line is a name, labels and a number
        assert line.startswith("#") or re.match(r"^[a-z_]+\{[^}]*\} \d+$", line), line


def test_version() -> None:
    shown = subprocess.run(
        [sys.executable, "-c", "from services.cli import run; run()", "--version"],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=60,
    )
    assert shown.returncode == 0 and re.fullmatch(r"caseledger \d+\.\d+\.\d+\n", shown.stdout), shown
