"""The README's first command, and the CLI's errors: sentences naming the field, no tracebacks."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from projections.views import VIEWS_FORMAT
from tests.infrastructure import cli_env


def caseledger(tmp_path: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    env = cli_env(**variables)
    env["CASELEDGER_DATA_DIR"] = str(tmp_path / "data")
    return subprocess.run(
        [sys.executable, "-c", "from services.cli import run; run()", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_quickstart_reports_a_case_and_shows_two_views(tmp_path: Path) -> None:
    done = caseledger(tmp_path, "quickstart")
    assert done.returncode == 0, done.stderr
    assert "Cases visible to MX (1)" in done.stdout and "José Ángel Hernández Núñez" in done.stdout
    assert "Cases visible to GT (1)" in done.stdout and "(restricted)" in done.stdout
    assert (tmp_path / "data" / "ledger-mx.sqlite").exists()
    again = caseledger(tmp_path, "quickstart")  # the same command id: still one case
    assert again.stdout.count("José Ángel") == 1


def test_report_then_cases(tmp_path: Path) -> None:
    reported = caseledger(
        tmp_path,
        "report",
        "--consent",
        "search",
        "--consent-explained-by",
        "Casa del Migrante",
        "--consent-language",
        "es",
        "--given-names",
        "Kevin Josué",
        "--first-surname",
        "Díaz",
        "--sex",
        "male",
        "--nationality",
        "sv",
        "--last-seen-date",
        "2026-01-20",
        "--last-seen-country",
        "GT",
        "--last-seen-place",
        "Tecún Umán",
        "--date-of-birth",
        "1996-05-02",
    )
    assert reported.returncode == 0, reported.stderr
    listed = caseledger(tmp_path, "cases", "--as", "MX")
    assert "Kevin Josué Díaz" in listed.stdout and "nationality SV" in listed.stdout
    # With no date of birth the person may be a minor: listed restricted (the stricter default).
    unknown_age = caseledger(
        tmp_path,
        "report",
        "--consent",
        "search",
        "--consent-explained-by",
        "Casa del Migrante",
        "--consent-language",
        "es",
        "--given-names",
        "Edgar",
        "--first-surname",
        "Ruiz",
        "--sex",
        "male",
        "--nationality",
        "sv",
        "--last-seen-date",
        "2026-01-21",
        "--last-seen-country",
        "GT",
    )
    assert unknown_age.returncode == 0, unknown_age.stderr
    listed = caseledger(tmp_path, "cases", "--as", "MX")
    assert (
        "Edgar" not in listed.stdout
        and "(restricted)" in listed.stdout
        and "last seen ? in GT" in listed.stdout
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [
                "--given-names",
                "A",
                "--first-surname",
                "B",
                "--sex",
                "male",
                "--nationality",
                "ZZ",
                "--last-seen-date",
                "2026-01-01",
                "--last-seen-country",
                "MX",
            ],
            "nationalities[0]: 'ZZ' is not a known",
        ),
        (
            [
                "--given-names",
                "A",
                "--first-surname",
                "B",
                "--sex",
                "male",
                "--nationality",
                "HN",
                "--last-seen-date",
                "2026-01-01",
                "--last-seen-country",
                "MX",
                "--date-of-birth",
                "2999-01-01",
            ],
            "date_of_birth: 2999-01-01 is in the future",
        ),
        (
            [
                "--given-names",
                " ",
                "--first-surname",
                "B",
                "--sex",
                "male",
                "--nationality",
                "HN",
                "--last-seen-date",
                "2026-01-01",
                "--last-seen-country",
                "MX",
            ],
            "given_names: must not be empty",
        ),
        (
            [
                "--first-surname",
                "B",
                "--sex",
                "male",
                "--nationality",
                "HN",
                "--last-seen-date",
                "2026-01-01",
                "--last-seen-country",
                "MX",
            ],
            "error: --given-names: required",
        ),
    ],
)
def test_bad_input_is_one_sentence_naming_the_field(tmp_path: Path, args: list[str], message: str) -> None:
    done = caseledger(tmp_path, "report", *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    listed = caseledger(tmp_path, "cases", "--as", "MX")
    assert "Cases visible to MX (0)" in listed.stdout


def test_a_bad_node_setting_is_named(tmp_path: Path) -> None:
    env = cli_env()
    env.update(CASELEDGER_DATA_DIR=str(tmp_path / "d"), CASELEDGER_NODE="Mexico")
    bad = subprocess.run(
        [sys.executable, "-c", "from services.cli import run; run()", "cases", "--as", "MX"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert "CASELEDGER_NODE" in bad.stderr and "Traceback" not in bad.stderr


def test_topics_init_is_idempotent(tmp_path: Path) -> None:
    first = caseledger(tmp_path, "topics", "init", "--origin", "gt")
    again = caseledger(tmp_path, "topics", "init", "--origin", "GT")
    assert first.returncode == again.returncode == 0, first.stderr + again.stderr
    assert first.stdout == again.stdout
    assert "ledger.events.MX: 3 partitions; cleanup.policy=delete" in first.stdout
    assert "retention.ms=-1" in first.stdout and "ledger.events.GT" in first.stdout
    assert "ledger.keys: 3 partitions; cleanup.policy=compact" in first.stdout
    assert "ledger.deadletter.MX: 1 partitions" in first.stdout


def test_rules_check_validates_and_names_the_broken_rule(tmp_path: Path) -> None:
    sample = caseledger(tmp_path, "rules", "check")
    assert sample.returncode == 0 and "4 jurisdictions, 17 organisations, 13 agreements" in sample.stdout
    broken = tmp_path / "rules.toml"
    broken.write_text(
        'version = 1\n[[jurisdictions]]\ncode = "MX"\nname = "México"\n'
        '[[agreements]]\nid = "to-nobody"\nfrom = "MX"\nto = "ghost"\n'
        'tiers = ["public"]\npurposes = ["search"]\n'
    )
    refused = caseledger(tmp_path, "rules", "check", str(broken))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "rule agreements[to-nobody]: to = 'ghost' is neither a declared organisation" in refused.stderr


def test_a_family_consults_amends_withdraws_and_erases_from_the_command_line(tmp_path: Path) -> None:
    rules = str(Path(__file__).resolve().parents[2] / "ledger" / "policies" / "central-america-mexico.toml")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return caseledger(tmp_path, *args, CASELEDGER_ACCESS_RULES=rules)

    started = cli("quickstart")
    assert started.returncode == 0, started.stderr
    case_id = started.stdout.split("Reported case ", 1)[1].split()[0]

    shown = cli(
        "case",
        "show",
        case_id,
        "--as",
        "hn-consulado-tapachula",
        "--role",
        "consular_officer",
        "--purpose",
        "search",
    )
    assert (
        shown.returncode == 0
        and "José Ángel" in shown.stdout
        and "withheld from you: the reserved tier" in shown.stdout
    )
    refused = cli(
        "case",
        "show",
        case_id,
        "--as",
        "hn-consulado-tapachula",
        "--role",
        "consular_officer",
        "--purpose",
        "accountability",
    )
    assert refused.returncode == 3 and "refused and recorded" in refused.stderr
    assert "José" not in refused.stdout + refused.stderr and "Traceback" not in refused.stderr

    amended = cli(
        "amend",
        case_id,
        "--set",
        "person.given_names=José Ángel Eduardo",
        "--reason",
        "full name",
        "--by",
        "Marta Núñez",
    )
    assert amended.returncode == 0, amended.stderr
    bad = cli("amend", case_id, "--set", "person.sex=female", "--reason", "x", "--by", "Marta Núñez")
    assert bad.returncode == 2 and "changes.person.sex: cannot be amended" in bad.stderr

    consulted = cli("consult", case_id, "--by", "Marta Núñez")
    assert consulted.returncode == 0, consulted.stderr
    out = consulted.stdout
    assert "Case reported (v1)" in out and "Data amended (v2)" in out and "José Ángel Eduardo" in out
    assert "Who read this case:" in out
    consulate = [line for line in out.splitlines() if "Consulado de Honduras en Tapachula" in line]
    (searched,) = [line for line in consulate if " search " in line]  # every read above public
    (refused_line,) = [line for line in consulate if "accountability" in line]
    assert "(consular officer)" in refused_line and "refused" in refused_line
    assert "granted" in searched and "common" in searched
    assert any(
        "(family member)" in line and "consult" in line and "granted" in line for line in out.splitlines()
    )
    assert "Marta" not in out, "the ledger names the family member by a pseudonym, never by name"

    withdrawn = cli("consent", case_id, "withdraw", "search", "--by", "Marta Núñez")
    assert withdrawn.returncode == 0 and "withdrawn" in withdrawn.stdout
    listed = cli("cases", "--as", "MX")
    assert "José Ángel" not in listed.stdout and "(restricted)" in listed.stdout

    refused = cli("erase", case_id, "--by", "Marta Núñez", "--yes")  # not the case's contact
    assert refused.returncode != 0 and "requested_by" in refused.stderr
    erased = cli("erase", case_id, "--by", "Gloria Hernández, madre", "--yes")
    assert erased.returncode == 0, erased.stderr
    after = cli("consult", case_id, "--by", "Marta Núñez")
    assert (
        after.returncode == 0
        and "José" not in after.stdout
        and "Data erased (v4)" in after.stdout
        and "erased" in after.stdout.splitlines()[0]
    )


def test_audit_verify_reports_a_clean_log_and_exits_1_on_a_break(tmp_path: Path) -> None:
    assert caseledger(tmp_path, "quickstart").returncode == 0
    clean = caseledger(tmp_path, "audit", "verify")
    assert clean.returncode == 0, clean.stderr
    assert "verified the whole log: 1 messages, 1 aggregates" in clean.stdout
    # Someone without MX's key appends a message to MX's topic.
    from tests.contracts.test_event_log_contract import read_all
    from topics.embedded import SQLiteEventLog
    from topics.log import OutgoingRecord

    log = SQLiteEventLog(tmp_path / "data" / "log.sqlite")
    [original] = read_all(log, "ledger.events.MX")
    headers = tuple((k, bytes(64) if k == "signature" else v) for k, v in original.headers)
    publisher = log.publisher("intruder")
    publisher.publish([OutgoingRecord(original.topic, original.key or b"", original.value, headers, 0)])
    publisher.close()
    log.close()
    broken = caseledger(tmp_path, "audit", "verify")
    assert broken.returncode == 1 and "Traceback" not in broken.stderr
    assert "first break: ledger.events.MX" in broken.stderr and "signature does not verify" in broken.stderr


def test_rebuild_gives_the_live_digest(tmp_path: Path) -> None:
    assert caseledger(tmp_path, "quickstart").returncode == 0
    rebuilt = caseledger(tmp_path, "rebuild", "--as", "MX")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert (
        "rebuilt the views of MX from 1 events" in rebuilt.stdout
        and "identical to the live views" in rebuilt.stdout
    )
    listed = caseledger(tmp_path, "cases", "--as", "MX")
    assert "José Ángel Hernández Núñez" in listed.stdout


def test_history_as_of_and_diff_from_the_command_line(tmp_path: Path) -> None:
    started = caseledger(tmp_path, "quickstart")
    case_id = started.stdout.split("Reported case ", 1)[1].split()[0]
    now = caseledger(tmp_path, "history", case_id, "--as", "MX", "--json")
    assert now.returncode == 0, now.stderr
    assert '"status": "missing"' in now.stdout and '"given_names": "José Ángel"' in now.stdout
    read = caseledger(tmp_path, "history", case_id, "--as", "MX").stdout
    assert "as known to MX now: only what had been recorded by then" in read
    assert "Status: missing" in read and "given names: José Ángel" in read
    early = caseledger(tmp_path, "history", case_id, "--as", "MX", "--as-of", "2020-01-01T00:00Z")
    assert early.returncode == 4 and "nothing recorded by then" in early.stderr
    changes = caseledger(
        tmp_path, "history", case_id, "--as", "MX", "--diff", "2020-01-01T00:00Z", "2100-01-01T00:00Z"
    )
    assert changes.returncode == 0 and "Case reported (v1)" in changes.stdout
    assert "what became known between 2020-01-01 00:00 UTC and 2100-01-01 00:00 UTC" in changes.stdout
    bad = caseledger(tmp_path, "history", case_id, "--as", "MX", "--as-of", "yesterday")
    assert bad.returncode == 2 and "--as-of: 'yesterday' is not an ISO 8601 instant" in bad.stderr
    naive = caseledger(tmp_path, "history", case_id, "--as", "MX", "--as-of", "2026-03-01T00:00")
    assert naive.returncode == 2 and "needs a time zone" in naive.stderr


def test_timeline_and_stats_from_the_command_line(tmp_path: Path) -> None:
    started = caseledger(tmp_path, "quickstart")
    case_id = started.stdout.split("Reported case ", 1)[1].split()[0]
    shown = caseledger(tmp_path, "timeline", case_id, "--as", "GT")
    assert shown.returncode == 0, shown.stderr
    assert f"Case {case_id} [MX], as GT sees it" in shown.stdout and "Case reported (v1)" in shown.stdout
    assert (
        "Comité de Familiares (caseworker)" in shown.stdout
        and "withheld from GT: the common, reserved tier" in shown.stdout
    )
    assert "José" not in shown.stdout
    unknown = caseledger(tmp_path, "timeline", "00000000-0000-4000-8000-000000000000", "--as", "GT")
    assert unknown.returncode == 4 and "nothing that GT can see" in unknown.stderr
    counted = caseledger(tmp_path, "stats", "--as", "GT")
    assert counted.returncode == 0 and "male" in counted.stdout and "<5" in counted.stdout
    listed = caseledger(tmp_path, "forensic", "remains", "--as", "GT")
    assert listed.returncode == 0 and "Remains visible to GT (0):\n  (none)" in listed.stdout, listed.stderr
    wrong = caseledger(tmp_path, "forensic", "bones", "--as", "GT")
    assert wrong.returncode == 2 and "'bones' is not one of" in wrong.stderr


def test_lag_counts_what_each_partition_holds_that_the_views_have_not_applied(tmp_path: Path) -> None:
    assert caseledger(tmp_path, "quickstart").returncode == 0  # MX's and GT's views are current
    for name in ("Ana", "Berta", "Carla"):
        reported = caseledger(
            tmp_path,
            "report",
            "--consent",
            "search",
            "--consent-explained-by",
            "Casa del Migrante",
            "--consent-language",
            "es",
            "--given-names",
            name,
            "--first-surname",
            "Cruz",
            "--sex",
            "female",
            "--nationality",
            "HN",
            "--last-seen-date",
            "2026-05-05",
            "--last-seen-country",
            "MX",
            "--date-of-birth",
            "1994-10-10",
        )
        assert reported.returncode == 0, reported.stderr
    assert caseledger(tmp_path, "relay").returncode == 0  # published, not yet projected for GT
    behind = caseledger(tmp_path, "lag", "--as", "GT")
    assert behind.returncode == 0, behind.stderr
    counts = {line.split(":")[0]: int(line.split()[-2]) for line in behind.stdout.splitlines()}
    assert set(counts) == {f"ledger.events.MX[{p}]" for p in range(3)}
    assert sum(counts.values()) >= 3, "at least the three reports, per partition"
    assert caseledger(tmp_path, "cases", "--as", "GT").returncode == 0  # catches up
    caught_up = caseledger(tmp_path, "lag", "--as", "GT").stdout
    assert caught_up.count(": 0 behind") == 3


def test_network_init_makes_each_nodes_keys_once_and_a_registry_of_their_public_keys(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    made = caseledger(tmp_path, "network", "init", "MX", "GT", "HN", "--dir", str(keys))
    assert made.returncode == 0, made.stderr
    registry = json.loads((keys / "nodes.json").read_text())
    assert sorted(registry) == ["GT", "HN", "MX"]
    assert all(set(entry) == {"signing", "encryption"} for entry in registry.values())
    assert all((keys / f"{c}.key").stat().st_mode & 0o777 == 0o600 for c in registry)
    again = caseledger(tmp_path, "network", "init", "MX", "GT", "HN", "--dir", str(keys))
    assert again.returncode == 0 and json.loads((keys / "nodes.json").read_text()) == registry, (
        "keys are kept"
    )
    wrong = caseledger(tmp_path, "network", "init", "XX", "--dir", str(keys))
    assert wrong.returncode == 2 and "countries" in wrong.stderr


def test_views_of_an_earlier_release_are_rebuilt_and_of_a_later_one_refused(tmp_path: Path) -> None:
    assert caseledger(tmp_path, "quickstart").returncode == 0
    views = tmp_path / "data" / "views-mx.sqlite"

    def stamp(value: int | None) -> None:
        with sqlite3.connect(views) as connection:
            connection.execute("DELETE FROM views_format")
            if value is not None:
                connection.execute("INSERT INTO views_format VALUES (?)", (value,))

    stamp(VIEWS_FORMAT + 1)
    refused = caseledger(tmp_path, "cases", "--as", "MX")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert f"views format {VIEWS_FORMAT + 1}" in refused.stderr
    assert "caseledger rebuild --as MX" in refused.stderr, "the error says what to do"
    rebuilt = caseledger(tmp_path, "rebuild", "--as", "MX")
    assert rebuilt.returncode == 0 and "rebuilding them in this release's format" in rebuilt.stderr
    assert "José Ángel" in caseledger(tmp_path, "cases", "--as", "MX").stdout
    stamp(None)  # views built before releases recorded their format: rebuilt from offset 0
    listed = caseledger(tmp_path, "cases", "--as", "MX")
    assert listed.returncode == 0, listed.stderr
    assert "José Ángel Hernández Núñez" in listed.stdout and "rebuilt from offset 0" in listed.stderr
    with sqlite3.connect(views) as connection:
        assert connection.execute("SELECT format FROM views_format").fetchall() == [(VIEWS_FORMAT,)]
