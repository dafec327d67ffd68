"""Write path: ReportMissingPerson commands to their PostgreSQL commit (the relay is off the
command path), measured four ways in the same run, on the same PostgreSQL:

  (a) one client calling CaseLedger.report_missing_person in-process, one command at a time;
  (b) a plain `eventsourcing` Application saving a new aggregate of the same stored size,
      one save at a time (the library's own pace: the baseline of (a));
  (c) a raw psycopg loop inserting (a)'s stored bytes, one row per commit;
  (d) 16 concurrent clients POSTing reports to the node's HTTP API (`caseledger serve`, as
      bench/overload.py starts it: uvicorn, the relay and the views running), closed loop;
      their commands commit together (ledger/group_commit.py). The baseline of (d) is (c).

    python3 bench/write_path.py [--commands 1000] [--runs 3] [--seconds 10] [--clients 16]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from uuid import UUID

import psycopg
import requests
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import fresh_database, node_keys, report
from bench.overload import Phase, Server, clients_for, send
from ledger.application import CaseLedger
from services.bootstrap import ledger_env
from services.settings import Settings
from tests.factories import report as a_report
from topics.avro import SchemaRegistry
from topics.wire_tiers import WireTiers


def caseledger_run(url: str, commands: int) -> tuple[float, list[bytes]]:
    ledger = CaseLedger(
        "MX",
        env=ledger_env(Settings(node="MX", database_url=url)),
        keys=node_keys(url),
        codec=WireTiers(SchemaRegistry()),  # tiers stored as the log carries them, as build_node does
    )
    batch = [a_report(command_id=f"bench-{i}-{time.time_ns()}") for i in range(commands)]
    started = time.perf_counter()
    for command in batch:
        ledger.report_missing_person(command)
    elapsed = time.perf_counter() - started
    last = ledger.recorder.max_notification_id() or 0
    states = [
        n.state for n in ledger.recorder.select_notifications(start=last - commands + 1, limit=commands)
    ]
    ledger.close()
    return commands / elapsed, states


class Blob(Aggregate):
    """A plain aggregate whose one event carries a payload of a chosen size."""

    @event("Recorded")
    def __init__(self, payload: str) -> None:
        self.payload = payload


class Plain(Application[UUID]):
    """The library's Application, as its documentation builds one: no sealing, no claims."""


def plain_run(url: str, commands: int, size: int) -> float:
    env = {**ledger_env(Settings(node="MX", database_url=url)), "POSTGRES_SCHEMA": "public"}
    env.pop("AGGREGATE_CACHE_MAXSIZE", None)
    app = Plain(env=env)
    probe = Blob(payload="x" * size)
    overhead = len(app.mapper.to_stored_event(probe.collect_events()[0]).state) - size
    payload = "x" * max(1, size - overhead)  # the stored state is (a)'s size
    started = time.perf_counter()
    for _ in range(commands):
        app.save(Blob(payload=payload))
    elapsed = time.perf_counter() - started
    app.close()
    return commands / elapsed


def raw_run(url: str, states: list[bytes]) -> float:
    with psycopg.connect(url) as connection:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS raw_events (id bigserial PRIMARY KEY, originator uuid, "
            "version int, topic text, state bytea)"
        )
        connection.commit()
        started = time.perf_counter()
        for state in states:
            connection.execute(
                "INSERT INTO raw_events (originator, version, topic, state) "
                "VALUES (gen_random_uuid(), 1, %s, %s)",
                ("ledger.case:MissingPersonCase.CaseReported", state),
            )
            connection.commit()
        elapsed = time.perf_counter() - started
    return len(states) / elapsed


def groups(server: Server) -> tuple[int, int]:
    """The node's commit transactions and the saves in them so far (its /metrics)."""
    text = requests.get(f"{server.base}/metrics", timeout=10).text
    found = dict(re.findall(r"^(caseledger_commit_group\w*)\{[^}]*\} (\d+)$", text, re.MULTILINE))
    return int(found.get("caseledger_commit_groups_total", 0)), int(
        found.get("caseledger_commit_group_saves_total", 0)
    )


def api_run(server: Server, clients: int, seconds: float) -> tuple[float, Phase, float]:
    """Closed loop: each client sends its next report when its last is answered. The rate of
    201s, the phase's tallies, and the mean count of commands per commit transaction."""
    phase = Phase(f"{clients} clients")
    before = groups(server)
    clients_for(server, phase, clients, seconds)
    after = groups(server)
    per_group = (after[1] - before[1]) / max(1, after[0] - before[0])
    return phase.statuses["201"] / phase.elapsed, phase, per_group


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--commands", type=int, default=1000, help="per run of (a), (b) and (c)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0, help="per run of (d)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--serve",
        action="store_true",
        help="(d) against the whole `caseledger serve` (its relay and views in the process, Kafka) "
        "rather than its API alone",
    )
    args = parser.parse_args()
    single, plain, raw, api, per_group = [], [], [], [], []
    tallies: dict[str, int] = {}
    with fresh_database() as url, fresh_database() as api_url, tempfile.TemporaryDirectory() as data_dir:
        server = Server(api_url, Path(data_dir), max(32, 2 * args.clients), api_only=not args.serve)
        try:
            for _ in range(20):  # warm up: the first commands create tables, keys, topics
                send(server, requests.Session(), Phase("warm-up"))
            for _ in range(args.runs):
                rate, states = caseledger_run(url, args.commands)
                single.append(rate)
                size = round(statistics.mean(len(s) for s in states))
                plain.append(plain_run(url, args.commands, size))
                raw.append(raw_run(url, states))
                rate, phase, grouped = api_run(server, args.clients, args.seconds)
                api.append(rate)
                per_group.append(grouped)
                for status, count in phase.statuses.items():
                    tallies[status] = tallies.get(status, 0) + count
        finally:
            server.stop()
    title = f"write path: ReportMissingPerson, ~{size:,}-byte events, {args.runs} runs"
    report(
        f"{title}\n(a) one client in-process vs (b) plain eventsourcing save, same bytes",
        single,
        plain,
        "commands/s",
    )
    report(
        f"(d) {args.clients} clients through the HTTP API vs (c) raw one-insert-per-commit loop",
        api,
        raw,
        "commands/s",
    )
    median_group = statistics.median(per_group)
    runs = ", ".join(f"{g:.1f}" for g in per_group)
    print(f"  (d) commands per commit transaction: median {median_group:.1f} (runs: {runs})")
    print(f"  (d) answers: {dict(sorted(tallies.items()))}")
    print(f"  (a) one client / (c) raw loop: {statistics.median(single) / statistics.median(raw):.2f}")


if __name__ == "__main__":
    main()
