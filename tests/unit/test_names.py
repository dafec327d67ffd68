"""Names compared as people in the region write them; kept exactly as entered."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.names import compare, fold, given_forms, normalise, phonetic, search_keys, tokens

SAME_PERSON = [
    (("María José", "Pérez", "Gutiérrez"), ("Maria Jose", "Perez", "Gutierrez")),  # accents
    (("María José", "Pérez", "Gutiérrez"), ("MARÍA JOSÉ", "PÉREZ", "GUTIÉRREZ")),  # case
    (("María José", "Pérez", "Gutiérrez"), ("María José", "Gutiérrez", "Pérez")),  # order
    (("María José", "Pérez", "Gutiérrez"), ("María José", "Pérez", None)),  # one missing
    (("Ma. José", "Pérez", "Gutiérrez"), ("María José", "Pérez", "Gutiérrez")),  # abbreviation
    (("Chepe", "de la Cruz", None), ("José", "Cruz", None)),  # hypocoristic, particle
    (("Pancho", "Hernández", None), ("Francisco", "Ernandes", None)),  # Paco, silent h, z/s
    (("Chuy", "Vásquez", None), ("Jesús", "Basques", None)),  # b/v, s/z, qu/k
    (("Lupe", "Yanes", None), ("Guadalupe", "Llanes", None)),  # ll/y
    (("Concha", "Xicará", None), ("Concepción", "Xicara", None)),
    (("Nacho", "Quiñónez", None), ("Ignacio", "Kiñones", None)),
    (("J.", "Tzul", "Batz"), ("Juan", "Tzul", "Batz")),  # an initial
]

DIFFERENT_PEOPLE = [
    (("Juan", "Pérez", "López"), ("Pedro", "Pérez", "López")),  # brothers
    (("María", "García", "Hernández"), ("Rosa", "Martínez", "Ramírez")),
    (("José Luis", "Ajú", "Tzoc"), ("Ana Lucía", "Morales", "Coc")),
]


@pytest.mark.parametrize(("left", "right"), SAME_PERSON)
def test_spelling_variants_of_one_name_compare_as_the_same(left: tuple, right: tuple) -> None:
    result = compare(normalise(*left), normalise(*right))
    assert result.score >= 0.9, (left, right, result)


@pytest.mark.parametrize(("left", "right"), DIFFERENT_PEOPLE)
def test_the_check_catches_different_people(left: tuple, right: tuple) -> None:
    """The control case: sharing surnames (siblings) or nothing is well below the same person."""
    result = compare(normalise(*left), normalise(*right))
    assert result.score < 0.8, (left, right, result)


def test_particles_and_compound_given_names() -> None:
    assert tokens("María de los Ángeles") == ["maria", "angeles"]
    assert tokens("De La Cruz") == ["cruz"]
    assert normalise("Juan Carlos", "del Valle", "y Gómez").surnames == ("valle", "gomez")


def test_fold_drops_zero_width_and_bidi_marks_and_keeps_nothing_else_but_letters() -> None:
    assert fold("Jos\u200be\u202e Pe\u00f1a") == "jose pena"
    assert fold("\u200b\u200d\u2066") == ""


def test_phonetic_keys_hear_spanish() -> None:
    assert phonetic("Vásquez") == phonetic("Basques")
    assert phonetic("Hernández") == phonetic("Ernandes")
    assert phonetic("Llanos") == phonetic("Yanos")
    assert phonetic("Quiché") == phonetic("Kiche")
    assert phonetic("Huehuetenango") == phonetic("Wewetenango")
    assert phonetic("Gerardo") == phonetic("Jerardo")
    assert phonetic("Guillermo") != phonetic("Jiyermo")  # gui is a hard g
    assert phonetic("Cecilia") == phonetic("Sesilia")


def test_a_hypocoristic_standing_for_several_names_maps_to_each() -> None:
    assert {"alberto", "roberto"} <= given_forms("beto")
    assert given_forms("pepe") == {"pepe", "jose"}


def test_search_keys_find_a_name_by_its_spellings_and_keep_kinds_apart() -> None:
    keys = search_keys(["Chepe"], given=True)
    assert "g:w:jose" in keys and "g:p:jose" in keys
    assert search_keys(["José"], given=True) & keys
    assert not search_keys(["José"], given=False) & keys


names = st.text(alphabet=st.sampled_from("abcdefghijklmnñopqrstuvwxyzáéíóúü ÁÉ.-'"), max_size=24)


@given(names, names, names, names)
def test_comparison_is_symmetric_and_bounded(g1: str, s1: str, g2: str, s2: str) -> None:
    a, b = normalise(g1, s1), normalise(g2, s2)
    ab, ba = compare(a, b), compare(b, a)
    assert ab.score == pytest.approx(ba.score)
    assert 0.0 <= ab.score <= 1.0


@given(names, names)
def test_a_name_against_itself_and_its_unaccented_form_scores_one(given_names: str, surname: str) -> None:
    name = normalise(given_names, surname)
    if name.given and name.surnames:
        plain = normalise(fold(given_names), fold(surname))
        assert compare(name, name).score == pytest.approx(1.0)
        assert compare(name, plain).score == pytest.approx(1.0)
