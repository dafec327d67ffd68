"""Photos of missing persons: the bytes stay at the node that received them, sealed; events
carry only a reference (the SHA-256 of the bytes and where they are kept).

Each photo is sealed (AES-256-GCM) under a data key of its own in the node's key store, as
aggregate `<photo id>`, tier `photo`; a case erased at the family's request takes its photo's
key with it (CaseLedger.erase_data), so the sealed file can never be opened again.

A photo belongs to the case that first carried it: beside the sealed file the node keeps who
uploaded it and, once a report carries it, that case (`<photo id>.json`, 0600; no hash, which
would confirm a photo to whoever holds a copy). Only the uploader's own report may carry it,
with its true hash; the case's photo route serves it for that case only, and checks its hash
against the case's reference on every read.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.crypto import Refused, open_sealed, seal
from ledger.errors import InvalidField, NotFound
from ledger.keystore import KeyStore
from ledger.private_files import private_dir
from ledger.values import PHOTO_LOCATION

__all__ = ["MAX_PHOTO_BYTES", "MEDIA_TYPES", "TIER", "PhotoAltered", "PhotoStore", "StoredPhoto", "photo_of"]

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

    def put(self, content: bytes, media_type: str, uploaded_by: str = "") -> StoredPhoto:
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
        self._write_record(photo_id, {"uploaded_by": uploaded_by, "case_id": None})
        return StoredPhoto(photo_id, digest, f"caseledger:{self.node}/photos/{photo_id}", media_type)

    def check_claim(self, reference: Any, uploaded_by: str, command_id: str) -> str | None:
        """The id of a photo of this node that a new report may carry (None when the reference
        names none of this node's): uploaded by the same organisation, with its true hash, and
        not already another report's. InvalidField names what is wrong."""
        location = str(getattr(reference, "location", "") or "")
        found = PHOTO_LOCATION.match(location)
        if found is None or found["node"] != self.node:
            return None
        record = self._record(found["id"])
        if record is None or record.get("uploaded_by") != uploaded_by:
            raise InvalidField("photo.location", "names no photo this organisation uploaded to this node")
        if record.get("case_id") is not None and record.get("command_id") != command_id:
            raise InvalidField("photo.location", "the photo is already another case's")
        try:
            content, _media_type = self.get(found["id"])
        except NotFound:
            raise InvalidField("photo.location", "names no photo this node still keeps") from None
        if str(getattr(reference, "sha256", "")).lower() != hashlib.sha256(content).hexdigest():
            raise InvalidField("photo.sha256", "is not the SHA-256 of the photo uploaded")
        return found["id"]

    def bind(self, photo_id: str, case_id: str, command_id: str) -> None:
        """Tie the photo to the case whose report carries it."""
        record = self._record(photo_id)
        if record is not None:
            self._write_record(photo_id, {**record, "case_id": case_id, "command_id": command_id})

    def get_for_case(self, photo_id: str, case_id: str, sha256: str) -> tuple[bytes, str]:
        """The photo of that case, its bytes checked against the case's reference; NotFound when
        the photo is not that case's (or is gone), PhotoAltered when its bytes are not the ones
        the reference names."""
        record = self._record(photo_id)
        if record is None or record.get("case_id") != case_id:
            raise NotFound("photo", photo_id)
        content, media_type = self.get(photo_id)
        if hashlib.sha256(content).hexdigest() != sha256.lower():
            raise PhotoAltered(photo_id)
        return content, media_type

    def _record(self, photo_id: str) -> dict[str, Any] | None:
        try:
            data = json.loads((self.directory / f"{photo_id}.json").read_text())
        except (FileNotFoundError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _write_record(self, photo_id: str, record: dict[str, Any]) -> None:
        path = self.directory / f"{photo_id}.json"
        draft = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(record, handle)
        os.replace(draft, path)

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
        (self.directory / f"{photo_id}.json").unlink(missing_ok=True)


class PhotoAltered(Exception):
    """The bytes kept are not those the case's reference hashes."""

    def __init__(self, photo_id: str) -> None:
        super().__init__(f"photo {photo_id}: its bytes do not match the SHA-256 the case records")
