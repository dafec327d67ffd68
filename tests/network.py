"""Nodes of several countries that know each other: each has its signing key, its X25519
key and its master key, and the network's registry file lists every node's public keys."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from pydantic import SecretStr

from ledger.crypto import MasterKey
from services.bootstrap import public_keys
from services.settings import Settings


def keyed(nodes: Mapping[str, Settings], directory: Path) -> dict[str, Settings]:
    """The same settings, each with its own keys, and one registry file naming them all."""
    directory.mkdir(parents=True, exist_ok=True)
    registry = directory / "nodes.json"
    keyed = {
        country: settings.model_copy(
            update={
                "node_key": directory / f"{country}.key",
                "recipient_key": directory / f"{country}.x25519",
                "master_key": SecretStr(MasterKey.generate_config_value()),
                "key_registry": registry,
            }
        )
        for country, settings in nodes.items()
    }
    registry.write_text(json.dumps({c: public_keys(s) for c, s in keyed.items()}))
    return keyed
