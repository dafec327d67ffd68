"""`caseledger` commands for the HTTP API: serve (the whole node), views-worker (a share of a
jurisdiction's views) and token (credentials)."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ledger.access_rules import load as load_rules
from ledger.errors import InvalidField
from projections.group_worker import GroupWorker
from projections.projector import Projector
from services.cli import common as cli_common
from services.cli.common import UserError, node_from_env, parse_case_id, rules_of
from services.cli.text import echo_table, emit_json, organisation_names, when, words
from services.feed import ConsularFeed
from services.feed_topic import FeedPublisher
from services.tokens import TokenStore

__all__ = [
    "COMMANDS",
    "demo",
    "network_group",
    "network_init",
    "parse_lifetime",
    "serve",
    "token_group",
    "token_issue",
    "token_list",
    "token_revoke",
    "token_store",
    "views_worker",
]

if TYPE_CHECKING:
    from types import FrameType

    from services.bootstrap import Node


def token_store(data_dir: Path) -> TokenStore:
    """The node's API credentials, beside its signing keys in the data directory."""
    return TokenStore(data_dir / "api-tokens.json")


@click.group("token")
def token_group() -> None:
    """API credentials: one per organisation, or per family member for their case."""


_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_lifetime(text: str) -> timedelta:
    """`90d`, `12h`, `30m`, or a number of days."""
    found = re.fullmatch(r"\s*(\d{1,6})\s*([dhm]?)\s*", text)
    if found is None:
        raise UserError(f"--expires: {text!r} is not a lifetime like 90d, 12h or 30m")
    return timedelta(**{_UNITS[found[2] or "d"]: int(found[1])})


@token_group.command("issue")
@click.argument("organisation")
@click.option("--role", required=True, help="caseworker, forensic_expert, geneticist, consular_officer, ...")
@click.option(
    "--case", "case_id", help="For a family member, or a located adult (data_subject): the case it opens."
)
@click.option(
    "--expires",
    default="90d",
    show_default=True,
    help="How long the token lives: 90d, 12h, 30m (at most 366d); an expired token gets 401.",
)
def token_issue(organisation: str, role: str, case_id: str | None, expires: str) -> None:
    """Issue a token; it is printed once and only its hash is kept."""
    lifetime = parse_lifetime(expires)
    with node_from_env() as node:
        case = str(parse_case_id(case_id)) if case_id else None
        rules = load_rules(node.settings.access_rules) if node.settings.access_rules else None
        known = rules.organisations if rules is not None else None
        if role == "data_subject" and case_id:
            node.ledger.get_case(parse_case_id(case_id)).check_own_credential()
        try:
            token, credential = token_store(node.settings.data_dir).issue(
                organisation, role, case, lifetime, organisations=known
            )
        except InvalidField as error:
            raise UserError(f"{error.field}: {error.problem}") from None
    click.echo(
        f"token {credential.token_id} for {organisation} ({role}), expires "
        f"{credential.expiry:%Y-%m-%d %H:%M}Z; keep it secret, it is shown once:"
    )
    click.echo(token)


@token_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine output: stable JSON.")
def token_list(as_json: bool) -> None:
    """The tokens issued here (ids, never secrets)."""
    with node_from_env() as node:
        credentials = token_store(node.settings.data_dir).list()
        name = organisation_names(rules_of(node))
    if as_json:
        return emit_json(
            [
                {
                    "token_id": c.token_id,
                    "organisation": c.organisation,
                    "role": c.role,
                    "case_id": c.case_id,
                    "issued_at": c.issued_at,
                    "expires": c.expiry,
                    "expired": c.expired(),
                }
                for c in credentials
            ]
        )
    echo_table(
        ("Token", "Organisation", "Role", "Case", "Issued", "Expires"),
        (
            (
                c.token_id,
                name(c.organisation),
                words(c.role),
                c.case_id or "",
                when(_instant(c.issued_at)),
                ("expired " if c.expired() else "") + when(c.expiry),
            )
            for c in credentials
        ),
        indent="",
    )
    if not credentials:
        click.echo("(none)")


def _instant(value: Any) -> Any:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else value
    except ValueError:
        return value


@token_group.command("revoke")
@click.argument("token_id")
def token_revoke(token_id: str) -> None:
    """Revoke a token by its id (from `token list`)."""
    with node_from_env() as node:
        if not token_store(node.settings.data_dir).revoke(token_id):
            raise UserError(f"token {token_id}: no such token")
    click.echo(f"token {token_id} revoked")


