"""A group commit's transaction in one round trip (ledger/group_commit.py, #18 item 5).

psycopg's `transaction()` inside a pipeline syncs when it begins, after the statements and
again before the commit: with the claims read back to decide whether to commit, a group's
transaction took four round trips to PostgreSQL, each a wait for the server's process to be
given a core on a busy machine. Here BEGIN, the table's lock, the claims, the first keys,
NOTIFY, the events and COMMIT go out together, followed by one sync. What used to be decided
in Python between the statements is decided by the server: a claim that another request
holds, or a first key that exists already, raises an error in the transaction (the function
`caseledger_refuse_v1`), so COMMIT never runs and the caller rolls back. Which claims were
refused comes back in the error's detail, as positions in the group's list of claims.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "REFUSE",
    "Refusal",
    "claim_statements",
    "ensure_refuse_function",
    "keys_statement",
    "refusal_in",
    "rolled_back",
]

REFUSE = "caseledger_refuse_v1"  # a new body or signature gets a new name: CREATE never replaces
_MESSAGE = "caseledger refused "


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _function(schema: str) -> str:
    return f"{_quoted(schema)}.{_quoted(REFUSE)}" if schema else _quoted(REFUSE)


# The server's error codes (SQLSTATE) met here; the domain imports no database driver
# (tests/unit/test_import_direction.py), so errors are told apart by their codes.
_RAISED, _DUPLICATE_FUNCTION, _UNIQUE_VIOLATION = "P0001", "42723", "23505"


def ensure_refuse_function(datastore: Any) -> None:
    """Create the function once per schema (several nodes may start at once: a creation that
    loses the race is told so and passes)."""
    body = (
        f"CREATE FUNCTION {_function(datastore.schema)}(refused text[], what text) RETURNS boolean "
        "LANGUAGE plpgsql AS $fn$ BEGIN IF cardinality(refused) > 0 THEN "
        f"RAISE EXCEPTION '{_MESSAGE}%', what USING DETAIL = array_to_string(refused, ','); "
        "END IF; RETURN true; END $fn$"
    )
    with datastore.get_connection() as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE p.proname = %s AND n.nspname = coalesce(nullif(%s, ''), current_schema())",
            (REFUSE, datastore.schema),
        ).fetchone()
        if exists:
            return
        try:
            with connection.transaction():
                connection.execute(body)
        except Exception as error:
            if getattr(error, "sqlstate", None) not in (_DUPLICATE_FUNCTION, _UNIQUE_VIOLATION):
                raise
            # another process created it first


def claim_statements(datastore: Any, claims_table: str, keys: list[str], digests: list[str]) -> list[Any]:
    """Take the claims, then refuse (in the transaction) those another request holds: a
    claim whose digest differs from the holder's, the first of a key twice in the group
    holding it. Statements as (query, parameters)."""
    take = (
        f"INSERT INTO {claims_table} (command_id, digest) "
        "SELECT * FROM unnest(%s::text[], %s::text[]) ON CONFLICT (command_id) DO NOTHING"
    )
    check = (
        f"SELECT {_function(datastore.schema)}(array_agg(k.n - 1 ORDER BY k.n)::text[], 'claims') "
        "FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS k(id, d, n) "
        f"JOIN {claims_table} AS c ON c.command_id = k.id "
        "WHERE k.d <> '' AND c.digest <> '' AND c.digest <> k.d"
    )
    return [(take, (keys, digests)), (check, (keys, digests))]


def keys_statement(
    datastore: Any, connection: Any, insert: tuple[Any, tuple[Any, ...]], count: int
) -> tuple[str, Any]:
    """The key store's insert of first keys (ON CONFLICT DO NOTHING RETURNING key_id), refused
    in the transaction when it inserted fewer keys than it was given."""
    statement, parameters = insert
    text = statement if isinstance(statement, str) else statement.as_string(connection)
    query = (
        f"WITH inserted AS ({text}) SELECT {_function(datastore.schema)}"
        "(CASE WHEN count(*) <> %s THEN ARRAY['exists'] END, 'keys') FROM inserted"
    )
    return query, (*parameters, count)


class Refusal(Exception):
    """What the server refused in a group's transaction: 'claims' (with their positions) or 'keys'."""

    def __init__(self, what: str, positions: Sequence[int]) -> None:
        super().__init__(what)
        self.what = what
        self.positions = list(positions)


def refusal_in(error: BaseException) -> Refusal | None:
    """The refusal an error of the transaction stands for, or None for any other error."""
    if getattr(error, "sqlstate", None) != _RAISED:
        return None
    diag = getattr(error, "diag", None)
    message = str(getattr(diag, "message_primary", "") or "")
    if not message.startswith(_MESSAGE):
        return None
    what = message[len(_MESSAGE) :]
    detail = str(getattr(diag, "message_detail", "") or "")
    positions = [int(p) for p in detail.split(",") if p.isdigit()] if what == "claims" else []
    return Refusal(what, positions)


def rolled_back(connection: Any) -> None:
    """End the failed transaction the statements began (the connection is in autocommit; a
    ROLLBACK outside a transaction only warns)."""
    connection.execute("ROLLBACK")
