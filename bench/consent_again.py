"""Consent given again: the projector pass that applies a family's renewed consent, which folds
the case anew from its partition of a real ledger.events.<origin> topic (read from offset 0,
run signatures and hash chain checked) into PostgreSQL views. Beside it in the same run: the
same pass applying a consent that folds nothing (a purpose the views are not for), and a raw
kafka-python read_committed consume of the whole partition.

    python3 bench/consent_again.py [--events 20000] [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from kafka import KafkaConsumer
from kafka import TopicPartition as KafkaPartition

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import KAFKA, fresh_database, scratch
from bench.projection_path import DATA, fill_topic
from ledger.commands import GrantConsent, WithdrawConsent
from services.bootstrap import build_node
from services.settings import Settings
from tests.factories import FAMILY, ctx
from topics.log import TopicPartition, partition_for


def raw_partition(tp: TopicPartition, end: int) -> float:
    """Milliseconds to read one partition from its start to `end` with kafka-python."""
    consumer = KafkaConsumer(
        bootstrap_servers=KAFKA, isolation_level="read_committed", group_id=None, enable_auto_commit=False
    )
    partition = KafkaPartition(tp.topic, tp.partition)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    started = time.perf_counter()
    while consumer.position(partition) < end:
        consumer.poll(timeout_ms=1000, max_records=1000)
    elapsed = time.perf_counter() - started
    consumer.close()
    return elapsed * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    prefix = scratch("again")
    with fresh_database() as url:
        fill_topic(url, prefix, args.events)
        node = build_node(
            Settings(node="MX", kafka_bootstrap=KAFKA, database_url=url, topic_prefix=prefix, data_dir=DATA)
        )
        projector, views = node.projector("MX"), node.views("MX")
        projector.run_once(timeout_s=300)
        case_id = views.cases()[len(views.cases()) // 2].case_id
        topic = node.catalogue.events("MX").name
        tp = TopicPartition(topic, partition_for(case_id.encode(), len(node.event_log.partitions(topic))))

        def consent(give: bool, purpose: str = "search") -> float:
            """Record, relay and project one consent event; milliseconds of the projector pass."""
            if give:
                node.ledger.grant_consent(
                    GrantConsent(**ctx(FAMILY), case_id=case_id, consent_purpose=purpose, given_by="la madre")
                )
            else:
                node.ledger.withdraw_consent(
                    WithdrawConsent(
                        **ctx(FAMILY), case_id=case_id, consent_purpose=purpose, withdrawn_by="la madre"
                    )
                )
            while node.relay.run_once():
                pass
            started = time.perf_counter()
            assert projector.run_once() == 1
            return (time.perf_counter() - started) * 1000

        refold, plain, raw = [], [], []
        for _ in range(args.runs):
            consent(give=False)
            refold.append(consent(give=True))
            assert views.rows([case_id])[case_id].given_names, "the case is shown again"
            plain.append(consent(give=True, purpose="family_support"))
            consent(give=False, purpose="family_support")
            raw.append(raw_partition(tp, node.event_log.end_offsets([tp])[tp]))
        size = node.event_log.end_offsets([tp])[tp]
        node.close()
    runs = ", ".join(f"{x:.0f}" for x in refold)
    print(f"consent given again: a case folded anew from its partition ({size} offsets), PostgreSQL views")
    print(
        f"  caseledger pass with the fold:        median {statistics.median(refold):.0f} ms  (runs: {runs})"
    )
    print(f"  same pass, a consent folding nothing: median {statistics.median(plain):.0f} ms")
    print(f"  baseline, raw kafka-python read of the partition: median {statistics.median(raw):.0f} ms")
    print(f"  ratio fold pass / raw partition read: {statistics.median(refold) / statistics.median(raw):.2f}")


if __name__ == "__main__":
    main()
