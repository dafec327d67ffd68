"""Photos of missing persons: the bytes stay at the node that received them, sealed; events
carry only a reference (the SHA-256 of the bytes and where they are kept).

Each photo is sealed (AES-256-GCM) under a data key of its own in the node's key store, as
aggregate `<photo id>`, tier `photo`; a case erased at the family's request takes its photo's
key with it (CaseLedger.erase_data), so the sealed file can never be opened again.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

from ledger.crypto import Refused, open_sealed, seal
from ledger.errors import InvalidField, NotFound
from ledger.keystore import KeyStore
from ledger.private_files import private_dir
from ledger.values import PHOTO_LOCATION

MAX_PHOTO_BYTES = 5_000_000
MEDIA_TYPES = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n", "image/webp": b"RIFF"}
TIER = "photo"


@dataclass(frozen=True)
class StoredPhoto:
    photo_id: str
    sha256: str
    location: str
    media_type: str


def photo_of(location: str) -> str | None:
    """The photo id a reference's location names, if it is one of this network's photos."""
    found = PHOTO_LOCATION.match(location or "")
    return found["id"] if found else None


class PhotoStore:
    def __init__(self, directory: Path, keys: KeyStore, node: str) -> None:
        self.directory, self.keys, self.node = directory, keys, node

    def put(self, content: bytes, media_type: str) -> StoredPhoto:
        """Seal and keep a photo; InvalidField when it is not an image of an accepted kind."""
        magic = MEDIA_TYPES.get(media_type)
        if magic is None:
            raise InvalidField("Content-Type", f"{media_type!r} is not one of {', '.join(MEDIA_TYPES)}")
        if not content.startswith(magic):
            raise InvalidField("body", f"the bytes are not a {media_type} image")
        photo_id = str(uuid.uuid4())
        key_id, key = self.keys.current(photo_id, TIER)
        private_dir(self.directory)
        path = self.directory / f"{photo_id}.sealed"
        draft = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(media_type.encode() + b"\n" + seal(key, content, f"photo:{key_id}".encode()))
        os.replace(draft, path)
        digest = hashlib.sha256(content).hexdigest()
        return StoredPhoto(photo_id, digest, f"caseledger:{self.node}/photos/{photo_id}", media_type)

    def get(self, photo_id: str) -> tuple[bytes, str]:
        """The photo's bytes and media type; NotFound when it never was or has been erased."""
        path = self.directory / f"{photo_id}.sealed"
        key_ids = self.keys.live(photo_id) if path.exists() else []
        if not key_ids:
            raise NotFound("photo", photo_id)
        media_type, _, sealed = path.read_bytes().partition(b"\n")
        key = self.keys.get(key_ids[-1])
        if key is None:
            raise NotFound("photo", photo_id)
        try:
            return open_sealed(key, sealed, f"photo:{key_ids[-1]}".encode()), media_type.decode()
        except Refused:
            raise NotFound("photo", photo_id) from None

    def erase(self, photo_id: str) -> None:
        """Destroy the photo's key, then its file."""
        self.keys.destroy_aggregate(photo_id)
        (self.directory / f"{photo_id}.sealed").unlink(missing_ok=True)
