"""The suite deletes the topics it created when it ends, and no other topic: a broker that
serves run after run must not gather thousands of partitions (restarting a broker over 15,000
partition directories took four minutes here, past `compose/services up`'s wait)."""

from __future__ import annotations

import time
import uuid

import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from tests import infrastructure as infra

pytestmark = pytest.mark.integration


def _topics(admin: KafkaAdminClient, token: str, count: int, timeout_s: float = 30) -> set[str]:
    """The topics naming `token`, once there are `count` of them (or the time is up)."""
    deadline = time.monotonic() + timeout_s
    while True:
        named = {t for t in admin.list_topics() if token in t}
        if len(named) == count or time.monotonic() > deadline:
            return named
        time.sleep(0.2)


def test_the_session_s_topics_are_deleted_and_no_other(kafka_bootstrap: str) -> None:
    ours, theirs = uuid.uuid4().hex[:8], uuid.uuid4().hex[:8]
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, request_timeout_ms=30000)
    try:
        names = [f"cleanup{ours}.ledger.events.MX", f"pool.{ours}.keys", f"cleanup{theirs}.ledger.keys"]
        admin.create_topics([NewTopic(n, num_partitions=2, replication_factor=1) for n in names])
        assert len(_topics(admin, ours, 2)) == 2
        removed = infra.remove_topics(kafka_bootstrap, {ours}, batch=1)
        assert sorted(removed) == sorted(names[:2])
        assert _topics(admin, ours, 0) == set()
        # The control: a topic named with a token this session did not hand out stays.
        assert _topics(admin, theirs, 1) == {names[2]}
        assert infra.remove_topics(kafka_bootstrap, set()) == []
    finally:
        infra.remove_topics(kafka_bootstrap, {ours, theirs})
        admin.close()
