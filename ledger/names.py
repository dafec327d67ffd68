"""Names as people in the region write them, folded for comparing only.

The ledger keeps every name exactly as it was given. This module answers "could these be the
same person's name?" for search, duplicate reports and candidate matching: accents and case
folded; the particles de, del, de la, de los dropped; compound given names split; paternal and
maternal surnames compared in either order, or with one missing; abbreviations (Ma., Fco.,
J.) and common hypocoristics (Chepe, Pancho, Chuy, Lupe, Concha, Nacho) read as the names they
stand for; a Spanish-aware phonetic key (b/v, s/z/c, ll/y, silent h, qu/k, j/g/x, gu/hu/w);
and Jaro-Winkler similarity (rapidfuzz) for what is left.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz.distance import JaroWinkler

__all__ = [
    "PersonName",
    "compare",
    "fold",
    "given_forms",
    "normalise",
    "phonetic",
    "search_keys",
    "tokens",
]

PARTICLES = frozenset({"de", "del", "la", "las", "los", "y", "e", "da", "do", "dos", "van", "von"})

# Abbreviations as they are written on forms, lists and documents (after folding, no dot).
ABBREVIATIONS: dict[str, str] = {
    "ma": "maria",
    "maa": "maria",
    "fco": "francisco",
    "gpe": "guadalupe",
    "jse": "jose",
    "jn": "juan",
    "ant": "antonio",
    "sto": "santo",
    "sta": "santa",
    "ml": "manuel",
    "mnl": "manuel",
    "glz": "gonzalez",
    "gzz": "gonzalez",
    "hdz": "hernandez",
    "hndz": "hernandez",
    "rdz": "rodriguez",
    "rguez": "rodriguez",
    "fdz": "fernandez",
    "mtz": "martinez",
    "mz": "martinez",
    "gtz": "gutierrez",
    "glez": "gonzalez",
    "ramz": "ramirez",
    "rmz": "ramirez",
    "lpz": "lopez",
    "pz": "perez",
    "sanchz": "sanchez",
    "snchz": "sanchez",
}

# Hypocoristics of Spanish given names in Mexico and Central America. A diminutive that stands
# for several names (Beto: Alberto, Roberto, Humberto) maps to all of them.
HYPOCORISTICS: dict[str, tuple[str, ...]] = {
    "chepe": ("jose",),
    "pepe": ("jose",),
    "pepito": ("jose",),
    "cheo": ("jose",),
    "chema": ("jose", "maria"),
    "pancho": ("francisco",),
    "paco": ("francisco",),
    "panchito": ("francisco",),
    "curro": ("francisco",),
    "kiko": ("francisco", "enrique"),
    "paca": ("francisca",),
    "paquita": ("francisca",),
    "pancha": ("francisca",),
    "chuy": ("jesus",),
    "chucho": ("jesus",),
    "chus": ("jesus",),
    "lupe": ("guadalupe",),
    "lupita": ("guadalupe",),
    "pita": ("guadalupe",),
    "concha": ("concepcion",),
    "conchita": ("concepcion",),
    "conchi": ("concepcion",),
    "nacho": ("ignacio",),
    "lola": ("dolores",),
    "lolita": ("dolores",),
    "memo": ("guillermo",),
    "beto": ("alberto", "roberto", "humberto", "norberto", "heriberto"),
    "tono": ("antonio",),
    "tonio": ("antonio",),
    "tona": ("antonia",),
    "lalo": ("eduardo",),
    "quique": ("enrique",),
    "rafa": ("rafael",),
    "chabela": ("isabel",),
    "chavela": ("isabel",),
    "chelo": ("consuelo", "araceli"),
    "nando": ("fernando", "hernando"),
    "pili": ("pilar",),
    "charo": ("rosario",),
    "chayo": ("rosario",),
    "meche": ("mercedes",),
    "licha": ("alicia",),
    "tere": ("teresa",),
    "goyo": ("gregorio",),
    "poncho": ("alfonso",),
    "chalo": ("gonzalo", "rosalio"),
    "chencho": ("lorenzo", "crescencio", "inocencio"),
    "checo": ("sergio",),
    "nico": ("nicolas",),
    "santi": ("santiago",),
    "mari": ("maria",),
    "maru": ("maria",),
    "chela": ("graciela",),
    "juancho": ("juan",),
    "juanito": ("juan",),
    "chente": ("vicente",),
    "chano": ("feliciano", "luciano", "mariano"),
    "tencha": ("hortensia",),
    "chon": ("asuncion", "encarnacion"),
    "trini": ("trinidad",),
    "rosi": ("rosa",),
    "vicky": ("victoria",),
    "gaby": ("gabriela",),
    "fito": ("adolfo", "rodolfo"),
    "rodo": ("rodolfo",),
    "tavo": ("gustavo", "octavio"),
    "chava": ("salvador",),
    "chalito": ("rosalio",),
    "toncho": ("antonio",),
    "moncho": ("ramon",),
    "mundo": ("edmundo", "raymundo"),
    "cuco": ("refugio",),
    "cuca": ("refugio",),
    "cuquita": ("refugio",),
    "lencho": ("lorenzo",),
    "tacho": ("anastasio", "eustaquio"),
}


def fold(text: str) -> str:
    """Lower case, accents and diacritics removed (ñ is n), anything but letters and digits a
    space, spaces collapsed: for comparing only, never for keeping."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = []
    for char in decomposed:
        if unicodedata.combining(char):
            continue
        category = unicodedata.category(char)
        if category[0] in "LN":
            kept.append(char)
        elif category[0] == "Z" or char in "-'.,/_()":
            kept.append(" ")
        # format and control characters (zero-width, bidi marks) are dropped
    return " ".join("".join(kept).replace("ß", "ss").split())


