"""The composition root: builds a node (ledger, log, relay, views) from Settings. Nothing
is wired at import time."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from ledger.access_rules import AccessRules
from ledger.access_rules import load as load_rules
from ledger.application import CaseLedger
from ledger.case import MissingPersonCase
from ledger.crypto import MasterKey, RecipientKey
from ledger.errors import CaseNotFound
from ledger.keystore import KeyStore
from ledger.tiers import is_minor
from projections.access import RulesPolicy
from projections.projector import Projector
from projections.views import JurisdictionViews
from services.backends import Backend, backend_for
from services.backends import ledger_schema as ledger_schema  # where bench/ and tests import it
from services.relay_cases import EventCases
from services.settings import Settings
from topics.avro import SchemaRegistry
from topics.catalogue import Catalogue
from topics.chain import ChainStore
from topics.grants import CaseContext, Granting, Readers, Withheld, own_cases_only
from topics.linkage_publishing import LinkagePublishing
from topics.log import EventLog
from topics.relay import Relay
from topics.signing import KeyRegistry, NodeKey, load_or_create_recipient, write_private_file
from topics.wire_tiers import WireTiers

__all__ = [
    "Node",
    "build_log",
    "build_node",
    "case_context",
    "chain_store",
    "disclosed_readers",
    "key_registry",
    "key_store",
    "ledger_env",
    "linkage_publishing",
    "linkage_secret",
    "master_key",
    "master_key_path",
    "node_key",
    "node_key_path",
    "public_keys",
    "readers_by_rules",
    "recipient_key",
    "recipient_key_path",
    "withheld_readers",
]


def ledger_env(settings: Settings) -> dict[str, str]:
    """The eventsourcing library's environment for this node's event store, in one place."""
    return backend_for(settings).ledger_env()


def node_key_path(settings: Settings) -> Path:
    return settings.node_key or settings.data_dir / f"node-{settings.node.lower()}.key"


def recipient_key_path(settings: Settings) -> Path:
    return settings.recipient_key or settings.data_dir / f"node-{settings.node.lower()}.x25519"


def master_key_path(settings: Settings) -> Path:
    """Where the master key is kept when CASELEDGER_MASTER_KEY does not give it."""
    return settings.data_dir / f"master-{settings.node.lower()}.key"


def node_key(settings: Settings) -> NodeKey:
    return NodeKey.load_or_create(node_key_path(settings))


def recipient_key(settings: Settings) -> RecipientKey:
    return load_or_create_recipient(recipient_key_path(settings))


def public_keys(settings: Settings) -> dict[str, str]:
    """This node's entry for the network's key registry file."""
    return {"signing": node_key(settings).public_b64, "encryption": recipient_key(settings).public_b64}


def master_key(settings: Settings) -> MasterKey:
    if settings.master_key is not None:
        return MasterKey.from_config(settings.master_key.get_secret_value())
    path = master_key_path(settings)
    if not path.exists():
        write_private_file(path, MasterKey.generate_config_value().encode())
    return MasterKey.from_config(path.read_text().strip(), setting=str(path))


def key_store(settings: Settings, master: MasterKey) -> KeyStore:
    return backend_for(settings).key_store(master)


def key_registry(settings: Settings, own: NodeKey, recipient: RecipientKey) -> KeyRegistry:
    """The other nodes' public keys (from the registry file) and this node's own."""
    registry = KeyRegistry.from_file(settings.key_registry) if settings.key_registry else KeyRegistry()
    registry.add(settings.node, own.public_b64)
    registry.add_recipient(settings.node, recipient.public_b64)
    return registry


def readers_by_rules(rules: AccessRules) -> Readers:
    def readers(origin: str, tier: str, nationalities: Sequence[str], minor: bool) -> list[str]:
        entitled = rules.entitled(
            origin, tier, nationalities=nationalities, minor=minor, on=datetime.now(UTC).date()
        )
        # An organisation (not a consulate, which speaks for another country) reads through its
        # jurisdiction's node: the node holds the key and decides each of its reads by the rules.
        hosts = {
            member.jurisdiction
            for reader in entitled
            if (member := rules.organisations.get(reader)) is not None and member.kind != "consulate"
        }
        return [*entitled, *sorted(hosts - set(entitled))]

    return readers


def case_context(ledger: CaseLedger, cases: EventCases | None = None) -> CaseContext:
    """The nationalities and minor status a case's key grants are decided on."""
    loads = cases or EventCases(ledger)

    def context(aggregate_id: str) -> tuple[Sequence[str], bool]:
        try:
            case = loads.case(UUID(aggregate_id))
        except (CaseNotFound, ValueError):
            return (), False
        return tuple(case.person.get("nationalities") or ()), is_minor(case.person, case.last_seen)

    return context


