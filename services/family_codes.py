"""Short sign-in codes for families: what a caseworker reads out or writes down, instead of a
47-character token to paste on a phone.

A code is 10 characters from an alphabet without look-alikes (no 0/O/Q, 1/I/L, 2/Z, 5/S, 6/G,
8/B), shown as two groups of five: 22^10 is about 2.7 * 10^13 codes (44 bits). Guessing is
held back by the sign-in throttle (5 failures per address or code per 15 minutes), so an
online attacker needs millions of years for even odds. A code opens one case, for one family
member, and expires (14 days unless issued otherwise, at most 90). The node keeps an HMAC of
it under its own secret, never the code, so a copied file cannot be searched offline without
the secret too. Behind each code is an ordinary family credential (services/tokens.py) whose
token nobody is shown: `caseledger token revoke ID` ends the code as it ends a token.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from ledger.errors import InvalidField
from ledger.private_files import private_dir
from services.tokens import Credential, TokenStore, node_secret

__all__ = [
    "ALPHABET",
    "LENGTH",
    "LIFETIME",
    "MAX_LIFETIME",
    "FamilyCodes",
    "looks_like_code",
    "normalise",
    "shown",
]

ALPHABET = "ACDEFHJKMNPRTUVWXY3479"
LENGTH = 10
LIFETIME = timedelta(days=14)
MAX_LIFETIME = timedelta(days=90)


def normalise(text: str) -> str:
    """What the family typed, as the code is kept: capitals, without spaces or dashes."""
    return "".join(c for c in text.upper() if c not in " -_.\t")


def shown(code: str) -> str:
    """The code as written down for the family: XXXXX-XXXXX."""
    return f"{code[:5]}-{code[5:]}"


def looks_like_code(text: str) -> bool:
    code = normalise(text)
    return len(code) == LENGTH and all(c in ALPHABET for c in code)


class FamilyCodes:
    """The node's family sign-in codes, kept as HMACs beside its tokens (owner-only file)."""

    def __init__(self, tokens: TokenStore) -> None:
        self.tokens = tokens
        self.path = tokens.path.with_name("family-codes.json")
        self._secret_path = tokens.path.with_name("forms.secret")
        self._lock = threading.Lock()

    def code_id(self, text: str) -> str:
        """What failed sign-ins with this code are counted under (never the code)."""
        return self._digest(normalise(text))[:12]

    def issue(self, name: str, case_id: str, lifetime: timedelta = LIFETIME) -> tuple[str, Credential]:
        """A new code for this family member and case (returned once) and its credential."""
        if not timedelta(0) < lifetime <= MAX_LIFETIME:
            raise InvalidField(
                "expires", f"a code lives more than nothing and at most {MAX_LIFETIME.days} days"
            )
        _token, credential = self.tokens.issue(name, "family_member", case_id, lifetime)
        code = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
        with self._lock:
            entries = self._read()
            entries[self._digest(code)] = {
                "token_id": credential.token_id,
                "expires_at": credential.expires_at,
            }
            self._write(entries)
        return code, credential

    def verify(self, text: str) -> Credential | None:
        """The family credential a live code opens; None for anything else."""
        if not looks_like_code(text):
            return None
        entry = self._read().get(self._digest(normalise(text)))
        if entry is None or datetime.fromisoformat(entry["expires_at"]) <= datetime.now(UTC):
            return None
        credential = self.tokens.by_id(entry["token_id"])  # revoked or expired: None
        return credential if credential is not None and credential.family else None

    def _digest(self, code: str) -> str:
        return hmac.new(node_secret(self._secret_path), code.encode(), hashlib.sha256).hexdigest()

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        now = datetime.now(UTC)  # expired codes are dropped whenever the file is rewritten
        return {k: e for k, e in data.items() if datetime.fromisoformat(e["expires_at"]) > now}

    def _write(self, entries: dict[str, dict[str, Any]]) -> None:
        private_dir(self.path.parent)
        draft = self.path.with_name(f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(entries, handle, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(draft, self.path)
