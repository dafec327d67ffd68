"""What a record imported from another registry keeps of where it came from: the registry
(the import's source) and that registry's own reference for it. The command id of the
record's first event derives from both, so importing the same file again records nothing."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ledger import validation as v

__all__ = ["ImportedFrom", "import_command_id"]


@dataclass(frozen=True)
class ImportedFrom:
    """The registry a record came from and its reference there (its row's external id)."""

    source: str
    reference: str

    def checked(self, field: str = "imported_from") -> dict[str, str]:
        return {
            "source": v.required_text(f"{field}.source", self.source, max_length=100),
            "reference": v.required_text(f"{field}.reference", self.reference, max_length=200),
        }


def import_command_id(kind: str, source: str, reference: str) -> str:
    """The command id of an imported record's first event: a digest of kind, source and
    reference (each delimited, so "a:b" + "c" is not "a" + "b:c"), short enough for any id."""
    digest = hashlib.sha256(f"{kind}\x00{source}\x00{reference}".encode()).hexdigest()[:32]
    return f"import:{kind}:{digest}"