def tokens(text: str | None) -> list[str]:
    """The folded words of a name, particles dropped and abbreviations expanded."""
    if not text:
        return []
    raw = unicodedata.normalize("NFKD", text.casefold())
    # "Ma." is María, "J." an initial: look at each word with its dot before folding.
    out: list[str] = []
    for word in raw.replace(",", " ").split():
        base = fold(word)
        if not base:
            continue
        for part in base.split():
            if part in PARTICLES:
                continue
            out.append(ABBREVIATIONS.get(part, part))
    return out


def given_forms(token: str) -> frozenset[str]:
    """The given names a folded token may stand for: itself, and the names a hypocoristic or
    abbreviation stands for."""
    forms = {ABBREVIATIONS.get(token, token)}
    forms.update(HYPOCORISTICS.get(token, ()))
    return frozenset(forms)


_PHONETIC_PAIRS = (
    ("sch", "x"),
    ("sh", "x"),
    ("ch", "C"),  # kept apart from c and h
    ("ll", "y"),
    ("qu", "k"),
    ("gue", "Ge"),
    ("gui", "Gi"),
    ("gua", "wa"),
    ("guo", "wo"),
    ("hua", "wa"),
    ("hue", "we"),
    ("hui", "wi"),
    ("huo", "wo"),
    ("ph", "f"),
    ("tz", "ts"),
    ("cc", "ks"),
)


_SAME_SOUND = {"v": "b", "z": "s", "q": "k", "C": "ch", "G": "g"}  # C: ch; G: gue, gui (a hard g)


def _sound(char: str, after: str) -> str:
    """One letter's sound, given the letter after it ("" at the end)."""
    if char in _SAME_SOUND:
        return _SAME_SOUND[char]
    if char == "c":
        return "s" if after in ("e", "i") else "k"
    if char == "g" and after in ("e", "i"):
        return "j"
    if char == "y" and (not after or after not in "aeiou"):
        return "i"
    if char == "w":
        return "u" if after not in "aeiou" else "w"
    return char


def phonetic(token: str) -> str:
    """A Spanish-aware phonetic key of one folded word: b/v, s/z/c(e,i), ll/y, silent h, qu/k,
    j/g(e,i), gu/hu/w, doubled letters once. 'Xicará' and 'Chicara' differ; 'Vásquez' and
    'Basques' do not."""
    word = fold(token).replace(" ", "")
    for pair, sound in _PHONETIC_PAIRS:
        word = word.replace(pair, sound)
    out: list[str] = []
    for i, char in enumerate(word):
        if char == "h":
            continue
        sound = _sound(char, word[i + 1] if i + 1 < len(word) else "")
        if out and out[-1] == sound:
            continue
        out.append(sound)
    return "".join(out)


