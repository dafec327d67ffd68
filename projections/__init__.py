"""Per-jurisdiction read models, built by consuming the topics through that jurisdiction's
access rules. Offsets are stored in the same transaction as the view rows."""

__all__ = []
