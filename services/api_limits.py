"""The limits the domain enforces on a command's fields, as the API's schema states them, so
that a client (and schemathesis) knows what the ledger will refuse before sending it."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

__all__ = ["ITEM_LENGTHS", "MAX_ITEMS", "TEXT_LENGTHS", "VISIBLE", "Day", "text"]

# The limits the domain enforces on text (ledger/commands.py, ledger/forensic_commands.py:
# the max_length of each field's check), stated in the schema so that a client knows them.
TEXT_LENGTHS: dict[str, int] = {
    "given_names": 200,
    "first_surname": 200,
    "second_surname": 200,
    "father_name": 200,
    "mother_name": 200,
    "physical_description": 2000,
    "last_seen_place": 200,
    "route": 200,
    "circumstances": 4000,
    "dental": 4000,
    "medical": 4000,
    "description": 4000,
    "witness": 500,
    "given_by": 200,
    "withdrawn_by": 200,
    "requested_by": 200,
    "basis": 200,
    "reason": 1000,
    "file_number": 100,
    "holder": 200,
    "from_holder": 200,
    "to_holder": 200,
    "laboratory": 200,
    "profile": 20000,
    "notes": 4000,
}
ITEM_LENGTHS: dict[str, int] = {"aliases": 200, "marks": 500, "clothing": 500, "belongings": 500}
MAX_ITEMS = 50
# Text must show something: one character that is neither a space, a control, nor a
# zero-width or bidirectional format character (ledger/validation.py refuses the rest too).
VISIBLE = (
    r"[^\s\x00-\x1f\x7f-\x9f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f"
    r"\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb]"
)
_DAY = r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
Day = Annotated[str, Field(pattern=_DAY, description="A date (YYYY-MM-DD) from 1900, not in the future")]


def text(length: int, required: bool) -> Any:
    """Text up to length characters; required text shows at least one character."""
    if required:
        return Annotated[str, Field(min_length=1, max_length=length, pattern=VISIBLE)]
    return Annotated[str, Field(max_length=length)]
