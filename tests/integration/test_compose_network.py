"""compose/docker-compose.yml's three-country network, run without Docker (this machine has no
engine): the services' own commands and environments, read from the file, run as processes
against the real Kafka broker and PostgreSQL server, with the containers' paths and host names
mapped to local ones. A case reported at node-mx reaches node-gt's view with the name the MX–GT
search agreement lets Guatemala read: keys, registry, rules and serve are wired as the file says."""

from __future__ import annotations

import json
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infrastructure import ROOT, cli_env, free_port, interruptible

pytestmark = pytest.mark.integration
COMPOSE = ROOT / "compose" / "docker-compose.yml"
CLI = [sys.executable, "-c", "from services.cli import run; run()"]
# An organisation of each node's jurisdiction in the sample rules: the API answers from its views.
READER = {"node-mx": "mx-busqueda-nacional", "node-gt": "gt-inacif", "node-hn": "hn-cofamipro"}


def caseledger_part(command: list[str]) -> list[str]:
    """The `caseledger …` command a service runs after installing the project."""
    return shlex.split(command[-1].split(" && ")[-1])[1:]


def install_part(command: list[str]) -> str:
    """What a service runs before its `caseledger …` command: the project's installation."""
    return " && ".join(command[-1].split(" && ")[:-1])


def test_each_service_installs_the_project_from_its_read_only_mount(tmp_path: Path) -> None:
    """The services mount the project read-only (`..:/src:ro`), and setuptools builds in the
    source tree, so a service must install from a copy: run as the file says, into a target
    folder of its own, the step leaves the mount exactly as it found it."""
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    steps = {install_part(s["command"]) for s in services.values() if "command" in s}
    assert len(steps) == 1, steps  # one way to install, in every service
    mount = tmp_path / "src"
    shutil.copytree(
        ROOT,
        mount,
        ignore=shutil.ignore_patterns(".git", "build", "*.egg-info", "__pycache__", ".*cache", ".caseledger"),
    )

    def tree() -> dict[str, float]:
        return {str(p.relative_to(mount)): p.stat().st_mtime for p in mount.rglob("*")}

    before = tree()
    step = steps.pop().replace("/src", str(mount)).replace("/tmp/caseledger", str(tmp_path / "copy"))
    assert "pip install" in step
    step = step.replace(
        "pip install", f"{sys.executable} -m pip install --target {tmp_path / 'installed'} --no-deps"
    )
    done = subprocess.run(["sh", "-c", step], env=cli_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "installed" / "services" / "cli" / "__init__.py").is_file()
    pages = tmp_path / "installed" / "services" / "http" / "pages"
    assert all((pages / "templates" / name).is_file() for name in ("base.html", "caseledger.css"))
    after = tree()
    assert after == before, (
        f"the install wrote into the read-only mount: {sorted(set(after) - set(before))[:5]}"
    )


def call(url: str, token: str, body: dict[str, Any] | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}", "X-Purpose": "search", "Content-Type": "application/json"}
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body else None,
        headers=headers,
        method="POST" if body else "GET",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_the_three_country_network_of_the_compose_file(
    kafka_bootstrap: str, database_url: str, unique: str, tmp_path: Path
) -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    local = {
        "kafka:9092": kafka_bootstrap,
        "postgresql://caseledger@postgres:5432/caseledger": database_url,
        "/keys": str(tmp_path / "keys"),
        "/src": str(ROOT),
    }

    def mapped(value: str, data: Path) -> str:
        for container, host in local.items():
            value = value.replace(container, host)
        return value.replace("/data", str(data))

    keys = subprocess.run(
        [*CLI, *(mapped(a, tmp_path) for a in caseledger_part(services["network-keys"]["command"]))],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert keys.returncode == 0, keys.stderr
    nodes: dict[str, dict[str, Any]] = {}
    try:
        for name in ("node-mx", "node-gt", "node-hn"):
            service = services[name]
            data = tmp_path / name
            env = cli_env(
                **{k: mapped(str(v), data) for k, v in service["environment"].items()},
                CASELEDGER_TOPIC_PREFIX=f"compose{unique}.",  # this test's own topics on a shared broker
            )
            issued = subprocess.run(
                [*CLI, "token", "issue", READER[name], "--role", "caseworker"],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert issued.returncode == 0, issued.stderr
            port = free_port()
            command = [a.replace("0.0.0.0", "127.0.0.1") for a in caseledger_part(service["command"])]
            command[command.index("--port") + 1] = str(port)
            process = subprocess.Popen(
                [*CLI, *command],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                preexec_fn=interruptible,
            )
            nodes[name] = {
                "process": process,
                "url": f"http://127.0.0.1:{port}",
                "token": issued.stdout.split()[-1],
                "env": env,
            }
        for node in nodes.values():
            deadline = time.monotonic() + 90
            while True:
                try:
                    with urllib.request.urlopen(f"{node['url']}/openapi.json", timeout=5):
                        break
                except OSError:
                    assert time.monotonic() < deadline and node["process"].poll() is None, (
                        "a node did not come up"
                    )
                    time.sleep(0.3)

        mx, gt = nodes["node-mx"], nodes["node-gt"]
        report = {
            "given_names": "Wendy Carolina",
            "first_surname": "Ajú",
            "sex": "female",
            "nationalities": ["GT"],
            "date_of_birth": "1999-02-14",
            "last_seen_date": "2026-05-20",
            "last_seen_country": "MX",
            "consented_purposes": ["search"],
            "consent_explained_by": "Casa del Migrante",
            "consent_language": "es",
        }
        case_id = call(f"{mx['url']}/cases", mx["token"], report)["id"]
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + 90
        while not (seen and seen[0]["given_names"]) and time.monotonic() < deadline:
            seen = [c for c in call(f"{gt['url']}/cases", gt["token"]) if c["case_id"] == case_id]
            time.sleep(0.5)
        assert seen and seen[0]["given_names"] == "Wendy Carolina", (
            "GT's node opened MX's grant and shows the name"
        )
        hn = nodes["node-hn"]
        deadline = time.monotonic() + 60
        held = ""
        while case_id not in held and time.monotonic() < deadline:  # HN's node projects the case
            held = subprocess.run(
                [*CLI, "cases", "--as", "HN", "--no-sync"],
                env=hn["env"],
                capture_output=True,
                text=True,
                timeout=120,
            ).stdout
            time.sleep(0.5)
        assert case_id in held and "Wendy" not in held, "HN's views hold the public tier only"
        in_hn = [c for c in call(f"{hn['url']}/cases", hn["token"]) if c["case_id"] == case_id]
        assert in_hn == [], "no agreement lets Honduras's organisations read MX's case, even its public tier"
    finally:
        for node in nodes.values():
            node["process"].send_signal(signal.SIGINT)
        for node in nodes.values():
            _out, err = node["process"].communicate(timeout=60)
            assert "Traceback" not in err, err
