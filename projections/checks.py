"""The checks every event message passes before a projection applies it: its envelope
against its topic, what its signature check found, and its aggregate's hash chain. They live
with the one verified reader of the log (topics/reader.py); this name stays for callers."""

from __future__ import annotations

from topics.reader import Unapplicable, check_envelope, decode

__all__ = ["Unapplicable", "check_envelope", "decode"]
