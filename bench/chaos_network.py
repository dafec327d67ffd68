"""The chaos run's network: three nodes (MX, GT, HN) on one Kafka cluster and one PostgreSQL
server, each run as a deployment would run it, in processes a supervisor restarts:

- `serve --no-relay --views-group` the API, one member of the node's projection group, and at
  MX the feeds of the two consulates in Tapachula (Honduras's and Guatemala's);
- `relay --follow` the node's relay, alone;
- `views-worker` a second member of the node's projection group.

Processes are started with the CLI of this checkout, each logging to a file of its own."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from ledger.access_rules import SAMPLE_POLICY
from ledger.crypto import MasterKey
from services.bootstrap import build_node, public_keys
from services.settings import Settings
from services.tokens import TokenStore

ROOT = Path(__file__).resolve().parents[1]
COUNTRIES = ("MX", "GT", "HN")
CONSULATES = ("hn-consulado-tapachula", "gt-consulado-tapachula")  # MX serves their feeds
STAFF = {"MX": "mx-fiscalia-migrantes", "GT": "gt-inacif", "HN": "hn-medicina-forense"}
CLI = [sys.executable, "-c", "from services.cli import run; run()"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Process:
    """One supervised process: started again whenever it is found dead (killed or crashed)."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0
    crashes: int = 0  # deaths the fault injector did not cause
    killed: int = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            out.write(f"\n--- start {self.starts + 1} at {time.strftime('%H:%M:%S')}\n".encode())
            out.flush()
            self.popen = subprocess.Popen(self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        self.starts += 1

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def sigkill(self) -> None:
        if self.alive():
            assert self.popen is not None
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(30)
        self.killed += 1

    def stop(self) -> None:
        """SIGINT (serve, relay) or SIGTERM (views-worker): a clean stop, SIGKILL after 30 s."""
        if not self.alive():
            return
        assert self.popen is not None
        self.popen.send_signal(signal.SIGCONT)
        self.popen.send_signal(signal.SIGTERM if "views-worker" in self.argv else signal.SIGINT)
        try:
            self.popen.wait(30)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(10)


@dataclass
class NodeProcesses:
    country: str
    settings: Settings
    port: int
    token: str
    api: Process
    relay: Process
    views: Process

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def all(self) -> list[Process]:
        return [self.api, self.relay, self.views]


@dataclass
class Network:
    """The three nodes' settings, credentials and processes, and the supervisor that keeps the
    processes running."""

    bootstrap: str
    database_url: str
    where: Path
    prefix: str
    nodes: dict[str, NodeProcesses] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _supervisor: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def create(cls, bootstrap: str, database_url: str, where: Path, prefix: str) -> Network:
        network = cls(bootstrap, database_url, where, prefix)
        settings = network._settings()
        for country, s in settings.items():
            built = build_node(s)  # its schemas, topics and keys, before processes race for them
            built.close()
            token, _ = TokenStore(s.data_dir / "api-tokens.json").issue(STAFF[country], "caseworker")
            port = free_port()
            env = network._env(s)
            logs = where / "logs"
            logs.mkdir(exist_ok=True)
            feeds = [arg for c in CONSULATES for arg in ("--feed", c)] if country == "MX" else []
            serve = [*CLI, "serve", "--port", str(port), "--no-relay", "--views-group", *feeds]
            network.nodes[country] = NodeProcesses(
                country,
                s,
                port,
                token,
                Process(f"{country} api", serve, env, logs / f"{country}-api.log"),
                Process(f"{country} relay", [*CLI, "relay", "--follow"], env, logs / f"{country}-relay.log"),
                Process(f"{country} views", [*CLI, "views-worker"], env, logs / f"{country}-views.log"),
            )
        return network

    def _settings(self) -> dict[str, Settings]:
        registry = self.where / "keys" / "nodes.json"
        registry.parent.mkdir(parents=True, exist_ok=True)
        made = {
            c: Settings(
                node=c,
                kafka_bootstrap=self.bootstrap,
                database_url=self.database_url,
                topic_prefix=self.prefix,
                data_dir=self.where / c,
                node_key=self.where / "keys" / f"{c}.key",
                recipient_key=self.where / "keys" / f"{c}.x25519",
                master_key=SecretStr(MasterKey.generate_config_value()),
                key_registry=registry,
                access_rules=SAMPLE_POLICY,
                relay_batch_size=50,
                projection_batch_size=50,
                projection_group_session_s=6.0,  # the brokers' least: a killed worker's share moves in 6 s
            )
            for c in COUNTRIES
        }
        for s in made.values():
            s.data_dir.mkdir(parents=True, exist_ok=True)
        registry.write_text(json.dumps({c: public_keys(s) for c, s in made.items()}))
        return made

    def _env(self, s: Settings) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CASELEDGER_")}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
        assert s.master_key is not None
        env.update(
            CASELEDGER_NODE=s.node,
            CASELEDGER_KAFKA_BOOTSTRAP=self.bootstrap,
            CASELEDGER_DATABASE_URL=self.database_url,
            CASELEDGER_TOPIC_PREFIX=self.prefix,
            CASELEDGER_DATA_DIR=str(s.data_dir),
            CASELEDGER_NODE_KEY=str(s.node_key),
            CASELEDGER_RECIPIENT_KEY=str(s.recipient_key),
            CASELEDGER_MASTER_KEY=s.master_key.get_secret_value(),
            CASELEDGER_KEY_REGISTRY=str(s.key_registry),
            CASELEDGER_ACCESS_RULES=str(s.access_rules),
            CASELEDGER_RELAY_BATCH_SIZE=str(s.relay_batch_size),
            CASELEDGER_PROJECTION_BATCH_SIZE=str(s.projection_batch_size),
            CASELEDGER_PROJECTION_GROUP_SESSION_S=str(s.projection_group_session_s),
        )
        return env

    # ------------------------------------------------------------ running
    def processes(self) -> list[Process]:
        return [p for n in self.nodes.values() for p in n.all()]

    def start(self, timeout_s: float = 180) -> None:
        for process in self.processes():
            process.start()
        deadline = time.monotonic() + timeout_s
        for node in self.nodes.values():
            while not _answers(f"{node.base}/health"):
                dead = [p.name for p in self.processes() if not p.alive()]
                if dead or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the nodes did not start ({dead or 'timed out'}); see {self.where}/logs"
                    )
                time.sleep(0.3)
        self._supervisor = threading.Thread(target=self._supervise, name="supervisor", daemon=True)
        self._supervisor.start()

    def _supervise(self) -> None:
        """As systemd would: a process found dead is started again at once."""
        while not self._stop.wait(0.5):
            with self._lock:
                for process in self.processes():
                    if process.popen is not None and not process.alive():
                        process.crashes += 1
                        process.start()

    def kill(self, process: Process) -> None:
        """SIGKILL, then started again as the supervisor would (counted as killed, not crashed)."""
        with self._lock:
            process.sigkill()
            process.start()

    def stop(self) -> None:
        self._stop.set()
        if self._supervisor is not None:
            self._supervisor.join(10)
        for process in self.processes():
            process.stop()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False
