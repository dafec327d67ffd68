"""Encodings for linking records across borders without disclosing them (privacy-preserving
record linkage).

A node that may not read another country's names can still learn that the two of them hold a
report of the same person: each encodes the identifying fields of its own cases as a Bloom
filter (a cryptographic long-term key, CLK) keyed by a secret the network's nodes share for
linkage only, and candidate pairs are found by comparing the encodings (Dice similarity).
Only then do the two sides' people ask, through the agreements, to see more.

The encoding is clkhash's (Anonlink's maintained implementation of Schnell's CLKs, HKDF keys
per field, double hashing), and candidate generation is anonlink's. The fields are those of
ledger/names.py's comparison, folded and normalised the same way, so the encodings agree
where the clear-text comparison does: accents, case, particles, hypocoristics and the order
of the two surnames do not change what is encoded. The encoding schema is data
(ledger/linkage_schemas/clk.v<N>.json), versioned, and the same at every node.

Nothing here keeps or logs the clear text: it exists only in memory while being encoded.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ledger.names import HYPOCORISTICS, phonetic, tokens

__all__ = [
    "CHUNK",
    "MIN_SECRET_BYTES",
    "SCHEMAS",
    "SCHEMA_VERSION",
    "Candidate",
    "Encoding",
    "LinkageError",
    "candidates",
    "dice",
    "encode",
    "encoding_bytes",
    "fields",
    "schema_json",
    "score_pairs",
    "secret_id",
]

SCHEMA_VERSION = 1
SCHEMAS = Path(__file__).with_name("linkage_schemas")
MIN_SECRET_BYTES = 32


class LinkageError(ValueError):
    """An encoding or a secret that cannot be used, with the field and the problem."""


@cache
def schema_json(version: int = SCHEMA_VERSION) -> dict[str, Any]:
    path = SCHEMAS / f"clk.v{version}.json"
    if not path.is_file():
        raise LinkageError(f"schema_version: no linkage encoding schema {version}")
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


@cache
def _field_schemas(version: int) -> tuple[Any, ...]:
    """One clkhash schema per field: each field gets a Bloom filter of its own, keyed by HKDF
    with the field's name as context, so that the fields can be compared one by one."""
    from clkhash.schema import from_json_dict

    spec = schema_json(version)
    out = []
    for field in spec["fields"]:
        name = field["feature"]["identifier"]
        kdf = dict(
            spec["kdf"], info=base64.b64encode(f"caseledger:linkage:v{version}:{name}".encode()).decode()
        )
        out.append(
            from_json_dict(
                {"version": 3, "clkConfig": {"l": field["bits"], "kdf": kdf}, "features": [field["feature"]]}
            )
        )
    return tuple(out)


def encoding_bytes(version: int = SCHEMA_VERSION) -> int:
    """How many bytes an encoding of this schema version has."""
    return sum(int(f["bits"]) for f in schema_json(version)["fields"]) // 8


def _given(text: str | None) -> str:
    words = tokens(text)
    # A hypocoristic or an abbreviation encodes as the name it stands for (Chepe as José).
    return " ".join(HYPOCORISTICS.get(w, (w,))[0] for w in words)


def _iso(value: Any) -> str:
    if value is None:
        return ""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    digits = text[:10].replace("-", "")
    return digits if len(digits) == 8 and digits.isdigit() else ""


def fields(person: Mapping[str, Any]) -> tuple[str, ...]:
    """The clear-text fields one encoding holds, in the schema's order, from a case's person
    (given_names, first_surname, second_surname, date_of_birth, sex, origin). For encoding
    only; never kept."""
    surnames = sorted([*tokens(person.get("first_surname")), *tokens(person.get("second_surname"))])
    sex = person.get("sex")
    return (
        _given(person.get("given_names")),
        " ".join(surnames),
        " ".join(sorted(phonetic(s) for s in surnames)),
        _iso(person.get("date_of_birth")),
        sex if sex in ("male", "female") else "",
        " ".join(tokens(person.get("origin"))),
    )


