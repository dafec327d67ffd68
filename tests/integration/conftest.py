"""Fixtures of the integration tests: the three-broker cluster the replication, projection
group and chaos tests share (started once per test session, beside the suite's one broker)."""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster import Cluster

BASE = int(os.environ.get("CASELEDGER_CLUSTER_TEST_PORT", "29192"))


@pytest.fixture(scope="session")
def cluster_once() -> Iterator[Cluster]:
    state = Path(tempfile.mkdtemp(prefix="caseledger-cluster-"))
    started = Cluster(state, BASE)
    try:
        started.up()
        yield started
    finally:
        started.down()
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture
def cluster(cluster_once: Cluster) -> Cluster:
    """The session's three-broker cluster, every broker running and resumed: a test that killed
    or stopped one and failed before bringing it back leaves no harm to the next; and every
    partition led and in sync again: after the chaos test the cluster may still be electing
    leaders and catching replicas up, which a group test's rebalances wait on."""
    cluster_once.up()
    lagging = cluster_once.settle()
    if lagging:
        warnings.warn(f"the three-broker cluster is not in sync: {', '.join(lagging[:5])}", stacklevel=1)
    return cluster_once
