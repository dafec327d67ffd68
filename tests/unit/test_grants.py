"""Key grants follow the rules over time: a new reader is granted the current key, and a
reader that loses its entitlement (an agreement expired) causes the key to rotate, so it
opens nothing recorded afterwards."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from ledger.crypto import MasterKey, RecipientKey, Refused, new_data_key, unwrap
from ledger.memory_key_store import MemoryKeyStore
from topics.avro import SchemaRegistry
from topics.catalogue import Catalogue
from topics.grants import Granting, Readers, grant_context, own_cases_only
from topics.signing import NodeKey

CASE = "6f1c2a38-0000-4000-8000-000000000001"


@pytest.fixture
def setup() -> tuple[Granting, dict[str, RecipientKey], set[str]]:
    recipients = {name: RecipientKey.generate() for name in ("MX", "GT", "HN")}
    entitled = {"MX", "GT"}
    granting = Granting(
        "MX",
        MemoryKeyStore(MasterKey(new_data_key())),
        SchemaRegistry(),
        Catalogue(),
        NodeKey.generate(),
        {name: key.public for name, key in recipients.items()},
        readers=lambda origin, tier, nationalities, minor: sorted(entitled),
    )
    return granting, recipients, entitled


def granted_readers(granting: Granting, key_id: str) -> dict[str, bytes]:
    [message] = granting.grants_for([key_id])
    granting.granted()
    return dict(granting.registry.decode(message.value).record["grants"])


def test_a_reader_that_loses_its_entitlement_gets_nothing_new(
    setup: tuple[Granting, dict[str, RecipientKey], set[str]],
) -> None:
    granting, recipients, entitled = setup
    first_id, first_key = granting.key_for(CASE, "common")
    assert set(granted_readers(granting, first_id)) == {"MX", "GT"}
    assert granting.key_for(CASE, "common") == (first_id, first_key)  # nothing changed: same key
    assert granting.grants_for([first_id]) == []  # and no grant again

    entitled.discard("GT")  # the MX-GT agreement expired
    second_id, second_key = granting.key_for(CASE, "common")
    assert (first_id, second_id) == (f"{CASE}/common/1", f"{CASE}/common/2")
    grants = granted_readers(granting, second_id)
    assert set(grants) == {"MX"}
    assert unwrap(recipients["MX"], grants["MX"], grant_context(second_id)) == second_key
    with pytest.raises(Refused):  # GT's key opens no grant of the new key
        unwrap(recipients["GT"], grants["MX"], grant_context(second_id))
    assert granting.keys.get(first_id) == first_key, "the origin still opens what the old key sealed"

    entitled.add("HN")  # a new agreement: the current key is granted again, rotation not needed
    assert granting.key_for(CASE, "common")[0] == second_id
    assert set(granted_readers(granting, second_id)) == {"MX", "HN"}


def test_an_uncommitted_grant_is_made_again(
    setup: tuple[Granting, dict[str, RecipientKey], set[str]],
) -> None:
    granting, _, _ = setup
    key_id, _ = granting.key_for(CASE, "reserved")
    assert granting.grants_for([key_id])
    granting.abandoned()  # the transaction did not commit
    assert granting.grants_for([key_id]), "the grant goes out with the next attempt"


def test_without_access_rules_no_case_context_is_asked_for() -> None:
    """own_cases_only reads nothing of the case: the relay opened every report and loaded every
    other event's case only to learn it. A rules-like readers function is still asked with the
    case's context (control), and both grant exactly the readers their rules give."""
    asked: list[str] = []

    def context(aggregate_id: str) -> tuple[tuple[str, ...], bool]:
        asked.append(aggregate_id)
        return ("GT",), True

    def by_rules(origin: str, tier: str, nationalities: Sequence[str], minor: bool) -> list[str]:
        return ["MX", "GT"] if "GT" in nationalities and not minor else ["MX"]

    recipients = {name: RecipientKey.generate() for name in ("MX", "GT")}

    def granting(readers: Readers) -> Granting:
        return Granting(
            "MX",
            MemoryKeyStore(MasterKey(new_data_key())),
            SchemaRegistry(),
            Catalogue(),
            NodeKey.generate(),
            {name: key.public for name, key in recipients.items()},
            readers=readers,
            context=context,
        )

    own = granting(own_cases_only)
    assert set(granted_readers(own, own.key_for(CASE, "common")[0])) == {"MX"}
    assert asked == []
    ruled = granting(by_rules)
    assert set(granted_readers(ruled, ruled.key_for(CASE, "common")[0])) == {"MX"}  # a minor
    assert asked and set(asked) == {CASE}
