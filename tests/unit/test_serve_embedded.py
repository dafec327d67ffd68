"""`caseledger serve` publishes and projects beside the command path: a report made by another
process shows up in the view without anyone syncing, and the node's API answers for it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.infrastructure import cli_env, free_port, interruptible

CLI = [sys.executable, "-c", "from services.cli import run; run()"]


def test_serve_keeps_the_view_current(tmp_path: Path) -> None:
    env = cli_env()
    env["CASELEDGER_DATA_DIR"] = str(tmp_path)
    issued = subprocess.run(
        [*CLI, "token", "issue", "mx-fiscalia-migrantes", "--role", "caseworker"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.split()[-1]
    port = free_port()
    server = subprocess.Popen(
        [*CLI, "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as at a terminal: a test run in the background (`pytest &`) passes Ctrl-C
        # ignored to its children, and serve would miss it until its web server took it over.
        preexec_fn=interruptible,
    )
    try:
        reported = subprocess.run(
            [
                *CLI,
                "-v",  # a failure's traceback in its stderr
                "report",
                "--consent",
                "search",
                "--consent-explained-by",
                "Casa del Migrante",
                "--consent-language",
                "es",
                "--given-names",
                "Yesenia",
                "--first-surname",
                "Cruz",
                "--sex",
                "female",
                "--nationality",
                "NI",
                "--last-seen-date",
                "2026-05-05",
                "--last-seen-country",
                "MX",
                "--date-of-birth",
                "1994-10-10",
            ],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert reported.returncode == 0, f"report failed while serve ran:\n{reported.stderr}"
        deadline = time.monotonic() + 30
        listed = ""
        while "Yesenia Cruz" not in listed and time.monotonic() < deadline:
            listed = subprocess.run(
                [*CLI, "cases", "--as", "MX", "--no-sync"],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=60,
            ).stdout
            time.sleep(0.3)
        assert "Yesenia Cruz" in listed
        # The same node answers over HTTP, with the token issued above.
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/cases",
            headers={"Authorization": f"Bearer {token}", "X-Purpose": "search"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            cases = json.loads(response.read())
        assert [c["given_names"] for c in cases] == ["Yesenia"]
    finally:
        server.send_signal(signal.SIGINT)
        try:
            _out, err = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()  # no server left running after the test
            _out, err = server.communicate()
            raise AssertionError(f"serve did not stop on Ctrl-C within 30 s:\n{err}") from None
    assert server.returncode == 0, err
    assert "Traceback" not in err
