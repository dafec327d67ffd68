"""A node's key backup (#18): every data key it ever made (destroyed ones as such), its
signing and X25519 keys and its master key, encrypted under a fresh AES-256-GCM key that is
wrapped for each recovery key the operators hold offline (X25519 + HKDF-SHA256 + AES-GCM,
the construction key grants use: ledger/crypto.py). Any one recovery private key opens it.

The file is JSON: a header (format, node, when, the recovery public keys and the content key
wrapped for each) and the sealed content, bound to the header, so a header altered to name
another node or another recovery key does not open either. Every way a file fails to open
is a `BackupRefused` naming the problem; nothing is guessed.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from ledger.crypto import (
    RecipientKey,
    Refused,
    new_data_key,
    open_sealed,
    public_key_from_b64,
    seal,
    unwrap,
    wrap_for,
)

__all__ = [
    "FORMAT",
    "BackupRefused",
    "KeyBackup",
    "load_recovery_key",
    "new_recovery_key",
    "open_backup",
    "seal_backup",
]

FORMAT = "caseledger-key-backup/1"


class BackupRefused(Refused):
    """A key backup or recovery key that cannot be used, and why."""


@dataclass(frozen=True)
class KeyBackup:
    """What a backup holds: every data key by id (None: destroyed), and the node's own secrets
    (PEM private keys, the master key as configured: base64)."""

    node: str
    keys: dict[str, bytes | None]
    signing_key: bytes
    recipient_key: bytes
    master_key: str
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: Any, what: str) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        raise BackupRefused(f"backup: {what} is not base64; the file is corrupt") from None


def _header_bytes(header: dict[str, Any]) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode()


def _wrap_context(node: str, created_at: str) -> bytes:
    return f"key backup:{node}:{created_at}".encode()


# ---------------------------------------------------------------- recovery keys


def new_recovery_key(path: Path) -> str:
    """Write a new recovery private key (PEM, owner-only) to path, which must not exist, and
    return its public half (base64) for `keys backup --recovery-key`."""
    key = RecipientKey.generate()
    pem = key.private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise BackupRefused(f"recovery key: {path} exists already; it is never overwritten") from None
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    return key.public_b64


def load_recovery_key(path: Path) -> RecipientKey:
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as error:
        raise BackupRefused(f"recovery key: cannot read {path}: {error.strerror}") from None
    except (ValueError, TypeError):
        raise BackupRefused(f"recovery key: {path} is not a PEM private key") from None
    if not isinstance(loaded, X25519PrivateKey):
        raise BackupRefused(f"recovery key: {path} is not an X25519 private key")
    return RecipientKey(loaded)


# ---------------------------------------------------------------- sealing and opening


def seal_backup(backup: KeyBackup, recovery_keys: list[str]) -> bytes:
    """The backup file's bytes, openable with the private half of any of recovery_keys
    (base64 X25519 public keys)."""
    if not recovery_keys:
        raise BackupRefused("backup: name at least one recovery key (--recovery-key)")
    publics = []
    for encoded in dict.fromkeys(recovery_keys):
        try:
            publics.append((encoded, public_key_from_b64(encoded)))
        except Refused:
            raise BackupRefused(f"recovery key {encoded[:12]}…: not a base64 X25519 public key") from None
    content_key = new_data_key()
    context = _wrap_context(backup.node, backup.created_at)
    header = {
        "format": FORMAT,
        "node": backup.node,
        "created_at": backup.created_at,
        "recipients": [
            {"recovery_key": encoded, "wrapped": _b64(wrap_for(public, content_key, context))}
            for encoded, public in publics
        ],
    }
    content = {
        "keys": {k: None if v is None else _b64(v) for k, v in sorted(backup.keys.items())},
        "signing_key": backup.signing_key.decode(),
        "recipient_key": backup.recipient_key.decode(),
        "master_key": backup.master_key,
    }
    sealed = seal(content_key, json.dumps(content).encode(), _header_bytes(header))
    return json.dumps({**header, "sealed": _b64(sealed)}, indent=1).encode() + b"\n"


def open_backup(data: bytes, recovery: RecipientKey) -> KeyBackup:
    """The backup in data, opened with one recovery private key, or BackupRefused naming why."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise BackupRefused("backup: the file is not a whole key backup (truncated or corrupt)") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise BackupRefused(f"backup: not a caseledger key backup (expected format {FORMAT})")
    try:
        header = {k: document[k] for k in ("format", "node", "created_at", "recipients")}
        sealed = _unb64(document["sealed"], "the sealed content")
        mine = recovery.public_b64
        entries = [r for r in header["recipients"] if r.get("recovery_key") == mine]
    except (KeyError, TypeError, AttributeError):
        raise BackupRefused("backup: a part of the file is missing (truncated or corrupt)") from None
    if not entries:
        raise BackupRefused(
            f"backup: this recovery key is not one the backup was made for "
            f"(it was made for {len(header['recipients'])} other recovery key(s))"
        )
    context = _wrap_context(str(header["node"]), str(header["created_at"]))
    try:
        content_key = unwrap(recovery, _unb64(entries[0].get("wrapped"), "a wrapped key"), context)
        plain = open_sealed(content_key, sealed, _header_bytes(header))
    except Refused:
        raise BackupRefused("backup: it does not open: the file was altered after it was made") from None
    try:
        content = json.loads(plain)
        keys = {str(k): None if v is None else _unb64(v, "a data key") for k, v in content["keys"].items()}
        return KeyBackup(
            node=str(header["node"]),
            keys=keys,
            signing_key=str(content["signing_key"]).encode(),
            recipient_key=str(content["recipient_key"]).encode(),
            master_key=str(content["master_key"]),
            created_at=str(header["created_at"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise BackupRefused("backup: its content is not a key backup's") from None
