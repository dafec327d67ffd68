"""Overload: a node (`caseledger serve`, Kafka + PostgreSQL) driven at twice the rate it
sustains answers the excess 503 with Retry-After at once instead of timing out, its memory
stays flat, and every command it acknowledged is on its ledger.

The baseline, in the same run, is the node's sustained rate: closed-loop clients (each sends
its next report when the last is answered) for --seconds. The overload phase then offers
reports open-loop (on a fixed schedule, whether answered or not) at --factor times that rate
for --seconds. Printed: acknowledged (201), refused (503 with Retry-After), failed (timeouts,
other statuses), lost (acknowledged but not on the ledger: must be 0), latency of answers, and
the server's resident memory at the start, the peak and the end of each phase.

    python3 bench/overload.py [--seconds 15] [--factor 2] [--clients 4] [--max-commands 32]

--max-commands 100000 --max-wait 100000 shows the same load without admission control (the
contrast: commands queue until clients time out).
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import KAFKA, fresh_database, scratch
from services.bootstrap import build_node
from services.settings import Settings
from services.tokens import TokenStore
from tests.unit.test_operations import REPORT

ROOT = Path(__file__).resolve().parents[1]
SERVE = "from services.cli import run; run()"
# The API as `caseledger serve` runs it (uvicorn, one process), without its relay and views.
API_ONLY = (
    "import sys, uvicorn\n"
    "from services.http.app import create_app\n"
    "from services.bootstrap import build_node\n"
    "from services.cli.serve import token_store\n"
    "from services.settings import Settings\n"
    "settings = Settings()\n"
    "app = create_app(build_node(settings), token_store(settings.data_dir))\n"
    "uvicorn.run(app, host='127.0.0.1', port=int(sys.argv[1]), log_level='warning', access_log=False)\n"
)
TIMEOUT_S = 10.0


def distinct_report() -> dict[str, object]:
    """A report of a person no other report names: identical bodies would each be a possible
    duplicate of every case before them, and every listing of one is a recorded read, so the
    node's work per report would grow with the number of cases (that is the duplicate check
    doing its job, not the load this bench measures)."""
    letters = random.Random()

    def name() -> str:
        return "".join(letters.choice(string.ascii_lowercase) for _ in range(9)).capitalize()

    born = f"{letters.randint(1950, 2005)}-{letters.randint(1, 12):02d}-{letters.randint(1, 28):02d}"
    return {**REPORT, "given_names": name(), "first_surname": name(), "date_of_birth": born}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Phase:
    name: str
    statuses: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)
    retry_after_missing: int = 0
    rss: list[float] = field(default_factory=list)
    offered: int = 0
    elapsed: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, status: str, took: float, case_id: str | None, retry_after: bool) -> None:
        with self.lock:
            self.statuses[status] += 1
            if status == "201":
                self.latencies.append(took)
                if case_id:
                    self.acknowledged.append(case_id)
            if status == "503" and not retry_after:
                self.retry_after_missing += 1


class Server:
    """`caseledger serve` in a subprocess of its own, on a fresh database and topic prefix."""

    def __init__(
        self, url: str, data_dir: Path, max_commands: int, max_wait_s: float = 5.0, api_only: bool = False
    ) -> None:
        """api_only: the node's API under uvicorn without the relay, the views or Kafka (API_ONLY)."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CASELEDGER_")}
        self.env.update(
            PYTHONPATH=str(ROOT),
            CASELEDGER_NODE="MX",
            CASELEDGER_DATABASE_URL=url,
            CASELEDGER_KAFKA_BOOTSTRAP=KAFKA,
            CASELEDGER_TOPIC_PREFIX=scratch("over"),
            CASELEDGER_DATA_DIR=str(data_dir),
            CASELEDGER_API_MAX_COMMANDS=str(max_commands),
            CASELEDGER_API_MAX_WAIT_S=str(max_wait_s),
        )
        self.settings = Settings(
            node="MX",
            database_url=url,
            kafka_bootstrap=KAFKA,
            topic_prefix=self.env["CASELEDGER_TOPIC_PREFIX"],
            data_dir=data_dir,
        )
        self.token, _ = TokenStore(data_dir / "api-tokens.json").issue(
            "mx-fiscalia-migrantes", "caseworker", None
        )
        if api_only:
            del self.env["CASELEDGER_KAFKA_BOOTSTRAP"]
        command = [API_ONLY, str(self.port)] if api_only else [SERVE, "serve", "--port", str(self.port)]
        self.process = subprocess.Popen(
            [sys.executable, "-c", *command],
            env=self.env,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{self.base}/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the node did not start")
            time.sleep(0.2)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()


def send(server: Server, session: requests.Session, phase: Phase) -> str:
    headers = {
        "Authorization": f"Bearer {server.token}",
        "X-Purpose": "search",
        "Idempotency-Key": uuid.uuid4().hex,
    }
    started = time.perf_counter()
    try:
        answer = session.post(
            f"{server.base}/cases", json=distinct_report(), headers=headers, timeout=TIMEOUT_S
        )
    except requests.Timeout:
        phase.record("timeout", time.perf_counter() - started, None, False)
        return "timeout"
    except requests.RequestException as error:
        phase.record(type(error).__name__, time.perf_counter() - started, None, False)
        return type(error).__name__
    took = time.perf_counter() - started
    case_id = answer.json().get("id") if answer.status_code == 201 else None
    phase.record(str(answer.status_code), took, case_id, "Retry-After" in answer.headers)
    return str(answer.status_code)


def sample_memory(server: Server, phase: Phase, stop: threading.Event) -> None:
    while not stop.is_set():
        phase.rss.append(rss_mib(server.process.pid))
        stop.wait(0.5)
    phase.rss.append(rss_mib(server.process.pid))


_local = threading.local()


def session() -> requests.Session:
    if not hasattr(_local, "session"):
        _local.session = requests.Session()
    return _local.session  # type: ignore[no-any-return]


def clients_for(server: Server, phase: Phase, clients: int, seconds: float) -> None:
    """Closed loop for `seconds`: each client sends its next report once its last is answered,
    and waits as Retry-After says after a 503. The phase's elapsed time is set."""
    stop = threading.Event()

    def client() -> None:
        own = requests.Session()
        while not stop.is_set():
            if send(server, own, phase) == "503":
                stop.wait(1.0)  # a polite client waits as Retry-After says

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    phase.elapsed = time.perf_counter() - started


def closed_loop(server: Server, clients: int, seconds: float) -> Phase:
    phase = Phase("sustained (closed loop)")
    sampler = threading.Event()
    memory = threading.Thread(target=sample_memory, args=(server, phase, sampler))
    memory.start()

    clients_for(server, phase, clients, seconds)
    sampler.set()
    memory.join()
    phase.offered = sum(phase.statuses.values())
    return phase


def open_loop(server: Server, rate: float, seconds: float) -> Phase:
    phase = Phase(f"offered {rate:,.0f}/s (open loop)")
    sampler = threading.Event()
    memory = threading.Thread(target=sample_memory, args=(server, phase, sampler))
    memory.start()
    # enough senders that a slow answer never delays the schedule: rate x timeout, capped
    workers = min(512, int(rate * TIMEOUT_S) + 8)
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        n = 0
        while (now := time.perf_counter() - started) < seconds:
            due = n / rate
            if due > now:
                time.sleep(due - now)
            pool.submit(_send_pooled, server, phase)
            n += 1
        phase.offered = n
    phase.elapsed = time.perf_counter() - started
    sampler.set()
    memory.join()
    return phase


def _send_pooled(server: Server, phase: Phase) -> None:
    send(server, session(), phase)


def lost(server: Server, acknowledged: list[str]) -> int:
    """Acknowledged reports that are not on the node's ledger."""
    node = build_node(server.settings)
    try:
        recorded: set[str] = set()
        start = 1
        while page := node.ledger.recorder.select_notifications(start=start, limit=1000):
            recorded |= {str(n.originator_id) for n in page if n.topic.endswith("CaseReported")}
            start = page[-1].id + 1
    finally:
        node.close()
    return len(set(acknowledged) - recorded)


def show(phase: Phase) -> None:
    s = phase.statuses
    answered = phase.latencies
    p50 = statistics.median(answered) * 1000 if answered else float("nan")
    p99 = statistics.quantiles(answered, n=100)[98] * 1000 if len(answered) > 1 else float("nan")
    others = {k: v for k, v in s.items() if k not in {"201", "503"}}
    print(f"  {phase.name}: offered {phase.offered} in {phase.elapsed:.1f} s")
    print(
        f"    acknowledged {s['201']} ({s['201'] / phase.elapsed:,.0f}/s), refused 503 {s['503']} "
        f"(without Retry-After: {phase.retry_after_missing}), "
        f"failed {sum(others.values())} {dict(others) or ''}"
    )
    print(f"    201 latency: median {p50:,.0f} ms, p99 {p99:,.0f} ms")
    rss = phase.rss
    print(f"    server RSS: start {rss[0]:.0f} MiB, peak {max(rss):.0f} MiB, end {rss[-1]:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--factor", type=float, default=2.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--max-commands", type=int, default=32)
    parser.add_argument("--max-wait", type=float, default=5.0, help="api_max_wait_s, seconds")
    args = parser.parse_args()
    with fresh_database() as url, tempfile.TemporaryDirectory() as data_dir:
        server = Server(url, Path(data_dir), args.max_commands, args.max_wait)
        try:
            for _ in range(20):  # warm up: first commands create tables, keys, topics
                send(server, requests.Session(), Phase("warm-up"))
            sustained = closed_loop(server, args.clients, args.seconds)
            rate = sustained.statuses["201"] / sustained.elapsed
            overload = open_loop(server, rate * args.factor, args.seconds)
        finally:
            server.stop()
        missing = lost(server, sustained.acknowledged + overload.acknowledged)
    print(
        f"overload: one node (Kafka + PostgreSQL), api_max_commands={args.max_commands}, "
        f"api_max_wait_s={args.max_wait:g}, "
        f"{args.factor:g}x the sustained rate, {args.seconds:g} s per phase"
    )
    show(sustained)
    show(overload)
    print(f"  baseline (sustained): {rate:,.0f} commands/s; offered {rate * args.factor:,.0f}/s")
    acked = overload.statuses["201"] / overload.elapsed
    print(f"  ratio acknowledged under overload / sustained: {acked / rate:.2f}")
    print(
        f"  RSS end of overload / end of sustained: {overload.rss[-1] / sustained.rss[-1]:.2f}; "
        f"lost (acknowledged, not on the ledger): {missing}"
    )


if __name__ == "__main__":
    main()
