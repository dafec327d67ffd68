"""A node that lost its database gets it back (#18): `keys backup` seals the node's keys for
the operators' offline recovery keys (ledger/key_backup.py); `keys restore` puts them back;
`restore` rebuilds the event store, the data keys and the relay's hash chain from the node's
own topics (topics/restore.py) plus that backup.

Keys made after the last backup come back too when the node's own grants on `ledger.keys`
wrap them for the node itself (every tier the rules let the origin's node read; all tiers
without rules): the node's X25519 key, in the backup, unwraps them. A key neither the backup
nor such a grant holds is lost with the database: the tiers it sealed come back empty, and
its id is recorded as destroyed so that it is never made again. What was recorded but not
yet relayed when the database was lost is on no topic: only PostgreSQL's own backups (WAL
archiving) hold it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ledger.crypto import MasterKey
from ledger.key_backup import BackupRefused, KeyBackup, load_recovery_key, open_backup, seal_backup
from ledger.keystore import KeyStore
from ledger.restore_store import StoreNotEmpty, restoring
from ledger.sealed_store import SealingMapper
from services.backends import backend_for
from services.bootstrap import (
    Node,
    build_node,
    master_key,
    master_key_path,
    node_key_path,
    recipient_key_path,
)
from services.settings import Settings
from topics.restore import (
    ENVELOPE,
    RecoveredEvent,
    RestoreRefused,
    domain_event,
    own_event_batches,
    own_grants,
)
from topics.signing import NodeKey, load_or_create_recipient, write_private_file

__all__ = [
    "BackupRefused",
    "KeysRestored",
    "RestoreRefused",
    "Restored",
    "StoreNotEmpty",
    "make_backup",
    "restore_keys",
    "restore_node",
]


@dataclass(frozen=True)
class KeysRestored:
    kept: int
    destroyed: int
    files_written: tuple[str, ...]


@dataclass(frozen=True)
class Restored:
    """What `restore` put back, in counts (nothing personal)."""

    events: int
    aggregates: int
    last_notification_id: int
    keys_from_backup: int
    keys_from_grants: int
    keys_lost: int  # named by messages, held by neither the backup nor the node's own grants
    events_with_closed_tiers: int
    already_held: int = 0  # events the store held already (onto_existing)
    grants_unopened: int = 0  # the node's own grants its X25519 key does not unwrap (an older key)
    grants_refused: int = 0  # grants in the node's name it did not sign: never kept


def make_backup(settings: Settings, recovery_keys: list[str]) -> bytes:
    """The node's key backup file's bytes, for these recovery public keys (base64)."""
    master = master_key(settings)
    signing, recipient = node_key_path(settings), recipient_key_path(settings)
    NodeKey.load_or_create(signing)
    load_or_create_recipient(recipient)
    store = backend_for(settings).key_store(master)
    try:
        keys = store.export()
    finally:
        store.close()
    backup = KeyBackup(
        node=settings.node,
        keys=keys,
        signing_key=signing.read_bytes(),
        recipient_key=recipient.read_bytes(),
        master_key=_master_value(master),
    )
    return seal_backup(backup, recovery_keys)


def _master_value(master: MasterKey) -> str:
    import base64

    return base64.b64encode(master.key).decode()


def _secrets_to_write(settings: Settings, backup: KeyBackup) -> list[tuple[Path, bytes]]:
    """The node's key files the backup puts back; BackupRefused when the node holds other
    keys than the backup's (then nothing is written)."""
    if backup.node != settings.node:
        raise BackupRefused(f"backup: it is node {backup.node}'s; this node is {settings.node}")
    writes = []
    for what, path, content in (
        ("signing key", node_key_path(settings), backup.signing_key),
        ("X25519 key", recipient_key_path(settings), backup.recipient_key),
    ):
        if not path.exists():
            writes.append((path, content))
        elif path.read_bytes() != content:
            raise BackupRefused(f"{what}: {path} holds another key than the backup's; move it away first")
    if settings.master_key is not None:
        if settings.master_key.get_secret_value().strip() != backup.master_key:
            raise BackupRefused(
                "CASELEDGER_MASTER_KEY differs from the backed-up master key: set it to the backup's "
                "(it keys the digests a retried command is recognised by)"
            )
    else:
        path = master_key_path(settings)
        if not path.exists():
            writes.append((path, backup.master_key.encode()))
        elif path.read_text().strip() != backup.master_key:
            raise BackupRefused(f"master key: {path} holds another key than the backup's; move it away first")
    return writes


def restore_keys(settings: Settings, backup: KeyBackup) -> KeysRestored:
    """Put the backup's node keys (where missing) and data keys back."""
    written = _write_secrets(settings, backup)
    store = backend_for(settings).key_store(master_key(settings))
    try:
        kept, destroyed = store.restore(backup.keys)
    finally:
        store.close()
    return KeysRestored(kept, destroyed, written)


def _write_secrets(settings: Settings, backup: KeyBackup) -> tuple[str, ...]:
    writes = _secrets_to_write(settings, backup)  # all checked before any is written
    for path, content in writes:
        write_private_file(path, content)
    return tuple(str(path) for path, _ in writes)


