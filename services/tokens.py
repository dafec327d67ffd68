"""API credentials: one bearer token per organisation (or per family member, bound to their
case), stored as its SHA-256 only.

A token is 32 random bytes (base64url, prefixed `clt_`), shown once when issued and never
again; the node keeps its hash, the organisation, the role and, for a family member, the
case. A hash of a random 256-bit secret needs no slow KDF: nothing can be guessed from it.
The file sits in the node's data directory, owner-only, beside its signing keys; it is
rewritten atomically. Tokens never reach a log: log lines name the token's id (the first
12 hex digits of its hash) at most.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ledger.access_rules import Organisation
from ledger.commands import Actor
from ledger.errors import InvalidField
from ledger.private_files import private_dir
from ledger.roles import check_staff
from ledger.validation import required_text
from ledger.vocabulary import CASE_BOUND_ROLES, ROLES
from topics.signing import write_private_file

__all__ = [
    "LIFETIME",
    "MAX_LIFETIME",
    "PREFIX",
    "Credential",
    "TokenStore",
    "family_pseudonym",
    "node_secret",
    "token_id_of",
]

PREFIX = "clt_"
LIFETIME = timedelta(days=90)
"""How long a token lives unless issued with another lifetime; a token issued before tokens
carried an expiry expires this long after it was issued."""
MAX_LIFETIME = timedelta(days=366)


@dataclass(frozen=True)
class Credential:
    """Who a token speaks for."""

    token_id: str
    organisation: str
    role: str
    case_id: str | None  # a family member's token, or the located person's own, opens their case only
    issued_at: str
    expires_at: str | None = None  # None: issued before expiry was recorded (LIFETIME after issue)

    @property
    def actor(self) -> Actor:
        """Who the ledger records. A family member's name is personal data and the envelope is
        public to the network: their events and reads name a pseudonym, `family:<token id>`
        (the node keeps the name with the token; what the family says in a consent or an
        erasure request travels sealed)."""
        if self.family:
            return Actor(f"family:{self.token_id}", self.role)  # the token id: random, not the name
        return Actor(self.organisation, self.role)

    @property
    def family(self) -> bool:
        """A credential bound to one case: its family member's, or the person's own (data_subject)."""
        return self.case_id is not None

    @property
    def expiry(self) -> datetime:
        if self.expires_at is not None:
            return datetime.fromisoformat(self.expires_at)
        return datetime.fromisoformat(self.issued_at) + LIFETIME

    def expired(self, now: datetime | None = None) -> bool:
        return (now or datetime.now(UTC)) >= self.expiry


def node_secret(path: Path) -> bytes:
    """A node's random secret (form tokens, family pseudonyms): owner-only, made once."""
    if not path.exists():
        write_private_file(path, secrets.token_bytes(32))
    return path.read_bytes()


def family_pseudonym(secret: bytes, name: str) -> str:
    """The name a family member's events and reads carry on the ledger, whose envelopes every
    node reads: stable for one person at one node, and not a hash anyone could reverse."""
    return "family:" + hmac.new(secret, name.strip().casefold().encode(), hashlib.sha256).hexdigest()[:12]


def _live(entry: dict[str, Any] | None) -> Credential | None:
    if entry is None:
        return None
    credential = Credential(**entry)
    return None if credential.expired() else credential


def token_id_of(token: str) -> str:
    """The id a token has or would have (the first 12 hex digits of its hash): safe to log or key on."""
    return _hash(token)[:12]


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def issue(
        self,
        organisation: str,
        role: str,
        case_id: str | None = None,
        lifetime: timedelta = LIFETIME,
        *,
        organisations: Mapping[str, Organisation] | None = None,
    ) -> tuple[str, Credential]:
        """A new token (returned once, never stored) and its credential, valid for `lifetime`.
        organisations: the network's, when the node has rules; a staff token is then for one of
        them only, in a role its kind can hold."""
        if not timedelta(0) < lifetime <= MAX_LIFETIME:
            raise InvalidField("expires", f"must be more than nothing and at most {MAX_LIFETIME.days} days")
        organisation = required_text("organisation", organisation)
        if role not in ROLES:
            raise InvalidField("role", f"{role!r} is not one of {', '.join(sorted(ROLES))}")
        if (role in CASE_BOUND_ROLES) != (case_id is not None):
            raise InvalidField(
                "case", "a family member's or a located person's token names their case, and only theirs does"
            )
        if organisations is not None and case_id is None:
            check_staff(organisations, organisation, role, prefix="")
        token = PREFIX + secrets.token_urlsafe(32)
        digest = _hash(token)
        now = datetime.now(UTC)
        credential = Credential(
            digest[:12], organisation, role, case_id, now.isoformat(), (now + lifetime).isoformat()
        )
        with self._lock:
            entries = self._read()
            entries[digest] = asdict(credential)
            self._write(entries)
        return token, credential

    def verify(self, token: str) -> Credential | None:
        """The credential of a valid, unexpired token; None for anything else."""
        if not token.startswith(PREFIX) or len(token) > 100:
            return None
        return _live(self._read().get(_hash(token)))

    def by_id(self, token_id: str) -> Credential | None:
        """The credential of a token by its id (a page session keeps the id, never the token),
        while the token is neither revoked nor expired."""
        return next((_live(e) for e in self._read().values() if e.get("token_id") == token_id), None)

    def revoke(self, token_id: str) -> bool:
        with self._lock:
            entries = self._read()
            kept = {h: e for h, e in entries.items() if e["token_id"] != token_id}
            if len(kept) == len(entries):
                return False
            self._write(kept)
            return True

    def list(self) -> list[Credential]:
        return sorted((Credential(**e) for e in self._read().values()), key=lambda c: c.issued_at)

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, entries: dict[str, dict[str, str | None]]) -> None:
        private_dir(self.path.parent)
        draft = self.path.with_name(f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(entries, handle, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(draft, self.path)
