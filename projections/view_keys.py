"""What keeps a node's views unreadable at rest: every field above the public tier is stored
sealed (AES-256-GCM) under a key of the node's own for the aggregate, and opened when read.

The key is `<aggregate id>/views/<generation>` in the node's key store, wrapped by its master
key like every data key. It goes with the aggregate's other keys: the origin's erasure
destroys them all, a tombstone on `ledger.keys` destroys the copy of the same id, and the
views destroy it themselves when they purge the case. PostgreSQL keeps an old row's bytes in
dead tuples and in the WAL, SQLite in free pages and its `-wal` file: only ciphertext ever
goes there, and it opens with nothing once the key is gone.

Search tokens: a case's names are kept as keyed tokens too. Each name is normalised (case and
accents folded, split into words) and each word becomes HMAC-SHA256 under a search key derived
from the case's views key, truncated to 16 bytes; a case's tokens are stored sorted and
concatenated (`name_tokens`), behind a 4-byte key generation. They say nothing on their own,
two cases' tokens of the same name differ, and they go with the key: a search computes the
token of each word sought under each case's key (`name_matches`).
"""

from __future__ import annotations

import base64
import functools
import hmac
import json
import re
import sys
import unicodedata
from collections.abc import Iterable
from typing import Any

from ledger.crypto import MasterKey, Refused, new_data_key, open_sealed, seal
from ledger.keystore import KeyStore, key_id_for
from ledger.memory_key_store import MemoryKeyStore

__all__ = ["TOKEN_BYTES", "VIEWS_TIER", "ViewKeys", "name_words"]

VIEWS_TIER = "views"
TOKEN_BYTES = 16
_GENERATION = 4
_TEXT = "sealed:"  # what a sealed text column starts with; a shown "{}" is stored as it is
_SEARCH = b"caseledger views: search tokens"


def name_words(names: Iterable[str | None]) -> list[str]:
    """The words of names as search compares them: lower case, accents folded, no punctuation."""
    words: list[str] = []
    for name in names:
        if not name:
            continue
        folded = unicodedata.normalize("NFKD", name.casefold())
        if not folded.isascii():
            folded = folded.translate(_combining_marks())
        words.extend(w for w in _WORD_BREAK.split(folded) if w)
    return list(dict.fromkeys(words))


_WORD_BREAK = re.compile(r"[\W_]+")


@functools.cache
def _combining_marks() -> dict[int, None]:
    """Every code point of a nonzero combining class, mapped to nothing: a case's names are
    folded with one str.translate instead of a Python test per character (found once per
    process, some 0.1 s)."""
    return {c: None for c in range(sys.maxunicode + 1) if unicodedata.combining(chr(c))}


