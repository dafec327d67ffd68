"""Envelope encryption: sealed tier data, data keys granted per organisation, keys at rest
under the master key; anything tampered or misdirected is refused."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.crypto import (
    MasterKey,
    RecipientKey,
    Refused,
    data_key_id,
    new_data_key,
    open_sealed,
    public_key_from_b64,
    seal,
    unwrap,
    wrap_for,
)

CONTEXT = b"case-1/1/common"


@given(plaintext=st.binary(max_size=2000), context=st.binary(max_size=64))
def test_sealed_data_opens_only_with_its_key_and_context(plaintext: bytes, context: bytes) -> None:
    key = new_data_key()
    sealed = seal(key, plaintext, context)
    if len(plaintext) >= 16:  # shorter strings can turn up in random bytes by chance
        assert plaintext not in sealed
    assert open_sealed(key, sealed, context) == plaintext
    with pytest.raises(Refused):
        open_sealed(new_data_key(), sealed, context)
    with pytest.raises(Refused):
        open_sealed(key, sealed, context + b"x")


def test_a_flipped_bit_is_refused() -> None:
    key = new_data_key()
    sealed = bytearray(seal(key, b"Mar\xc3\xada Jos\xc3\xa9 L\xc3\xb3pez", CONTEXT))
    sealed[20] ^= 1
    with pytest.raises(Refused, match="tampered"):
        open_sealed(key, bytes(sealed), CONTEXT)


def test_a_granted_key_opens_only_for_its_organisation() -> None:
    consulate, shelter = RecipientKey.generate(), RecipientKey.generate()
    data_key = new_data_key()
    wrapped = wrap_for(public_key_from_b64(consulate.public_b64), data_key, CONTEXT)
    assert data_key not in wrapped
    assert unwrap(consulate, wrapped, CONTEXT) == data_key
    with pytest.raises(Refused, match="granted to another organisation"):
        unwrap(shelter, wrapped, CONTEXT)
    with pytest.raises(Refused):
        unwrap(consulate, wrapped, b"case-2/1/common")  # a grant for one case cannot open another


def test_a_tampered_wrapped_key_is_refused() -> None:
    consulate = RecipientKey.generate()
    wrapped = bytearray(wrap_for(consulate.public, new_data_key(), CONTEXT))
    for position in (0, 40, len(wrapped) - 1):
        tampered = bytearray(wrapped)
        tampered[position] ^= 0x80
        with pytest.raises(Refused):
            unwrap(consulate, bytes(tampered), CONTEXT)
    with pytest.raises(Refused, match="too short"):
        unwrap(consulate, bytes(wrapped[:20]), CONTEXT)


def test_keys_at_rest_open_only_with_the_master_key_and_their_id() -> None:
    master = MasterKey.from_config(MasterKey.generate_config_value())
    data_key = new_data_key()
    stored = master.wrap(data_key_id("case-1", "reserved"), data_key)
    assert master.unwrap("case-1/reserved", stored) == data_key
    with pytest.raises(Refused):
        master.unwrap("case-2/reserved", stored)
    with pytest.raises(Refused):
        MasterKey.from_config(MasterKey.generate_config_value()).unwrap("case-1/reserved", stored)


@pytest.mark.parametrize(
    ("value", "problem"),
    [("not base64!", "not base64"), (base64.b64encode(b"short").decode(), "must be 32 bytes")],
)
def test_a_bad_master_key_setting_is_named(value: str, problem: str) -> None:
    with pytest.raises(Refused, match=f"CASELEDGER_MASTER_KEY: {problem}"):
        MasterKey.from_config(value)


def test_a_public_key_that_is_not_one_is_refused() -> None:
    with pytest.raises(Refused, match="X25519"):
        public_key_from_b64(base64.b64encode(b"x" * 5).decode())
