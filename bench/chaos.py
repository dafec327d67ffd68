"""Faults under steady load on a three-broker cluster (#18, item 2).

Three nodes (MX, GT, HN; bench/chaos_network.py) take commands through their APIs at a steady
rate (bench/chaos_load.py) while, round after round, a fault injector (bench/chaos_faults.py)
SIGKILLs the leader of a busy partition, SIGKILLs the active controller, SIGSTOPs a broker for
30 s and resumes it, SIGKILLs a relay, SIGKILLs a views process and restarts PostgreSQL.
Afterwards (bench/chaos_checks.py):

- every command the API acknowledged is on its origin's topic exactly once, in version order;
- no command it refused is there (nor anything it never acknowledged);
- every node's views equal, by digest, a rebuild from zero;
- each consulate's feed holds every event it may see exactly once;
- the dead-letter topics are empty.

It prints, per round: accepted, published, projected, lost, duplicated.

    python3 bench/chaos.py [--rounds 10] [--rate 2] [--pause 30]

It starts its own cluster and PostgreSQL (tests/cluster.py) in a temporary directory, on ports
from --base (default 29392), beside the shared servers, and stops them at the end.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg.sql import SQL, Identifier

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import chaos_state as state
from bench.chaos_checks import RoundCounts, acknowledged_events, round_counts
from bench.chaos_faults import Faults
from bench.chaos_load import Load
from bench.chaos_network import COUNTRIES, Network
from bench.chaos_verdict import Result, verdict
from tests.cluster import Cluster
from topics.catalogue import Catalogue


def database(server_url: str) -> str:
    """A database of the run's own on the cluster's PostgreSQL."""
    name = f"chaos_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(SQL("CREATE DATABASE {}").format(Identifier(name)))
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def progress(network: Network, load: Load, window: tuple[float, float], n: int) -> RoundCounts:
    """The round's counts as they stand at its end (the final ones come after the drain)."""
    catalogue = Catalogue(network.prefix)
    with load.lock:
        commands = list(load.commands)
    try:
        counts = state.published(network.bootstrap, [catalogue.events(c).name for c in COUNTRIES])
        versions = state.view_versions(network.database_url, COUNTRIES)
    except Exception as error:  # a progress line must not end the run
        print(f"  (progress not read: {type(error).__name__})")
        return RoundCounts(n + 1)
    done = state.projected(versions, acknowledged_events(commands))
    [counts_now] = round_counts([window], commands, counts, done)
    counts_now.round = n + 1
    return counts_now


def run(
    cluster: Cluster,
    where: Path,
    rounds: int,
    rate: float = 2.0,
    pause_s: float = 30.0,
    gap_s: float = 5.0,
    warm_s: float = 10.0,
    say: Callable[[str], None] = print,
) -> Result:
    """The chaos run on a started cluster (its brokers and its PostgreSQL are the run's to kill)."""
    began = time.monotonic()
    url = database(cluster.postgres())
    network = Network.create(cluster.bootstrap, url, where, f"chaos{uuid.uuid4().hex[:6]}.")
    network.start()
    load = Load(network.nodes, rate)
    faults = Faults(cluster, network, pause_s=pause_s, gap_s=gap_s, say=say)
    windows: list[tuple[float, float]] = []
    try:
        load.start()
        time.sleep(warm_s)
        for n in range(rounds):
            start = 0.0 if n == 0 else time.time()  # the warm-up's commands count in round 1
            faults.round(n)
            windows.append((start, time.time()))
            say(progress(network, load, windows[-1], n).line() + "  (at the round's end)")
        load.stop(drain_s=180)
        windows[-1] = (windows[-1][0], float("inf"))  # the drain's answers count in the last round
        return verdict(cluster, network, load, windows, faults.done, began, say)
    finally:
        load.stop(drain_s=0)
        network.stop()
        cluster.up()  # every broker running and resumed, whatever happened


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--rate", type=float, default=2.0, help="commands per second to each node's API")
    parser.add_argument("--pause", type=float, default=30.0, help="seconds a broker stays SIGSTOPped")
    parser.add_argument("--gap", type=float, default=5.0, help="seconds of load alone between faults")
    parser.add_argument("--base", type=int, default=29392, help="the cluster's first port")
    parser.add_argument("--keep", action="store_true", help="keep the state directory (logs) afterwards")
    args = parser.parse_args()
    where = Path(tempfile.mkdtemp(prefix="caseledger-chaos-"))
    where.chmod(0o755)  # PostgreSQL's own user reaches its data directory below
    cluster = Cluster(where / "services", args.base)
    print(
        f"chaos: {args.rounds} rounds, {args.rate:g} commands/s a node, SIGSTOP {args.pause:g} s; in {where}"
    )
    try:
        cluster.up()
        result = run(cluster, where / "network", args.rounds, args.rate, args.pause, args.gap)
    finally:
        cluster.down()
        if not args.keep:
            shutil.rmtree(where, ignore_errors=True)
    print(f"\nper round (final, after the drain), {result.seconds:.0f} s in all:")
    print(result.table())
    for note in result.notes:
        print(f"  {note}")
    if result.problems:
        print("\nPROBLEMS:")
        for problem in result.problems:
            print(f"  {problem}")
        sys.exit(1)
    print("\nevery check held")


if __name__ == "__main__":
    main()