@dataclass(frozen=True)
class PersonName:
    """A name ready for comparing: folded given names and surnames, in the order given."""

    given: tuple[str, ...]
    surnames: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.given and not self.surnames


def normalise(
    given_names: str | None,
    first_surname: str | None = None,
    second_surname: str | None = None,
) -> PersonName:
    """The comparable form of a name; the name itself stays as it was entered."""
    surnames = [*tokens(first_surname), *tokens(second_surname)]
    return PersonName(tuple(tokens(given_names)), tuple(surnames))


def _token_similarity(a: str, b: str, *, given: bool) -> float:
    if a == b:
        return 1.0
    if given and given_forms(a) & given_forms(b):
        return 0.97
    if len(a) == 1 or len(b) == 1:  # an initial: J. against José
        return 0.85 if a[0] == b[0] else 0.0
    if phonetic(a) == phonetic(b):
        return 0.95
    return float(JaroWinkler.similarity(a, b))


def _best_alignment(left: Sequence[str], right: Sequence[str], *, given: bool) -> float:
    """Each word of the shorter list against its best partner in the longer one (greedy, each
    partner used once), averaged: 'María José' against 'José' scores José's match, lightly
    penalised for the missing word."""
    if not left or not right:
        return 0.0
    if len(left) == len(right):  # either side may lead: take the better, so a-b equals b-a
        return max(_greedy(left, right, given=given), _greedy(right, left, given=given))
    short, long_ = (left, right) if len(left) < len(right) else (right, left)
    return _greedy(short, long_, given=given)


def _greedy(short: Sequence[str], long_: Sequence[str], *, given: bool) -> float:
    free = list(long_)
    total = 0.0
    for word in short:
        scored = [(_token_similarity(word, other, given=given), j) for j, other in enumerate(free)]
        best, at = max(scored)
        total += best
        free.pop(at)
    mean = total / len(short)
    missing = len(long_) - len(short)
    return mean * (0.96**missing)


@dataclass(frozen=True)
class NameComparison:
    """How alike two names are (0 to 1), with the parts that made the figure."""

    score: float
    given: float
    surnames: float
    surnames_swapped: bool


def compare(a: PersonName, b: PersonName) -> NameComparison:
    """Compare two names: given names word by word (hypocoristics, initials, phonetics), surnames
    in either order and with one missing. Symmetric; a name against itself scores 1."""
    given = _best_alignment(a.given, b.given, given=True)
    straight = _best_alignment(a.surnames, b.surnames, given=False)
    # In the order given (paternal first) a full match is the strongest evidence; a swapped or
    # partial match is allowed but not preferred.
    in_order = _ordered(a.surnames, b.surnames)
    surnames = max(straight, in_order)
    swapped = straight > in_order + 1e-9
    if not a.given or not b.given:
        score = surnames
    elif not a.surnames or not b.surnames:
        score = given * 0.9
    else:
        score = 0.45 * given + 0.55 * surnames
    return NameComparison(round(score, 6), round(given, 6), round(surnames, 6), swapped)


def _ordered(left: Sequence[str], right: Sequence[str]) -> float:
    if not left or not right:
        return 0.0
    pairs = list(zip(left, right, strict=False))
    mean = sum(_token_similarity(x, y, given=False) for x, y in pairs) / len(pairs)
    return mean * (0.96 ** abs(len(left) - len(right)))


def search_keys(names: Iterable[str | None], *, given: bool) -> set[str]:
    """The words a search index keeps for these names (to be keyed before they are stored):
    each folded word, its phonetic key, and for given names the names a hypocoristic stands
    for. Prefixed by kind so a surname never answers for a given name."""
    kind = "g" if given else "s"
    keys: set[str] = set()
    for name in names:
        for word in tokens(name):
            forms = given_forms(word) if given else {word}
            for form in forms:
                keys.add(f"{kind}:w:{form}")
                keys.add(f"{kind}:p:{phonetic(form)}")
    return keys
