"""POST /imports answers with a job id at once; GET /imports/{id} shows the job's progress and
each row's result, to the organisation that started it only."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger.access_rules import SAMPLE_POLICY
from services.bootstrap import Node, build_node
from services.http.app import create_app
from services.import_templates import REPORTS_MAPPING, REPORTS_SAMPLE
from services.settings import Settings
from services.tokens import TokenStore

PROSECUTOR = "mx-fiscalia-migrantes"
FORENSIC_INSTITUTE = "mx-semefo-chiapas"


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    built = build_node(Settings(node="MX", data_dir=tmp_path, access_rules=SAMPLE_POLICY))
    yield built
    built.close()


@pytest.fixture
def tokens(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path / "api-tokens.json")


@pytest.fixture
def api(node: Node, tokens: TokenStore) -> TestClient:
    return TestClient(create_app(node, tokens, max_body_bytes=20_000))


def bearer(tokens: TokenStore, organisation: str, role: str) -> dict[str, str]:
    token, _ = tokens.issue(organisation, role, None)
    return {"Authorization": f"Bearer {token}", "X-Purpose": "search"}


def upload(api: TestClient, headers: dict[str, str], sample: str, mapping: str = REPORTS_MAPPING) -> Any:
    files = {
        "file": ("casos.csv", sample.encode("utf-8"), "text/csv"),
        "mapping": ("mapping.toml", mapping.encode("utf-8"), "application/toml"),
    }
    return api.post("/imports", files=files, data={"kind": "reports"}, headers=headers)


def finished(api: TestClient, headers: dict[str, str], job_id: str, **query: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        shown = api.get(f"/imports/{job_id}", headers=headers, params=query).json()
        if shown["status"] not in ("queued", "running"):
            return dict(shown)
        time.sleep(0.05)
    raise AssertionError(f"import {job_id} did not finish")


def test_an_upload_answers_with_a_job_whose_report_lists_every_row(
    api: TestClient, tokens: TokenStore
) -> None:
    headers = bearer(tokens, PROSECUTOR, "caseworker")
    bad_date = REPORTS_SAMPLE.replace("30/07/1999", "31/02/1999")
    started = upload(api, headers, bad_date)
    assert started.status_code == 202, started.text
    assert started.headers["Location"] == f"/imports/{started.json()['id']}"
    shown = finished(api, headers, started.json()["id"])
    assert shown["status"] == "done" and shown["rows_total"] == 2 and shown["rows_done"] == 2
    assert shown["counts"] == {"recorded": 1, "amended": 0, "unchanged": 0, "refused": 1}
    refused = [r for r in shown["rows"] if r["outcome"] == "refused"]
    assert refused == [
        {
            "row": 3,
            "external_ref": "A-0002",
            "outcome": "refused",
            "record_id": None,
            "column": "Fecha de nacimiento",
            "field": "date_of_birth",
            "problem": "'31/02/1999' is not a date: no such day",
        }
    ]
    again = finished(api, headers, upload(api, headers, bad_date).json()["id"], outcome="unchanged")
    assert again["counts"]["unchanged"] == 1 and again["rows_listed"] == 1
    # Another organisation does not see the job; a control: the one that started it does.
    other = bearer(tokens, FORENSIC_INSTITUTE, "forensic_expert")
    assert api.get(f"/imports/{started.json()['id']}", headers=other).status_code == 404
    assert api.get(f"/imports/{started.json()['id']}", headers=headers).status_code == 200


def test_a_mapping_naming_a_column_the_file_lacks_refuses_the_job_whole(
    api: TestClient, tokens: TokenStore, node: Node
) -> None:
    headers = bearer(tokens, PROSECUTOR, "caseworker")
    mapping = REPORTS_MAPPING.replace('"Ruta" = "route"', '"Itinerario" = "route"')
    shown = finished(api, headers, upload(api, headers, REPORTS_SAMPLE, mapping).json()["id"])
    assert shown["status"] == "refused" and shown["rows"] == []
    assert shown["problem"]["field"] == "mapping.columns.Itinerario"
    assert not node.ledger.recorder.max_notification_id()


def test_a_mapping_naming_an_unknown_field_is_422_and_a_role_that_may_not_import_403(
    api: TestClient, tokens: TokenStore
) -> None:
    headers = bearer(tokens, PROSECUTOR, "caseworker")
    answer = upload(api, headers, REPORTS_SAMPLE, REPORTS_MAPPING.replace('= "route"', '= "itinerary"'))
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == [
        "body",
        "mapping",
        "columns",
        "Ruta",
    ]
    assert upload(api, bearer(tokens, FORENSIC_INSTITUTE, "geneticist"), REPORTS_SAMPLE).status_code == 403