def _secret(secret: bytes) -> bytes:
    if not isinstance(secret, bytes | bytearray) or len(secret) < MIN_SECRET_BYTES:
        raise LinkageError(f"linkage_secret: must be at least {MIN_SECRET_BYTES} random bytes")
    return bytes(secret)


def secret_id(secret: bytes) -> str:
    """A name for the linkage secret that reveals nothing of it (HMAC-SHA256 of a fixed label
    under the secret, 8 bytes): encodings say which secret made them, so that after a rotation
    (topics/linkage_topic.py) encodings made under different secrets are never compared."""
    import hashlib
    import hmac

    return hmac.new(_secret(secret), b"caseledger linkage secret id", hashlib.sha256).hexdigest()[:16]


def encode(
    people: Sequence[Mapping[str, Any]], secret: bytes, *, version: int = SCHEMA_VERSION
) -> list[bytes]:
    """One encoding per person: the fields' Bloom filters side by side, in the schema's order."""
    from clkhash import clk

    rows = [fields(p) for p in people]
    if not rows:
        return []
    key = _secret(secret)
    columns = [
        clk.generate_clks([(row[i],) for row in rows], schema, key, validate=False, max_workers=1)
        for i, schema in enumerate(_field_schemas(version))
    ]
    return [b"".join(col[n].tobytes() for col in columns) for n in range(len(rows))]


@dataclass(frozen=True)
class Encoding:
    """A case's encoding as it travels: its case, its origin node, its schema version."""

    case_id: str
    origin: str
    schema_version: int
    bits: bytes
    secret_id: str = ""  # which linkage secret made it (secret_id()); "" before rotations were named

    def checked(self) -> Encoding:
        """The encoding if it can be compared; otherwise LinkageError naming what is wrong."""
        if self.schema_version != SCHEMA_VERSION:
            raise LinkageError(f"schema_version: {self.schema_version} is not the network's {SCHEMA_VERSION}")
        if len(self.bits) != encoding_bytes(self.schema_version):
            raise LinkageError(
                f"bits: {len(self.bits)} bytes, the schema's encodings have {encoding_bytes()}"
            )
        return self

    def to_json(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "origin": self.origin,
            "schema_version": self.schema_version,
            "bits": base64.b64encode(self.bits).decode("ascii"),
            "secret_id": self.secret_id,
        }


@dataclass(frozen=True)
class Candidate:
    """Two encodings similar enough to ask about: the indices in each side, the match
    probability (0-1) and, per field, its Dice similarity (None where either side left it
    empty) and the weight it added."""

    left: int
    right: int
    score: float
    explanation: tuple[tuple[str, float | None, float], ...] = ()


def _bitarrays(encodings: Sequence[bytes]) -> list[Any]:
    from bitarray import bitarray

    out = []
    for raw in encodings:
        b = bitarray(endian="big")
        b.frombytes(raw)
        out.append(b)
    return out


_POPCOUNT = None


def _popcounts(rows: Any, spans: Sequence[tuple[int, int]]) -> Any:
    import numpy as np

    global _POPCOUNT
    if _POPCOUNT is None:
        _POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint16)
    counts = _POPCOUNT[rows]
    return np.stack([counts[:, a:b].sum(axis=1) for a, b in spans], axis=1)


