"""An erasure's tombstones on `ledger.keys` are true at the origin too: every key the relay
tombstones is destroyed in the origin's key store, however the relay's batches fall.

A donor's sample has no common-tier data in the event store, so the only common-tier key it
gets is the one the relay makes to seal message envelopes. When the withdrawal is relayed in
the batch that first publishes the sample, that key used to be made after the erasure,
tombstoned, and kept live here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from ledger.commands import CloseCase, EraseData, ReopenCase
from ledger.forensic_commands import RecordProfile, TakeSample, WithdrawDonorConsent
from services.bootstrap import Node, build_node
from services.settings import Settings
from tests.contracts.test_event_log_contract import read_all
from tests.factories import FAMILY, FORENSIC, ctx, report

FI = "forensic_identification"
ERASING = {"DataErased", "DonorConsentWithdrawn"}


@pytest.fixture(params=[500, 1], ids=["one-batch", "batch-per-event"])
def node(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Node]:
    settings = Settings(
        node="MX", data_dir=tmp_path, kafka_bootstrap=None, database_url=None, relay_batch_size=request.param
    )
    built = build_node(settings)
    yield built
    built.close()


def donor_sample(node: Node, case_id: UUID) -> UUID:
    sample = node.ledger.take_sample(
        TakeSample(
            **ctx(FORENSIC, FI),
            taken_on="2026-04-05",
            sample_type="buccal_swab",
            holder="Medicina Forense",
            case_id=case_id,
            donor_relationship="mother",
            donor_consent_given_by="Rosa Chávez, the donor",
        )
    )
    node.ledger.record_profile(
        RecordProfile(
            **ctx(FORENSIC, FI), sample_id=sample, laboratory="LGF", kind="autosomal_str", profile="vWA:17,18"
        )
    )
    return sample


def tombstoned(node: Node, aggregate_id: UUID) -> set[str]:
    """The key ids the origin told the network (ledger.keys) are destroyed."""
    records = read_all(node.event_log, node.catalogue.keys().name)
    return {
        (r.key or b"").decode()
        for r in records
        if r.value is None and (r.key or b"").decode().startswith(f"{aggregate_id}/")
    }


def granted(node: Node, aggregate_id: UUID) -> set[str]:
    """The key ids the origin granted to readers (ledger.keys)."""
    records = read_all(node.event_log, node.catalogue.keys().name)
    return {
        (r.key or b"").decode()
        for r in records
        if r.value is not None and (r.key or b"").decode().startswith(f"{aggregate_id}/")
    }


def sealed_with(node: Node, aggregate_id: UUID) -> list[tuple[str, set[str]]]:
    """Each published message of the aggregate, in order: its event type and the keys it is
    sealed with (its tiers' and its envelope's)."""
    out = []
    for record in read_all(node.event_log, node.catalogue.events("MX").name):
        if record.key != str(aggregate_id).encode():
            continue
        decoded: Any = node.registry.decode(record.value).record
        keys = {str(s["key_id"]) for s in decoded.get("sealed", [])}
        envelope = decoded["meta"].get("sealed_envelope")
        if envelope:
            keys.add(str(envelope["key_id"]))
        out.append(((record.header("event_type") or b"").decode(), keys))
    return out  # in order: an aggregate's messages share one partition


def after_erasure(messages: list[tuple[str, set[str]]]) -> set[str]:
    """The keys of the erasing message and of every message after it."""
    types = [t for t, _ in messages]
    first = min(i for i, t in enumerate(types) if t in ERASING)
    return set().union(*(keys for _, keys in messages[first:]))


def test_a_withdrawal_relayed_with_the_samples_first_publication_leaves_no_key_live_here(
    node: Node,
) -> None:
    case_id = node.ledger.report_missing_person(report(consented_purposes=("search", FI)))
    withdrawn, kept = donor_sample(node, case_id), donor_sample(node, case_id)
    node.ledger.withdraw_donor_consent(
        WithdrawDonorConsent(**ctx(FORENSIC, FI), sample_id=withdrawn, withdrawn_by="Rosa Chávez, the donor")
    )
    assert node.data_keys.live(str(withdrawn)) == [], "control: the withdrawal shredded the sample here"

    assert node.relay.run_once() == 6

    keys = node.data_keys
    assert keys.live(str(withdrawn)) == [], "a key the network was told is destroyed is live here"
    assert tombstoned(node, withdrawn) == set(keys.known(str(withdrawn))), "every key it ever had"
    assert not after_erasure(sealed_with(node, withdrawn)) & set(keys.live(str(withdrawn)))
    assert all(not used for _, used in sealed_with(node, withdrawn)), "sealed with a key made after it"
    assert granted(node, withdrawn) == set(), "a key made after the erasure was granted"
    # Control: the other sample, relayed in the same batches, keeps every key, its envelope's too.
    assert {k.split("/")[1] for k in keys.live(str(kept))} == {"common", "forensic", "genetic"}
    assert tombstoned(node, kept) == set()


def test_keys_of_a_sample_withdrawn_after_its_first_publication_are_destroyed_here(node: Node) -> None:
    case_id = node.ledger.report_missing_person(report(consented_purposes=("search", FI)))
    withdrawn = donor_sample(node, case_id)
    node.relay.run_once()
    made_by_relay = [k for k in node.data_keys.live(str(withdrawn)) if "/common/" in k]
    assert made_by_relay, "control: the relay made the sample's envelope key"
    node.ledger.withdraw_donor_consent(
        WithdrawDonorConsent(**ctx(FORENSIC, FI), sample_id=withdrawn, withdrawn_by="Rosa Chávez, the donor")
    )
    node.relay.run_once()
    assert node.data_keys.live(str(withdrawn)) == []
    assert tombstoned(node, withdrawn) == set(node.data_keys.known(str(withdrawn)))


def test_a_case_erased_before_it_is_relayed_keeps_no_tombstoned_key_live_here(node: Node) -> None:
    erased = node.ledger.report_missing_person(report())
    kept = node.ledger.report_missing_person(report(given_names="Berta"))
    node.ledger.erase_data(EraseData(**ctx(FAMILY), case_id=erased, requested_by="Rosa Chávez, mother"))
    at_erasure = set(node.data_keys.known(str(erased)))
    # Recorded after the erasure: a closing and a reopening (its reason needs a new key here).
    node.ledger.close_case(CloseCase(**ctx(), case_id=erased, reason="withdrawn_by_family"))
    node.ledger.reopen_case(ReopenCase(**ctx(), case_id=erased, reason="the family asked again"))

    node.relay.run_once()

    keys = node.data_keys
    told = tombstoned(node, erased)
    assert at_erasure <= told, "a tombstone for every key the case had when it was erased"
    assert not told & set(keys.live(str(erased))), "a key the network was told is destroyed is live here"
    messages = sealed_with(node, erased)
    assert not after_erasure(messages) & told, "a message after the erasure is sealed with a tombstoned key"
    assert keys.live(str(kept)) and not tombstoned(node, kept), "control: the other case keeps its keys"


def test_the_relay_completes_an_erasure_the_origin_did_not_finish(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    case_id = node.ledger.report_missing_person(report(consented_purposes=("search", FI)))
    withdrawn = donor_sample(node, case_id)
    # The node stops between recording the withdrawal and destroying the sample's keys.
    monkeypatch.setattr(node.ledger, "shred", lambda aggregate_id: [])
    node.ledger.withdraw_donor_consent(
        WithdrawDonorConsent(**ctx(FORENSIC, FI), sample_id=withdrawn, withdrawn_by="Rosa Chávez, the donor")
    )
    assert node.data_keys.live(str(withdrawn)), "control: the keys are still here"
    node.relay.run_once()
    assert node.data_keys.live(str(withdrawn)) == []
    assert tombstoned(node, withdrawn) == set(node.data_keys.known(str(withdrawn)))
