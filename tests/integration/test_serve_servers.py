"""`caseledger serve` on Kafka and PostgreSQL from configuration: the node's API takes a report
over HTTP, its relay publishes it and its views show it, with no one syncing by hand."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.infrastructure import cli_env, interruptible

pytestmark = pytest.mark.integration
CLI = [sys.executable, "-c", "from services.cli import run; run()"]


def test_a_served_node_on_the_servers_answers_over_http(
    kafka_bootstrap: str, database_url: str, unique: str, tmp_path: Path
) -> None:
    env = cli_env(
        CASELEDGER_KAFKA_BOOTSTRAP=kafka_bootstrap,
        CASELEDGER_DATABASE_URL=database_url,
        CASELEDGER_TOPIC_PREFIX=f"serve{unique}.",
        CASELEDGER_DATA_DIR=str(tmp_path),
    )
    issued = subprocess.run(
        [*CLI, "token", "issue", "Casa del Migrante", "--role", "caseworker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert issued.returncode == 0, issued.stderr
    headers = {"Authorization": f"Bearer {issued.stdout.split()[-1]}", "X-Purpose": "search"}
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [*CLI, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:  # the API answers once the node is up
            try:
                with urllib.request.urlopen(f"{base}/openapi.json", timeout=5):
                    break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "serve did not come up"
                time.sleep(0.3)
        report = {
            "given_names": "Marvin",
            "first_surname": "Aguilar",
            "sex": "male",
            "nationalities": ["SV"],
            "date_of_birth": "1997-06-30",
            "last_seen_date": "2026-06-01",
            "last_seen_country": "MX",
            "consented_purposes": ["search"],
            "consent_explained_by": "Casa del Migrante",
            "consent_language": "es",
        }
        request = urllib.request.Request(
            f"{base}/cases",
            data=json.dumps(report).encode(),
            headers={**headers, "Content-Type": "application/json", "Idempotency-Key": "serve-1"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 201
            case_id = json.loads(response.read())["id"]
        listed: list[dict[str, object]] = []
        deadline = time.monotonic() + 60
        while not listed and time.monotonic() < deadline:  # relayed to Kafka, projected into PostgreSQL
            with urllib.request.urlopen(
                urllib.request.Request(f"{base}/cases", headers=headers), timeout=30
            ) as r:
                listed = [c for c in json.loads(r.read()) if c["case_id"] == case_id]
            time.sleep(0.3)
        assert listed and listed[0]["given_names"] == "Marvin"
    finally:
        server.send_signal(signal.SIGINT)
        _out, err = server.communicate(timeout=60)
    assert server.returncode == 0 and "Traceback" not in err, err