def _spans(version: int) -> list[tuple[int, int]]:
    spans, at = [], 0
    for f in schema_json(version)["fields"]:
        spans.append((at, at + f["bits"] // 8))
        at += f["bits"] // 8
    return spans


CHUNK = 100_000  # pairs scored at once: memory stays flat however many pairs the blocking keeps


def score_pairs(
    left: Sequence[bytes],
    right: Sequence[bytes],
    pairs: Sequence[tuple[int, int]],
    *,
    version: int = SCHEMA_VERSION,
) -> tuple[Any, Any, Any]:
    """For each pair, the match probability, the per-field Dice similarities (NaN where a side
    left the field empty) and the per-field weights (log2 Bayes factors, 0 where missing)."""
    import numpy as np

    spans = _spans(version)
    if not pairs:
        return np.zeros(0), np.zeros((0, len(spans))), np.zeros((0, len(spans)))
    lm = np.frombuffer(b"".join(left), dtype=np.uint8).reshape(len(left), -1)
    rm = np.frombuffer(b"".join(right), dtype=np.uint8).reshape(len(right), -1)
    li = np.fromiter((p[0] for p in pairs), dtype=np.int64, count=len(pairs))
    ri = np.fromiter((p[1] for p in pairs), dtype=np.int64, count=len(pairs))
    parts = [
        _score_chunk(lm[li[n : n + CHUNK]], rm[ri[n : n + CHUNK]], version)
        for n in range(0, len(pairs), CHUNK)
    ]
    return tuple(np.concatenate([part[k] for part in parts]) for k in range(3))  # type: ignore[return-value]


def _score_chunk(a: Any, b: Any, version: int) -> tuple[Any, Any, Any]:
    import numpy as np

    spec = schema_json(version)
    spans = _spans(version)
    ones_a, ones_b, both = _popcounts(a, spans), _popcounts(b, spans), _popcounts(a & b, spans)
    present = (ones_a > 0) & (ones_b > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        dice = np.where(present, 2.0 * both / (ones_a + ones_b), np.nan)
        overlap = np.where(present, both / np.minimum(ones_a, ones_b), np.nan)
    measures = {"dice": dice, "overlap": overlap}
    weights = np.zeros(dice.shape)
    for k, field in enumerate(spec["fields"]):
        column = np.zeros(len(a))
        done = ~present[:, k]
        for measure, floor, weight in field["levels"]:  # the first level that holds
            hit = ~done & (measures[measure][:, k] >= floor)
            column[hit] = weight
            done |= hit
        weights[:, k] = column
    total = weights.sum(axis=1) + spec["prior_log2"]
    return 1.0 / (1.0 + np.exp2(-total)), dice, weights


def candidates(
    left: Sequence[bytes],
    right: Sequence[bytes],
    *,
    threshold: float | None = None,
    version: int = SCHEMA_VERSION,
) -> list[Candidate]:
    """Every pair (one from each side) whose match probability is at or above the threshold,
    best first. Blocking: anonlink's accelerated Dice over the whole encodings keeps the pairs
    at or above the schema's blocking similarity (10,000 x 10,000 pairs in seconds); those are
    then scored field by field."""
    spec = schema_json(version)
    threshold = spec["threshold"] if threshold is None else threshold
    if not 0.0 < threshold <= 1.0:
        raise LinkageError(f"threshold: {threshold} is not in (0, 1]")
    if not left or not right:
        return []
    import anonlink

    _sims, _datasets, (left_i, right_i) = anonlink.candidate_generation.find_candidate_pairs(
        [_bitarrays(left), _bitarrays(right)],
        anonlink.similarities.dice_coefficient_accelerated,
        spec["blocking_dice"],
    )
    pairs = list(zip(left_i, right_i, strict=True))
    probability, dice, weights = score_pairs(left, right, pairs, version=version)
    names = [f["feature"]["identifier"] for f in spec["fields"]]
    out = []
    for n in (probability >= threshold).nonzero()[0]:
        explanation = tuple(
            (name, None if dice[n, k] != dice[n, k] else round(float(dice[n, k]), 3), float(weights[n, k]))
            for k, name in enumerate(names)
        )
        out.append(Candidate(int(pairs[n][0]), int(pairs[n][1]), float(probability[n]), explanation))
    out.sort(key=lambda c: -c.score)
    return out


def dice(a: bytes, b: bytes) -> float:
    """The Dice similarity of two encodings."""
    ones_a = int.from_bytes(a, "big").bit_count()
    ones_b = int.from_bytes(b, "big").bit_count()
    if ones_a + ones_b == 0:
        return 0.0
    both = (int.from_bytes(a, "big") & int.from_bytes(b, "big")).bit_count()
    return 2 * both / (ones_a + ones_b)
