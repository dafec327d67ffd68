"""The API against its own OpenAPI document, with schemathesis: generated requests (valid and
invalid) to every operation find no server error and no response the document does not
describe (status code, content type, body schema)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ledger.access_rules import SAMPLE_POLICY
from services.bootstrap import build_node
from services.http.app import create_app
from services.settings import Settings
from services.tokens import TokenStore

_DIRECTORY = Path(tempfile.mkdtemp(prefix="caseledger-schemathesis-"))
_NODE = build_node(Settings(node="MX", data_dir=_DIRECTORY, access_rules=SAMPLE_POLICY))
_TOKENS = TokenStore(_DIRECTORY / "tokens.json")
_FORENSIC, _ = _TOKENS.issue("mx-semefo-chiapas", "forensic_expert")
APP = create_app(_NODE, _TOKENS, catch_up=True)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_operation_answers_with_a_server_error_or_outside_its_spec(case: schemathesis.Case) -> None:
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {_FORENSIC}"}
    case.call_and_validate(
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
