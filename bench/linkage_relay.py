"""The relay's cost of publishing linkage encodings (#19, item 2): an embedded MX node records
N reports, then one relay run publishes them, without a linkage secret (the baseline) and with
one (each case's encoding, signed, on ledger.linkage.MX, in the same transaction). Medians of
--runs runs, each on a fresh data directory.

    python3 bench/linkage_relay.py [--reports 300] [--runs 3]
"""

from __future__ import annotations

import argparse
import base64
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import SecretStr

from ledger.access_rules import SAMPLE_POLICY
from services.bootstrap import build_node
from services.settings import Settings
from tests.factories import report
from tests.network import keyed


def relay_seconds(reports: int, secret: SecretStr | None) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        settings = Settings(node="MX", data_dir=data, access_rules=SAMPLE_POLICY, linkage_secret=secret)
        node = build_node(keyed({"MX": settings}, data / "keys")["MX"])
        try:
            for i in range(reports):
                node.ledger.report_missing_person(report(given_names=f"Nombre{i}", nationalities=("HN",)))
            started = time.perf_counter()
            node.relay.run_once()
            return time.perf_counter() - started
        finally:
            node.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    secret = SecretStr(base64.b64encode(os.urandom(32)).decode())  # generated for the run, never kept
    baseline, linkage = [], []
    for _ in range(args.runs):
        baseline.append(relay_seconds(args.reports, None))
        linkage.append(relay_seconds(args.reports, secret))
    b, w = statistics.median(baseline), statistics.median(linkage)
    print(f"relay run, {args.reports} reports (median of {args.runs}):")
    print(f"  baseline, no linkage: {b:.3f} s ({1000 * b / args.reports:.2f} ms/report)")
    print(f"  with linkage:         {w:.3f} s ({1000 * w / args.reports:.2f} ms/report)")
    print(f"  ratio: {w / b:.2f}")


if __name__ == "__main__":
    main()
