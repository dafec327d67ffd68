"""The embedded log: Kafka's contract (topics, partitions by key, offsets, atomic batches,
record timestamps) in one SQLite file, for a node with no broker."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ledger.private_files import private_dir, private_file
from topics.catalogue import TopicDefinition
from topics.log import (
    MAX_RECORD_BYTES,
    EventLog,
    GroupListener,
    LogRecord,
    Membership,
    OutgoingRecord,
    Publisher,
    Reader,
    RecordRejected,
    TopicPartition,
    partition_for,
)

__all__ = ["SQLiteEventLog", "use_wal"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS log_topics (
    name TEXT PRIMARY KEY, partitions INTEGER NOT NULL, config TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS log_records (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, "offset" INTEGER NOT NULL,
    key BLOB, value BLOB, headers TEXT NOT NULL, timestamp_ms INTEGER NOT NULL,
    PRIMARY KEY (topic, partition, "offset")) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS log_records_time ON log_records (topic, partition, timestamp_ms);
"""


def use_wal(path: Path | str, attempts: int = 50) -> None:
    """Put a SQLite file in write-ahead-log mode before anything else opens it. The mode is kept
    in the file; switching to it needs the file to itself and SQLite answers 'database is locked'
    at once, without waiting, when another process opens the new file at the same moment (a
    node's rebuild workers, its server and its CLI), so the switch is tried again."""
    private_file(path)
    for attempt in range(attempts):
        connection = sqlite3.connect(path, timeout=30, isolation_level=None)
        try:
            if str(connection.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(0.01 * (attempt + 1))
        finally:
            connection.close()


def _connect(path: Path) -> sqlite3.Connection:
    use_wal(path)
    connection = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA synchronous=FULL")
    return connection


class SQLiteEventLog(EventLog):
    """An event log in a SQLite file; safe across threads and processes on one machine."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        private_dir(self.path.parent)
        self._connection = _connect(self.path)
        self._lock = threading.Lock()
        self._connection.executescript(_SCHEMA)

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        with self._lock:
            return self._connection.execute(sql, params).fetchall()

    def create_topics(self, definitions: Sequence[TopicDefinition]) -> None:
        with self._lock:
            for d in definitions:
                self._connection.execute(
                    "INSERT OR IGNORE INTO log_topics VALUES (?, ?, ?)",
                    (d.name, d.partitions, json.dumps(dict(d.config), sort_keys=True)),
                )

    def list_topics(self) -> set[str]:
        return {str(row[0]) for row in self._query("SELECT name FROM log_topics")}

    def partitions(self, topic: str) -> list[TopicPartition]:
        rows = self._query("SELECT partitions FROM log_topics WHERE name = ?", (topic,))
        if not rows:
            raise KeyError(f"topic {topic!r} does not exist")
        return [TopicPartition(topic, p) for p in range(int(str(rows[0][0])))]

    def end_offsets(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        result = {}
        for tp in tps:
            rows = self._query(
                'SELECT MAX("offset") FROM log_records WHERE topic = ? AND partition = ?',
                (tp.topic, tp.partition),
            )
            result[tp] = 0 if rows[0][0] is None else int(str(rows[0][0])) + 1
        return result

    def beginning_offsets(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: 0 for tp in tps}

    def offsets_for_time(self, tps: Sequence[TopicPartition], timestamp_ms: int) -> dict[TopicPartition, int]:
        ends = self.end_offsets(tps)
        result = {}
        for tp in tps:
            rows = self._query(
                'SELECT MIN("offset") FROM log_records WHERE topic = ? AND partition = ? '
                "AND timestamp_ms >= ?",
                (tp.topic, tp.partition, timestamp_ms),
            )
            result[tp] = ends[tp] if rows[0][0] is None else int(str(rows[0][0]))
        return result

    def publisher(self, transactional_id: str) -> Publisher:
        return _SQLitePublisher(self.path)

    def reader(self) -> Reader:
        return _SQLiteReader(self.path)

    def membership(self, group: str, prefix: str, listener: GroupListener) -> Membership:
        return _SoleMember(self, prefix, listener)

    def close(self) -> None:
        with self._lock:
            self._connection.close()


class _SoleMember(Membership):
    """The embedded log has one writer: its group has one member, which holds every partition."""

    def __init__(self, log: SQLiteEventLog, prefix: str, listener: GroupListener) -> None:
        self._log, self._prefix, self._listener = log, prefix, listener
        self._held: frozenset[TopicPartition] = frozenset()

    def owned(self, wait_s: float = 0.0) -> frozenset[TopicPartition]:
        topics = sorted(t for t in self._log.list_topics() if t.startswith(self._prefix))
        found = frozenset(tp for topic in topics for tp in self._log.partitions(topic))
        if found - self._held:
            self._listener.assigned(found - self._held)
            self._held = found
        return self._held

    def close(self) -> None:
        if self._held:
            self._listener.revoked(self._held)
        self._held = frozenset()


class _SQLitePublisher(Publisher):
    def __init__(self, path: Path) -> None:
        self._connection = _connect(path)

    def publish(self, records: Sequence[OutgoingRecord]) -> None:
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            partitions: dict[str, int] = {}
            next_offsets: dict[tuple[str, int], int] = {}
            for record in records:
                if record.topic not in partitions:
                    row = connection.execute(
                        "SELECT partitions FROM log_topics WHERE name = ?", (record.topic,)
                    ).fetchone()
                    if row is None:
                        raise RecordRejected(f"topic {record.topic!r} does not exist")
                    partitions[record.topic] = int(row[0])
                if len(record.value or b"") + len(record.key) > MAX_RECORD_BYTES:
                    raise RecordRejected(
                        f"a record of {len(record.value or b'')} bytes is over the 1 MB limit"
                    )
                partition = (
                    partition_for(record.key, partitions[record.topic])
                    if record.partition is None
                    else record.partition
                )
                if not 0 <= partition < partitions[record.topic]:
                    raise RecordRejected(f"topic {record.topic!r} has no partition {partition}")
                slot = (record.topic, partition)
                if slot not in next_offsets:
                    row = connection.execute(
                        'SELECT MAX("offset") FROM log_records WHERE topic = ? AND partition = ?', slot
                    ).fetchone()
                    next_offsets[slot] = 0 if row[0] is None else int(row[0]) + 1
                connection.execute(
                    "INSERT INTO log_records VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        record.topic,
                        partition,
                        next_offsets[slot],
                        record.key,
                        record.value,
                        json.dumps([[k, v.hex()] for k, v in record.headers]),
                        record.timestamp_ms,
                    ),
                )
                next_offsets[slot] += 1
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def close(self) -> None:
        self._connection.close()


class _SQLiteReader(Reader):
    def __init__(self, path: Path) -> None:
        self._connection = _connect(path)
        self._positions: dict[TopicPartition, int] = {}

    def assign(self, positions: Mapping[TopicPartition, int]) -> None:
        self._positions = dict(positions)

    def position(self, tp: TopicPartition) -> int:
        return self._positions[tp]

    def poll(self, timeout_s: float, max_records: int = 500) -> list[LogRecord]:
        deadline = time.monotonic() + timeout_s
        while True:
            records = self._fetch(max_records)
            if records or time.monotonic() >= deadline:
                return records
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    def _fetch(self, max_records: int) -> list[LogRecord]:
        records: list[LogRecord] = []
        for tp, offset in sorted(self._positions.items()):
            if len(records) >= max_records:
                break
            rows = self._connection.execute(
                'SELECT "offset", key, value, headers, timestamp_ms FROM log_records '
                'WHERE topic = ? AND partition = ? AND "offset" >= ? ORDER BY "offset" LIMIT ?',
                (tp.topic, tp.partition, offset, max_records - len(records)),
            ).fetchall()
            for row in rows:
                headers = tuple((k, bytes.fromhex(v)) for k, v in json.loads(row[3]))
                records.append(
                    LogRecord(tp.topic, tp.partition, int(row[0]), row[1], row[2], headers, int(row[4]))
                )
            if rows:
                self._positions[tp] = int(rows[-1][0]) + 1
        return records

    def close(self) -> None:
        self._connection.close()
