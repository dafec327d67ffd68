"""Short sign-in codes for families (services/family_codes.py): what a caseworker gives a family
instead of a 47-character token, kept only as an HMAC, bound to one case, expiring, revocable,
and issued by `caseledger family-code`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import InvalidField
from services.bootstrap import build_node
from services.family_codes import ALPHABET, LENGTH, FamilyCodes, looks_like_code, normalise, shown
from services.settings import Settings
from services.tokens import TokenStore
from tests.factories import report
from tests.infrastructure import cli_env

CASE = "7d0ec6a4-2f0e-4a53-9d76-0d5b8a1a2c11"


@pytest.fixture
def codes(tmp_path: Path) -> FamilyCodes:
    return FamilyCodes(TokenStore(tmp_path / "api-tokens.json"))


def test_a_code_is_ten_characters_without_look_alikes() -> None:
    assert len(ALPHABET) == len(set(ALPHABET)) == 22
    assert not set(ALPHABET) & set("0OQ1IL2Z5S6G8B"), "no character a family could misread"
    assert len(ALPHABET) ** LENGTH > 2**44


def test_a_code_opens_its_case_however_it_is_typed(codes: FamilyCodes) -> None:
    code, credential = codes.issue("Rosa Chávez, madre", CASE)
    assert re.fullmatch(f"[{ALPHABET}]{{{LENGTH}}}", code)
    assert re.fullmatch(r"[A-Z0-9]{5}-[A-Z0-9]{5}", shown(code))
    for typed in (code, shown(code), shown(code).lower(), " ".join(code[i : i + 2] for i in range(0, 10, 2))):
        opened = codes.verify(typed)
        assert opened is not None and opened.case_id == CASE and opened.family, typed
        assert opened.token_id == credential.token_id
    assert credential.role == "family_member" and credential.organisation == "Rosa Chávez, madre"


def test_the_check_catches_a_wrong_code(codes: FamilyCodes) -> None:
    code, _ = codes.issue("Rosa Chávez, madre", CASE)
    other = ALPHABET[(ALPHABET.index(code[-1]) + 1) % len(ALPHABET)]
    assert codes.verify(code[:-1] + other) is None
    assert (
        codes.verify(code[:-1]) is None and codes.verify("") is None and codes.verify("clt_" + code) is None
    )


def test_the_node_keeps_no_code_in_clear(codes: FamilyCodes) -> None:
    code, credential = codes.issue("Rosa Chávez, madre", CASE)
    kept = codes.path.read_text()
    assert code not in kept and shown(code) not in kept
    assert credential.token_id in kept, "control: the file is the one that holds the codes"
    assert codes.path.stat().st_mode & 0o077 == 0, "owner-only"


def test_an_expired_or_revoked_code_opens_nothing(codes: FamilyCodes) -> None:
    code, credential = codes.issue("Rosa Chávez, madre", CASE, timedelta(hours=1))
    assert codes.verify(code) is not None
    entries = json.loads(codes.path.read_text())
    for entry in entries.values():
        entry["expires_at"] = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    codes.path.write_text(json.dumps(entries))
    assert codes.verify(code) is None

    code, credential = codes.issue("Rosa Chávez, madre", CASE)
    assert codes.verify(code) is not None
    assert codes.tokens.revoke(credential.token_id)
    assert codes.verify(code) is None, "revoking the credential behind a code ends the code"


def test_a_code_lives_at_most_ninety_days(codes: FamilyCodes) -> None:
    with pytest.raises(InvalidField) as refused:
        codes.issue("Rosa", CASE, timedelta(days=91))
    assert refused.value.field == "expires"
    with pytest.raises(InvalidField):
        codes.issue("Rosa", CASE, timedelta(0))


@given(st.text(max_size=30))
def test_anything_typed_is_normalised_and_only_codes_look_like_codes(text: str) -> None:
    code = normalise(text)
    assert code == code.upper() and "-" not in code and " " not in code
    if looks_like_code(text):
        assert len(code) == LENGTH and set(code) <= set(ALPHABET)


def test_family_code_is_issued_on_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    node = build_node(Settings(node="MX", data_dir=data))
    case_id = node.ledger.report_missing_person(report())
    node.close()

    def caseledger(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**cli_env(), "CASELEDGER_DATA_DIR": str(data), "CASELEDGER_NODE": "MX"}
        command = [sys.executable, "-c", "from services.cli import run; run()", *args]
        return subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)

    issued = caseledger("family-code", str(case_id), "--for", "Rosa Chávez, madre", "--expires", "48h")
    assert issued.returncode == 0, issued.stderr
    printed = issued.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"[A-Z0-9]{5}-[A-Z0-9]{5}", printed)
    opened = FamilyCodes(TokenStore(data / "api-tokens.json")).verify(printed)
    assert opened is not None and opened.case_id == str(case_id)
    assert timedelta(hours=47) < opened.expiry - datetime.now(UTC) <= timedelta(hours=48)

    unknown = caseledger("family-code", "00000000-0000-4000-8000-000000000000", "--for", "Rosa")
    assert (
        unknown.returncode != 0 and "Traceback" not in unknown.stderr and unknown.stderr.startswith("error:")
    )
    too_long = caseledger("family-code", str(case_id), "--for", "Rosa", "--expires", "120d")
    assert too_long.returncode != 0 and "expires" in too_long.stderr


def test_the_caseworker_who_reported_the_case_gives_a_code_over_http(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from ledger.access_rules import SAMPLE_POLICY
    from services.http.app import create_app
    from tests.unit.test_web_hardening import COMMISSION, PROSECUTOR, REPORT

    node = build_node(Settings(node="MX", data_dir=tmp_path, access_rules=SAMPLE_POLICY))
    tokens = TokenStore(tmp_path / "api-tokens.json")
    api = TestClient(create_app(node, tokens, catch_up=True))

    def staff(organisation: str, role: str = "caseworker") -> dict[str, str]:
        token, _ = tokens.issue(organisation, role)
        return {"Authorization": f"Bearer {token}", "X-Purpose": "search"}

    reporter = staff(PROSECUTOR)
    case_id = api.post("/cases", json=REPORT, headers=reporter).json()["id"]
    given = api.post(
        f"/cases/{case_id}/family-code", json={"family_member": "Ana Cruz, hermana"}, headers=reporter
    )
    assert given.status_code == 201, given.text
    opened = FamilyCodes(tokens).verify(given.json()["code"])
    assert opened is not None and opened.case_id == case_id

    other = api.post(f"/cases/{case_id}/family-code", json={"family_member": "x"}, headers=staff(COMMISSION))
    assert other.status_code == 403, "only the organisation that reported the case"
    long = api.post(
        f"/cases/{case_id}/family-code", json={"family_member": "x", "expires_days": 120}, headers=reporter
    )
    assert long.status_code == 422 and "expires_days" in long.text
    unknown = api.post(
        "/cases/00000000-0000-4000-8000-000000000000/family-code",
        json={"family_member": "x"},
        headers=reporter,
    )
    assert unknown.status_code == 404
    node.close()
