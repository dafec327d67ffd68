"""A bulk import's per-row work in worker processes: each chunk of records is checked and
made into creating events (Importer._prepare: the API's checks, the command's checks, the
keyed digest, the event) by a worker, while this process does the database's part of the
chunk before it (Importer._finish: which records exist, the claims, sealing, one COPY).

The results are the ones Importer.run gives: chunks are finished one at a time, in the
file's order, by this process alone, so the events, their command ids, the order of their
notification ids, the amendments and a run's resuming are the same. Only _prepare runs in
a worker, and it touches no database, key or file: the workers are forked from this process
(they share its checked settings and caches), ignore Ctrl-C, and leave when this process
goes, however it goes (SIGKILL included).

Each worker holds AHEAD chunks at most, read from its pipe by a thread of its own as soon as
they come: a worker sending a result while this process sends it a chunk blocks neither.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import queue
import signal
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection, wait
from typing import Any, cast

from ledger.import_ahead import AheadSealer, unpacked
from services.import_gc import for_import
from services.import_results import Checked, ImportSummary, Prepared, Record, RemadeRecord, RowResult, chunks
from services.importing import Importer

__all__ = ["FAILED", "Workers", "run_with_workers"]

FAILED = "failed"  # what a worker sends back, with the traceback, when preparing a chunk raised
# Chunks each worker holds at once: the one it prepares and the next, so that it goes on
# while this process waits for the database (one each left the workers idle a third of the time).
AHEAD = 2
_PACKED = "packed"  # marks checks whose event was sealed ahead and packed (_sent, _received)
_importer: Importer | None = None  # the importer the workers were forked from
_made: Callable[[Any], Record | RowResult] | None = None  # and what makes its records


def _work(connection: Connection) -> None:
    """A worker: prepare each chunk it is sent, until the pipe closes or its parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl-C stops
    # What the parent held when it forked stays as it is: the collector neither walks it nor
    # copies its pages (by touching them) again, and collects less often (services/import_gc.py).
    gc.freeze()
    gc.set_threshold(*for_import(gc.get_threshold()))  # a worker of its own: nothing to restore
    assert _importer is not None
    made = _made
    sealer = AheadSealer(_importer.ledger) if _importer.batch._copies() else None
    inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
    threading.Thread(target=_receive, args=(connection, inbox), daemon=True).start()
    while (chunk := inbox.get()) is not None:
        try:
            records = chunk if made is None else [made(row) for row in chunk]
            sent = [_sent(item, sealer) for item in _importer._prepare(records)]
            mades = None if made is None else [_slim(r) for r in records]
            answer: Any = (mades, sent)
        except Exception:  # a bug, not a row's refusal: the parent stops the import with it
            answer = (FAILED, traceback.format_exc())
        try:
            connection.send(answer)
        except OSError:  # the parent is gone
            return


def _receive(connection: Connection, inbox: queue.SimpleQueue[Any]) -> None:
    """A worker's reading thread: every chunk sent is read as soon as it comes, so the parent
    never blocks on sending one while this worker sends a result; None in the inbox once the
    pipe closes or the parent is gone."""
    parent = multiprocessing.parent_process()
    watched: list[Any] = [connection] + ([parent.sentinel] if parent is not None else [])
    try:
        while connection in wait(watched):  # else the parent is gone
            chunk = connection.recv()
            if chunk is None:
                break
            inbox.put(chunk)
    except (EOFError, OSError):
        pass
    inbox.put(None)


def _slim(record: Record | RowResult) -> RowResult | tuple[int, str]:
    """What goes back of a record a worker made from a row: its refusal, or its row and
    reference (the parent makes it again from the row only if it needs its fields)."""
    return record if isinstance(record, RowResult) else (record.row, record.external_ref)