def withheld_readers(rules: AccessRules, ledger: CaseLedger, cases: EventCases | None = None) -> Withheld:
    """The readers a case is withheld from (the country a refugee fled: its node, its
    organisations and its consulates): those named by the report being published and by the
    case as it stands now, which may have been withheld since. A sample, match or identified
    remains of such a case is withheld from them too."""
    readers = (*rules.organisations, *rules.jurisdictions)
    loads = cases or EventCases(ledger)

    def withheld(aggregate_id: str, event: Any) -> frozenset[str]:
        countries = set(getattr(event, "withheld_from_countries", None) or ())
        try:
            aggregate: Any = loads.aggregate(UUID(aggregate_id))
        except (AggregateNotFoundError, ValueError):
            aggregate = None  # not this node's record: its origin decides
        if aggregate is not None and not isinstance(aggregate, MissingPersonCase):
            linked = getattr(aggregate, "case_id", None) or getattr(aggregate, "identified_as", None)
            aggregate = None
            if linked:
                with contextlib.suppress(CaseNotFound, ValueError):
                    aggregate = loads.case(UUID(str(linked)))
        if isinstance(aggregate, MissingPersonCase):
            countries |= aggregate.withheld_countries
        return frozenset(r for r in readers if rules.withholds(r, countries)) if countries else frozenset()

    return withheld


def chain_store(settings: Settings) -> ChainStore:
    return backend_for(settings).chain_store()


def build_log(settings: Settings) -> EventLog:
    return backend_for(settings).log()


@dataclass
class Node:
    """One country's node: its ledger, its relay to the shared log, and views per jurisdiction."""

    settings: Settings
    ledger: CaseLedger
    event_log: EventLog
    relay: Relay
    registry: SchemaRegistry
    catalogue: Catalogue
    keys: KeyRegistry
    data_keys: KeyStore
    recipient: RecipientKey
    _views: dict[str, JurisdictionViews] = field(default_factory=dict)
    _projectors: dict[str, Projector] = field(default_factory=dict)

    @functools.cached_property
    def backend(self) -> Backend:
        """Where this node keeps its stores (services/backends.py)."""
        return backend_for(self.settings)

    def views(self, jurisdiction: str) -> JurisdictionViews:
        if jurisdiction not in self._views:
            self._views[jurisdiction] = self.backend.views(jurisdiction, self.data_keys)
        return self._views[jurisdiction]

    def projector(self, jurisdiction: str) -> Projector:
        if jurisdiction not in self._projectors:
            self._projectors[jurisdiction] = Projector(
                jurisdiction,
                self.event_log,
                self.views(jurisdiction),
                self.settings.node,
                self.registry,
                policy=self.policy(),
                catalogue=self.catalogue,
                batch_size=self.settings.projection_batch_size,
                keys=self.keys,
                data_keys=self.data_keys,
                recipient=self.recipient,
            )
        return self._projectors[jurisdiction]

    def policy(self) -> RulesPolicy | None:
        """The network's access rules when configured (the loader refuses a bad file)."""
        return RulesPolicy(load_rules(self.settings.access_rules)) if self.settings.access_rules else None

    def sync(self, jurisdiction: str) -> dict[str, int]:
        """Publish what is pending, then bring one jurisdiction's views up to date."""
        published = self.relay.run_once()
        consumed = self.projector(jurisdiction).run_once()
        return {"published": published, "consumed": consumed}

    def close(self) -> None:
        for projector in self._projectors.values():
            projector.close()
        for views in self._views.values():
            views.close()
        self.relay.close()
        self.relay.chain.close()  # the relay's links (a connection on servers)
        self.event_log.close()
        self.ledger.close()
        self.data_keys.close()


def build_node(settings: Settings, **ledger_kwargs: Any) -> Node:
    """Wire a node from settings: the event store, the log and its topics, the relay."""
    # Processes of one node that start together (rebuild workers, serve and a CLI command)
    # take turns creating its tables and functions.
    with backend_for(settings).exclusive():
        return _build_node(settings, **ledger_kwargs)


