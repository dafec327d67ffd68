"""Bulk import: report rows from a CSV file to their PostgreSQL commits (both passes over the
file, every row checked as the API checks it, sealed, saved 500 per transaction; the relay off
the path), beside a raw psycopg executemany of the same stored event rows, 500 per commit, into
a table like the event store's. The import runs with --workers processes checking, making
and sealing the rows beside the one that writes (services/import_workers.py); --workers 0
measures the import in one process.

    python3 bench/import.py [--rows 50000] [--runs 3] [--workers 2] [--profile]

Measured 2 Dec 2026, 50,000 rows x 3, workers 2, alternating with the commit before h-import2
(medians; ratio to executemany in the same run): at load 4.8-7.6, 1,252 rows/s (0.11) and
1,828 (0.13) against 1,074 (0.07) and 934 (0.08); a third pair at load 5.3-6.1, 939 (0.09)
against 1,605 (0.12). 10,000 rows, load 3.8-10: 1,697 (0.15), 1,659 (0.08), 1,121 (0.08) and
1,444 (0.12) against 1,182 (0.10), 731 (0.05), 755 (0.09) and 2,143 (0.10). The target, 0.25,
is not met on the shared machine, and the gain is within its noise. CPU per row (10,000
rows, getrusage and the backends' /proc times): the two workers together 290-520 us, the
saving process 65-100, PostgreSQL's backends 35-50: the workers' checks, digests and sealing
are three quarters of a row's CPU, and with two cores shared by other loads they wait for a
core, not for work. In a quieter moment (load 5.4, falling) two imports of 10,000 rows alone
(no baseline run beside them) went in at 3,300-3,700 rows/s.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import pstats
import resource
import sys
import tempfile
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import fresh_database, node_keys, report
from ledger.application import CaseLedger
from ledger.commands import Actor
from services.bootstrap import ledger_env, ledger_schema
from services.import_files import import_file
from services.import_mapping import ImportMapping
from services.import_templates import REPORTS_MAPPING
from services.settings import Settings
from topics.avro import SchemaRegistry
from topics.wire_tiers import WireTiers

HEADER = [
    "Folio",
    "Nombres",
    "Primer apellido",
    "Segundo apellido",
    "Alias",
    "Sexo",
    "Fecha de nacimiento",
    "Nacionalidad",
    "Fecha en que se le vio",
    "País donde se le vio",
    "Lugar",
    "Ruta",
    "Contacto familiar",
    "Parentesco",
    "Teléfono",
    "Circunstancias",
]
GIVEN = ("José Ángel", "María José", "Luis", "Ana Lucía", "Juan Carlos", "Rosa", "Pedro", "Dulce María")
SURNAMES = ("Hernández", "López", "Chávez", "Pérez", "García", "Martínez", "Ramírez", "Cruz")
COUNTRIES = ("Honduras", "Guatemala", "El Salvador", "Nicaragua")
BATCH = 500


def write_rows(path: Path, rows: int, run: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for n in range(rows):
            writer.writerow(
                [
                    f"R{run}-{n:07d}",
                    GIVEN[n % 8],
                    SURNAMES[n % 7],
                    SURNAMES[(n // 7) % 8],
                    "",
                    "Masculino" if n % 2 else "Femenino",
                    f"{1 + n % 28:02d}/{1 + n % 12:02d}/{1970 + n % 35}",
                    COUNTRIES[n % 4],
                    f"{1 + n % 28:02d}/{1 + n % 9:02d}/2025",
                    "México",
                    "Tenosique, Tabasco",
                    "Corinto – Tenosique",
                    "Gloria Hernández",
                    "madre",
                    f"+504 5555 {n % 10000:04d}",
                    "Salió del albergue de madrugada",
                ]
            )


def caseledger_run(url: str, path: Path, rows: int, profile: bool, workers: int) -> tuple[float, str]:
    settings = Settings(node="MX", database_url=url)
    ledger = CaseLedger(
        "MX",
        env=ledger_env(settings),
        keys=node_keys(url),
        snapshot_interval=0,
        codec=WireTiers(SchemaRegistry()),  # tiers stored as the log carries them, as build_node does
    )
    mapping = ImportMapping.from_dict(__import__("tomllib").loads(REPORTS_MAPPING), "reports")
    profiler = cProfile.Profile() if profile else None
    used = _cpu()
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    summary = import_file(
        ledger, path, mapping, recorded_by=Actor("Albergue", "caseworker"), batch_size=BATCH, workers=workers
    )
    if profiler:
        profiler.disable()
    elapsed = time.perf_counter() - started
    mine, workers_cpu = (after - before for after, before in zip(_cpu(), used, strict=True))
    assert summary.counts["recorded"] == rows, summary.counts
    waited = "waiting for the workers" if workers > 1 else "checks, events"
    print(
        f"  import {elapsed:.1f} s: {summary.seconds['prepare']:.1f} s {waited}, "
        f"{summary.seconds['finish']:.1f} s the database's part (sealing too without workers), "
        "the rest reading and scanning the file",
        flush=True,
    )
    print(
        f"  CPU per row: {mine / rows * 1e6:.0f} us this process, {workers_cpu / rows * 1e6:.0f} us "
        "the workers together",
        flush=True,
    )
    table = f'"{ledger_schema("MX")}"."{ledger.recorder.events_table_name}"'
    ledger.close()
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    return rows / elapsed, table


def _cpu() -> tuple[float, float]:
    """CPU seconds used so far by this process, and by its ended children (the workers)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, children.ru_utime + children.ru_stime


def baseline_run(url: str, table: str, run: int) -> float:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            f"SELECT originator_id, originator_version, topic, state FROM {table}"
        ).fetchall()
        raw = f"raw_events_{run}"
        connection.execute(f"CREATE TABLE {raw} (LIKE {table} INCLUDING ALL)")
        connection.commit()
        columns = "originator_id, originator_version, topic, state"
        started = time.perf_counter()
        with connection.cursor() as cursor:
            for start in range(0, len(rows), BATCH):
                cursor.executemany(
                    f"INSERT INTO {raw} ({columns}) VALUES (%s, %s, %s, %s)", rows[start : start + BATCH]
                )
                connection.commit()
        elapsed = time.perf_counter() - started
    return len(rows) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="import worker processes (0: none)")
    parser.add_argument("--profile", action="store_true", help="cProfile the first run's import")
    args = parser.parse_args()
    ours, baseline = [], []
    with tempfile.TemporaryDirectory() as directory:
        for run in range(args.runs):
            path = Path(directory) / f"rows-{run}.csv"
            write_rows(path, args.rows, run)
            with fresh_database() as url:
                rate, table = caseledger_run(url, path, args.rows, args.profile and run == 0, args.workers)
                ours.append(rate)
                baseline.append(baseline_run(url, table, run))
            print(
                f"run {run + 1}: import {ours[-1]:,.0f} rows/s, executemany {baseline[-1]:,.0f} rows/s",
                flush=True,
            )
    report(f"bulk import of {args.rows:,} report rows (PostgreSQL)", ours, baseline, "rows/s")


if __name__ == "__main__":
    main()
