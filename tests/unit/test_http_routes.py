"""The API's routes, in the order a request is matched against them (#13, item 4): the
operations, then every command of the one registry (services/command_registry.py) in its
order, then the reads, the pages and the assets. Routers included in another order would
change which route answers a path two of them match (GET /remains after POST /remains, the
pages before the assets), so the order is pinned here, with the methods and the names."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from starlette.routing import BaseRoute

from ledger.access_rules import SAMPLE_POLICY
from services.bootstrap import Node, build_node
from services.command_registry import COMMANDS
from services.http.app import create_app
from services.settings import Settings
from services.tokens import TokenStore

Row = tuple[str, str, str, bool]  # path, methods, endpoint name, in the OpenAPI document

OPERATIONS: list[Row] = [
    ("/openapi.json", "GET,HEAD", "openapi", False),
    ("/health", "GET", "health", True),
    ("/ready", "GET", "ready", True),
    ("/metrics", "GET", "metrics", True),
]
READS: list[Row] = [
    ("/cases", "GET", "list_cases", True),
    ("/cases/{case_id}", "GET", "read_case", True),
    ("/photos", "POST", "upload_photo", True),
    ("/cases/{case_id}/photo", "GET", "read_photo", True),
    ("/cases/{case_id}/history", "GET", "history", True),
    ("/timeline/{aggregate_id}", "GET", "timeline", True),
    ("/remains", "GET", "list_remains", True),
    ("/samples", "GET", "list_samples", True),
    ("/matches", "GET", "list_matches", True),
    ("/statistics", "GET", "statistics", True),
    ("/feed", "GET", "consular_feed", True),
    ("/inquiries/overdue", "GET", "inquiries_overdue", True),
    ("/family-updates/overdue", "GET", "updates_overdue", True),
    ("/cases/{case_id}/candidates", "GET", "case_candidates", True),
    ("/remains/{remains_id}/candidates", "GET", "remains_candidates", True),
    ("/candidates", "GET", "all_candidates", True),
    ("/imports", "POST", "start_import", True),
    ("/imports/{job_id}", "GET", "show_import", True),
    ("/cases/{case_id}/family-code", "POST", "family_code", True),
]
PAGES: list[Row] = [
    ("/pages/login", "GET", "login_form", False),
    ("/pages/login", "POST", "login", False),
    ("/pages/logout", "GET", "logout", False),
    ("/pages/cases", "GET", "case_list", False),
    ("/pages/cases/{case_id}", "GET", "case_page", False),
    ("/pages/statistics", "GET", "statistics_page", False),
    ("/pages/statistics.csv", "GET", "statistics_csv", False),
    ("/family/login", "GET", "login_form", False),
    ("/family/login", "POST", "login", False),
    ("/family/logout", "GET", "logout", False),
    ("/family", "GET", "home", False),
    ("/family/amend", "POST", "amend", False),
    ("/family/consent", "POST", "consent", False),
    ("/family/erase", "POST", "erase", False),
    ("/assets/{name}", "GET", "asset", False),
]
DOCS: list[Row] = [("/docs", "GET", "docs", False)]


def flat(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """The routes as they are matched: an included router's own, in its place."""
    for route in routes:
        inner = getattr(route, "effective_route_contexts", None)
        yield from (flat(inner()) if inner is not None else [route])


def rows(app: FastAPI) -> list[Row]:
    return [
        (
            str(getattr(r, "path", "")),
            ",".join(sorted(getattr(r, "methods", None) or [])),
            str(getattr(r, "name", "")),
            bool(getattr(r, "include_in_schema", False)),
        )
        for r in flat(app.routes)
    ]


def expected(docs: bool) -> list[Row]:
    commands: list[Row] = [(c.path, "POST", c.method, True) for c in COMMANDS]
    return [*OPERATIONS, *commands, *READS, *PAGES, *(DOCS if docs else [])]


def differences(found: list[Row], wanted: list[Row]) -> list[str]:
    """Where the routes part from the pinned order: the first position that differs, and any
    route added or missing."""
    extra = [f"unexpected {r}" for r in found if r not in wanted]
    missing = [f"missing {r}" for r in wanted if r not in found]
    first = next((i for i, (a, b) in enumerate(zip(found, wanted, strict=False)) if a != b), None)
    moved = [f"at {first}: {found[first]} instead of {wanted[first]}"] if first is not None else []
    return extra + missing + moved


@pytest.fixture(params=[False, True], ids=["no-docs", "docs"])
def node(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Node]:
    settings = Settings(node="MX", data_dir=tmp_path, access_rules=SAMPLE_POLICY, api_docs=request.param)
    built = build_node(settings)
    yield built
    built.close()


def test_the_routes_are_matched_in_the_pinned_order(node: Node, tmp_path: Path) -> None:
    app = create_app(node, TokenStore(tmp_path / "tokens.json"))
    found = rows(app)
    assert differences(found, expected(node.settings.api_docs)) == []
    # Controls: two routes swapped, one gone and one added are each seen.
    swapped = [*found]
    at = swapped.index(("/cases", "GET", "list_cases", True))
    swapped[at], swapped[at + 1] = swapped[at + 1], swapped[at]
    assert differences(swapped, expected(node.settings.api_docs)) == [
        f"at {at}: {found[at + 1]} instead of {found[at]}"
    ]
    assert differences(found[:-1], expected(node.settings.api_docs))[0] == f"missing {found[-1]}"
    assert differences([*found, ("/x", "GET", "x", True)], expected(node.settings.api_docs)) == [
        "unexpected ('/x', 'GET', 'x', True)"
    ]


def test_every_documented_operation_is_a_pinned_route(node: Node, tmp_path: Path) -> None:
    app = create_app(node, TokenStore(tmp_path / "tokens.json"))
    documented = {(path, method.upper()) for path, ops in app.openapi()["paths"].items() for method in ops}
    pinned = {(p, m) for p, m, _, shown in expected(node.settings.api_docs) if shown}
    assert documented == pinned
    assert ("/cases", "GET") in documented and ("/pages/login", "GET") not in documented  # control


def holds(endpoint: object, held: object) -> bool:
    """Whether a route's endpoint carries an object with it: in a closure or a default."""
    cells = getattr(endpoint, "__closure__", None) or ()
    defaults = getattr(endpoint, "__defaults__", None) or ()
    return any(c.cell_contents is held for c in cells) or any(d is held for d in defaults)


def test_no_route_is_a_closure_over_the_node(node: Node, tmp_path: Path) -> None:
    """Each route is given the few things it uses (services/http/deps.py), never the node."""
    app = create_app(node, TokenStore(tmp_path / "tokens.json"))
    assert [r.name for r in flat(app.routes) if holds(getattr(r, "endpoint", None), node)] == []

    def closure() -> Node:  # the control: a route built as the closures were
        return node

    assert holds(closure, node) and not holds(closure, object())
