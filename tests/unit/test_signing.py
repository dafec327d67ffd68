"""Node keys: created once, owner-only, and the same key for processes that start together."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from topics.signing import KeyRegistry, NodeKey, signed_bytes


def test_processes_starting_together_share_one_key(tmp_path: Path) -> None:
    path = tmp_path / "node-mx.key"
    with ThreadPoolExecutor(8) as pool:
        keys = list(pool.map(lambda _: NodeKey.load_or_create(path).public_b64, range(16)))
    assert len(set(keys)) == 1 and NodeKey.load_or_create(path).public_b64 == keys[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["node-mx.key"], "no drafts left behind"


def test_a_signature_verifies_only_with_its_origins_key(tmp_path: Path) -> None:
    mx, gt = NodeKey.generate(), NodeKey.generate()
    registry = KeyRegistry({"MX": mx.public_b64, "GT": gt.public_b64})
    data = signed_bytes("MX", "case-1", 1, bytes(32), b"body")
    assert registry.verify("MX", data, mx.sign(data)) is None
    assert registry.verify("GT", data, mx.sign(data)) == "signature does not verify with the key of GT"
    assert registry.verify("HN", data, mx.sign(data)) == "no public key registered for origin HN"
