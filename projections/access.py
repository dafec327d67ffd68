"""Which tiers of an event a jurisdiction may read.

This is the seam the access-rules loader (sharing agreements as data) plugs into; until
a node loads rules, a jurisdiction reads the public tier of every origin and the higher
tiers only of its own cases.
"""

from __future__ import annotations

from typing import Protocol

TIERS = ("public", "common", "reserved", "forensic", "genetic")


class AccessPolicy(Protocol):
    def may_read(self, jurisdiction: str, origin: str, tier: str) -> bool: ...


class OwnCasesOnly:
    """Public tier of every origin; other tiers only for the jurisdiction's own cases."""

    def may_read(self, jurisdiction: str, origin: str, tier: str) -> bool:
        return tier == "public" or jurisdiction == origin
