"""compose/services: `up` on running services leaves them alone; `status` reports both."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests import infrastructure as infra

SCRIPT = Path(__file__).resolve().parents[2] / "compose" / "services"
pytestmark = pytest.mark.integration


def test_up_twice_is_harmless_and_status_reports_both() -> None:
    if os.environ.get("CASELEDGER_KAFKA_BOOTSTRAP") or not infra.kafka_answers(infra.SCRIPT_KAFKA):
        pytest.fail("this test checks the script's own services: run `compose/services up` first")
    before = subprocess.run([str(SCRIPT), "status"], capture_output=True, text=True, timeout=60)
    assert before.returncode == 0, before.stdout + before.stderr
    again = subprocess.run([str(SCRIPT), "up"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "kafka already running" in again.stderr and "postgresql already running" in again.stderr
    after = subprocess.run([str(SCRIPT), "status"], capture_output=True, text=True, timeout=60)
    assert after.stdout.splitlines()[:2] == before.stdout.splitlines()[:2]  # same pids: nothing restarted
    assert "kafka: running" in after.stdout and "postgresql: running" in after.stdout
    env = subprocess.run([str(SCRIPT), "env"], capture_output=True, text=True, timeout=10).stdout
    assert f"CASELEDGER_KAFKA_BOOTSTRAP={infra.SCRIPT_KAFKA}" in env