def _sent(item: Prepared, sealer: AheadSealer | None) -> Any:
    """What goes back of a prepared record: its result, or its checks (the record is kept by
    the parent, and its command, costly to send, is made again there only if needed), with
    the event sealed ahead when it would be new (ledger/import_ahead.py), packed: _received
    gives the checks back."""
    if isinstance(item, RowResult):
        return item
    checks = item[2]
    if sealer is None or checks is None or isinstance(checks, RowResult) or checks[2] is not None:
        return checks
    return _PACKED, checks[0], sealer.packed(checks[1])


def _received(item: Any) -> RowResult | Checked | None:
    """What _sent sent, as Importer._finish takes it."""
    if type(item) is tuple and item[0] == _PACKED:  # a command id holds a digest after "#"
        return item[1], unpacked(item[2]), None
    return cast(RowResult | Checked | None, item)


def _record(raw: Any, slim: Any, made: Callable[[Any], Record | RowResult] | None) -> Any:
    """The record of a chunk's item: itself, or what made(item) makes, made again if read."""
    if made is None:
        return raw
    row, reference = slim
    return RemadeRecord(row, reference, lambda: cast(Record, made(raw)))


class Workers:
    """Worker processes preparing chunks for one importer, results read back in order."""

    def __init__(
        self, importer: Importer, count: int, made: Callable[[Any], Record | RowResult] | None
    ) -> None:
        global _importer, _made
        _importer, _made = importer, made
        self.made = made
        context = multiprocessing.get_context("fork")
        self.connections: list[Connection] = []
        self.processes: list[Any] = []
        try:
            for _ in range(count):
                ours, theirs = context.Pipe(duplex=True)
                process = context.Process(target=_work, args=(theirs,), daemon=True, name="caseledger-import")
                process.start()
                theirs.close()
                self.connections.append(ours)
                self.processes.append(process)
        finally:
            _importer, _made = None, None

    def prepared(self, chunks: Iterable[list[Record | RowResult]]) -> Iterator[list[Prepared]]:
        """Each chunk prepared, in order; a worker is given its next chunk as soon as it has
        handed back its last, so it prepares ahead while the caller finishes the chunk before."""
        source = iter(chunks)
        waiting: deque[tuple[Connection, list[Record | RowResult]]] = deque()  # in the chunks' order
        for _ in range(AHEAD):
            for connection in self.connections:
                if not self._give(connection, source, waiting):
                    break
        while waiting:
            connection, chunk = waiting.popleft()
            try:
                records, sent = connection.recv()
            except EOFError:
                raise RuntimeError("an import worker stopped before it finished its chunk") from None
            if records == FAILED:
                raise RuntimeError(f"an import worker failed on a chunk:\n{sent}")
            self._give(connection, source, waiting)
            made = self.made
            yield [
                item if isinstance(item, RowResult) else (_record(raw, slim, made), None, _received(item))
                for raw, slim, item in zip(chunk, chunk if records is None else records, sent, strict=True)
            ]

    @staticmethod
    def _give(connection: Connection, source: Iterator[list[Any]], waiting: deque[Any]) -> bool:
        chunk = next(source, None)
        if chunk is None:
            return False
        connection.send(chunk)
        waiting.append((connection, chunk))
        return True

    def close(self) -> None:
        for connection in self.connections:
            with contextlib.suppress(OSError):  # a worker gone already
                connection.send(None)
            connection.close()
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join()


def run_with_workers(
    importer: Importer,
    records: Iterable[Record | RowResult],
    workers: int,
    on_row: Callable[[RowResult], None] | None = None,
    made: Callable[[Any], Record | RowResult] | None = None,
) -> ImportSummary:
    """Importer.run(records, on_row, made), with the chunks prepared by `workers` processes."""
    summary = ImportSummary()
    pool = Workers(importer, workers, made)
    try:
        prepared = pool.prepared(chunks(records, importer.batch_size))
        while True:
            started = time.perf_counter()
            chunk = next(prepared, None)
            middle = time.perf_counter()
            if chunk is None:
                break
            finished = importer._finish(chunk)
            summary.took(middle - started, time.perf_counter() - middle)
            for result in finished:
                summary.add(result, on_row)
    finally:
        pool.close()
    return summary
