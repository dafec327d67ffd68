"""Cipher objects are kept per key for speed (ledger/crypto.py); a key store that destroys keys
drops them all, so an erased key stays in no cache of the process."""

from __future__ import annotations

from ledger import crypto
from ledger.crypto import MasterKey, new_data_key, open_fixed, seal, seal_fixed
from ledger.memory_key_store import MemoryKeyStore


def kept() -> int:
    return crypto._gcm.cache_info().currsize + crypto._gcm_siv.cache_info().currsize


def test_destroying_a_key_drops_the_kept_ciphers() -> None:
    store = MemoryKeyStore(MasterKey(new_data_key()))
    key_id, key = store.current("case-1", "reserved")
    sealed = seal_fixed(key, b"whereabouts", b"ctx")
    seal(key, b"whereabouts", b"ctx")
    assert open_fixed(key, sealed, b"ctx") == b"whereabouts"
    assert kept() >= 2  # control: the key's ciphers are kept while it lives
    assert store.destroy([key_id]) == [key_id]
    assert kept() == 0
    assert store.get(key_id) is None
