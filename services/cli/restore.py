"""`caseledger keys recovery-key | backup | restore` and `caseledger restore` (#18): a node's
keys sealed for the operators' offline recovery keys, and a node rebuilt from its own topics
after losing its database (services/restore.py)."""

from __future__ import annotations

import os
from pathlib import Path

import click
from pydantic import ValidationError

from ledger.key_backup import BackupRefused, new_recovery_key
from services.cli.common import REFUSED, UNAVAILABLE, UserError
from services.restore import (
    RestoreRefused,
    StoreNotEmpty,
    make_backup,
    read_backup,
    restore_keys,
    restore_node,
)
from services.settings import Settings
from topics.log import LogUnavailable

__all__ = ["COMMANDS", "keys_backup", "keys_group", "keys_restore", "recovery_key", "restore"]


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        first = error.errors()[0]
        where = f"CASELEDGER_{str(first['loc'][0]).upper()}: " if first.get("loc") else ""
        raise UserError(f"configuration: {where}{first['msg']}") from None


def _recovery_public(value: str) -> str:
    """A recovery public key given as base64, or as a file holding it."""
    path = Path(value)
    if path.is_file():
        return path.read_text().strip()
    return value.strip()


@click.group("keys")
def keys_group() -> None:
    """The node's keys: backups for offline recovery keys, and restoring them."""


@keys_group.command("recovery-key")
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path),
    required=True,
    help="Where to write the private key (PEM).",
)
def recovery_key(out: Path) -> None:
    """Make a recovery key pair: the private half goes to --out (keep it offline, never on
    the node); the public half, printed, is what `keys backup --recovery-key` takes."""
    try:
        public = new_recovery_key(out)
    except BackupRefused as error:
        raise UserError(str(error)) from None
    click.echo(public)


@keys_group.command("backup")
@click.option(
    "--recovery-key",
    "recovery",
    multiple=True,
    required=True,
    help="A recovery public key (base64, or a file holding it); repeat for each operator.",
)
@click.option(
    "--out", "out", type=click.Path(path_type=Path), required=True, help="The backup file to write."
)
def keys_backup(recovery: tuple[str, ...], out: Path) -> None:
    """Seal every data key of the node, its signing and X25519 keys and its master key into
    --out, openable with any one of the recovery keys' private halves."""
    settings = _settings()
    try:
        data = make_backup(settings, [_recovery_public(r) for r in recovery])
    except BackupRefused as error:
        raise UserError(str(error)) from None
    draft = out.with_name(f".{out.name}.{os.getpid()}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    draft.replace(out)
    click.echo(f"backed up the keys of node {settings.node} to {out}")


_BACKUP = click.option(
    "--backup", "backup", type=click.Path(path_type=Path), help="A file `keys backup` wrote."
)
_RECOVERY = click.option(
    "--recovery-private-key",
    "recovery",
    type=click.Path(path_type=Path),
    help="One recovery private key (PEM).",
)


@keys_group.command("restore")
@click.option(
    "--backup", "backup", type=click.Path(path_type=Path), required=True, help="A file `keys backup` wrote."
)
@click.option(
    "--recovery-private-key",
    "recovery",
    type=click.Path(path_type=Path),
    required=True,
    help="One recovery private key (PEM).",
)
def keys_restore(backup: Path, recovery: Path) -> None:
    """Put the backup's keys back into the node's key store (and its key files, where missing)."""
    settings = _settings()
    try:
        done = restore_keys(settings, read_backup(backup, recovery))
    except BackupRefused as error:
        raise UserError(str(error), REFUSED) from None
    click.echo(f"restored {done.kept} keys and {done.destroyed} destroyed key ids of node {settings.node}")


@click.command("restore")
@_BACKUP
@_RECOVERY
@click.option(
    "--onto-existing",
    is_flag=True,
    help="Add to a store a point-in-time recovery brought back what the topic holds beyond it.",
)
def restore(backup: Path | None, recovery: Path | None, onto_existing: bool) -> None:
    """Rebuild the node's event store, data keys and hash chain from its own topics, after its
    database was lost (with the key backup, put back first, when given). Stop the node first."""
    if (backup is None) != (recovery is None):
        raise UserError("--backup and --recovery-private-key go together")
    settings = _settings()
    try:
        opened = read_backup(backup, recovery) if backup is not None and recovery is not None else None
        done = restore_node(settings, opened, onto_existing=onto_existing)
    except (BackupRefused, RestoreRefused, StoreNotEmpty) as error:
        raise UserError(str(error), REFUSED) from None
    except LogUnavailable as error:
        raise UserError(f"log: unreachable ({error}); is Kafka running?", UNAVAILABLE) from None
    held = f" (beyond the {done.already_held} the store held)" if done.already_held else ""
    click.echo(
        f"restored node {settings.node}: {done.events} events{held} of {done.aggregates} records up to "
        f"notification {done.last_notification_id}; keys: {done.keys_from_backup} from the backup, "
        f"{done.keys_from_grants} from the node's own grants, {done.keys_lost} lost"
        + (
            f" ({done.events_with_closed_tiers} events keep tiers no key opens)"
            if done.events_with_closed_tiers
            else ""
        )
    )
    if done.grants_unopened or done.grants_refused:
        click.echo(
            f"grants in the node's name: {done.grants_unopened} wrapped for another X25519 key, "
            f"{done.grants_refused} not signed by the node (neither kept)"
        )
    click.echo(
        "what was recorded after the last relayed event and before the loss is on no topic: "
        "recover it from PostgreSQL's own backups (WAL archiving)"
    )


COMMANDS = (keys_group, restore)