@click.command()
@click.option(
    "--as", "jurisdictions", multiple=True, help="Jurisdictions whose views to keep (default: the node's)."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Where the API listens.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--no-api", is_flag=True, help="Run the relay and the views only.")
@click.option(
    "--no-relay",
    is_flag=True,
    help="Leave publishing to a relay run apart (`caseledger relay --follow`), supervised on its own.",
)
@click.option(
    "--views-group",
    is_flag=True,
    help="Keep the views as one member of each jurisdiction's projection group, beside `views-worker` "
    "processes, rather than alone (Kafka and PostgreSQL).",
)
@click.option(
    "--feed",
    "feeds",
    multiple=True,
    help="A consulate whose feed to keep on its Kafka topic ledger.feed.<organisation> (repeatable).",
)
def serve(
    jurisdictions: tuple[str, ...],
    host: str,
    port: int,
    no_api: bool,
    feeds: tuple[str, ...],
    views_group: bool,
    no_relay: bool,
) -> None:
    """Run the node: its API, the relay that publishes its events, its views and the consular
    feeds asked for, until interrupted (Ctrl-C)."""
    with node_from_env() as node:
        wanted = [cli_common.jurisdiction(node, j) for j in jurisdictions] or [node.settings.node]
        if views_group and not (node.settings.database_url and node.settings.kafka_bootstrap):
            raise UserError("--views-group: a projection group needs Kafka and PostgreSQL")
        stop = threading.Event()
        workers = (
            []
            if no_relay
            else [threading.Thread(target=node.relay.run, args=(stop,), name="relay", daemon=True)]
        )
        workers += [
            threading.Thread(
                target=_group_worker(node.projector(j)).run if views_group else node.projector(j).run,
                args=(stop,),
                name=f"views-{j}",
                daemon=True,
            )
            for j in wanted
        ]
        workers += _feed_threads(node, feeds, stop)
        for worker in workers:
            worker.start()
        where = "" if no_api else f"; API on http://{host}:{port} (OpenAPI at /openapi.json)"
        click.echo(f"serving {node.settings.describe()}; views for {', '.join(wanted)}{where}. Ctrl-C stops.")
        try:
            if no_api:
                while not stop.wait(1.0):
                    pass
            else:
                import uvicorn

                from services.http.app import create_app

                app = create_app(node, token_store(node.settings.data_dir))
                uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            for worker in workers:
                worker.join(timeout=10)


def _feed_threads(node: Node, feeds: tuple[str, ...], stop: threading.Event) -> list[threading.Thread]:
    """A thread keeping each consulate's feed on its topic (none when no feed is asked for)."""
    if not feeds:
        return []
    if not node.settings.access_rules:
        raise UserError("--feed: a consular feed needs the network's access rules (CASELEDGER_ACCESS_RULES)")
    rules = load_rules(node.settings.access_rules)
    return [
        threading.Thread(
            target=FeedPublisher(ConsularFeed(node, rules, organisation)).run,
            args=(stop,),
            name=f"feed-{organisation}",
            daemon=True,
        )
        for organisation in feeds
    ]


def _group_worker(projector: Projector, group: str | None = None) -> GroupWorker:
    projector.worker = f"-{socket.gethostname()}-{os.getpid()}"  # its own dead-letter producer
    return GroupWorker(projector, group=group)


@click.command("views-worker")
@click.option(
    "--as", "jurisdiction", default=None, help="The jurisdiction whose views to keep (default: the node's)."
)
@click.option(
    "--group",
    default=None,
    help="The projection group every worker of these views joins (default: caseledger-views-<node>-<as>).",
)
def views_worker(jurisdiction: str | None, group: str | None) -> None:
    """Keep a jurisdiction's views current as one of several processes, on this machine or
    others: Kafka's consumer group shares the events partitions among the workers, and each
    commits its rows with their offsets in PostgreSQL. Start or stop workers at will; the
    relay runs elsewhere (`serve` or `relay --follow`). SIGTERM or Ctrl-C stops one cleanly."""
    logging.getLogger("projections.group_worker").setLevel(logging.INFO)  # its share as it changes
    with node_from_env() as node:
        if not (node.settings.database_url and node.settings.kafka_bootstrap):
            raise UserError(
                "a projection group needs Kafka and PostgreSQL: set CASELEDGER_KAFKA_BOOTSTRAP and "
                "CASELEDGER_DATABASE_URL (on the embedded default, `serve` keeps the views)"
            )
        name = cli_common.jurisdiction(node, jurisdiction or node.settings.node)
        worker = _group_worker(node.projector(name), group)
        stop = threading.Event()

        def stopping(_signal: int, _frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, stopping)
        click.echo(f"views worker for {name} in group {worker.group}; {node.settings.describe()}")
        try:
            worker.run(stop)
        except KeyboardInterrupt:
            stop.set()


@click.group("network")
def network_group() -> None:
    """A network of nodes: their keys and the registry that names them."""


@network_group.command("init")
@click.argument("countries", nargs=-1, required=True)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Where keys go.",
)
def network_init(countries: tuple[str, ...], directory: Path) -> None:
    """Create each node's signing and X25519 keys (owner-only files) and the registry file of
    their public keys: what every node of the network points CASELEDGER_KEY_REGISTRY at. Keys
    that exist are kept."""
    from ledger.validation import country
    from services.bootstrap import public_keys
    from services.settings import Settings

    entries = {}
    for code in countries:
        node = country("countries", code)
        settings = Settings(
            node=node,
            data_dir=directory,
            node_key=directory / f"{node}.key",
            recipient_key=directory / f"{node}.x25519",
        )
        entries[node] = public_keys(settings)
    registry = directory / "nodes.json"
    registry.write_text(json.dumps(entries, indent=2, sort_keys=True))
    click.echo(f"keys for {', '.join(entries)} in {directory}; registry {registry}")


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".caseledger") / "demo",
    show_default=True,
    help="Where the demo network lives; it holds demo data only and starts afresh each time.",
)
def demo(directory: Path) -> None:
    """A three-country story (Honduras, Mexico, Guatemala) on the embedded default, step by step,
    with each country's view side by side."""
    import shutil

    from services.demo import play

    if directory.exists():
        if not (directory / "keys" / "nodes.json").exists():
            raise UserError(f"{directory} exists and is not a demo network; give another --dir")
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    play(directory, click.echo)


COMMANDS = (token_group, serve, views_worker, network_group, demo)
