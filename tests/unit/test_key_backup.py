"""Key backups for offline recovery keys (#18): any one recovery key opens them, and every
way a backup or recovery key is wrong is refused with the problem named and nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from ledger.key_backup import (
    BackupRefused,
    KeyBackup,
    load_recovery_key,
    new_recovery_key,
    open_backup,
    seal_backup,
)
from services.bootstrap import build_node
from services.restore import make_backup, read_backup, restore_keys
from services.settings import Settings
from tests.factories import report


def _pem(key: Ed25519PrivateKey | X25519PrivateKey) -> bytes:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


# The node's own keys, made when the tests run (never a key in the repository).
SIGNING_PEM = _pem(Ed25519PrivateKey.generate())
RECIPIENT_PEM = _pem(X25519PrivateKey.generate())


def a_backup(node: str = "MX") -> KeyBackup:
    return KeyBackup(
        node=node,
        keys={"c1/common/1": b"k" * 32, "c1/reserved/1": None},
        signing_key=SIGNING_PEM,
        recipient_key=RECIPIENT_PEM,
        master_key="bWFzdGVy",
    )


@pytest.fixture
def operators(tmp_path: Path) -> tuple[list[str], list[Path]]:
    paths = [tmp_path / "alicia.pem", tmp_path / "bruno.pem"]
    return [new_recovery_key(p) for p in paths], paths


def test_any_one_recovery_key_opens_the_backup(operators: tuple[list[str], list[Path]]) -> None:
    publics, paths = operators
    sealed = seal_backup(a_backup(), publics)
    for path in paths:
        assert open_backup(sealed, load_recovery_key(path)) == a_backup().__class__(
            **{**a_backup().__dict__, "created_at": json.loads(sealed)["created_at"]}
        )
    assert b"k" * 32 not in sealed and SIGNING_PEM.splitlines()[1] not in sealed, (
        "nothing of the keys in clear"
    )


def test_a_recovery_key_file_is_never_overwritten_and_is_owner_only(tmp_path: Path) -> None:
    new_recovery_key(tmp_path / "r.pem")
    assert (tmp_path / "r.pem").stat().st_mode & 0o077 == 0
    with pytest.raises(BackupRefused, match="exists already"):
        new_recovery_key(tmp_path / "r.pem")


def test_a_recovery_key_the_backup_was_not_made_for_is_refused(
    operators: tuple[list[str], list[Path]], tmp_path: Path
) -> None:
    sealed = seal_backup(a_backup(), operators[0][:1])
    new_recovery_key(tmp_path / "other.pem")
    with pytest.raises(BackupRefused, match="not one the backup was made for"):
        open_backup(sealed, load_recovery_key(tmp_path / "other.pem"))


def test_a_truncated_backup_is_refused(operators: tuple[list[str], list[Path]]) -> None:
    sealed = seal_backup(a_backup(), operators[0])
    for cut in (len(sealed) // 3, len(sealed) - 5):
        with pytest.raises(BackupRefused, match="truncated or corrupt"):
            open_backup(sealed[:cut], load_recovery_key(operators[1][0]))


@pytest.mark.parametrize("part", ["sealed", "node", "created_at"])
def test_a_backup_altered_anywhere_is_refused(operators: tuple[list[str], list[Path]], part: str) -> None:
    document = json.loads(seal_backup(a_backup(), operators[0]))
    value, at = document[part], min(12, len(document[part]) - 1)
    document[part] = value[:at] + ("B" if value[at] != "B" else "C") + value[at + 1 :]
    with pytest.raises(BackupRefused, match="altered"):
        open_backup(json.dumps(document).encode(), load_recovery_key(operators[1][0]))


def test_what_is_not_a_backup_or_a_recovery_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / "not.pem").write_text("hello")
    with pytest.raises(BackupRefused, match="not a PEM private key"):
        load_recovery_key(tmp_path / "not.pem")
    with pytest.raises(BackupRefused, match="cannot read"):
        load_recovery_key(tmp_path / "absent.pem")
    new_recovery_key(tmp_path / "r.pem")
    with pytest.raises(BackupRefused, match="not a caseledger key backup"):
        open_backup(b'{"format": "something else"}', load_recovery_key(tmp_path / "r.pem"))
    with pytest.raises(BackupRefused, match="not a base64 X25519 public key"):
        seal_backup(a_backup(), ["not a key"])
    with pytest.raises(BackupRefused, match="at least one recovery key"):
        seal_backup(a_backup(), [])


def test_a_node_backup_puts_every_key_and_the_node_keys_back(tmp_path: Path) -> None:
    settings = Settings(node="MX", kafka_bootstrap=None, database_url=None, data_dir=tmp_path / "mx")
    node = build_node(settings)
    node.ledger.report_missing_person(report())
    exported = node.data_keys.export()
    node.close()
    public = new_recovery_key(tmp_path / "r.pem")
    (tmp_path / "mx.backup").write_bytes(make_backup(settings, [public]))
    backup = read_backup(tmp_path / "mx.backup", tmp_path / "r.pem")
    assert backup.keys == exported and len(exported) >= 2

    moved = Settings(
        node="MX", kafka_bootstrap=None, database_url=None, data_dir=tmp_path / "elsewhere"
    )  # the data directory was lost too
    done = restore_keys(moved, backup)
    assert done.kept == len(exported) and len(done.files_written) == 3
    assert (tmp_path / "elsewhere" / "node-mx.key").read_bytes() == backup.signing_key
    restored = build_node(moved)
    try:
        assert restored.data_keys.export() == exported
    finally:
        restored.close()


def test_restoring_keys_refuses_another_nodes_backup_or_other_node_keys_and_writes_nothing(
    tmp_path: Path,
) -> None:
    settings = Settings(node="MX", kafka_bootstrap=None, database_url=None, data_dir=tmp_path / "mx")
    build_node(settings).close()
    public = new_recovery_key(tmp_path / "r.pem")
    (tmp_path / "mx.backup").write_bytes(make_backup(settings, [public]))
    backup = read_backup(tmp_path / "mx.backup", tmp_path / "r.pem")

    with pytest.raises(BackupRefused, match="node MX's; this node is GT"):
        restore_keys(
            Settings(node="GT", kafka_bootstrap=None, database_url=None, data_dir=tmp_path / "gt"), backup
        )
    assert not (tmp_path / "gt").exists()

    other = Settings(node="MX", kafka_bootstrap=None, database_url=None, data_dir=tmp_path / "other")
    build_node(other).close()  # a node with keys of its own
    before = sorted(p.name for p in (tmp_path / "other").iterdir())
    with pytest.raises(BackupRefused, match="holds another key than the backup's"):
        restore_keys(other, backup)
    assert sorted(p.name for p in (tmp_path / "other").iterdir()) == before
