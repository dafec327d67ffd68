"""`caseledger linkage`: runs the node's linkage process; refuses, in one sentence, without the
network's rules and linkage secret; a disclosure asked by a role that is not designated is
refused naming the field."""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path

from ledger.access_rules import SAMPLE_POLICY
from tests.unit.test_cli_embedded import caseledger


def test_linkage_run_needs_the_secret_and_reports_counts_only(tmp_path: Path) -> None:
    refused = caseledger(
        tmp_path, "linkage", "run", CASELEDGER_NODE="HN", CASELEDGER_ACCESS_RULES=str(SAMPLE_POLICY)
    )
    assert refused.returncode != 0 and "CASELEDGER_LINKAGE_SECRET" in refused.stderr
    assert "Traceback" not in refused.stderr
    secret = base64.b64encode(os.urandom(32)).decode()
    ran = caseledger(
        tmp_path,
        "linkage",
        "run",
        CASELEDGER_NODE="HN",
        CASELEDGER_ACCESS_RULES=str(SAMPLE_POLICY),
        CASELEDGER_LINKAGE_SECRET=secret,
    )
    assert ran.returncode == 0, ran.stderr
    assert "0 new candidates" in ran.stdout and "0 dead-lettered" in ran.stdout


def test_a_disclosure_asked_by_a_caseworker_is_refused_naming_the_field(tmp_path: Path) -> None:
    asked = caseledger(
        tmp_path,
        "linkage",
        "request",
        "--case",
        str(uuid.uuid4()),
        "--other-origin",
        "MX",
        "--other-case",
        str(uuid.uuid4()),
        "--as",
        "hn-cofamipro",
        "--role",
        "caseworker",
        CASELEDGER_NODE="HN",
    )
    assert asked.returncode != 0
    assert "error: recorded_by.role:" in asked.stderr and "Traceback" not in asked.stderr


def test_linkage_rotate_needs_the_secret_and_announces_the_new_one(tmp_path: Path) -> None:
    refused = caseledger(
        tmp_path, "linkage", "rotate", CASELEDGER_NODE="HN", CASELEDGER_ACCESS_RULES=str(SAMPLE_POLICY)
    )
    assert refused.returncode != 0 and "CASELEDGER_LINKAGE_SECRET" in refused.stderr
    assert "Traceback" not in refused.stderr
    secret = base64.b64encode(os.urandom(32)).decode()
    rotated = caseledger(
        tmp_path,
        "linkage",
        "rotate",
        CASELEDGER_NODE="HN",
        CASELEDGER_ACCESS_RULES=str(SAMPLE_POLICY),
        CASELEDGER_LINKAGE_SECRET=secret,
    )
    assert rotated.returncode == 0, rotated.stderr
    assert "0 encodings published again" in rotated.stdout and "withdrawn: none" in rotated.stdout
    assert secret not in rotated.stdout + rotated.stderr
