"""End-to-end latency: a report POSTed to MX's API until it is visible in GT's views and on
the HN consulate's feed topic, at 10 and at 100 commands/s, beside a raw kafka-python
produce-to-consume of the same bytes (the request body) at the same rate, in the same run.

Two `caseledger serve` processes on the real servers (Kafka + PostgreSQL), as a network runs
them: MX with its API, relay, views and the feed of `hn-consulado-tapachula` (the Honduran
consulate in Tapachula, served by the Mexican node), and GT with `--no-api` (relay and views).
Reports are sent on a fixed schedule (open loop). GT's views are polled every 5 ms for new
rows; the feed topic is read by a plain read_committed consumer. A command the API refused
(503, services/http/admission.py) is counted, not measured.

    python3 bench/e2e.py [--rates 10,100] [--seconds 10]

Per hop, for each command seen at both ends: the API's answer, API -> MX's events topic (the
commit and the relay's transaction), that topic -> GT's views, that topic -> the feed topic.

Targets (#18): p50 <= 50 ms, p99 <= 200 ms at 10/s; not met here. --trace DIR: bench/e2e_trace.py.

Alternating main (6c53a3b) and h-latency (56d6092 in runs 1-3, 7ce013b in 4-6), 10/s, 30 s,
the same bench, 2026-12-02 00:00-00:34, load 3.9-7.2 (other sessions' suites running), p50:
  MX API -> GT views, main: 335, 349, 237, 276, 413, 274 ms; h-latency: 287, 296, 254, 247,
    332, 287 (medians 305 / 287; p99 medians 680 / 652).
  topic -> GT views, main: 198, 220, 150, 169, 221, 130; h-latency: 155, 163, 141, 110, 137,
    126 (medians 184 / 139). topic -> HN feed, main: 67, 72, 51, 60, 100, 77; h-latency: 75,
    73, 61, 65, 115, 86. API -> MX's topic, main: 118, 124, 76, 98, 165, 134; h-latency: 124,
    132, 95, 114, 161, 146. Raw produce -> consume: 4-6 ms in every run.
One traced run (00:10, load 4.3): API -> GT views p50 135 / p99 329 ms, topic -> views 47 / 123.

Where the time goes (traced, 10/s, load 4-6): each hop is a loop of passes of a dozen round
trips to Kafka and PostgreSQL, 2-10 ms each with the cores queued. On main the GT views pass
took 130 ms p50 for 1-2 events without pause (saturated): its two writes 22-24 ms each
(staging tables, COPY and merge per table), each read BEGIN + SELECT + ROLLBACK. h-latency
writes a live batch in one pipeline (4.9 ms), reads with one statement (1 ms) and watches
the log instead of running an empty pass: GT's pass is 43 ms p50, no longer saturated.
Left: the API's answer (p50 50-80 ms: commit 14-28, the duplicate check's get_case 5-8, the
rest uvicorn/AnyIO waiting for the GIL and the cores); the relay's pass (55 ms: sealing and
grants 16, chain links 5, transactional publish 28 with EndTxn 8 and the markers' wait 9);
the feed's (60 ms: read 27, its own transactional publish 31). The relay and feed hops did
not improve (5-15 ms slower at p50 in the alternating runs; not isolated: MX's own views,
fast now, run a pass per event rather than per 1-2, in the process the relay and feed share).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import requests
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.structs import TopicPartition
from psycopg.sql import SQL, Identifier

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import KAFKA, fresh_database, scratch
from bench.overload import distinct_report
from ledger.access_rules import SAMPLE_POLICY
from projections.postgres_views import views_schema
from services.bootstrap import public_keys
from services.settings import Settings
from services.tokens import TokenStore
from tests.unit.test_operations import REPORT

ROOT = Path(__file__).resolve().parents[1]
CONSULATE = "hn-consulado-tapachula"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return (float("nan"),) * 3  # type: ignore[return-value]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return statistics.median(values), cuts[89], cuts[98]


class Network:
    """MX (API + feed) and GT (--no-api) serving on a fresh database and topic prefix."""

    def __init__(self, url: str, where: Path, trace: Path | None = None) -> None:
        self.trace = trace
        self.prefix = scratch("e2e")
        self.settings = {
            c: Settings(
                node=c,
                database_url=url,
                kafka_bootstrap=KAFKA,
                topic_prefix=self.prefix,
                data_dir=where / c,
                access_rules=SAMPLE_POLICY,
                key_registry=where / "nodes.json",
            )
            for c in ("MX", "GT")
        }
        for s in self.settings.values():
            s.data_dir.mkdir(parents=True)
        registry = {c: public_keys(s) for c, s in self.settings.items()}
        (where / "nodes.json").write_text(json.dumps(registry))
        mx = self.settings["MX"]
        self.token, _ = TokenStore(mx.data_dir / "api-tokens.json").issue(
            "mx-fiscalia-migrantes", "caseworker", None
        )
        self.port = free_port()
        self.processes = [
            self._serve(mx, "--port", str(self.port), "--feed", CONSULATE),
            self._serve(self.settings["GT"], "--no-api"),
        ]
        deadline = time.monotonic() + 90
        while True:
            try:
                if requests.get(f"{self.base}/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if any(p.poll() is not None for p in self.processes) or time.monotonic() > deadline:
                raise SystemExit("the nodes did not start")
            time.sleep(0.2)

    def _serve(self, s: Settings, *args: str) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CASELEDGER_")}
        env.update(
            PYTHONPATH=str(ROOT),
            CASELEDGER_NODE=s.node,
            CASELEDGER_DATABASE_URL=s.database_url or "",
            CASELEDGER_KAFKA_BOOTSTRAP=KAFKA,
            CASELEDGER_TOPIC_PREFIX=self.prefix,
            CASELEDGER_DATA_DIR=str(s.data_dir),
            CASELEDGER_ACCESS_RULES=str(SAMPLE_POLICY),
            CASELEDGER_KEY_REGISTRY=str(s.key_registry),
        )
        start = "from services.cli import run; run()"
        if self.trace is not None:  # each step's calls timed (bench/e2e_trace.py)
            start = f"import bench.e2e_trace as t; t.install({str(self.trace / s.node)!r}); {start}"
        return subprocess.Popen(
            [sys.executable, "-c", start, "serve", *args],
            env=env,
            stdout=subprocess.DEVNULL,
        )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


class Watchers:
    """When each case id was first seen in GT's views and on the consulate's feed topic."""

    def __init__(self, network: Network, url: str) -> None:
        self.views: dict[str, float] = {}
        self.feed: dict[str, float] = {}
        self.relayed: dict[str, float] = {}
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._poll_views, args=(url,), daemon=True),
            threading.Thread(
                target=self._read_topic,
                args=(f"{network.prefix}ledger.feed.{CONSULATE}", self.feed, True),
                daemon=True,
            ),
            threading.Thread(
                target=self._read_topic,
                args=(f"{network.prefix}ledger.events.MX", self.relayed, False),
                daemon=True,
            ),
        ]
        for thread in self.threads:
            thread.start()

    def _poll_views(self, url: str) -> None:
        """Every 5 ms the views' change counter (one row); the case ids only when it moved:
        reading every row 200 times a second was load of the bench's own on 2 shared cores."""
        schema = Identifier(views_schema("GT"))
        query = SQL("SELECT case_id::text FROM {}.cases").format(schema)
        stamp = SQL("SELECT serial FROM {}.views_changes").format(schema)
        seen = None
        with psycopg.connect(url, autocommit=True) as connection:
            while not self.stop.is_set():
                try:
                    changed = connection.execute(stamp).fetchone()
                    rows = connection.execute(query).fetchall() if changed != seen else []
                    seen = changed
                except psycopg.errors.UndefinedTable:
                    rows = []
                now = time.perf_counter()
                for (case_id,) in rows:
                    self.views.setdefault(case_id, now)
                self.stop.wait(0.005)

    def _read_topic(self, topic: str, seen: dict[str, float], reported_only: bool) -> None:
        consumer = KafkaConsumer(
            bootstrap_servers=KAFKA,
            isolation_level="read_committed",
            enable_auto_commit=False,
            group_id=None,
            # The broker answers a fetch as soon as a record is committed: a short wait only
            # made each reader ask again a hundred times a second, load on 2 shared cores.
            fetch_max_wait_ms=500,
        )
        try:
            while not self.stop.is_set() and not consumer.partitions_for_topic(topic):
                self.stop.wait(0.2)
            consumer.assign([TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))])
            consumer.seek_to_beginning()
            while not self.stop.is_set():
                for batch in consumer.poll(timeout_ms=50).values():
                    now = time.perf_counter()
                    for record in batch:
                        reported = dict(record.headers).get("event_type") == b"CaseReported"
                        if record.key and (reported or not reported_only):
                            seen.setdefault(record.key.decode(errors="replace"), now)
        finally:
            consumer.close()

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(10)


