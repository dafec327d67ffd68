"""A list as CSV text: what the API (Accept: text/csv) and the command line (--format csv)
both give for their lists."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

__all__ = ["to_csv"]


def to_csv(items: Sequence[dict[str, Any]]) -> str:
    """One row per item, one column per key (in first-seen order); lists and objects as JSON."""
    columns: dict[str, None] = {}
    for item in items:
        columns.update(dict.fromkeys(item))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for item in items:
        writer.writerow(
            {
                k: json.dumps(v, ensure_ascii=False, default=str) if isinstance(v, list | dict) else v
                for k, v in item.items()
            }
        )
    return out.getvalue()
