"""The ledger's JSON transcoder with orjson doing the encoding, for a bulk import's sealing
(ledger/import_ahead.py, ledger/import_batch.py): the same bytes as eventsourcing's
JSONTranscoder as the ledger registers it (compact separators, UTF-8 unescaped, custom types
as {"_type_": name, "_data_": value} by the same transcodings), read back by that same
transcoder. The standard library's encoder, with a Python call for each date and datetime,
took a sixth of an imported row's time (py-spy, bench/import.py); orjson does it in C.

Where orjson would write something else, the standard encoder writes it instead: a value
orjson refuses (an integer beyond 64 bits, a key that is not text, a type no transcoding
knows: the standard encoder raises then as it always did), and a UUID, which orjson writes
as plain text where the transcoder writes a tagged value (found by its text in the output).
Floats keep their value, not always their spelling (1e-05 is written 0.00001); the checks
refuse a number that is not finite (ledger/values.py) before an event is made.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from eventsourcing.persistence import JSONTranscoder, Transcoder

__all__ = ["FastTranscoder"]

# Dates and times, dataclasses and subclasses of built-in types go to the transcodings (or to
# the standard encoder), as the standard encoder sends them; orjson would write its own form.
_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS
)
# How orjson ends a UUID: its canonical text's last group, then the string's end. Searched
# from its rare first byte, so a row's output is scanned in about a microsecond; a string
# that merely ends so is written by the standard encoder too, the same, a little slower.
_UUID_END = re.compile(rb'-[0-9a-f]{12}"')


class FastTranscoder(Transcoder):
    """A JSONTranscoder's encoding by orjson, its decoding unchanged (see the module)."""

    def __init__(self, transcoder: JSONTranscoder) -> None:
        self.transcoder = transcoder

    def encode(self, obj: Any) -> bytes:
        try:
            encoded = orjson.dumps(obj, default=self.transcoder._encode_obj, option=_OPTIONS)
        except TypeError:  # orjson.JSONEncodeError: the standard encoder decides (or raises)
            return self.transcoder.encode(obj)
        if _UUID_END.search(encoded) is not None:  # a UUID, or text that ends as one
            return self.transcoder.encode(obj)
        return encoded

    def decode(self, data: bytes) -> Any:
        return self.transcoder.decode(data)
