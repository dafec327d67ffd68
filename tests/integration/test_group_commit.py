"""Group commit on the real PostgreSQL (#18 item 5, ledger/group_commit.py): concurrent
commands, each holding the node's lock as the API does (services/node_lock.py), commit
together in fewer transactions than commands; each returns only once its events are
committed; a command in conflict fails alone; nothing is lost or recorded twice; and the
notification ids of each transaction are contiguous, the transactions' blocks in commit order.

Transactions are counted from PostgreSQL itself (the rows' xmin), not only from the figures
the writer reports."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from ledger.application import CaseLedger
from ledger.crypto import MasterKey, new_data_key
from ledger.errors import CommandIdReused, VersionConflict
from ledger.group_commit import GroupCommit
from services.bootstrap import ledger_env, ledger_schema
from services.node_lock import NodeLock
from services.settings import Settings
from tests.factories import report
from tests.unit.test_command_ids_across_records import sighting
from topics.key_stores import PostgresKeyStore

pytestmark = pytest.mark.integration

CLIENTS = 16


@pytest.fixture
def ledger(database_url: str) -> Iterator[CaseLedger]:
    settings = Settings(node="MX", database_url=database_url)
    keys = PostgresKeyStore(MasterKey(new_data_key()), settings.postgres_conninfo(), ledger_schema("MX"))
    made = CaseLedger("MX", env=ledger_env(settings), keys=keys)
    try:
        yield made
    finally:
        made.close()
        keys.close()


def table(ledger: CaseLedger) -> str:
    recorder: Any = ledger.recorder
    return f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'


def transactions(url: str, ledger: CaseLedger) -> list[list[int]]:
    """The notification ids of each transaction that inserted events, in transaction order."""
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            f"SELECT xmin::text::bigint, notification_id FROM {table(ledger)} ORDER BY notification_id"
        ).fetchall()
    blocks: dict[int, list[int]] = {}
    for xid, notification in rows:
        blocks.setdefault(xid, []).append(notification)
    return [blocks[x] for x in sorted(blocks)]


def committed(url: str, ledger: CaseLedger, case_id: UUID) -> int:
    """How many events of the case another connection sees (only committed rows)."""
    with psycopg.connect(url) as connection:
        row = connection.execute(
            f"SELECT count(*) FROM {table(ledger)} WHERE originator_id = %s", (case_id,)
        ).fetchone()
    return int(row[0]) if row else 0


def in_threads(ledger: CaseLedger, calls: list[Callable[[], Any]]) -> list[Any]:
    """Run each call in a thread of its own under one NodeLock, as the API runs commands; the
    result of each, or the exception it raised."""
    lock = NodeLock()
    assert ledger.group is not None
    ledger.group.waiting = lock.released
    results: list[Any] = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(i: int) -> None:
        start.wait()
        try:
            with lock:
                results[i] = calls[i]()
        except Exception as error:
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_concurrent_reports_commit_together_each_after_its_commit(
    database_url: str, ledger: CaseLedger
) -> None:
    assert ledger.group is not None, "PostgreSQL: the group commit is on"
    per_client = 6
    seen_after_return: list[int] = []

    def client(n: int) -> Callable[[], Any]:
        def reports() -> list[UUID]:
            made = []
            for i in range(per_client):
                case_id = ledger.report_missing_person(report(command_id=f"c{n}-{i}"))
                seen_after_return.append(committed(database_url, ledger, case_id))
                made.append(case_id)
            return made

        return reports

    results = in_threads(ledger, [client(n) for n in range(CLIENTS)])
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    cases = [c for made in results for c in made]
    total = CLIENTS * per_client
    assert len(set(cases)) == total
    assert seen_after_return == [1] * total, "every command returned after its event was committed"
    blocks = transactions(database_url, ledger)
    ids = [n for block in blocks for n in block]
    assert sorted(ids) == list(range(1, total + 1)), "none lost, none twice, no gap"
    assert ids == sorted(ids), "each transaction's ids follow the one before (commit order)"
    assert all(block == list(range(block[0], block[-1] + 1)) for block in blocks), "contiguous"
    assert len(blocks) < total, f"grouped: {len(blocks)} transactions for {total} commands"
    figures = ledger.group.figures
    assert figures.saves == total and figures.groups == len(blocks) and figures.largest > 1
    # The relay's view: every report once, in notification order.
    notes = ledger.recorder.select_notifications(start=1, limit=total + 10)
    assert sorted(str(n.originator_id) for n in notes) == sorted(str(c) for c in cases)
    # Idempotency holds: a retry returns the first case and records nothing.
    assert ledger.report_missing_person(report(command_id="c0-0")) == cases[0]
    assert len(ledger.recorder.select_notifications(start=1, limit=total + 10)) == total


def held_group(ledger: CaseLedger) -> tuple[threading.Event, Callable[[int], None]]:
    """The first commit waits until released, so the saves queued behind it form one group;
    wait_queued(n) returns once n saves wait."""
    group: Any = ledger.group
    release, original = threading.Event(), group._together
    held = threading.Event()

    def together(saves: list[Any]) -> int:
        if not held.is_set():
            held.set()
            assert release.wait(30)
        return int(original(saves))

    group._together = together

    def wait_queued(n: int) -> None:
        deadline = time.monotonic() + 30
        while len(group._queue) < n:
            assert time.monotonic() < deadline, f"only {len(group._queue)} of {n} saves queued"
            time.sleep(0.01)

    return release, wait_queued


def test_a_command_in_conflict_fails_alone(database_url: str, ledger: CaseLedger) -> None:
    case_id = ledger.report_missing_person(report(command_id="the-case"))
    release, wait_queued = held_group(ledger)
    good = [lambda n=n: ledger.report_missing_person(report(command_id=f"good-{n}")) for n in range(8)]
    calls: list[Callable[[], Any]] = [
        lambda: ledger.report_missing_person(report(command_id="first")),  # holds the commit
        *good,
        # two sightings decided on version 1 of one case: one is recorded, the other conflicts
        lambda: ledger.record_sighting(replace(sighting(case_id, "s-1", "Arriaga"), expected_version=1)),
        lambda: ledger.record_sighting(replace(sighting(case_id, "s-2", "Huixtla"), expected_version=1)),
        # one idempotency key sent with two different requests: the second is refused
        lambda: ledger.report_missing_person(report(command_id="dup", given_names="Ana")),
        lambda: ledger.report_missing_person(report(command_id="dup", given_names="Eva")),
    ]
    outcome: list[Any] = []
    runner = threading.Thread(target=lambda: outcome.extend(in_threads(ledger, calls)))
    runner.start()
    wait_queued(len(calls) - 1)  # all but the one holding the commit
    release.set()
    runner.join(60)
    first, *rest = outcome
    goods, (s1, s2, dup1, dup2) = rest[:8], rest[8:]
    assert isinstance(first, UUID) and all(isinstance(g, UUID) for g in goods), outcome
    sightings = sorted([s1, s2], key=lambda r: isinstance(r, Exception))
    assert sightings[0] == 2 and isinstance(sightings[1], VersionConflict), sightings
    dups = sorted([dup1, dup2], key=lambda r: isinstance(r, Exception))
    assert isinstance(dups[0], UUID) and isinstance(dups[1], CommandIdReused), dups
    figures: Any = ledger.group.figures  # type: ignore[union-attr]
    # The saves queued behind the first formed one group; its insert failed on the sightings'
    # conflict, and its saves were committed one by one (all but the two refused).
    assert figures.split == [len(calls) - 1], figures
    assert figures.alone == len(calls) - 3, figures
    assert ledger.get_case(case_id).version == 2, "one sighting recorded, not two"
    # None lost, none twice: the case, the first report, 8 good, one sighting, one of the pair.
    events = ledger.recorder.select_notifications(start=1, limit=100)
    assert len(events) == 1 + 1 + 8 + 1 + 1
    assert len({(e.originator_id, e.originator_version) for e in events}) == len(events)
    blocks = transactions(database_url, ledger)
    assert all(block == list(range(block[0], block[-1] + 1)) for block in blocks)
    ids = [n for block in blocks for n in block]
    assert ids == sorted(ids), "transactions' ids in commit order"
    # The key stays the recorded request's: the refused one is refused again, the other's
    # retry returns its case.
    winner, loser = ("Ana", "Eva") if isinstance(dup1, UUID) else ("Eva", "Ana")
    with pytest.raises(CommandIdReused):
        ledger.report_missing_person(report(command_id="dup", given_names=loser))
    assert ledger.report_missing_person(report(command_id="dup", given_names=winner)) == dups[0]


def slow_rows(ledger: CaseLedger, monkeypatch: pytest.MonkeyPatch, delay: float) -> None:
    """Building the events' rows takes `delay`: the server has answered the refusal of an earlier
    statement of the pipeline before the last ones are sent (a busy machine, the GIL)."""
    build = ledger.recorder.construct_pg_stored_event

    def slow(*args: Any) -> Any:
        time.sleep(delay)
        return build(*args)

    monkeypatch.setattr(ledger.recorder, "construct_pg_stored_event", slow)


@pytest.mark.parametrize("delay", [0.0, 0.05])
def test_a_save_refused_in_its_group_leaves_nothing_recorded(
    database_url: str, ledger: CaseLedger, monkeypatch: pytest.MonkeyPatch, delay: float
) -> None:
    """One idempotency key sent with sightings of two different cases, decided together: one is
    recorded, the other refused, and the refused one's sighting is not in the store (the
    refusal rolls its transaction back; it is not committed and then reported as refused).
    With the rows slow to build, the refusal reaches the client before COMMIT is sent."""
    x = ledger.report_missing_person(report(command_id="case-x"))
    y = ledger.report_missing_person(report(command_id="case-y"))
    slow_rows(ledger, monkeypatch, delay)
    release, wait_queued = held_group(ledger)
    calls: list[Callable[[], Any]] = [
        lambda: ledger.report_missing_person(report(command_id="holder")),  # holds the commit
        lambda: ledger.record_sighting(sighting(x, "shared", "Arriaga")),
        lambda: ledger.record_sighting(sighting(y, "shared", "Huixtla")),
    ]
    outcome: list[Any] = []
    runner = threading.Thread(target=lambda: outcome.extend(in_threads(ledger, calls)))
    runner.start()
    wait_queued(2)
    release.set()
    runner.join(60)
    _, on_x, on_y = outcome
    refused = [r for r in (on_x, on_y) if isinstance(r, CommandIdReused)]
    assert len(refused) == 1 and [on_x, on_y].count(2) == 1, outcome
    loser = y if isinstance(on_y, CommandIdReused) else x
    assert committed(database_url, ledger, loser) == 1, "the refused sighting is not recorded"
    assert ledger.get_case(loser).version == 1
    assert len(ledger.recorder.select_notifications(start=1, limit=100)) == 2 + 1 + 1


@pytest.mark.parametrize("delay", [0.0, 0.05])
def test_a_first_key_another_process_stored_is_used_not_replaced(
    database_url: str, ledger: CaseLedger, monkeypatch: pytest.MonkeyPatch, delay: float
) -> None:
    """A new case whose first keys another process of the node stored meanwhile (a bulk import's
    chunk, say): the group's staged keys conflict, its transaction rolls back, and the case is
    sealed again under the stored keys; another process with the master key reads it (also
    when the conflict reaches the client before the last statements are sent)."""
    from ledger.case import case_id_for
    from ledger.tier_split import tiers_of

    case_id = case_id_for("MX", "pre-keyed")
    other = PostgresKeyStore(
        ledger.keys.master,
        Settings(node="MX", database_url=database_url).postgres_conninfo(),
        ledger_schema("MX"),
    )
    try:
        other.make_first_keys({str(case_id): tiers_of("CaseReported")})
    finally:
        other.close()
    slow_rows(ledger, monkeypatch, delay)
    assert ledger.report_missing_person(report(command_id="pre-keyed")) == case_id
    assert committed(database_url, ledger, case_id) == 1
    again = PostgresKeyStore(
        ledger.keys.master,
        Settings(node="MX", database_url=database_url).postgres_conninfo(),
        ledger_schema("MX"),
    )
    reader = CaseLedger("MX", env=ledger_env(Settings(node="MX", database_url=database_url)), keys=again)
    try:
        assert reader.get_case(case_id).person["given_names"] == "María José"
    finally:
        reader.close()
        again.close()


def test_the_keys_made_in_a_group_open_its_events_after_a_restart(database_url: str, tmp_path: Path) -> None:
    """The first data keys are stored in the group's transaction: another process, with the
    same master key, reads every case (a key not stored would read as erased: None)."""
    settings = Settings(node="MX", database_url=database_url)
    master = MasterKey(new_data_key())
    keys = PostgresKeyStore(master, settings.postgres_conninfo(), ledger_schema("MX"))
    writer = CaseLedger("MX", env=ledger_env(settings), keys=keys)
    try:
        made = in_threads(
            writer, [lambda n=n: writer.report_missing_person(report(command_id=f"k{n}")) for n in range(8)]
        )
        assert writer.group is not None and writer.group._keys_in_transaction
    finally:
        writer.close()
        keys.close()
    again = PostgresKeyStore(master, settings.postgres_conninfo(), ledger_schema("MX"))
    reader = CaseLedger("MX", env=ledger_env(settings), keys=again)
    try:
        assert [reader.get_case(c).person["given_names"] for c in made] == ["María José"] * 8
    finally:
        reader.close()
        again.close()


def test_the_group_commit_is_only_on_postgresql() -> None:
    ledger = CaseLedger("MX", env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    assert ledger.group is None and not GroupCommit.usable(ledger)


def test_the_api_answers_concurrent_requests_each_after_its_group_commits(
    database_url: str, tmp_path: Path
) -> None:
    """16 clients POST reports to the node's API under uvicorn (bench/overload.py's server,
    the API alone): every one is answered 201 with its own case, each retry with its first
    answer, and the node's /metrics count fewer commit transactions than reports. A client
    does what a 503 asks (services/http/admission.py: on a loaded machine the node may judge
    it cannot answer in time): it sends the same request again after Retry-After."""
    import requests

    from bench.overload import Server, distinct_report

    server = Server(database_url, tmp_path, max_commands=64, api_only=True)
    answers: dict[str, str] = {}
    retried: dict[str, str] = {}

    overloaded: list[str] = []

    def post(session: Any, key: str, body: dict[str, Any]) -> Any:
        headers = {"Authorization": f"Bearer {server.token}", "X-Purpose": "search", "Idempotency-Key": key}
        for _ in range(30):
            sent = session.post(f"{server.base}/cases", json=body, headers=headers, timeout=60)
            if sent.status_code != 503:
                return sent
            overloaded.append(key)  # refused whole: nothing recorded, the same request again
            time.sleep(float(sent.headers["Retry-After"]))
        raise AssertionError(f"{key}: still 503 after 30 attempts: {sent.text}")

    def client(n: int) -> None:
        with requests.Session() as session:
            for i in range(4):
                key, body = f"client{n}-{i}", distinct_report()
                sent = post(session, key, body)
                assert sent.status_code == 201, sent.text
                answers[key] = sent.json()["id"]
                if i == 0:  # the same request again: the first answer, nothing new recorded
                    again = post(session, key, body)
                    assert again.status_code in (200, 201), again.text
                    retried[key] = again.json()["id"]

    try:
        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        metrics = requests.get(f"{server.base}/metrics", timeout=10).text
    finally:
        server.stop()
    assert len(answers) == CLIENTS * 4 and len(set(answers.values())) == CLIENTS * 4, overloaded
    assert all(answers[k] == v for k, v in retried.items()) and len(retried) == CLIENTS
    figures = {
        line.split("{")[0]: int(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("caseledger_commit_group")
    }
    saves, groups = figures["caseledger_commit_group_saves_total"], figures["caseledger_commit_groups_total"]
    assert saves >= CLIENTS * 4 and groups < saves, figures
    reader = CaseLedger("MX", env=ledger_env(Settings(node="MX", database_url=database_url)))
    try:
        recorded = reader.recorder.select_notifications(start=1, limit=1000)
    finally:
        reader.close()
    reported = [str(n.originator_id) for n in recorded if n.topic.endswith("CaseReported")]
    assert sorted(reported) == sorted(answers.values()), "every answered report once, none other"


def test_a_sample_decided_while_a_withdrawal_commits_sees_the_withdrawal(
    database_url: str, ledger: CaseLedger
) -> None:
    """The API's lock is given up while a command waits for its commit, but not by a command
    that narrows access (ledger/narrowing.py): a sample asked for while the family's withdrawal
    of consent for identification waits for its commit is decided after it, and refused."""
    from ledger.commands import WithdrawConsent
    from ledger.errors import ConsentRequired
    from ledger.forensic_commands import TakeSample
    from tests.factories import FAMILY, FORENSIC, ctx

    fi = "forensic_identification"
    case_id = ledger.report_missing_person(report(command_id="consenting", consented_purposes=("search", fi)))
    lock = NodeLock()
    assert ledger.group is not None
    ledger.group.waiting = lock.released
    release, _ = held_group(ledger)
    withdraw = WithdrawConsent(
        **ctx(FAMILY), case_id=case_id, consent_purpose=fi, withdrawn_by="Rosa, mother"
    )
    sample = TakeSample(
        **ctx(FORENSIC, fi),
        taken_on="2026-04-05",
        sample_type="buccal_swab",
        holder="Medicina Forense",
        case_id=case_id,
        donor_relationship="mother",
        donor_consent_given_by="Rosa Chávez, the donor",
    )
    results: dict[str, Any] = {}

    def run(name: str, command: Any, call: Callable[[Any], Any]) -> None:
        try:
            with lock.holding(command):
                results[name] = call(command)
        except Exception as error:
            results[name] = error

    withdrawing = threading.Thread(target=run, args=("withdraw", withdraw, ledger.withdraw_consent))
    withdrawing.start()
    time.sleep(0.5)  # the withdrawal decided, its commit held
    sampling = threading.Thread(target=run, args=("sample", sample, ledger.take_sample))
    sampling.start()
    time.sleep(0.5)  # the sample asked meanwhile
    release.set()
    withdrawing.join(30)
    sampling.join(30)
    assert results["withdraw"] == 2, results
    assert isinstance(results["sample"], ConsentRequired), results
