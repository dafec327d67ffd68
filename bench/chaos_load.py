"""Steady load for the chaos run: each node's API takes commands at a fixed rate, as its
caseworkers would send them, whatever the faults.

Most commands are reports (POST /cases) and sightings on the node's own cases (POST
/cases/{id}/sightings with If-Match, one command at a time per case, as one caseworker works a
case). A few are meant to be refused: a sighting with a stale If-Match (409) and a request that
reuses another's Idempotency-Key with a different body (422). A command that gets no answer, or
a 5xx, is sent again as it was (same Idempotency-Key, same If-Match) until the API answers it
for good, as the API asks its clients to: every command ends acknowledged (2xx) or refused
(4xx), and the run knows exactly which."""

from __future__ import annotations

import hashlib
import json
import random
import string
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bench.chaos_network import STAFF, NodeProcesses

NATIONALITIES = (("HN",), ("GT",), ("SV",), ("HN", "GT"), ("HN",), ("GT",))
STALE, REUSED = 0.04, 0.02  # shares of the commands meant to be refused


@dataclass
class Command:
    node: str
    kind: str  # report, sighting, stale (meant for 409), reused (meant for 422)
    key: str  # its Idempotency-Key
    path: str
    body: dict[str, Any]
    if_match: int | None = None
    case_id: str | None = None
    nationalities: tuple[str, ...] = ()
    sent_at: float = 0.0
    answered_at: float | None = None
    status: int | None = None  # the answer for good: 2xx or 4xx
    version: int | None = None  # the version the API acknowledged
    attempts: int = 0
    answers: list[int] = field(default_factory=list)  # each attempt's status (0: no answer)

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def refused(self) -> bool:
        return self.status is not None and 400 <= self.status < 500

    @property
    def command_id(self) -> str:
        """As the API makes it from the key (services/http/commands.py)."""
        scope = hashlib.sha256(STAFF[self.node].encode()).hexdigest()[:16]
        return f"{scope}:{self.key}"


def _name(letters: random.Random) -> str:
    return "".join(letters.choice(string.ascii_lowercase) for _ in range(9)).capitalize()


@dataclass
class NodeLoad:
    """One node's caseworkers: its cases' versions, and which are free to act on."""

    node: NodeProcesses
    letters: random.Random
    versions: dict[str, int] = field(default_factory=dict)
    nationalities: dict[str, tuple[str, ...]] = field(default_factory=dict)
    idle: list[str] = field(default_factory=list)
    reusable: list[Command] = field(default_factory=list)

    def report(self) -> Command:
        born = f"{self.letters.randint(1950, 2004)}-{self.letters.randint(1, 12):02d}-01"
        nationalities = self.letters.choice(NATIONALITIES)
        body = {
            "given_names": _name(self.letters),
            "first_surname": _name(self.letters),
            "sex": self.letters.choice(("female", "male")),
            "nationalities": list(nationalities),
            "date_of_birth": born,  # adults only: no feed delivery is a recorded read
            "last_seen_date": "2026-01-05",
            "last_seen_country": "MX",
            "consented_purposes": ["search"],
            "consent_explained_by": "chaos run",
            "consent_language": "es",
        }
        return Command(
            self.node.country, "report", uuid.uuid4().hex, "/cases", body, nationalities=nationalities
        )

    def sighting(self, case_id: str, kind: str = "sighting") -> Command:
        version = self.versions[case_id]
        key = uuid.uuid4().hex
        body = {
            "seen_on": f"2026-0{self.letters.randint(2, 9)}-{self.letters.randint(1, 28):02d}",
            "place": {"country": "MX", "place": "Tapachula"},
            "source": "witness",
            "description": f"chaos {key}",
        }
        return Command(
            self.node.country,
            kind,
            key,
            f"/cases/{case_id}/sightings",
            body,
            if_match=version - 1 if kind == "stale" else version,
            case_id=case_id,
            nationalities=self.nationalities[case_id],
        )

    def next(self) -> Command:
        """The next command: a report, a sighting on an idle case, or one meant to be refused."""
        draw = self.letters.random()
        if draw < REUSED and self.reusable:
            first = self.letters.choice(self.reusable)
            body = {**first.body, "description": f"another {uuid.uuid4().hex}"}
            if first.kind == "report":
                body = {**first.body, "given_names": _name(self.letters)}
            return Command(self.node.country, "reused", first.key, first.path, body, first.if_match)
        if not self.idle or draw > 0.6:
            return self.report()
        case_id = self.idle.pop(self.letters.randrange(len(self.idle)))
        stale = draw < REUSED + STALE and self.versions[case_id] >= 2
        return self.sighting(case_id, "stale" if stale else "sighting")

    def answered(self, command: Command) -> None:
        if command.kind == "report" and command.acknowledged:
            assert command.case_id is not None
            self.versions[command.case_id] = 1
            self.nationalities[command.case_id] = command.nationalities
        elif command.kind == "sighting" and command.acknowledged:
            assert command.case_id is not None and command.version is not None
            self.versions[command.case_id] = command.version
        if command.kind in ("report", "sighting", "stale") and command.case_id:
            self.idle.append(command.case_id)
        if command.acknowledged and command.kind in ("report", "sighting"):
            self.reusable.append(command)