class ViewKeys:
    """Seals and opens the views' fields above public with the node's per-aggregate views keys.
    Without a key store (tests), the keys live in this process only."""

    def __init__(self, store: KeyStore | None = None) -> None:
        self.store = store or MemoryKeyStore(MasterKey(new_data_key()))

    # ------------------------------------------------------------------ keys

    def _current(self, aggregate_id: str) -> tuple[int, bytes]:
        # prepare() loaded the first keys of a batch: a new aggregate's is made in one query
        first = self.store.cached(key_id_for(aggregate_id, VIEWS_TIER, 1))
        if first is not None:
            return 1, first
        key_id, key = self.store.current_many(aggregate_id, [VIEWS_TIER], new=True)[VIEWS_TIER]
        return int(key_id.rsplit("/", 1)[1]), key

    def prepare(self, aggregate_ids: Iterable[str]) -> None:
        """Before a batch is sealed: bring the first views keys of these aggregates into memory
        with one query, and make those that were never made with one more (a key made apart
        costs a commit of the key store's own: a thousand new cases, a thousand commits)."""
        firsts = {a: key_id_for(a, VIEWS_TIER, 1) for a in aggregate_ids}
        self.store.load(firsts.values())
        missing = [k for k in firsts.values() if self.store.cached(k) is None]
        if missing:
            # A key destroyed or made meanwhile by another process stays as it is; sealing
            # then finds the current one (a later generation after an erasure).
            self.store.put_many((k, new_data_key()) for k in missing)

    def prepare_blobs(self, found: Iterable[tuple[str, bytes | None]]) -> None:
        """Bring the keys these (aggregate id, sealed value) pairs need into memory, one query."""
        self.store.load(
            key_id_for(a, VIEWS_TIER, int.from_bytes(b[:_GENERATION], "big"))
            for a, b in found
            if b and len(b) > _GENERATION
        )

    def destroy(self, aggregate_ids: Iterable[str]) -> None:
        """Destroy every views key of these aggregates (their purge): what they sealed is gone."""
        for aggregate_id in aggregate_ids:
            self.store.destroy(k for k in self.store.live(aggregate_id) if k.split("/")[-2] == VIEWS_TIER)

    # ------------------------------------------------------------------ values

    def seal(self, aggregate_id: str, field: str, plaintext: bytes) -> bytes:
        generation, key = self._current(aggregate_id)
        return generation.to_bytes(_GENERATION, "big") + seal(
            key, plaintext, _context(aggregate_id, field, generation)
        )

    def open(self, aggregate_id: str, field: str, sealed: bytes | None) -> bytes | None:
        """The plaintext, or None when there is none or its key is gone (an erased case)."""
        if not sealed or len(sealed) <= _GENERATION:
            return None
        generation = int.from_bytes(sealed[:_GENERATION], "big")
        key = self.store.get(key_id_for(aggregate_id, VIEWS_TIER, generation))
        if key is None:
            return None
        try:
            return open_sealed(key, sealed[_GENERATION:], _context(aggregate_id, field, generation))
        except Refused:
            return None

    def seal_fields(self, aggregate_id: str, fields: dict[str, Any]) -> bytes | None:
        """A row's fields above public as one sealed JSON value (None when all are empty)."""
        if all(v is None for v in fields.values()):
            return None
        return self.seal(aggregate_id, "row", json.dumps(fields, default=str).encode())

    def open_fields(self, aggregate_id: str, sealed: bytes | None) -> dict[str, Any]:
        opened = self.open(aggregate_id, "row", sealed)
        return {} if opened is None else dict(json.loads(opened))

    def seal_text(self, aggregate_id: str, field: str, text: str) -> str:
        """A JSON text column sealed as text ("{}", nothing shown, stays as it is)."""
        if text in ("", "{}"):
            return text
        return _TEXT + base64.b64encode(self.seal(aggregate_id, field, text.encode())).decode()

    def open_text(self, aggregate_id: str, field: str, stored: str) -> str:
        """A sealed text column opened; "{}" when its key is gone."""
        if not stored.startswith(_TEXT):
            return stored
        opened = self.open(aggregate_id, field, base64.b64decode(stored[len(_TEXT) :]))
        return "{}" if opened is None else opened.decode()

    @staticmethod
    def text_blob(stored: str) -> bytes | None:
        return base64.b64decode(stored[len(_TEXT) :]) if stored.startswith(_TEXT) else None

    # ------------------------------------------------------------------ search tokens

    def name_tokens(self, aggregate_id: str, names: Iterable[str | None]) -> bytes | None:
        """The case's name words as keyed tokens (None without names)."""
        words = name_words(names)
        if not words:
            return None
        generation, key = self._current(aggregate_id)
        tokens = sorted(_tokens(_search_key(key), words))
        return generation.to_bytes(_GENERATION, "big") + b"".join(tokens)

    def name_matches(self, aggregate_id: str, stored: bytes | None, sought: str) -> bool:
        """Whether every word of `sought` is among the case's name tokens."""
        if not stored or len(stored) <= _GENERATION:
            return False
        generation = int.from_bytes(stored[:_GENERATION], "big")
        key = self.store.get(key_id_for(aggregate_id, VIEWS_TIER, generation))
        words = name_words([sought])
        if key is None or not words:
            return False
        body = stored[_GENERATION:]
        held = {body[i : i + TOKEN_BYTES] for i in range(0, len(body), TOKEN_BYTES)}
        search = _search_key(key)
        return all(_token(search, w) in held for w in words)


def _context(aggregate_id: str, field: str, generation: int) -> bytes:
    return f"views|{aggregate_id}|{field}|{generation}".encode()


# hmac.digest is the one-shot C HMAC: the same bytes as hmac.new(...).digest(), without the
# Python HMAC object (a case's tokens cost 55 µs that way, a tenth of a replay's event).
def _search_key(key: bytes) -> bytes:
    return hmac.digest(key, _SEARCH, "sha256")


def _token(search: bytes, word: str) -> bytes:
    return hmac.digest(search, word.encode(), "sha256")[:TOKEN_BYTES]


def _tokens(search: bytes, words: Iterable[str]) -> list[bytes]:
    """_token of each word: the search key's HMAC state is set up once and copied for each
    word (OpenSSL 3 sets up a key in about as long as a short word's HMAC takes)."""
    keyed = hmac.new(search, digestmod="sha256")
    tokens = []
    for word in words:
        one = keyed.copy()
        one.update(word.encode())
        tokens.append(one.digest()[:TOKEN_BYTES])
    return tokens
