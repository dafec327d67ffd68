"""The Kafka layout and the only code that talks to Kafka: topic catalogue, Avro framing,
the relay from a node's notification log, consumers, and the embedded log used when no
Kafka is configured. Both logs honour the contract in tests/contracts/."""

__all__ = []
