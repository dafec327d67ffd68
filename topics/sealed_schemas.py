"""The sealed versions of the event schemas, generated from the plain ones and ledger/tiers.py.

For each event type with fields above the public tier, the newest plain schema
`<Event>.v<N>` gives:
- `<Event>.v<N+1>`: the envelope and public fields in the clear, the other fields removed,
  and `sealed`, a list of (tier, key id, ciphertext);
- `<Event>_<tier>.v<N+1>`: the record each ciphertext opens to, holding that tier's fields.

The files are generated once and committed (and then frozen in schemas/released.json like
any other); tests/unit/test_sealed_schemas.py fails when they and the tiers disagree.
Regenerate with `python -m topics.sealed_schemas` after adding a plain version.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

from ledger.tier_split import PUBLIC, sealed_tiers
from ledger.tiers import BY_FIELD, FIELD_TIERS
from schemas import SCHEMA_DIR

__all__ = ["SEALED_FIELD", "expected_files", "generate", "inner_name", "is_sealed", "main"]

SEALED_FIELD = {
    "name": "sealed",
    "type": {
        "type": "array",
        "items": {
            "type": "record",
            "name": "SealedTier",
            "fields": [
                {"name": "tier", "type": "string"},
                {"name": "key_id", "type": "string", "doc": "<aggregate id>/<tier>/<generation>"},
                {
                    "name": "ciphertext",
                    "type": "bytes",
                    "doc": "AES-256-GCM-SIV nonce || ciphertext of <Event>_<tier>, single-object Avro",
                },
            ],
        },
    },
    "default": [],
    "doc": "The tiers above public, each under its own data key (ledger/crypto.py).",
}


def is_sealed(schema: dict[str, Any]) -> bool:
    return any(field["name"] == "sealed" for field in schema.get("fields", []))


def inner_name(event_type: str, tier: str) -> str:
    return f"{event_type}_{tier}"


def _trim(field: dict[str, Any], keep: set[str]) -> dict[str, Any] | None:
    """A nested-record field with only the subfields named in keep (None if none remain)."""
    trimmed = copy.deepcopy(field)
    kind = trimmed["type"]
    record = next(t for t in kind if isinstance(t, dict)) if isinstance(kind, list) else kind
    record["fields"] = [f for f in record["fields"] if f["name"] in keep]
    return trimmed if record["fields"] else None


def _fields_for(event_type: str, plain: dict[str, Any], tier: str) -> list[dict[str, Any]]:
    tags = FIELD_TIERS[event_type]
    fields = []
    for field in plain["fields"]:
        name = field["name"]
        if name == "meta":
            continue
        subfields = {path.split(".", 1)[1] for path in tags if path.startswith(f"{name}.")}
        if subfields:
            keep = {s for s in subfields if tags[f"{name}.{s}"] == tier}
            trimmed = _trim(field, keep)
            if trimmed is not None:
                fields.append(trimmed)
        elif tags.get(name, PUBLIC) in (tier, BY_FIELD):
            entry = copy.deepcopy(field)
            if tags.get(name) == BY_FIELD:
                entry["default"] = []
            fields.append(entry)
    return fields


def generate(event_type: str, plain: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{file name: schema} for the sealed version of one plain schema."""
    version = int(plain["version"]) + 1
    outer = {key: value for key, value in plain.items() if key != "fields"}
    outer["version"] = version
    outer["doc"] = f"{plain.get('doc', '')} Sealed: tiers above public travel as ciphertext.".strip()
    outer["fields"] = [plain["fields"][0], *_fields_for(event_type, plain, PUBLIC), SEALED_FIELD]
    files = {f"{event_type}.v{version}.avsc": outer}
    for tier in sealed_tiers(event_type):
        name = inner_name(event_type, tier)
        files[f"{name}.v{version}.avsc"] = {
            "type": "record",
            "name": name,
            "namespace": "caseledger.sealed",
            "doc": f"The {tier} fields of {event_type}, as they are sealed.",
            "version": version,
            "fields": _fields_for(event_type, plain, tier),
        }
    return files


def _undocumented(node: Any) -> Any:
    if isinstance(node, list):
        return [_undocumented(item) for item in node]
    if isinstance(node, dict):
        return {k: _undocumented(v) for k, v in node.items() if k != "doc"}
    return node


def _same(earlier: dict[str, Any], generated: dict[str, Any]) -> bool:
    """Whether two records carry the same fields (docs aside: they never travel)."""
    return bool(_undocumented(earlier["fields"]) == _undocumented(generated["fields"]))


def expected_files(directory: Path = SCHEMA_DIR) -> dict[str, dict[str, Any]]:
    """Every sealed file the plain schemas and tiers call for."""
    files: dict[str, dict[str, Any]] = {}
    for event_type in FIELD_TIERS:
        if not sealed_tiers(event_type):
            continue
        versions = sorted(
            (json.loads(p.read_text()) for p in directory.glob(f"{event_type}.v*.avsc")),
            key=lambda s: int(s["version"]),
        )
        plain = [s for s in versions if not is_sealed(s)][-1]
        for name, schema in generate(event_type, plain).items():
            if not _released_already(directory, name, schema):
                files[name] = schema
    return files


def _released_already(directory: Path, file_name: str, schema: dict[str, Any]) -> bool:
    """Whether an earlier version of the same record has the same fields (and shared types): a plain version
    that adds a field to one tier changes that tier's record only, and a copy of the others
    would share their fingerprints (the registry then publishes with the earlier one)."""
    record, _, version = file_name.removesuffix(".avsc").rpartition(".v")
    for path in directory.glob(f"{record}.v*.avsc"):
        earlier = json.loads(path.read_text())
        same = _same(earlier, schema) and earlier.get("uses") == schema.get("uses")
        if int(earlier["version"]) < int(version) and same:
            return True
    return False


def main() -> int:
    for name, schema in expected_files().items():
        path = SCHEMA_DIR / name
        text = json.dumps(schema, indent=2) + "\n"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
