"""Authenticity: every event is signed by its origin node (Ed25519) and chained to the
previous event of its aggregate (SHA-256 over the previous hash and the message bytes).

Node public keys are data (a registry file), never code. Private keys are created at first
start in the node's data directory, readable only by its owner, and never committed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from ledger.crypto import RecipientKey, Refused, public_key_from_b64
from ledger.private_files import private_dir

__all__ = [
    "GENESIS",
    "KeyRegistry",
    "NodeKey",
    "chain_hash",
    "load_or_create_recipient",
    "signed_bytes",
    "write_private_file",
]

GENESIS = bytes(32)
"""The previous hash of an aggregate's first event."""


def chain_hash(previous: bytes, value: bytes) -> bytes:
    """The hash that the next event of the aggregate will carry as its previous hash."""
    return hashlib.sha256(previous + value).digest()


def signed_bytes(origin: str, aggregate_id: str, version: int, previous: bytes, value: bytes) -> bytes:
    """What the origin signs: where and which event, its place in the chain, and the message."""
    head = f"caseledger/1\n{origin}\n{aggregate_id}\n{version}\n".encode()
    return head + previous + value


def write_private_file(path: Path, content: bytes) -> None:
    """Write a private key owner-only, atomically, never replacing a key another process of
    the node wrote first (then theirs is the key)."""
    private_dir(path.parent)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(draft, path)  # atomic, and never replaces a key another process wrote
    except FileExistsError:
        pass
    finally:
        draft.unlink()


def load_or_create_recipient(path: Path) -> RecipientKey:
    """The node's X25519 key for receiving data keys, created like the signing key."""
    if not path.exists():
        write_private_file(
            path,
            RecipientKey.generate().private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        )
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, X25519PrivateKey):
        raise ValueError(f"{path} does not hold an X25519 private key")
    return RecipientKey(loaded)


class NodeKey:
    """A node's signing key."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private

    @classmethod
    def generate(cls) -> NodeKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load(cls, path: Path) -> NodeKey:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(loaded, Ed25519PrivateKey):
            raise ValueError(f"{path} does not hold an Ed25519 private key")
        return cls(loaded)

    @classmethod
    def load_or_create(cls, path: Path) -> NodeKey:
        """The key in path, or a new one written there with owner-only permissions. Safe when
        several processes of one node start at once: the first complete key to land wins."""
        if not path.exists():
            pem = cls.generate()._private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            write_private_file(path, pem)
        return cls.load(path)

    def sign(self, data: bytes) -> bytes:
        return self._private.sign(data)

    def signed_this(self, data: bytes, signature: bytes) -> bool:
        """Whether this key made the signature."""
        try:
            self._private.public_key().verify(signature, data)
        except InvalidSignature:
            return False
        return True

    @property
    def public_b64(self) -> str:
        raw = self._private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return base64.b64encode(raw).decode()


class KeyRegistry:
    """Which public key speaks for which origin node."""

    def __init__(self, keys: Mapping[str, Any] | None = None) -> None:
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._recipients: dict[str, X25519PublicKey] = {}
        for origin, entry in (keys or {}).items():
            if isinstance(entry, str):
                self.add(origin, entry)
                continue
            if not isinstance(entry, Mapping):
                raise ValueError(f"key registry: {origin} must map to a key or to signing/encryption keys")
            if entry.get("signing"):
                self.add(origin, str(entry["signing"]))
            if entry.get("encryption"):
                self.add_recipient(origin, str(entry["encryption"]))

    def add_recipient(self, reader: str, encoded: str) -> None:
        """The X25519 key data keys are wrapped for, for a node or an organisation."""
        try:
            self._recipients[reader] = public_key_from_b64(encoded)
        except Refused:
            raise ValueError(
                f"key registry: the encryption key of {reader} is not a base64 X25519 key"
            ) from None

    def recipients(self) -> dict[str, X25519PublicKey]:
        return dict(self._recipients)

    @classmethod
    def from_file(cls, path: Path) -> KeyRegistry:
        """A JSON object: {"MX": "<base64 Ed25519 public key>"} or, with the key data keys are
        wrapped for, {"MX": {"signing": "<Ed25519>", "encryption": "<X25519>"},
        "consulado-hn-tapachula": {"encryption": "<X25519>"}} (all base64)."""
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise ValueError(f"node key registry {path}: {error}") from None
        if not isinstance(data, dict):
            raise ValueError(f"node key registry {path}: expected an object of origin to key")
        return cls(data)

    def add(self, origin: str, encoded: str) -> None:
        try:
            raw = base64.b64decode(encoded, validate=True)
            self._keys[origin] = Ed25519PublicKey.from_public_bytes(raw)
        except ValueError as error:
            raise ValueError(f"node key registry: the key of {origin} is not a base64 Ed25519 key") from error

    def verify(self, origin: str, data: bytes, signature: bytes) -> str | None:
        """None when the signature is the origin's; otherwise the reason it is not."""
        key = self._keys.get(origin)
        if key is None:
            return f"no public key registered for origin {origin}"
        try:
            key.verify(signature, data)
        except InvalidSignature:
            return f"signature does not verify with the key of {origin}"
        return None

    def as_dict(self) -> dict[str, str]:
        return {
            origin: base64.b64encode(
                key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            ).decode()
            for origin, key in self._keys.items()
        }
