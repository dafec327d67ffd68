"""A registry's file is streamed: reading, the first pass (references on disk) and mapping
every row hold about as much memory for 60,000 rows as for 6,000 (a 1 GB file is the same
loop, longer)."""

from __future__ import annotations

import csv
import tracemalloc
from pathlib import Path

from services.import_files import TabularFile, scan
from services.import_mapping import ImportMapping

HEADER = ["Folio", "Nombres", "Primer apellido", "Sexo", "Nacionalidad"]
MAPPING = """
kind = "reports"
source = "albergue"
reference = "Folio"
[columns]
"Nombres" = "given_names"
"Primer apellido" = "first_surname"
"Sexo" = "sex"
"Nacionalidad" = "nationalities"
[values]
nationalities = "countries:es"
"""


def write(path: Path, rows: int, duplicated_every: int = 0) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for n in range(rows):
            ref = f"A-{n - 1 if duplicated_every and n % duplicated_every == 0 else n}"
            writer.writerow([ref, "José Ángel" * 3, "Hernández Núñez", "Masculino", "Honduras;Guatemala"])
    return path


def peak_reading(path: Path) -> tuple[int, int, int]:
    """Peak traced memory over both passes, and how many rows and duplicated references."""
    mapping = ImportMapping.from_dict(__import__("tomllib").loads(MAPPING), "reports")
    file = TabularFile(path)
    tracemalloc.start()
    found = scan(file, mapping)
    rows = 0
    for _, number, cells in file.rows():
        mapping.record(number, cells)
        rows += 1
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, rows, len(found.duplicates)


def test_memory_stays_flat_as_the_file_grows(tmp_path: Path) -> None:
    small = write(tmp_path / "small.csv", 6_000, duplicated_every=1000)
    large = write(tmp_path / "large.csv", 60_000, duplicated_every=1000)
    assert large.stat().st_size > 9 * small.stat().st_size
    small_peak, small_rows, small_duplicates = peak_reading(small)
    large_peak, large_rows, large_duplicates = peak_reading(large)
    assert (small_rows, large_rows) == (6_000, 60_000)
    assert (small_duplicates, large_duplicates) == (5, 59)  # found on disk, every one of them
    # Ten times the rows, not ten times the memory: the growth is the duplicates' list only.
    assert large_peak < small_peak * 1.5 + 1_000_000, (small_peak, large_peak)


def test_the_check_catches_a_reader_that_holds_the_file(tmp_path: Path) -> None:
    """Control: the same measure sees a reader that keeps every row (10x rows, ~10x memory)."""
    small, large = write(tmp_path / "s.csv", 6_000), write(tmp_path / "l.csv", 60_000)
    peaks = []
    for path in (small, large):
        tracemalloc.start()
        held = list(TabularFile(path).rows())
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        peaks.append(peak)
        assert held
    assert peaks[1] > peaks[0] * 5


def test_an_import_keeps_no_key_of_the_rows_it_has_saved(tmp_path: Path) -> None:
    """The node's key store caches each key it opens; an import forgets a batch's keys once
    the batch is saved. Keeping them, 18,000 more rows cost 14 MB more resident memory; with
    them forgotten, 2,000 and 20,000 rows peaked at 100.7 and 101.6 MB (the CLI, embedded)."""
    from ledger.commands import Actor
    from services.bootstrap import build_node
    from services.import_files import import_file
    from services.settings import Settings

    whole = (
        MAPPING.replace("[values]", '"Fecha" = "last_seen_date"\n"País" = "last_seen_country"\n[values]')
        + 'last_seen_country = "countries:es"\n[values.sex]\nF = "female"\n'
    )
    mapping = ImportMapping.from_dict(__import__("tomllib").loads(whole), "reports")
    node = build_node(
        Settings(node="MX", data_dir=tmp_path / "data", kafka_bootstrap=None, database_url=None)
    )
    try:
        held = []
        for rows in (300, 1_500):
            path = tmp_path / f"{rows}.csv"
            with path.open("w", encoding="utf-8") as out:
                out.write("Folio,Nombres,Primer apellido,Sexo,Nacionalidad,Fecha,País\n")
                out.writelines(f"M{rows}-{n},Nombre,Cruz,F,Honduras,2026-02-03,México\n" for n in range(rows))
            summary = import_file(
                node.ledger, path, mapping, recorded_by=Actor("Casa", "caseworker"), batch_size=100
            )
            assert summary.counts == {"recorded": rows}
            held.append(len(node.data_keys._open))
        assert held == [0, 0]
    finally:
        node.close()
