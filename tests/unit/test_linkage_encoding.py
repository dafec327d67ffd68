"""Encodings for linkage without disclosure (ledger/linkage.py): what they hold, what they
find, what they refuse, and that a dictionary of the region's names does not open them
without the network's linkage secret."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.corpus import (
    GIVEN_FEMALE,
    GIVEN_MALE,
    MAYA_SURNAMES,
    SECOND_GIVEN_FEMALE,
    SECOND_GIVEN_MALE,
    SPANISH_SURNAMES,
)
from ledger.linkage import (
    SCHEMA_VERSION,
    Encoding,
    LinkageError,
    _spans,
    candidates,
    dice,
    encode,
    encoding_bytes,
    fields,
    schema_json,
)
from ledger.names import HYPOCORISTICS

SECRET = b"test-linkage-secret-0123456789abcdef"
OTHER = b"another-network-secret-0123456789abc"

MARIA = {
    "given_names": "María José",
    "first_surname": "Pérez",
    "second_surname": "Gutiérrez",
    "date_of_birth": "1990-03-04",
    "sex": "female",
    "origin": "Huehuetenango",
}


def test_what_is_encoded_is_folded_and_order_free() -> None:
    written_otherwise = {
        "given_names": "MARIA JOSE",
        "first_surname": "Gutierrez",  # the surnames the other way round
        "second_surname": "Pérez",
        "date_of_birth": "1990-03-04",
        "sex": "female",
        "origin": "huehuetenango",
    }
    assert fields(MARIA) == fields(written_otherwise)
    a, b = encode([MARIA, written_otherwise], SECRET)
    assert a == b
    # A hypocoristic encodes as the name it stands for.
    assert fields({"given_names": "Chepe"})[0] == fields({"given_names": "José"})[0]
    # Control: another person's fields differ.
    assert fields(MARIA) != fields(dict(MARIA, given_names="Ana"))


def test_an_encoding_holds_nothing_but_bits_of_the_schemas_length() -> None:
    [raw] = encode([MARIA], SECRET)
    assert len(raw) == encoding_bytes() == sum(f["bits"] for f in schema_json()["fields"]) // 8
    for word in ("maria", "jose", "perez", "gutierrez", "1990", "huehuetenango"):
        assert word.encode() not in raw.lower()
    # Keyed: another secret gives an unrelated encoding of the same person.
    [other] = encode([MARIA], OTHER)
    assert dice(raw, raw) == 1.0
    assert dice(raw, other) < 0.4


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(GIVEN_MALE + GIVEN_FEMALE),
    st.sampled_from(SPANISH_SURNAMES + MAYA_SURNAMES),
    st.sampled_from(SPANISH_SURNAMES + MAYA_SURNAMES),
)
def test_case_and_accents_never_change_an_encoding(given_name: str, first: str, second: str) -> None:
    person = {"given_names": given_name, "first_surname": first, "second_surname": second, "sex": "male"}
    plain = str.maketrans("áéíóúÁÉÍÓÚüÜñÑ", "aeiouAEIOUuUnN")
    shouted = {k: v.upper().translate(plain) for k, v in person.items() if k != "sex"} | {"sex": "male"}
    a, b = encode([person, shouted], SECRET)
    assert a == b


def test_candidates_find_the_same_person_and_explain_each_field() -> None:
    mx = [MARIA, dict(MARIA, given_names="Ana Lucía", date_of_birth="1994-11-20")]  # her sister
    hn = [
        {
            "given_names": "Ma. José",
            "first_surname": "Peres",
            "second_surname": None,  # one surname left out
            "date_of_birth": "1990-03-04",
            "sex": "female",
            "origin": "Huehuetenango",
        }
    ]
    found = candidates(encode(mx, SECRET), encode(hn, SECRET))
    assert [(c.left, c.right) for c in found] == [(0, 0)]
    [c] = found
    assert 0.9 <= c.score <= 1.0
    names = [name for name, _dice, _weight in c.explanation]
    assert names == [f["feature"]["identifier"] for f in schema_json()["fields"]]
    assert all(weight > 0 for _name, _dice, weight in c.explanation)
    # The sister (same surnames and origin, another given name and birth date) is not a candidate.
    assert (1, 0) not in [(c.left, c.right) for c in found]


def test_a_field_missing_on_one_side_weighs_nothing() -> None:
    no_birth = dict(MARIA, date_of_birth=None)
    [c] = candidates(encode([MARIA], SECRET), encode([no_birth], SECRET), threshold=0.01)
    explanation = {name: (d, w) for name, d, w in c.explanation}
    assert explanation["date_of_birth"] == (None, 0.0)
    # Control: a different birth date weighs against.
    [c] = candidates(
        encode([MARIA], SECRET), encode([dict(MARIA, date_of_birth="1971-12-30")], SECRET), threshold=0.01
    )
    assert dict((n, w) for n, _d, w in c.explanation)["date_of_birth"] < 0


def test_encodings_under_different_secrets_never_match() -> None:
    assert candidates(encode([MARIA], SECRET), encode([MARIA], OTHER), threshold=0.5) == []
    assert candidates(encode([MARIA], SECRET), encode([MARIA], SECRET), threshold=0.5) != []


@pytest.mark.parametrize(
    ("encoding", "problem"),
    [
        (Encoding("c1", "HN", SCHEMA_VERSION + 1, b"\0" * encoding_bytes()), "schema_version"),
        (Encoding("c1", "HN", SCHEMA_VERSION, b"\0" * 5), "bits"),
    ],
)
def test_an_encoding_that_cannot_be_compared_is_refused_naming_the_field(encoding, problem) -> None:
    with pytest.raises(LinkageError, match=f"^{problem}: "):
        encoding.checked()
    # Control: the right version and length pass.
    good = Encoding("c1", "HN", SCHEMA_VERSION, encode([MARIA], SECRET)[0])
    assert good.checked() is good


def test_a_short_secret_and_a_threshold_out_of_range_are_refused() -> None:
    with pytest.raises(LinkageError, match=r"^linkage_secret: "):
        encode([MARIA], b"short")
    [raw] = encode([MARIA], SECRET)
    for bad in (0.0, 1.5, -1):
        with pytest.raises(LinkageError, match=r"^threshold: "):
            candidates([raw], [raw], threshold=bad)


def _dictionary() -> list[str]:
    """The region's common given names and surnames: every word the synthetic corpus draws
    names from, their compounds (two given names) and the hypocoristics ledger/names.py knows,
    the dictionary an attacker would try."""
    given_words = sorted(set(GIVEN_MALE + GIVEN_FEMALE + SECOND_GIVEN_MALE + SECOND_GIVEN_FEMALE))
    surnames = sorted(set(SPANISH_SURNAMES + MAYA_SURNAMES))
    compounds = [f"{a} {b}" for a in GIVEN_MALE for b in SECOND_GIVEN_MALE if a != b] + [
        f"{a} {b}" for a in GIVEN_FEMALE for b in SECOND_GIVEN_FEMALE if a != b
    ]
    nicknames = [word.capitalize() for word in HYPOCORISTICS]  # Chepe, Pancho, Chuy...
    return sorted(set(given_words + surnames + compounds + nicknames))


def _guess_given_names(targets: list[bytes], secret: bytes, words: list[str]) -> list[str]:
    """The dictionary attack on the given-names field: encode every word as a given name with
    `secret`, and for each target take the word whose field is the most similar."""
    start, end = _spans(SCHEMA_VERSION)[0]
    encoded = encode([{"given_names": w} for w in words], secret)
    out = []
    for target in targets:
        field = target[start:end]
        best = max(range(len(words)), key=lambda i: dice(field, encoded[i][start:end]))
        out.append(words[best])
    return out


def test_a_dictionary_of_the_regions_names_does_not_open_an_encoding_without_the_secret() -> None:
    words = _dictionary()
    assert len(words) >= 1_000, len(words)
    people = [{"given_names": w, "first_surname": "López", "sex": "male"} for w in GIVEN_MALE[:30]]
    targets = encode(people, SECRET)
    truth = [fields(p)[0] for p in people]
    folded = [fields({"given_names": w})[0] for w in words]

    def hits(guesses: list[str]) -> int:
        return sum(fields({"given_names": g})[0] == t for g, t in zip(guesses, truth, strict=True))

    # Without the secret: the attacker's guessed secrets give chance (1 in ~1,000 per target).
    for guess in (os.urandom(32), b"caseledger" * 4, OTHER):
        assert hits(_guess_given_names(targets, guess, words)) <= 2
    # Control, what an insider holding the secret learns: the names come out.
    assert hits(_guess_given_names(targets, SECRET, words)) >= 27
    assert len(set(folded)) > 900
