"""A bound on kafka-python calls that may otherwise wait for ever.

kafka-python 3.0's KafkaProducer.commit_transaction() and abort_transaction() wait on their
result with no timeout. The chaos run (bench/chaos.py) found a relay blocked in
commit_transaction() for good after its coordinator broker was killed and restarted: alive, so
no supervisor restarts it, and publishing nothing more. Bounded, the call raises
KafkaTimeoutError instead; the caller drops the producer, and the next one's
init_transactions() settles the transaction left behind (completes a commit that was under
way, aborts anything else) before anything is read or written again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from kafka.errors import KafkaTimeoutError

__all__ = ["bounded"]


def bounded(call: Callable[[], object], seconds: float, what: str) -> None:
    """Run call(), raising what it raises; KafkaTimeoutError if it has not returned in seconds.
    A call that never returns leaves a daemon thread waiting on a producer its caller closes."""
    done = threading.Event()
    failed: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as error:  # handed to the caller's thread
            failed.append(error)
        finally:
            done.set()

    threading.Thread(target=run, name=f"kafka-{what}", daemon=True).start()
    if not done.wait(seconds):
        raise KafkaTimeoutError(f"{what} did not complete in {seconds:.0f} s")
    if failed:
        raise failed[0]