def restore_node(
    settings: Settings, backup: KeyBackup | None = None, *, onto_existing: bool = False
) -> Restored:
    """Rebuild the node's event store, data keys and hash chain from its own topics (and the
    key backup, put back first when given) into an empty event store; onto_existing: into a
    store a point-in-time recovery (WAL archive) brought back to some moment, adding what the
    topic holds beyond it. Stop the node's other processes first."""
    if backup is not None:
        _write_secrets(settings, backup)  # before the node is built, which would make new ones
    node = build_node(settings)
    try:
        highest = node.ledger.recorder.max_notification_id() or 0
        if highest and not onto_existing:
            raise StoreNotEmpty(
                "restore: the node's event store is not empty; a restore only fills an empty one "
                "(after a point-in-time recovery, --onto-existing adds what the topic holds beyond it)"
            )
        from_backup = node.data_keys.restore(backup.keys)[0] if backup is not None else 0
        return _restore(node, from_backup, highest)
    finally:
        node.close()


def _restore(node: Node, from_backup: int, highest: int) -> Restored:
    settings = node.settings
    keys = node.data_keys
    grants = own_grants(
        node.event_log,
        node.catalogue,
        node.registry,
        settings.node,
        node.keys.verify,
        node.recipient,
    )
    keys.load(grants.keys)  # one query; then each is asked of memory
    held_before = {k for k in grants.keys if keys.cached(k) is not None}
    keys.restore(grants.keys)
    keys.record_grants(grants.readers)
    mapper = node.ledger.mapper
    assert isinstance(mapper, SealingMapper)
    expected: dict[int, tuple[str, int]] = {}  # what a recovered store must hold already
    aggregates: set[str] = set()
    events = closed = lost = last = 0
    # One transaction for every batch: the events' insert is the one commit point, so a restore
    # stopped before it leaves the store as it was and can be run again (keys, links idempotent).
    with restoring(node.ledger.recorder, after=highest) as insert:
        for batch in own_event_batches(
            node.event_log, node.catalogue, node.registry, settings.node, node.keys.verify, keys
        ):
            expected.update({e.notification_id: e.link[:2] for e in batch if e.notification_id <= highest})
            fresh = [e for e in batch if e.notification_id > highest]
            lost += _keep_lost_keys_destroyed(keys, fresh)
            rows = []
            for event in fresh:
                key_ids = dict(event.key_ids)
                envelope = key_ids.pop(ENVELOPE, None)
                if envelope is not None:
                    key_ids.setdefault("common", envelope)
                stored = mapper.to_restored_event(
                    domain_event(event.topic, event.state), key_ids, event.sealed
                )
                rows.append((event.notification_id, stored, str(event.state.get("command_id") or "")))
            node.relay.chain.put([event.link for event in batch])
            insert(rows)
            events += len(fresh)
            closed += sum(1 for event in fresh if event.closed)
            aggregates.update(event.link[0] for event in fresh)
            last = max(last, *(event.notification_id for event in batch))
        held = len(expected)
        _agrees_with_store(node, expected, highest)
    return Restored(
        events=events,
        aggregates=len(aggregates),
        last_notification_id=max(last, highest),
        keys_from_backup=from_backup,
        keys_from_grants=len([k for k, v in grants.keys.items() if v is not None and k not in held_before]),
        keys_lost=lost,
        events_with_closed_tiers=closed,
        already_held=held,
        grants_unopened=grants.unopened,
        grants_refused=grants.refused,
    )


def _keep_lost_keys_destroyed(keys: KeyStore, events: list[RecoveredEvent]) -> int:
    """Record as destroyed the keys these events name that neither the backup nor the node's
    own grants hold (their tiers come back empty), so no new key is made under their ids; a
    key the store knows destroyed (erased) is not lost. Returns how many were lost."""
    unheld = {k for event in events for k in event.key_ids.values() if keys.get(k) is None}
    known = {k for aggregate in {k.rsplit("/", 2)[0] for k in unheld} for k in keys.known(aggregate)}
    lost = unheld - known
    keys.restore(dict.fromkeys(lost))
    return len(lost)


def _agrees_with_store(node: Node, expected: dict[int, tuple[str, int]], highest: int) -> None:
    """The store a point-in-time recovery brought back holds, under each notification id the
    topic names up to its end, the same aggregate and version."""
    start = 1
    while start <= highest:
        page = node.ledger.recorder.select_notifications(start, 1000, stop=highest)
        if not page:
            break
        for n in page:
            if n.id in expected and expected.pop(n.id) != (str(n.originator_id), n.originator_version):
                raise RestoreRefused(f"restore: the store and the topic disagree at notification {n.id}")
        start = page[-1].id + 1
    if expected:
        raise RestoreRefused(
            f"restore: the store lacks notification {min(expected)} that the topic holds below its end"
        )


def read_backup(path: Path, recovery_key: Path) -> KeyBackup:
    recovery = load_recovery_key(recovery_key)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise BackupRefused(f"backup: cannot read {path}: {error.strerror}") from None
    return open_backup(data, recovery)