def _build_node(settings: Settings, **ledger_kwargs: Any) -> Node:
    backend = backend_for(settings)
    keys = backend.key_store(master_key(settings))
    registry = SchemaRegistry()
    # The store seals new events' tiers as the log carries them (#13): the relay copies them.
    ledger_kwargs.setdefault("codec", WireTiers(registry))
    ledger = CaseLedger(
        settings.node,
        env=backend.ledger_env(),
        snapshot_interval=settings.snapshot_interval,
        keys=keys,
        **ledger_kwargs,
    )
    event_log = backend.log()
    catalogue = Catalogue(settings.topic_prefix, settings.partitions)
    event_log.create_topics(catalogue.node_topics(settings.node))
    signer = node_key(settings)
    recipient = recipient_key(settings)
    known = key_registry(settings, signer, recipient)
    rules = load_rules(settings.access_rules) if settings.access_rules else None
    cases = EventCases(ledger)  # the case each event's questions read, loaded once per event
    granting = Granting(
        settings.node,
        keys,
        registry,
        catalogue,
        signer,
        known.recipients(),
        readers=readers_by_rules(rules) if rules else own_cases_only,
        context=case_context(ledger, cases),
        withheld=withheld_readers(rules, ledger, cases) if rules else lambda aggregate_id, event: frozenset(),
        disclosed=disclosed_readers(rules, ledger, cases) if rules else lambda aggregate_id: frozenset(),
        for_event=cases.for_event,
    )
    relay = Relay(
        ledger.recorder,
        ledger.mapper,
        event_log,
        settings.node,
        registry,
        catalogue,
        batch_size=settings.relay_batch_size,
        signer=signer,
        chain=backend.chain_store(),
        keys=keys,
        granting=granting,
        linkage=linkage_publishing(settings, rules, signer, catalogue, ledger),
        shred=ledger.shred,
    )
    relay.wakeup = ledger.saved  # a command committed here wakes this process's relay
    relay.notices = backend.commit_notices(ledger.recorder)  # and one committed elsewhere
    node = Node(settings, ledger, event_log, relay, registry, catalogue, known, keys, recipient)
    if rules is not None:
        # The ledger checks every command's recorder and the records it names under the rules,
        # whatever adapter sends it (the API, the CLI, an import, the matcher): ledger/acting.py.
        from services.acting import Acting

        ledger.acting = Acting(node, rules)
    return node


def disclosed_readers(
    rules: AccessRules, ledger: CaseLedger, cases: EventCases | None = None
) -> Callable[[str], frozenset[str]]:
    """The nodes an approved disclosure (#19) lets read a case's common tier, while the family's
    search consent holds and the rules let the case be linked with that node (a minor's only
    under an agreement naming minors; never a country the case is withheld from)."""
    from ledger.linkage_case import disclosed_to

    loads = cases or EventCases(ledger)

    def disclosed(aggregate_id: str) -> frozenset[str]:
        try:
            case = loads.case(UUID(aggregate_id))
        except (CaseNotFound, ValueError):
            return frozenset()
        approved = disclosed_to(case)
        if not approved or case.erased or not case.has_consent("search"):
            return frozenset()
        allowed = rules.linkage_recipients(
            ledger.origin,
            minor=is_minor(case.person, case.last_seen),
            withheld_from=case.withheld_from,
            on=datetime.now(UTC).date(),
        )
        return approved & allowed

    return disclosed


def linkage_secret(settings: Settings) -> bytes | None:
    """The network's linkage secret from settings (CASELEDGER_LINKAGE_SECRET), never the repository."""
    if settings.linkage_secret is None:
        return None
    import base64
    import binascii

    from ledger.linkage import MIN_SECRET_BYTES

    try:
        secret = base64.b64decode(settings.linkage_secret.get_secret_value(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("CASELEDGER_LINKAGE_SECRET: not base64") from None
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"CASELEDGER_LINKAGE_SECRET: must be at least {MIN_SECRET_BYTES} random bytes")
    return secret


def linkage_publishing(
    settings: Settings, rules: AccessRules | None, signer: NodeKey, catalogue: Catalogue, ledger: CaseLedger
) -> LinkagePublishing | None:
    """The relay's linkage step, when the node holds the network's linkage secret and rules."""
    secret = linkage_secret(settings)
    if secret is None or rules is None:
        return None

    def case_of(case_id: str) -> Any:
        try:
            return ledger.get_case(UUID(case_id))
        except (CaseNotFound, ValueError):
            return None

    return LinkagePublishing(settings.node, secret, rules, signer, catalogue, case_of)
