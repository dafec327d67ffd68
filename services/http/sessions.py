"""Page sessions held at the node, apart from API tokens, and the throttle on failed sign-ins.

A browser's cookie carries a random session id and nothing else: the node keeps, in memory,
which token's holder signed in (its id, never the token), for what purpose, and the session's
form token. Signing in replaces the session (a session id planted before sign-in opens
nothing), signing out ends it, and a session ends by itself after IDLE of inactivity or
LONGEST in all. A node restart signs everyone out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

__all__ = ["IDLE_S", "LONGEST_S", "MAX_SESSIONS", "Guard", "LoginThrottle", "Session", "SessionStore"]

IDLE_S = 30 * 60
LONGEST_S = 12 * 3600
MAX_SESSIONS = 20_000  # of each kind; the oldest go first, so a flood of forms cannot exhaust memory


@dataclass(frozen=True)
class Session:
    kind: str  # "pages" (commissions and investigators) or "family"
    csrf: str  # the token every form of the session carries
    token_id: str | None = None  # None until signed in
    purpose: str | None = None
    started: float = 0.0
    seen: float = 0.0

    def same_form(self, csrf: str) -> bool:
        return hmac.compare_digest(self.csrf.encode(), csrf.encode())


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()  # ids are not kept as such


class SessionStore:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        # Sign-in forms' sessions apart from signed-in ones: a flood of forms evicts only forms.
        self._forms: OrderedDict[str, Session] = OrderedDict()
        self._signed: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session_id: str | None, kind: str) -> Session | None:
        """The live session of that kind the id names, touched; None for anything else."""
        if not session_id or len(session_id) > 100:
            return None
        key, now = _key(session_id), self.clock()
        with self._lock:
            held = self._signed if key in self._signed else self._forms
            found = held.get(key)
            if found is None or found.kind != kind:
                return None
            if now - found.seen > IDLE_S or now - found.started > LONGEST_S:
                del held[key]
                return None
            held[key] = touched = replace(found, seen=now)
            return touched

    def start(
        self, kind: str, token_id: str | None = None, purpose: str | None = None
    ) -> tuple[str, Session]:
        """A new session (before sign-in: only a form token) and the id its cookie carries."""
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        session = Session(kind, secrets.token_urlsafe(32), token_id, purpose, now, now)
        with self._lock:
            held = self._forms if token_id is None else self._signed
            held[_key(session_id)] = session
            while len(held) > MAX_SESSIONS:
                held.popitem(last=False)
        return session_id, session

    def sign_in(self, old_id: str | None, kind: str, token_id: str, purpose: str | None) -> str:
        """End the session the sign-in form was served in and start a signed-in one."""
        self.end(old_id)
        return self.start(kind, token_id, purpose)[0]

    def end(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._forms.pop(_key(session_id), None)
                self._signed.pop(_key(session_id), None)


class LoginThrottle:
    """After `limit` failed sign-ins within `window_s` from one client address, or naming one
    identity, refuse further attempts until the window has passed since the last failure."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window_s, self.clock = limit, window_s, clock
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, keys: Iterable[str]) -> int | None:
        """Seconds until an attempt under these keys is heard again; None when it is now."""
        now = self.clock()
        with self._lock:
            waits = []
            for key in keys:
                recent = [t for t in self._failures.get(key, []) if now - t < self.window_s]
                if recent:
                    self._failures[key] = recent
                else:
                    self._failures.pop(key, None)
                if len(recent) >= self.limit:
                    waits.append(int(recent[-1] + self.window_s - now) + 1)
            return max(waits) if waits else None

    def failed(self, keys: Iterable[str]) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                self._failures.setdefault(key, []).append(now)
                del self._failures[key][: -self.limit]  # the last `limit` failures are all it needs
            if len(self._failures) > MAX_SESSIONS:
                self._failures.pop(next(iter(self._failures)))

    def succeeded(self, keys: Iterable[str]) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)


@dataclass(frozen=True)
class Guard:
    """What the sign-in pages share: the node's sessions and its throttle on failed sign-ins."""

    sessions: SessionStore
    throttle: LoginThrottle
