"""`caseledger`, the command line of a node: every command of the one registry
(services/command_registry.py) and the node's own commands, as click commands. `run` is the
console script's entry point (pyproject.toml)."""

from services.cli.root import main, run

__all__ = ["main", "run"]
