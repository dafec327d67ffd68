"""One verified reader of the log (topics/reader.py): no second read loop, signature check or
chain check grows outside topics/. The lint reads the source, so a new copy fails here
before it can drift from the one every consumer trusts."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

from ledger.crypto import MasterKey, RecipientKey, new_data_key
from ledger.memory_key_store import MemoryKeyStore
from topics.avro import SchemaRegistry
from topics.catalogue import Catalogue
from topics.grants import Granting, GrantRuns, grant_digest
from topics.log import LogRecord
from topics.run_signatures import RUN_SIGNATURE, sign_runs
from topics.signing import KeyRegistry, NodeKey

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ledger", "projections", "services")  # everything a node runs, outside topics/

# What only the reader and its checks may touch: the run-signature and grant checks, the
# hash chain's primitives, and polling the log.
VERIFYING_NAMES = frozenset(
    {
        "RunChecker",
        "GrantRuns",
        "run_bytes",
        "place_in_run",
        "message_digest",
        "signed_bytes",
        "signed_grant",
        "grant_problem",
        "verify_grant",
        "chain_hash",
        "chain_step",
        "GENESIS",
    }
)
POLLING_METHODS = frozenset({"poll", "reader"})  # EventLog.reader(), Reader.poll()


def second_readers(source: str) -> list[str]:
    """Where a piece of code reads or verifies the log itself, instead of through topics/reader.py."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            found += [f"imports {a.name}" for a in node.names if a.name in VERIFYING_NAMES]
        elif isinstance(node, ast.Name) and node.id in VERIFYING_NAMES:
            found.append(f"uses {node.id}")
        elif isinstance(node, ast.Attribute) and node.attr in VERIFYING_NAMES:
            found.append(f"uses .{node.attr}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in POLLING_METHODS
            and (node.func.attr == "poll" or not (node.args or node.keywords))
        ):
            found.append(f"calls .{node.func.attr}()")
    return found


def test_no_verified_read_loop_outside_topics() -> None:
    offenders = {
        str(path.relative_to(ROOT)): found
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if (found := second_readers(path.read_text()))
    }
    assert offenders == {}, f"read the log through topics/reader.py (LogReader), not: {offenders}"


def test_the_lint_catches_a_second_read_loop() -> None:
    copy = """
from topics.run_signatures import RunChecker

def read(event_log, keys, catalogue, tps):
    checker = RunChecker(keys.verify, catalogue.origin_of)
    reader = event_log.reader()
    reader.assign({tp: 0 for tp in tps})
    return checker.feed(reader.poll(0.5, max_records=500))
"""
    assert set(second_readers(copy)) == {
        "imports RunChecker",
        "uses RunChecker",
        "calls .reader()",
        "calls .poll()",
    }


def test_the_lint_catches_a_second_chain_check() -> None:
    copy = (
        "import topics.signing as s\n\ndef link(previous, value):\n    return s.chain_hash(previous, value)\n"
    )
    assert second_readers(copy) == ["uses .chain_hash"]


def test_the_lint_passes_the_one_reader_itself() -> None:
    """Control: topics/reader.py does all of it, and is exempt by living in topics/."""
    source = (ROOT / "topics" / "reader.py").read_text()
    assert "calls .reader()" in second_readers(source)
    assert "calls .poll()" in second_readers(source)


# Key grants are sealed in runs as events are (topics/grants.py GrantRuns): a whole run costs
# one signature check, and a run compaction cut short still verifies grant by grant.

CASE = "6f1c2a38-0000-4000-8000-000000000001"


def _grants_run(n: int) -> tuple[list[LogRecord], KeyRegistry]:
    mx = NodeKey.generate()
    recipients = {"MX": RecipientKey.generate()}
    granting = Granting(
        "MX",
        MemoryKeyStore(MasterKey(new_data_key())),
        SchemaRegistry(),
        Catalogue(),
        mx,
        {name: key.public for name, key in recipients.items()},
    )
    key_ids = [granting.key_for(f"{CASE[:-1]}{i}", "common")[0] for i in range(n)]
    grants = [replace(g, partition=0) for g in granting.grants_for(key_ids)]
    sealed = sign_runs(
        "MX",
        mx.sign,
        [(g, grant_digest(g.key.decode(), g.value)) for g in grants],
        lambda topic: RUN_SIGNATURE,
    )
    records = [
        LogRecord(g.topic, 0, offset, g.key, g.value, g.headers, g.timestamp_ms)
        for offset, g in enumerate(sealed)
    ]
    registry = KeyRegistry()
    registry.add("MX", mx.public_b64)
    return records, registry


class CountingVerify:
    def __init__(self, registry: KeyRegistry) -> None:
        self.registry, self.calls = registry, 0

    def __call__(self, origin: str, data: bytes, signature: bytes) -> str | None:
        self.calls += 1
        return self.registry.verify(origin, data, signature)


def test_a_whole_run_of_grants_costs_one_signature_check() -> None:
    records, registry = _grants_run(5)
    verify = CountingVerify(registry)
    checked = GrantRuns(verify).feed(records)
    assert [c.problem for c in checked] == [None] * 5
    assert verify.calls == 1


def test_a_run_of_grants_cut_by_compaction_verifies_grant_by_grant() -> None:
    records, registry = _grants_run(5)
    verify = CountingVerify(registry)
    runs = GrantRuns(verify)
    checked = runs.feed([records[0], records[2], records[3]]) + runs.flush()  # 2 and 5 compacted away
    assert [c.problem for c in checked] == [None] * 3
    assert verify.calls == 3


def test_a_forged_grant_in_a_run_is_refused_with_its_own_reason() -> None:
    """Control: the run's one check fails, and the grant that does not verify is named."""
    records, registry = _grants_run(3)
    forged = replace(records[1], value=(records[1].value or b"") + b"x")
    checked = GrantRuns(registry.verify).feed([records[0], forged, records[2]])
    assert [c.problem for c in checked] == [
        None,
        "key grant: signature does not verify with the key of MX",
        None,
    ]
