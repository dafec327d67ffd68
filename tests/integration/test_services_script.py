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


def _script(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=300)


def test_a_pid_file_naming_another_process_is_neither_trusted_nor_killed(tmp_path: Path) -> None:
    """After a reboot, or on a machine made from a copy of this one's disk, a broker's pid
    file can name a live process that is no broker: `up` must start a broker, not wait on the
    stranger, and `down` must stop the broker and leave the stranger alone."""
    ports = [str(p) for p in (infra.free_port(), infra.free_port())]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CASELEDGER_")},
        "CASELEDGER_SERVICES_DIR": str(tmp_path),
        "CASELEDGER_KAFKA_PORT": ports[0],
        "CASELEDGER_KAFKA_CONTROLLER_PORT": ports[1],
        "CASELEDGER_KAFKA_HEAP": "-Xms128m -Xmx256m",
    }
    stranger = subprocess.Popen(["sleep", "600"])
    try:
        (tmp_path / "kafka.pid").write_text(f"{stranger.pid}\n")
        up = _script(env, "up", "kafka")
        assert up.returncode == 0, up.stderr
        assert "kafka already running" not in up.stderr and "starting kafka" in up.stderr
        broker = int((tmp_path / "kafka.pid").read_text())
        assert broker != stranger.pid and infra.kafka_answers(f"127.0.0.1:{ports[0]}")
        assert (tmp_path / "kafka" / "server.log").stat().st_size > 0  # the broker's log is written
        down = _script(env, "down", "kafka")
        assert down.returncode == 0, down.stderr
        assert stranger.poll() is None, "down killed a process that was not its broker"
        assert not infra.port_answers(f"127.0.0.1:{ports[0]}")
    finally:
        stranger.kill()
        stranger.wait()
        _script(env, "down", "kafka")
