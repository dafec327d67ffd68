"""Envelope encryption for the tiers above public (#5): each tier of each aggregate has its
own data key (AES-256-GCM); data keys are wrapped for each entitled organisation with
X25519 + HKDF-SHA256 + AES-GCM (an ECIES construction from `cryptography`'s primitives),
and kept at rest wrapped by the node's master key. Nothing here is hand-rolled crypto:
these are standard constructions, and every failure to open is reported, never guessed.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESGCMSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ledger.errors import LedgerError

__all__ = [
    "KEY",
    "NONCE",
    "Ephemerals",
    "MasterKey",
    "RecipientKey",
    "Refused",
    "data_key_id",
    "forget_ciphers",
    "new_data_key",
    "open_fixed",
    "open_sealed",
    "public_key_from_b64",
    "seal",
    "seal_fixed",
    "unwrap",
    "wrap_for",
]

NONCE = 12
KEY = 32
_GRANT_INFO = b"caseledger key grant v1"


class Refused(LedgerError):
    """Ciphertext or a wrapped key that does not open: tampered, or meant for someone else."""


def data_key_id(aggregate_id: str, tier: str) -> str:
    """One data key per aggregate and tier."""
    return f"{aggregate_id}/{tier}"


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


# A cipher object costs as much to make as one message costs to seal or open with it, and a
# key is used many times running (a batch's master key, an aggregate's envelope and common
# tier, a row's views key): the last few hundred keys' ciphers are kept. They live in this
# process's memory only, as the key stores' caches of the same keys do.
_gcm = functools.lru_cache(maxsize=256)(AESGCM)
_gcm_siv = functools.lru_cache(maxsize=256)(AESGCMSIV)


def forget_ciphers() -> None:
    """Drop every kept cipher object (and the key it holds): a key store calls it when it
    destroys keys, so that an erased key stays in no cache of this process."""
    _gcm.cache_clear()
    _gcm_siv.cache_clear()


def seal(key: bytes, plaintext: bytes, context: bytes) -> bytes:
    """nonce || AES-GCM(plaintext), bound to context (e.g. aggregate, version, tier)."""
    nonce = os.urandom(NONCE)
    return nonce + _gcm(key).encrypt(nonce, plaintext, context)


def open_sealed(key: bytes, sealed: bytes, context: bytes) -> bytes:
    if len(sealed) < NONCE + 16:
        raise Refused("ciphertext is too short to be sealed data")
    try:
        return _gcm(key).decrypt(sealed[:NONCE], sealed[NONCE:], context)
    except InvalidTag:
        raise Refused("ciphertext does not open with this key and context (tampered or misplaced)") from None


def seal_fixed(key: bytes, plaintext: bytes, context: bytes) -> bytes:
    """AES-256-GCM-SIV (RFC 8452) with the nonce derived from the context: the same event
    sealed twice gives the same bytes, so a re-published message keeps its place in the
    hash chain. GCM-SIV is built for a repeated nonce: it then reveals only that two
    plaintexts under one context are equal, and each context names one event and tier."""
    nonce = hashlib.sha256(b"caseledger nonce\x00" + context).digest()[:NONCE]
    return nonce + _gcm_siv(key).encrypt(nonce, plaintext, context)


def open_fixed(key: bytes, sealed: bytes, context: bytes) -> bytes:
    if len(sealed) < NONCE + 16:
        raise Refused("ciphertext is too short to be sealed data")
    try:
        return _gcm_siv(key).decrypt(sealed[:NONCE], sealed[NONCE:], context)
    except InvalidTag:
        raise Refused("ciphertext does not open with this key and context (tampered or misplaced)") from None


def _kek(shared: bytes, ephemeral: bytes, recipient: bytes, context: bytes) -> bytes:
    return HKDF(hashes.SHA256(), KEY, salt=ephemeral + recipient, info=_GRANT_INFO + context).derive(shared)


def _raw(public: X25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class RecipientKey:
    """An organisation's key pair for receiving data keys."""

    private: X25519PrivateKey

    @classmethod
    def generate(cls) -> RecipientKey:
        return cls(X25519PrivateKey.generate())

    @property
    def public(self) -> X25519PublicKey:
        return self.private.public_key()

    @property
    def public_b64(self) -> str:
        return base64.b64encode(_raw(self.public)).decode()


def public_key_from_b64(encoded: str) -> X25519PublicKey:
    try:
        return X25519PublicKey.from_public_bytes(base64.b64decode(encoded, validate=True))
    except (ValueError, binascii.Error):
        raise Refused("not a base64 X25519 public key") from None


Ephemerals = dict[bytes, tuple[bytes, bytes]]  # recipient -> (ephemeral public key, shared secret)


def wrap_for(
    recipient: X25519PublicKey, data_key: bytes, context: bytes, ephemerals: Ephemerals | None = None
) -> bytes:
    """ephemeral public key || nonce || AES-GCM(data key), readable only by the recipient.
    ephemerals: where one batch of grants keeps an ephemeral key per recipient, so a batch
    pays one X25519 key generation and exchange per recipient instead of one per key (each
    key still gets its own key-encryption key: the context goes into its derivation)."""
    recipient_raw = _raw(recipient)
    found = ephemerals.get(recipient_raw) if ephemerals is not None else None
    if found is None:
        ephemeral = X25519PrivateKey.generate()
        found = (_raw(ephemeral.public_key()), ephemeral.exchange(recipient))
        if ephemerals is not None:
            ephemerals[recipient_raw] = found
    ephemeral_raw, shared = found
    kek = _kek(shared, ephemeral_raw, recipient_raw, context)
    return ephemeral_raw + seal(kek, data_key, context)


@functools.lru_cache(maxsize=256)
def _exchange(recipient: RecipientKey, ephemeral_raw: bytes) -> tuple[bytes, bytes]:
    """The shared secret with a grant's ephemeral key, and the recipient's raw public key:
    one exchange per batch of grants wrapped with the same ephemeral key."""
    return recipient.private.exchange(X25519PublicKey.from_public_bytes(ephemeral_raw)), _raw(
        recipient.public
    )


def unwrap(recipient: RecipientKey, wrapped: bytes, context: bytes) -> bytes:
    if len(wrapped) < 32 + NONCE + 16:
        raise Refused("wrapped key is too short")
    ephemeral_raw = wrapped[:32]
    try:
        shared, recipient_raw = _exchange(recipient, ephemeral_raw)
    except ValueError:
        raise Refused("wrapped key carries no valid ephemeral key") from None
    kek = _kek(shared, ephemeral_raw, recipient_raw, context)
    try:
        return open_sealed(kek, wrapped[32:], context)
    except Refused:
        raise Refused("wrapped key does not open: tampered, or granted to another organisation") from None


@dataclass(frozen=True)
class MasterKey:
    """The node's key for data keys at rest; read from configuration, never committed."""

    key: bytes

    @classmethod
    def from_config(cls, encoded: str, setting: str = "CASELEDGER_MASTER_KEY") -> MasterKey:
        try:
            key = base64.b64decode(encoded, validate=True)
        except (ValueError, binascii.Error):
            raise Refused(f"{setting}: not base64") from None
        if len(key) != KEY:
            raise Refused(f"{setting}: must be {KEY} bytes (base64 of 32 random bytes), got {len(key)}")
        return cls(key)

    @staticmethod
    def generate_config_value() -> str:
        return base64.b64encode(new_data_key()).decode()

    def wrap(self, key_id: str, data_key: bytes) -> bytes:
        return seal(self.key, data_key, key_id.encode())

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        return open_sealed(self.key, wrapped, key_id.encode())