_local = threading.local()


def post(network: Network, sent: dict[str, float], refused: list[int], answered: dict[str, float]) -> None:
    if not hasattr(_local, "session"):
        _local.session = requests.Session()
    headers = {
        "Authorization": f"Bearer {network.token}",
        "X-Purpose": "search",
        "Idempotency-Key": uuid.uuid4().hex,
    }
    started = time.perf_counter()
    answer = _local.session.post(f"{network.base}/cases", json=distinct_report(), headers=headers, timeout=30)
    if answer.status_code == 201:
        case_id = answer.json()["id"]
        answered[case_id] = time.perf_counter() - started
        sent[case_id] = started
    else:
        refused.append(answer.status_code)


def scheduled(rate: float, count: int, action: object) -> None:
    """Call action() count times at rate per second, on schedule whether or not answered."""
    started = time.perf_counter()
    with ThreadPoolExecutor(64) as pool:
        for n in range(count):
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(action)  # type: ignore[arg-type]


def caseledger_run(network: Network, watchers: Watchers, rate: float, count: int) -> dict[str, list[float]]:
    sent: dict[str, float] = {}
    refused: list[int] = []
    answered: dict[str, float] = {}
    scheduled(rate, count, lambda: post(network, sent, refused, answered))
    deadline = time.monotonic() + 120
    while not all(i in watchers.views and i in watchers.feed for i in sent) and time.monotonic() < deadline:
        time.sleep(0.1)
    views = [watchers.views[i] - t for i, t in sent.items() if i in watchers.views]
    feed = [watchers.feed[i] - t for i, t in sent.items() if i in watchers.feed]
    relayed = [watchers.relayed[i] - t for i, t in sent.items() if i in watchers.relayed]
    on_topic = {i: t for i, t in watchers.relayed.items() if i in sent}
    return {
        "views": views,
        "feed": feed,
        "relayed": relayed,
        "answered": list(answered.values()),
        # The hops after the topic, per command seen on both ends.
        "topic->views": [watchers.views[i] - t for i, t in on_topic.items() if i in watchers.views],
        "topic->feed": [watchers.feed[i] - t for i, t in on_topic.items() if i in watchers.feed],
        "acknowledged": [len(sent)],
        "refused": [len(refused)],
    }


