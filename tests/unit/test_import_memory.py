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
