"""The commands of a chunk's new records, for ImportBatch.save_new, when they were made in a
worker process and not sent back (services/import_workers.py: a command cost more to send
than to make): each is made again, from its record, only if it is needed (a batch saved
again row by row, or an event sealed again under a key the store held already)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, overload

__all__ = ["MadeWhenNeeded"]


class MadeWhenNeeded(Sequence[Any]):
    """[command or make(record) for record, command in made], each made when it is read."""

    def __init__(self, make: Callable[[Any], Any], made: list[tuple[Any, Any]]) -> None:
        self.make = make
        self.made = made

    def __len__(self) -> int:
        return len(self.made)

    @overload
    def __getitem__(self, index: int) -> Any: ...

    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        record, command = self.made[index]
        return command if command is not None else self.make(record)
