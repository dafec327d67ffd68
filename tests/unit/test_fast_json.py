"""ledger/fast_json.py: orjson's encoding gives the bytes of the ledger's own JSONTranscoder
for what events hold, and hands to the standard encoder what orjson would write otherwise."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
import pytest
from eventsourcing.persistence import JSONTranscoder, TranscodingNotRegisteredError
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.application import CaseLedger
from ledger.fast_json import FastTranscoder

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
STANDARD: JSONTranscoder = CaseLedger("MX", env=POPO).mapper.transcoder  # type: ignore[assignment]
FAST = FastTranscoder(STANDARD)

texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)  # quotes, controls, accents
leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | texts
    | st.dates()
    | st.datetimes(timezones=st.just(UTC))
    | st.datetimes()
    | st.sets(st.integers(0, 9), max_size=3)
)
values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(values)
def test_the_same_bytes_as_the_ledgers_transcoder(value: Any) -> None:
    assert FAST.encode(value) == STANDARD.encode(value)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False) | st.integers(), max_size=8))
def test_numbers_keep_their_value(numbers: list[float]) -> None:
    assert FAST.decode(FAST.encode(numbers)) == STANDARD.decode(STANDARD.encode(numbers)) == numbers


def test_an_events_attributes_give_the_same_bytes() -> None:
    seen = datetime(2026, 3, 1, 4, 5, 6, 789, tzinfo=UTC)
    state = {
        "timestamp": seen,
        "occurred_at": seen - timedelta(hours=1),
        "command_id": "import:reports:0a1b#0123456789abcdef",
        "person": {"given_names": "José Ángel", "date_of_birth": date(1990, 2, 3), "aliases": []},
        "last_seen": {
            "route": "Corinto – Tenosique",
            "coordinates": {"latitude": 17.47, "longitude": -91.43},
        },
        "family_contacts": [{"name": 'Gloria "la Tía" Hernández', "phone": "+504 5555 0000\n"}],
        "__sealed__": {"common": ["881f9836-98b5-534d-88b0-810614b6b177/common/1", "ZYP9/49+IGh8=="]},
    }
    assert FAST.encode(state) == STANDARD.encode(state)
    assert FAST.decode(FAST.encode(state)) == state


def test_what_orjson_writes_otherwise_goes_to_the_standard_encoder() -> None:
    case = UUID("881f9836-98b5-534d-88b0-810614b6b177")
    for value in (
        {"case": case},  # orjson writes a UUID as plain text
        [str(case)],  # text that reads as a UUID: written the standard way, the same bytes
        {"big": 2**70},  # beyond orjson's 64 bits
        {"amount": Decimal("1.10")},  # a transcoding orjson does not know
    ):
        assert FAST.encode(value) == STANDARD.encode(value)
    assert FAST.decode(FAST.encode({"case": case})) == {"case": case}
    # Control: orjson alone loses the UUID's type, which the fallback keeps.
    assert orjson.loads(orjson.dumps({"case": case})) == {"case": str(case)}


def test_a_type_no_transcoding_knows_is_refused_as_before() -> None:
    with pytest.raises(TranscodingNotRegisteredError):
        STANDARD.encode({"x": object()})
    with pytest.raises(TranscodingNotRegisteredError):
        FAST.encode({"x": object()})
    with pytest.raises(TypeError):
        FAST.encode({1: "a key that is not text"} | {"y": object()})


def test_floats_that_are_not_finite_are_refused_by_the_checks_first() -> None:
    from ledger.errors import InvalidField
    from ledger.values import Coordinates

    with pytest.raises(InvalidField):
        Coordinates(math.nan, 0.0).checked("last_seen_coordinates")
