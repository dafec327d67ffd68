"""Avro framing: single-object encoding (C3 01, CRC-64-AVRO fingerprint, body) with fastavro.

Schemas come from the `.avsc` files in schemas/. A message names its writer schema by
fingerprint; a reader resolves it against the newest version of the same record.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastavro import schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

from schemas import SCHEMA_DIR

__all__ = ["MAGIC", "Decoded", "SchemaRegistry", "SchemaVersion", "UndecodableMessage"]

MAGIC = b"\xc3\x01"
_FILE = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\.v(?P<version>[0-9]+)\.avsc$")

# Shared named types that other schemas use by name, in dependency order.
_SHARED = ("Actor", "Envelope")


class UndecodableMessage(Exception):
    """A message that cannot be decoded; the reason goes to the dead-letter topic."""


@dataclass(frozen=True)
class SchemaVersion:
    """One version of one schema, fully expanded, with its fingerprint."""

    name: str
    version: int
    schema: Any
    fingerprint: bytes

    @property
    def sealed(self) -> bool:
        """Whether the tiers above public travel as ciphertext (topics/sealed_schemas.py)."""
        return any(field["name"] == "sealed" for field in self.schema.get("fields", []))

    @property
    def frame_prefix(self) -> bytes:
        return MAGIC + self.fingerprint


@dataclass(frozen=True)
class Decoded:
    """A decoded message: which schema wrote it, and the record read with the newest one."""

    name: str
    writer_version: int
    record: dict[str, Any]


def _fingerprint(expanded: Any) -> bytes:
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(expanded), "CRC-64-AVRO"))


def _inline(node: Any, shared: dict[str, Any], seen: set[str]) -> Any:
    """Write each shared named type out in full where it first occurs, as Parsing Canonical
    Form requires, so the fingerprint covers every field the message carries."""
    if isinstance(node, str):
        full = node if "." in node else f"caseledger.{node}"
        if full in shared and full not in seen:
            seen.add(full)
            return _inline(shared[full], shared, seen)
        return node
    if isinstance(node, list):
        return [_inline(item, shared, seen) for item in node]
    if isinstance(node, dict):
        if node.get("type") in ("record", "enum", "fixed"):
            seen.add(
                f"{node.get('namespace', 'caseledger')}.{node['name']}"
                if "." not in node["name"]
                else node["name"]
            )
        return {
            key: (_inline(value, shared, seen) if key in ("type", "fields", "items", "values") else value)
            for key, value in node.items()
        }
    return node


class SchemaRegistry:
    """Every schema version in a directory, indexed by (name, version) and by fingerprint."""

    def __init__(self, directory: Path = SCHEMA_DIR) -> None:
        files: dict[tuple[str, int], Path] = {}
        for path in sorted(directory.glob("*.avsc")):
            match = _FILE.match(path.name)
            if match is None:
                raise ValueError(f"{path.name}: schema files are named <Name>.v<N>.avsc")
            files[(match["name"], int(match["version"]))] = path
        self._versions: dict[tuple[str, int], SchemaVersion] = {}
        self._by_fingerprint: dict[bytes, SchemaVersion] = {}
        self._latest: dict[str, int] = {}
        self._readers: dict[bytes, SchemaVersion] = {}
        for (name, version), path in files.items():
            raw = json.loads(path.read_text())
            # A file pins the versions of the shared types it uses ("uses", default 1), so a
            # new Envelope version never changes the fingerprint of a released event schema.
            pinned: dict[str, int] = raw.get("uses", {})
            usable = _SHARED[: _SHARED.index(name)] if name in _SHARED else _SHARED
            shared: dict[str, Any] = {}
            for other in usable:
                if (other, pinned.get(other, 1)) in files:
                    shared[f"caseledger.{other}"] = json.loads(
                        files[(other, pinned.get(other, 1))].read_text()
                    )
            if raw.get("version") != version:
                raise ValueError(f'{path.name}: its "version" attribute must be {version}')
            expanded = parse_schema(_inline(raw, shared, set()))
            entry = SchemaVersion(name, version, expanded, _fingerprint(expanded))
            self._versions[(name, version)] = entry
            self._by_fingerprint[entry.fingerprint] = entry
            self._latest[name] = max(self._latest.get(name, 0), version)
        self._writers: dict[str, SchemaVersion] = {}

    def latest(self, name: str) -> SchemaVersion:
        """The version new messages are written with: once a record travels sealed, its newest
        sealed version (a later plain version that adds only sealed fields keeps it)."""
        found = self._writers.get(name)
        if found is None:
            try:
                versions = self.versions(name)
            except KeyError:
                raise KeyError(f"no schema named {name!r} in schemas/") from None
            found = self._writers[name] = ([v for v in versions if v.sealed] or versions)[-1]
        return found

    def latest_plain(self, name: str) -> SchemaVersion:
        """The newest version that carries every field in the clear."""
        return self.reader_for(self.versions(name)[0])

    def reader_for(self, writer: SchemaVersion) -> SchemaVersion:
        """The newest version of the writer's record of the same form: a plain message is
        read with the newest plain schema, a sealed one with the newest sealed schema."""
        found = self._readers.get(writer.fingerprint)
        if found is None:
            same_form = [v for v in self.versions(writer.name) if v.sealed == writer.sealed]
            found = self._readers[writer.fingerprint] = same_form[-1]
        return found

    def get(self, name: str, version: int) -> SchemaVersion:
        return self._versions[(name, version)]

    def versions(self, name: str) -> list[SchemaVersion]:
        return [
            self._versions[(name, v)] for v in range(1, self._latest[name] + 1) if (name, v) in self._versions
        ]

    def names(self) -> list[str]:
        return sorted(self._latest)

    def by_fingerprint(self, fp: bytes) -> SchemaVersion | None:
        return self._by_fingerprint.get(fp)

    def encode(self, name: str, record: dict[str, Any], version: int | None = None) -> bytes:
        """Frame a record with the (newest, unless given) version of its schema."""
        entry = self.latest(name) if version is None else self.get(name, version)
        buffer = io.BytesIO()
        buffer.write(entry.frame_prefix)
        schemaless_writer(buffer, entry.schema, record)
        return buffer.getvalue()

    def decode(self, frame: bytes | None) -> Decoded:
        """Read a framed message with the newest version of its schema, or UndecodableMessage."""
        if frame is None or len(frame) < 10:
            raise UndecodableMessage("message is shorter than the 10-byte Avro single-object header")
        if frame[:2] != MAGIC:
            raise UndecodableMessage("message does not start with the Avro single-object marker C3 01")
        writer = self._by_fingerprint.get(frame[2:10])
        if writer is None:
            raise UndecodableMessage(f"unknown schema fingerprint {frame[2:10].hex()}")
        reader = self.reader_for(writer)
        buffer = io.BytesIO(frame[10:])
        try:
            # Resolving against a reader schema doubles the cost; the newest writer needs none.
            record = schemaless_reader(buffer, writer.schema, None if reader is writer else reader.schema)
        except Exception as error:  # fastavro raises EOFError, ValueError, IndexError...
            raise UndecodableMessage(
                f"body does not decode with {writer.name} v{writer.version}: {type(error).__name__}"
            ) from None
        if buffer.tell() != len(frame) - 10:
            raise UndecodableMessage(
                f"{len(frame) - 10 - buffer.tell()} bytes left over after {writer.name} v{writer.version}"
            )
        return Decoded(writer.name, writer.version, record)  # type: ignore[arg-type]
