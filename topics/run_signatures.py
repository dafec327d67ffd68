"""Batch signatures: the origin signs each transaction's run of messages in one partition
once, instead of every message.

An Ed25519 verification costs about 65 µs in Python here, more than everything else a
projection does with a message; a replay that verified every message could never approach
the rate at which Kafka delivers them. So the relay computes, for each message, the SHA-256
of what it would have signed (origin, aggregate, version, previous hash, message bytes) and,
per partition of each transaction, signs the list of those digests once. Every message of
the run carries `seal: i/n`; the last carries the signature. A reader holds a run's messages
until the last arrives and verifies the run with one signature check. With read_committed a
run is contiguous: one transactional producer writes an origin's topic, and whatever a
fenced producer wrote is aborted and never read.

A message with a `signature` header and no `seal` header (published before batch
signatures) is still verified on its own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from topics.log import LogRecord, OutgoingRecord, TopicPartition
from topics.signing import signed_bytes

__all__ = [
    "RUN_SIGNATURE",
    "SEAL",
    "Checked",
    "RunChecker",
    "Verify",
    "message_digest",
    "place_in_run",
    "run_bytes",
    "sign_runs",
]

SEAL = "seal"
"""Header: b"i/n", this message's place in its run."""

Verify = Callable[[str, bytes, bytes], str | None]  # (origin, data, signature) -> problem or None


def message_digest(origin: str, aggregate_id: str, version: int, previous: bytes, value: bytes) -> bytes:
    """What the origin vouches for, for one message."""
    return hashlib.sha256(signed_bytes(origin, aggregate_id, version, previous, value)).digest()


def run_bytes(origin: str, topic: str, partition: int, digests: Sequence[bytes]) -> bytes:
    """What the origin signs for a run: where it goes, how long it is, and each message's digest."""
    return f"caseledger/run/1\n{origin}\n{topic}\n{partition}\n{len(digests)}\n".encode() + b"".join(digests)


RUN_SIGNATURE = "run_signature"
"""Header of the last key grant of a run: grants keep their own `signature` header too."""


def sign_runs(
    origin: str,
    sign: Callable[[bytes], bytes],
    messages: Sequence[tuple[OutgoingRecord, bytes | None]],
    signature_header: Callable[[str], str] = lambda topic: "signature",
) -> list[OutgoingRecord]:
    """The messages, in order, with their `seal` headers and one signature per partition run
    (in the header signature_header(topic) names). A message to seal names its partition and
    comes with its digest; one without a digest passes through as it is."""
    runs: dict[tuple[str, int], list[int]] = {}
    for index, (record, digest) in enumerate(messages):
        if digest is None:
            continue
        if record.partition is None:
            raise ValueError("a sealed message must name its partition")
        runs.setdefault((record.topic, record.partition), []).append(index)
    out = [record for record, _ in messages]
    for (topic, partition), indices in runs.items():
        n = len(indices)
        for i, index in enumerate(indices, start=1):
            headers = (*out[index].headers, (SEAL, f"{i}/{n}".encode()))
            if i == n:
                digests = [d for j in indices if (d := messages[j][1]) is not None]
                signature = sign(run_bytes(origin, topic, partition, digests))
                headers = (*headers, (signature_header(topic), signature))
            out[index] = replace(out[index], headers=headers)
    return out


@dataclass(frozen=True)
class Checked:
    """A message and what its signature check found: None when its origin vouches for it."""

    record: LogRecord
    problem: str | None


def place_in_run(record: LogRecord) -> tuple[int, int] | None:
    """(i, n) from a message's seal header; None for a message signed on its own, (0, 0) if garbled."""
    raw = record.header(SEAL)
    if raw is None:
        return None
    try:
        i, n = (int(x) for x in raw.decode().split("/"))
    except (UnicodeDecodeError, ValueError):
        return (0, 0)
    return (i, n)


class RunChecker:
    """Verifies messages as they are read, a run at a time; holds a run's messages until its
    last one arrives. Feed it the records of each partition in offset order."""

    def __init__(self, verify: Verify, origin_of: Callable[[str], str | None]) -> None:
        self._verify = verify
        self._origin_of = origin_of
        self._held: dict[TopicPartition, list[tuple[LogRecord, bytes | None]]] = {}

    def held_from(self, tp: TopicPartition) -> int | None:
        """The offset of the first message held back in this partition, if any."""
        held = self._held.get(tp)
        return held[0][0].offset if held else None

    def feed(self, records: Sequence[LogRecord]) -> list[Checked]:
        """The messages whose check is done: alone, or with the rest of their run."""
        out: list[Checked] = []
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            place = place_in_run(record)
            held = self._held.setdefault(tp, [])
            if place is None:
                out.extend(self._interrupted(tp))
                out.append(Checked(record, self._check_alone(record)))
                continue
            i, n = place
            if i < 1 or i > n:
                out.extend(self._interrupted(tp))
                out.append(Checked(record, f"batch signature: malformed seal header {record.header(SEAL)!r}"))
                continue
            if i != len(held) + 1:
                out.extend(self._interrupted(tp))
                held = self._held.setdefault(tp, [])
                if i != 1:
                    out.append(
                        Checked(record, f"batch signature: message {i} of {n} without the ones before")
                    )
                    continue
            held.append((record, self._digest(record)))
            if i == n:
                out.extend(self._close(tp, n))
        return out

    def flush(self) -> list[Checked]:
        """Runs whose last message never came: unverifiable, each message with the reason."""
        out: list[Checked] = []
        for tp in list(self._held):
            out.extend(self._interrupted(tp))
        return out

    def _interrupted(self, tp: TopicPartition) -> list[Checked]:
        held = self._held.pop(tp, [])
        return [
            Checked(r, "batch signature: its run was cut short, the run's signature never came")
            for r, _ in held
        ]

    def _close(self, tp: TopicPartition, n: int) -> list[Checked]:
        held = self._held.pop(tp)
        last = held[-1][0]
        origin = self._origin_of(tp.topic)
        signature = last.header("signature")
        digests = [d for _, d in held]
        if origin is None:
            problem: str | None = f"batch signature: no origin owns topic {tp.topic}"
        elif signature is None:
            problem = "batch signature: the run's last message carries no signature"
        elif any(d is None for d in digests):
            problem = "batch signature: a message of the run lacks its key, version or previous hash"
        else:
            found = self._verify(origin, run_bytes(origin, tp.topic, tp.partition, digests), signature)  # type: ignore[arg-type]
            problem = None if found is None else f"batch signature: {found}"
        return [Checked(r, problem) for r, _ in held]

    def _digest(self, record: LogRecord) -> bytes | None:
        parts = self._parts(record)
        return None if parts is None else message_digest(*parts)

    def _parts(self, record: LogRecord) -> tuple[str, str, int, bytes, bytes] | None:
        origin = self._origin_of(record.topic)
        version, previous = record.header("aggregate_version"), record.header("previous_hash")
        if origin is None or record.key is None or version is None or previous is None:
            return None
        try:
            return origin, record.key.decode(), int(version), previous, record.value or b""
        except (UnicodeDecodeError, ValueError):
            return None

    def _check_alone(self, record: LogRecord) -> str | None:
        signature = record.header("signature")
        parts = self._parts(record)
        if signature is None or parts is None:
            return "unsigned: no signature, seal or previous_hash header"
        return self._verify(parts[0], signed_bytes(*parts), signature)
