"""The write side of caseledger: aggregates, commands and the field's invariants.

Pure domain: nothing here imports Kafka, Avro, HTTP or the other top-level packages.
"""

__all__ = []
