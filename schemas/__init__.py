"""Avro schemas of caseledger's messages: one `.avsc` file per named type and version.

Released files are never edited; a change is a new file `<Name>.v<N+1>.avsc` that old
readers can still read and that can read old data (tests/unit/test_schema_evolution.py).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["SCHEMA_DIR"]

SCHEMA_DIR = Path(__file__).resolve().parent