def baseline_run(rate: float, count: int) -> list[float]:
    """kafka-python: the same request bytes produced (acks=all) and consumed, at the same rate."""
    topic = scratch("e2e-raw-", "")
    admin = KafkaAdminClient(bootstrap_servers=KAFKA)
    admin.create_topics([NewTopic(topic, 1, 1)])
    admin.close()
    body = json.dumps(REPORT).encode()
    producer = KafkaProducer(bootstrap_servers=KAFKA, acks="all", linger_ms=0)
    consumer = KafkaConsumer(bootstrap_servers=KAFKA, group_id=None, fetch_max_wait_ms=500)
    consumer.assign([TopicPartition(topic, 0)])
    consumer.seek_to_beginning()
    sent: dict[bytes, float] = {}
    seen: dict[bytes, float] = {}
    stop = threading.Event()

    def consume() -> None:
        while not stop.is_set() or len(seen) < len(sent):
            for batch in consumer.poll(timeout_ms=50).values():
                now = time.perf_counter()
                for record in batch:
                    seen.setdefault(record.key, now)
            if stop.is_set() and time.monotonic() > give_up:
                return

    give_up = time.monotonic() + 600
    reader = threading.Thread(target=consume)
    reader.start()
    time.sleep(0.5)  # the consumer has its partition's position

    def produce(n: int) -> None:
        key = str(n).encode()
        sent[key] = time.perf_counter()
        producer.send(topic, key=key, value=body)

    counter = iter(range(count))
    scheduled(rate, count, lambda: produce(next(counter)))
    producer.flush()
    give_up = time.monotonic() + 30
    stop.set()
    reader.join()
    producer.close()
    consumer.close()
    return [seen[k] - t for k, t in sent.items() if k in seen]


def show(label: str, values: list[float]) -> float:
    p50, p90, p99 = percentiles(values)
    print(
        f"    {label:<36} p50 {p50 * 1000:7.1f} ms  p90 {p90 * 1000:7.1f} ms  "
        f"p99 {p99 * 1000:7.1f} ms  (n={len(values)})"
    )
    return p50


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rates", default="10,100", help="commands per second, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long each rate is offered")
    parser.add_argument(
        "--trace", type=Path, help="a directory: each node's steps timed there (bench/e2e_trace.py)"
    )
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    results = []
    with fresh_database() as url, tempfile.TemporaryDirectory() as where:
        network = Network(url, Path(where), args.trace)
        watchers = Watchers(network, url)
        try:
            caseledger_run(network, watchers, 2, 10)  # warm up: tables, keys, topics, the feed's topic
            for rate in rates:
                count = int(rate * args.seconds)
                ours = caseledger_run(network, watchers, rate, count)
                base = baseline_run(rate, count)
                results.append((rate, count, ours, base))
        finally:
            watchers.close()
            network.stop()
    print("end to end: POST /cases at MX's API until visible in GT's views and on the HN consulate's feed")
    for rate, count, ours, base in results:
        print(
            f"  {rate:g} commands/s, {count} offered: acknowledged {ours['acknowledged'][0]}, "
            f"refused {ours['refused'][0]}"
        )
        views = show("MX API -> GT views", ours["views"])
        feed = show("MX API -> HN consulate's feed topic", ours["feed"])
        print("    per hop:")
        show("  MX API answered (201)", ours["answered"])
        show("  MX API -> MX's events topic", ours["relayed"])
        show("  MX's events topic -> GT views", ours["topic->views"])
        show("  MX's events topic -> HN feed topic", ours["topic->feed"])
        raw = show("baseline: raw produce -> consume", base)
        print(f"    ratio of medians: views/raw {views / raw:.1f}, feed/raw {feed / raw:.1f}")


if __name__ == "__main__":
    main()