class Load:
    """Commands at `rate` per second to each node's API, until stopped; every command kept."""

    def __init__(self, nodes: dict[str, NodeProcesses], rate: float, seed: int = 18) -> None:
        self.nodes = {c: NodeLoad(n, random.Random(f"{seed}-{c}")) for c, n in nodes.items()}
        self.rate = rate
        self.commands: list[Command] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()  # no new commands
        self.give_up = threading.Event()  # no more retries either
        self.pool = ThreadPoolExecutor(48, thread_name_prefix="caseworker")
        self.threads = [
            threading.Thread(target=self._drive, args=(c,), name=f"load-{c}", daemon=True) for c in self.nodes
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def _drive(self, country: str) -> None:
        load = self.nodes[country]
        started = time.monotonic()
        n = 0
        while not self.stopping.is_set():
            delay = started + n / self.rate - time.monotonic()
            if delay > 0 and self.stopping.wait(delay):
                return
            n += 1
            with self.lock:
                command = load.next()
                self.commands.append(command)
            self.pool.submit(self._send, load, command)

    def _send(self, load: NodeLoad, command: Command) -> None:
        command.sent_at = time.time()
        headers = {
            "Authorization": f"Bearer {load.node.token}",
            "X-Purpose": "search",
            "Content-Type": "application/json",
            "Idempotency-Key": command.key,
        }
        if command.if_match is not None:
            headers["If-Match"] = f'"{command.if_match}"'
        data = json.dumps(command.body).encode()
        wait = 0.2
        while not self.give_up.is_set():
            command.attempts += 1
            request = urllib.request.Request(f"{load.node.base}{command.path}", data, headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=15) as answer:
                    status, body = answer.status, json.loads(answer.read())
            except urllib.error.HTTPError as error:
                status, body = error.code, {}
            except (OSError, ValueError):  # no answer: refused connection, reset, timed out
                status, body = 0, {}
            command.answers.append(status)
            if 200 <= status < 500:
                command.status, command.answered_at = status, time.time()
                if 200 <= status < 300:
                    command.version = int(body["version"])
                    if command.kind == "report":
                        command.case_id = str(body["id"])
                break
            self.give_up.wait(wait)  # 503 (overloaded, Retry-After), 5xx or no answer: again
            wait = min(wait * 2, 2.0)
        with self.lock:
            load.answered(command)

    def stop(self, drain_s: float) -> None:
        """No new commands; wait up to drain_s for those in flight to be answered for good."""
        self.stopping.set()
        for thread in self.threads:
            thread.join(10)
        deadline = time.monotonic() + drain_s
        while any(c.status is None for c in self.commands) and time.monotonic() < deadline:
            time.sleep(0.2)
        self.give_up.set()
        self.pool.shutdown(wait=True)

    def unanswered(self) -> list[Command]:
        return [c for c in self.commands if c.status is None]
