"""Each command's body, generated from the command's own dataclass: one definition of each
command's fields, the domain's, and the HTTP API's schema and the command line's validation
both follow it. The envelope (who, why, which version, which retry) comes from the
interface (a credential and headers, or options), never from the body.

The limits the domain enforces on a command's fields are stated in the body's schema, so that
a client (and schemathesis) knows what the ledger will refuse before sending it."""

from __future__ import annotations

import dataclasses
import typing
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from ledger import vocabulary
from ledger.forensic_commands import POST_MORTEM_SEXES
from services.command_registry import Route

__all__ = [
    "ENVELOPE",
    "ITEM_LENGTHS",
    "MAX_ITEMS",
    "TEXT_LENGTHS",
    "VISIBLE",
    "Country",
    "Day",
    "body_model",
    "text",
]

# imported_from: set by an import (services/importing.py), never by a request body.
ENVELOPE = frozenset({"command_id", "recorded_by", "purpose", "expected_version", "extra", "imported_from"})

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


_BODY_CONFIG = ConfigDict(extra="forbid")

# Fields whose values come from the ledger's vocabulary: the OpenAPI document lists them, so a
# client (and a property-based test) knows the accepted words. The domain checks them again.
_WORDS: dict[str, tuple[str, ...]] = {
    "sex": vocabulary.SEXES,
    "source": vocabulary.SOURCES,
    "source_reliability": vocabulary.RELIABILITY,
    "consent_purpose": vocabulary.PURPOSES,
    "context": vocabulary.RECOVERY_CONTEXTS,
    "condition": vocabulary.REMAINS_CONDITIONS,
    "sample_type": vocabulary.SAMPLE_TYPES,
    "donor_relationship": vocabulary.DONOR_RELATIONSHIPS,
    "kind": vocabulary.PROFILE_KINDS,
    "basis": vocabulary.MATCH_BASES,
    "outcome": vocabulary.MATCH_OUTCOMES,
    "means": vocabulary.NOTIFICATION_MEANS,
    "decision": vocabulary.BEST_INTERESTS_DECISIONS,
    "language": tuple(vocabulary.LANGUAGES),
    "languages": tuple(vocabulary.LANGUAGES),
    "addressee_kind": vocabulary.INQUIRY_ADDRESSEE_KINDS,
    "risks": vocabulary.PROTECTION_RISKS,
    "gender_identity": vocabulary.GENDER_IDENTITIES,
}
_BY_COMMAND: dict[tuple[str, str], tuple[str, ...]] = {
    ("CloseCase", "reason"): vocabulary.CLOSURE_REASONS,
    ("ReportMissingPerson", "consented_purposes"): vocabulary.PURPOSES,
    ("RecordPostMortem", "sex"): POST_MORTEM_SEXES,
    ("AnswerInquiry", "outcome"): vocabulary.INQUIRY_OUTCOMES,
    ("ReferSupport", "kind"): vocabulary.SUPPORT_KINDS,
    ("RecordSupportProvided", "outcome"): vocabulary.SUPPORT_OUTCOMES,
    ("GiveFamilyUpdate", "means"): vocabulary.UPDATE_MEANS,
}
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 code")]


def _field_type(command: str, name: str, hint: Any) -> Any:
    """The command's own type, narrowed to the vocabulary's words, a country code's shape, a
    date's, and the lengths the domain allows text."""
    words = _BY_COMMAND.get((command, name)) or _WORDS.get(name)
    optional = type(None) in typing.get_args(hint)
    if words is not None:
        word = Literal[words]  # type: ignore[valid-type]
        if typing.get_origin(hint) is tuple:
            return tuple[word, ...]
        return word | None if optional else word
    if name in ("last_seen_country",):
        return Country
    if name == "nationalities":
        return tuple[Country, ...]
    if date in typing.get_args(hint):
        return Day | None if optional else Day
    if name in TEXT_LENGTHS and str in (hint, *typing.get_args(hint)):
        bounded = text(TEXT_LENGTHS[name], required=not optional)
        return bounded | None if optional else bounded
    if name in ITEM_LENGTHS:
        item = text(ITEM_LENGTHS[name], required=True)
        return Annotated[tuple[item, ...], Field(max_length=MAX_ITEMS)]  # type: ignore[valid-type]
    if name == "score":
        return Annotated[float, Field(ge=0.0, le=1.0)]
    return hint


def body_model(route: Route) -> type[BaseModel]:
    """The request body: the command's own fields, less the envelope and the path's record."""
    hints = typing.get_type_hints(route.command)
    fields: dict[str, Any] = {}
    for field in dataclasses.fields(route.command):
        if field.name in ENVELOPE or field.name == route.target:
            continue
        if field.default is not dataclasses.MISSING:
            default: Any = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        else:
            default = ...
        fields[field.name] = (_field_type(route.command.__name__, field.name, hints[field.name]), default)
    model: type[BaseModel] = create_model(f"{route.command.__name__}Body", __config__=_BODY_CONFIG, **fields)
    return model
