"""What people meet: the CLI now, the HTTP API and pages later. Thin: commands go to
ledger/, queries read projections/; services/bootstrap.py wires a node together."""

__all__ = []
