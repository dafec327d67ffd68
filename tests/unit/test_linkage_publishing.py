"""Linkage encodings on the relay's path (#19, item 2) and the linkage process that compares
them (item 3), on two embedded nodes sharing a log: HN and MX, under rules that let neither
read the other's names (no agreement but linkage between them)."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from pydantic import SecretStr

from ledger.access_rules import AccessRules, RulesError, parse
from ledger.commands import Actor, EraseData, WithdrawConsent
from ledger.linkage import encoding_bytes
from services.bootstrap import Node, build_node
from services.settings import Settings
from tests.factories import ctx, report
from tests.network import keyed
from topics.catalogue import Catalogue
from topics.linkage_publishing import linkage_record
from topics.linkage_topic import Found, LinkageFinder
from topics.log import LogRecord, OutgoingRecord, TopicPartition
from topics.reader import LogReader
from topics.signing import NodeKey

HN_WORKER = Actor("hn-cofamipro", "caseworker")
MX_WORKER = Actor("mx-casa-migrante-tapachula", "caseworker")


def rules(*, minors: bool = False, linkage: bool = True) -> dict[str, Any]:
    """HN and MX, each with one organisation; linkage both ways, and nothing else shared."""
    return {
        "version": 1,
        "jurisdictions": [{"code": "HN", "name": "Honduras"}, {"code": "MX", "name": "México"}],
        "organisations": [
            {"id": "hn-cofamipro", "name": "COFAMIPRO", "kind": "family_association", "jurisdiction": "HN"},
            {"id": "mx-casa-migrante-tapachula", "name": "Casa", "kind": "shelter", "jurisdiction": "MX"},
            {"id": "mx-busqueda-nacional", "name": "CNB", "kind": "search_commission", "jurisdiction": "MX"},
            {"id": "hn-conadeh", "name": "CONADEH", "kind": "commission", "jurisdiction": "HN"},
        ],
        "agreements": [
            {
                "id": f"linkage-{a.lower()}-{b.lower()}",
                "from": a,
                "to": b,
                "tiers": ["public"],
                "purposes": ["search"],
                "linkage": linkage,
                "includes_minors": minors,
            }
            for a, b in (("HN", "MX"), ("MX", "HN"))
        ],
    }


def write_rules(path: Path, raw: dict[str, Any]) -> Path:
    """The rules as TOML (arrays of tables of strings, booleans and string lists)."""
    lines = [f"version = {raw['version']}"]
    for table in ("jurisdictions", "organisations", "agreements"):
        for item in raw[table]:
            lines.append(f"[[{table}]]")
            lines += [
                f"{k} = {json.dumps(v)}" if not isinstance(v, bool) else f"{k} = {str(v).lower()}"
                for k, v in item.items()
            ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[dict[str, Node]]:
    secret = SecretStr(base64.b64encode(os.urandom(32)).decode())  # generated: never in the repo
    policy = write_rules(tmp_path / "rules.toml", rules())
    base = {
        c: Settings(node=c, data_dir=tmp_path, access_rules=policy, linkage_secret=secret)
        for c in ("HN", "MX")
    }
    built = {c: build_node(s) for c, s in keyed(base, tmp_path / "keys").items()}
    yield built
    for node in built.values():
        node.close()


def published(node: Node, origin: str) -> list[LogRecord]:
    """Every record on ledger.linkage.<origin>, in order."""
    topic = node.catalogue.linkage(origin).name
    tps = node.event_log.partitions(topic)
    reader = LogReader(node.event_log, None)
    return [r for batch in reader.batches(dict.fromkeys(tps, 0)) for r in batch.records]


def same_person(worker: Actor, nationality: str, **changes: Any) -> Any:
    fields: dict[str, Any] = {
        "recorded_by": worker,
        "given_names": "Wilmer Josué",
        "first_surname": "Hernández",
        "second_surname": "Castillo",
        "sex": "male",
        "date_of_birth": "1996-04-12",
        "nationalities": (nationality,),
    }
    return report(**{**fields, **changes})


def test_the_linkage_field_is_checked_when_the_rules_load() -> None:
    raw = rules()
    raw["agreements"][0]["linkage"] = "yes"
    with pytest.raises(RulesError, match=r"agreements\[linkage-hn-mx\].*linkage must be true or false"):
        parse(raw)
    raw = rules()
    raw["agreements"][0]["to"] = "mx-casa-migrante-tapachula"
    with pytest.raises(RulesError, match="linkage encodings are compared by a node"):
        parse(raw)


def test_the_sample_policy_links_mexico_and_honduras_only() -> None:
    from datetime import date

    from ledger.access_rules import load

    sample = load()
    on = date(2026, 12, 1)
    assert sample.linkage_recipients("MX", on=on) == {"HN"}
    assert sample.linkage_recipients("MX", minor=True, on=on) == frozenset()  # names no minors
    assert sample.linkage_recipients("HN", minor=True, on=on) == {"MX"}
    assert sample.linkage_recipients("GT", on=on) == frozenset()


def test_linkage_recipients_follow_agreements_minors_and_withholding() -> None:
    from datetime import date

    on = date(2026, 12, 1)
    adults: AccessRules = parse(rules())
    assert adults.linkage_recipients("HN", on=on) == {"MX"}
    assert adults.linkage_recipients("HN", minor=True, on=on) == frozenset()  # names no minors
    assert parse(rules(minors=True)).linkage_recipients("HN", minor=True, on=on) == {"MX"}
    assert adults.linkage_recipients("HN", withheld_from=["MX"], on=on) == frozenset()
    assert parse(rules(linkage=False)).linkage_recipients("HN", on=on) == frozenset()  # control


def test_a_consented_case_is_published_with_nothing_but_its_encoding(nodes: dict[str, Node]) -> None:
    hn = nodes["HN"]
    case = hn.ledger.report_missing_person(same_person(HN_WORKER, "HN"))
    hn.relay.run_once()
    [record] = published(hn, "HN")
    assert record.key == str(case).encode()
    body = json.loads(record.value or b"")
    # secret_id names the linkage secret (an HMAC under it of a fixed label): no personal field
    assert set(body) == {"case_id", "origin", "schema_version", "bits", "recipients", "secret_id"}
    assert (body["case_id"], body["origin"], body["recipients"]) == (str(case), "HN", ["MX"])
    assert len(base64.b64decode(body["bits"])) == encoding_bytes()
    text = (record.value or b"").decode().lower()
    for personal in ("wilmer", "hernández", "hernandez", "castillo", "1996", "male"):
        assert personal not in text
    assert hn.relay.linkage is not None and hn.relay.linkage.store.get("HN", str(case)) is not None


def test_no_encoding_without_search_consent_or_for_an_unnamed_minor(nodes: dict[str, Node]) -> None:
    hn = nodes["HN"]
    hn.ledger.report_missing_person(same_person(HN_WORKER, "HN", consented_purposes=("family_support",)))
    hn.ledger.report_missing_person(same_person(HN_WORKER, "HN", date_of_birth="2012-01-01"))
    hn.relay.run_once()
    assert published(hn, "HN") == []
    hn.ledger.report_missing_person(same_person(HN_WORKER, "HN"))  # control: an adult who consented
    hn.relay.run_once()
    assert len(published(hn, "HN")) == 1


def test_withdrawal_and_erasure_publish_tombstones_and_the_store_forgets(nodes: dict[str, Node]) -> None:
    hn = nodes["HN"]
    withdrawn = hn.ledger.report_missing_person(same_person(HN_WORKER, "HN"))
    erased = hn.ledger.report_missing_person(same_person(HN_WORKER, "HN", given_names="Otro"))
    kept = hn.ledger.report_missing_person(same_person(HN_WORKER, "HN", given_names="Tercero"))
    hn.relay.run_once()
    store = hn.relay.linkage.store  # type: ignore[union-attr]
    assert len(store) == 3
    hn.ledger.withdraw_consent(
        WithdrawConsent(
            **ctx(HN_WORKER), case_id=withdrawn, consent_purpose="search", withdrawn_by="Rosa Chávez"
        )
    )
    hn.ledger.erase_data(EraseData(**ctx(HN_WORKER), case_id=erased, requested_by="Rosa Chávez"))
    hn.relay.run_once()
    last = {r.key: r.value for r in published(hn, "HN")}
    assert last[str(withdrawn).encode()] is None and last[str(erased).encode()] is None
    assert last[str(kept).encode()] is not None  # control: the others' stay
    assert store.get("HN", str(withdrawn)) is None and store.get("HN", str(erased)) is None
    assert store.get("HN", str(kept)) is not None


def found_at(node: Node, rules_raw: dict[str, Any] | None = None) -> tuple[LinkageFinder, list[Found]]:
    got: list[Found] = []
    finder = LinkageFinder(
        node.settings.node,
        node.event_log,
        node.catalogue,
        node.keys.verify,
        parse(rules_raw or rules()),
        got.append,
    )
    return finder, got


def test_the_same_person_at_both_origins_is_a_candidate_at_both(nodes: dict[str, Node]) -> None:
    hn, mx = nodes["HN"], nodes["MX"]
    at_hn = hn.ledger.report_missing_person(same_person(HN_WORKER, "HN"))
    hn.ledger.report_missing_person(same_person(HN_WORKER, "HN", given_names="Pedro", first_surname="Zúniga"))
    at_mx = mx.ledger.report_missing_person(
        same_person(MX_WORKER, "HN", given_names="Wilmer", second_surname=None)
    )
    hn.relay.run_once()
    mx.relay.run_once()
    hn_finder, hn_found = found_at(hn)
    mx_finder, mx_found = found_at(mx)
    hn_finder.run_once()
    mx_finder.run_once()
    assert [(f.case_id, f.other_origin, f.other_case_id) for f in hn_found] == [
        (str(at_hn), "MX", str(at_mx))
    ]
    assert [(f.case_id, f.other_origin, f.other_case_id) for f in mx_found] == [
        (str(at_mx), "HN", str(at_hn))
    ]
    assert hn_found[0].score >= 0.5
    assert hn_finder.run_once() == []  # found once

    # An erasure at HN: its tombstone removes the encoding from MX's linkage process too.
    hn.ledger.erase_data(EraseData(**ctx(HN_WORKER), case_id=at_hn, requested_by="Rosa Chávez"))
    hn.relay.run_once()
    mx_finder.read()
    assert mx_finder.store.get("HN", str(at_hn)) is None
    assert mx_finder.store.get("MX", str(at_mx)) is not None  # control


def test_without_a_linkage_agreement_nothing_is_compared(nodes: dict[str, Node]) -> None:
    hn, mx = nodes["HN"], nodes["MX"]
    hn.ledger.report_missing_person(same_person(HN_WORKER, "HN"))
    mx.ledger.report_missing_person(same_person(MX_WORKER, "HN"))
    hn.relay.run_once()
    mx.relay.run_once()
    finder, got = found_at(mx, rules(linkage=False))
    finder.run_once()
    assert got == [] and len(finder.store) == 2


def test_bad_encodings_are_dead_lettered_with_their_reason_never_compared(nodes: dict[str, Node]) -> None:
    mx = nodes["MX"]
    mx.ledger.report_missing_person(same_person(MX_WORKER, "HN"))
    mx.relay.run_once()
    hn_key = NodeKey.generate()  # not the key the network knows for HN
    catalogue: Catalogue = mx.catalogue
    good = {
        "case_id": "c1",
        "origin": "HN",
        "schema_version": 1,
        "recipients": ["MX"],
        "bits": base64.b64encode(bytes(encoding_bytes())).decode(),
    }
    # Forged and malformed messages, straight onto the topics.
    mx.event_log.create_topics([catalogue.linkage("HN"), catalogue.linkage("XX")])
    bad = [
        linkage_record(catalogue, hn_key, "HN", "c1", 1, json.dumps(good).encode()),  # unverifiable
        linkage_record(
            catalogue, hn_key, "XX", "c2", 1, json.dumps({**good, "case_id": "c2", "origin": "XX"}).encode()
        ),
        dataclasses.replace(
            linkage_record(catalogue, hn_key, "HN", "c3", 1, b"{}"), headers=(("origin", b"HN"),)
        ),  # unsigned
    ]
    publisher = mx.event_log.publisher("test-forger")
    publisher.publish([dataclasses.replace(r, partition=0) for r in bad])
    publisher.close()
    finder, got = found_at(mx)
    finder.run_once()
    reasons = sorted(reason for _, reason in finder.rejected)
    assert len(reasons) == 3, reasons
    assert any("unsigned" in r for r in reasons)
    assert finder.store.get("HN", "c1") is None and finder.store.get("XX", "c2") is None
    assert got == []
    dead = mx.catalogue.deadletter("MX").name
    tps = [TopicPartition(dead, 0)]
    records = [r for b in LogReader(mx.event_log, None).batches(dict.fromkeys(tps, 0)) for r in b.records]
    assert len(records) == 3 and all(r.header("reason") for r in records)


def test_a_wrong_version_or_length_is_refused_by_a_correctly_signed_origin(nodes: dict[str, Node]) -> None:
    hn = nodes["HN"]
    signer = hn.relay.signer
    catalogue = hn.catalogue
    good = {
        "case_id": "c1",
        "origin": "HN",
        "schema_version": 1,
        "recipients": ["MX"],
        "bits": base64.b64encode(bytes(encoding_bytes())).decode(),
    }
    records = [
        linkage_record(catalogue, signer, "HN", "c1", 1, json.dumps(good).encode()),  # control: accepted
        linkage_record(
            catalogue,
            signer,
            "HN",
            "c2",
            1,
            json.dumps({**good, "case_id": "c2", "schema_version": 9}).encode(),
        ),
        linkage_record(
            catalogue,
            signer,
            "HN",
            "c3",
            1,
            json.dumps({**good, "case_id": "c3", "bits": base64.b64encode(b"short").decode()}).encode(),
        ),
    ]
    publisher = hn.event_log.publisher("test-wrong-version")
    publisher.publish([dataclasses.replace(r, partition=0) for r in records])
    publisher.close()
    finder, _ = found_at(nodes["MX"])
    finder.read()
    reasons = sorted(reason for _, reason in finder.rejected)
    assert [r.split(":")[0] for r in reasons] == ["bits", "schema_version"], reasons
    assert finder.store.get("HN", "c1") is not None


def test_a_candidate_is_recorded_on_each_origins_case_and_sealed_on_the_log(nodes: dict[str, Node]) -> None:
    from services.linkage import linkage_finder

    hn, mx = nodes["HN"], nodes["MX"]
    at_hn = hn.ledger.report_missing_person(same_person(HN_WORKER, "HN"))
    at_mx = mx.ledger.report_missing_person(same_person(MX_WORKER, "HN"))
    unrelated = mx.ledger.report_missing_person(
        same_person(MX_WORKER, "MX", given_names="Ana", first_surname="Ruiz", sex="female")
    )
    for node in (hn, mx):
        node.relay.run_once()
    for node in (hn, mx):
        finder = linkage_finder(node, parse(rules()))
        finder.run_once()
        finder.run_once()  # found again: recorded once
    found_hn = getattr(hn.ledger.get_case(at_hn), "linkage_candidates", {})
    found_mx = getattr(mx.ledger.get_case(at_mx), "linkage_candidates", {})
    assert list(found_hn) == [f"MX/{at_mx}"] and list(found_mx) == [f"HN/{at_hn}"]
    assert 0.5 <= found_hn[f"MX/{at_mx}"]["score"] <= 1.0
    assert getattr(mx.ledger.get_case(unrelated), "linkage_candidates", {}) == {}  # control
    # On the log the candidate's fields are reserved: sealed, never in the clear.
    mx.relay.run_once()
    topic = mx.catalogue.events("MX").name
    tps = mx.event_log.partitions(topic)
    records = [r for b in LogReader(mx.event_log, None).batches(dict.fromkeys(tps, 0)) for r in b.records]
    [candidate] = [r for r in records if r.header("event_type") == b"LinkageCandidateFound"]
    assert str(at_hn).encode() not in (candidate.value or b"")
    assert not any(str(at_hn).encode() in (r.value or b"") for r in records)


def test_a_candidate_names_a_case_and_a_score_or_is_refused() -> None:
    from datetime import date

    from ledger.errors import InvalidField
    from ledger.linkage_case import RecordLinkageCandidate

    good = {
        "command_id": "x",
        "recorded_by": MX_WORKER,
        "case_id": UUID(int=1),
        "other_origin": "HN",
        "other_case_id": str(UUID(int=2)),
        "score": 0.97,
        "schema_version": 1,
    }
    assert RecordLinkageCandidate(**good).checked(date(2026, 12, 1))["score"] == 0.97  # control
    for field, bad in (("score", 1.5), ("other_case_id", "Wilmer"), ("other_origin", "Honduras")):
        with pytest.raises(InvalidField, match=field):
            RecordLinkageCandidate(**{**good, field: bad}).checked(date(2026, 12, 1))


MX_DESIGNATED = Actor("mx-busqueda-nacional", "investigator")
HN_DESIGNATED = Actor("hn-conadeh", "commissioner")


def grants_of(node: Node, key_prefix: str) -> dict[str, set[str]]:
    """Each key of the case (by key id) and the readers its latest grant wraps it for."""
    topic = node.catalogue.keys().name
    tps = node.event_log.partitions(topic)
    out: dict[str, set[str]] = {}
    for batch in LogReader(node.event_log, None).batches(dict.fromkeys(tps, 0)):
        for record in batch.records:
            key = (record.key or b"").decode()
            if key.startswith(key_prefix) and record.value is not None:
                out[key] = set(node.registry.decode(record.value).record["grants"])
    return out


def test_an_approved_disclosure_grants_the_requester_the_common_tier_and_nothing_more(
    nodes: dict[str, Node],
) -> None:
    import uuid

    from ledger.errors import InvalidField, RuleBroken
    from ledger.linkage_case import DecideDisclosure, RequestDisclosure
    from services.linkage import linkage_finder

    hn, mx = nodes["HN"], nodes["MX"]
    at_hn = hn.ledger.report_missing_person(same_person(HN_WORKER, "HN"))
    at_mx = mx.ledger.report_missing_person(same_person(MX_WORKER, "HN"))
    for node in (hn, mx):
        node.relay.run_once()
    finders = {c: linkage_finder(n, parse(rules())) for c, n in nodes.items()}
    for finder in finders.values():
        finder.run_once()
    request = str(uuid.uuid4())
    asked = {"case_id": at_mx, "request": request, "other_origin": "HN", "other_case_id": str(at_hn)}
    with pytest.raises(InvalidField, match=r"recorded_by\.role"):  # a caseworker is not designated
        mx.ledger.request_disclosure(RequestDisclosure(**ctx(MX_WORKER), **asked))
    with pytest.raises(RuleBroken, match="linkage candidate"):  # only about a recorded candidate
        mx.ledger.request_disclosure(
            RequestDisclosure(**ctx(MX_DESIGNATED), **{**asked, "other_case_id": str(uuid.uuid4())})
        )
    mx.ledger.request_disclosure(RequestDisclosure(**ctx(MX_DESIGNATED), **asked))
    mx.relay.run_once()
    finders["HN"].read()
    routed = finders["HN"].requests[request]
    assert (routed.from_origin, routed.from_case_id, routed.case_id) == ("MX", str(at_mx), str(at_hn))
    assert request not in finders["MX"].requests  # routed to HN only

    prefix = f"{at_hn}/"
    assert not any("MX" in readers for readers in grants_of(hn, prefix).values())  # before: nothing
    decided = {
        "case_id": at_hn,
        "request": request,
        "requester_origin": "MX",
        "requester_case_id": str(at_mx),
    }
    with pytest.raises(InvalidField, match=r"recorded_by\.role"):
        hn.ledger.decide_disclosure(DecideDisclosure(**ctx(HN_WORKER), **decided, decision="approved"))
    hn.ledger.decide_disclosure(DecideDisclosure(**ctx(HN_DESIGNATED), **decided, decision="approved"))
    hn.relay.run_once()
    grants = grants_of(hn, prefix)
    common = [k for k in grants if "/common/" in k]
    assert common and all("MX" in grants[k] for k in common)
    assert not any("MX" in readers for k, readers in grants.items() if "/common/" not in k)  # nothing more
    from ledger.crypto import unwrap
    from topics.grants import grant_context

    [key_id] = common[-1:]
    topic = hn.catalogue.keys().name
    wrapped = None
    for batch in LogReader(hn.event_log, None).batches(dict.fromkeys(hn.event_log.partitions(topic), 0)):
        for record in batch.records:
            if record.key == key_id.encode() and record.value is not None:
                wrapped = hn.registry.decode(record.value).record["grants"].get("MX")  # the latest grant
    assert wrapped is not None and hn.data_keys.get(key_id) == unwrap(
        mx.recipient, wrapped, grant_context(key_id)
    )


def test_a_declined_disclosure_or_a_withdrawn_consent_grants_nothing(nodes: dict[str, Node]) -> None:
    import uuid

    from ledger.errors import RuleBroken
    from ledger.linkage_case import DecideDisclosure, RecordLinkageCandidate

    hn = nodes["HN"]
    declined = hn.ledger.report_missing_person(same_person(HN_WORKER, "HN"))
    withdrawn = hn.ledger.report_missing_person(same_person(HN_WORKER, "HN", given_names="Otro"))
    hn.relay.run_once()
    for case, decision in ((declined, "declined"), (withdrawn, "approved")):
        requester = str(uuid.uuid4())
        decided = {
            "case_id": case,
            "request": str(uuid.uuid4()),
            "requester_origin": "MX",
            "requester_case_id": requester,
            "decision": decision,
        }
        with pytest.raises(RuleBroken, match="linkage candidate"):  # no candidate, no disclosure
            hn.ledger.decide_disclosure(DecideDisclosure(**ctx(HN_DESIGNATED), **decided))
        hn.ledger.record_linkage_candidate(
            RecordLinkageCandidate(
                **ctx(Actor("HN", "node_operator")),
                case_id=case,
                other_origin="MX",
                other_case_id=requester,
                score=0.97,
                schema_version=1,
            )
        )
        hn.ledger.decide_disclosure(DecideDisclosure(**ctx(HN_DESIGNATED), **decided))
    hn.ledger.withdraw_consent(
        WithdrawConsent(
            **ctx(HN_WORKER), case_id=withdrawn, consent_purpose="search", withdrawn_by="Rosa Chávez"
        )
    )
    hn.relay.run_once()
    for case in (declined, withdrawn):
        assert not any("MX" in readers for readers in grants_of(hn, f"{case}/").values())


class _Case:
    """The state LinkagePublishing reads of a case."""

    def __init__(self, date_of_birth: str | None, withheld_from: set[str] | None = None) -> None:
        from datetime import date

        born = date.fromisoformat(date_of_birth) if date_of_birth else None
        self.person = {"given_names": "Wilmer", "first_surname": "Hernández", "date_of_birth": born}
        self.last_seen = {"date": date(2026, 2, 3), "country": "MX"}
        self.consents = {"search": True}
        self.erased = False
        self.withheld_from = withheld_from or set()


@pytest.mark.parametrize(
    ("minors", "date_of_birth", "withheld", "published"),
    [
        (False, "1996-04-12", set(), True),  # control: an adult
        (False, "2012-01-01", set(), False),  # a minor, under an agreement that names none
        (True, "2012-01-01", set(), True),  # a minor, under one that names minors
        (False, None, set(), False),  # unknown age: the stricter reading
        (True, "1996-04-12", {"MX"}, False),  # withheld from the only node it could go to
    ],
)
def test_minors_only_under_an_agreement_naming_them(
    minors: bool, date_of_birth: str | None, withheld: set[str], published: bool
) -> None:
    from topics.linkage_publishing import LinkagePublishing

    case = _Case(date_of_birth, withheld)
    publishing = LinkagePublishing(
        "HN",
        os.urandom(32),
        parse(rules(minors=minors)),
        NodeKey.generate(),
        Catalogue(),
        lambda case_id: case,
    )
    out = publishing.messages_for("ledger.case:MissingPersonCase.CaseReported", "c1", 1)
    assert bool(out) == published
    assert all(r.value is not None for r in out)


def test_candidates_are_shown_to_designated_roles_only_and_each_look_is_recorded(
    nodes: dict[str, Node],
) -> None:
    from ledger.errors import RuleBroken
    from services.linkage import candidates_of, linkage_finder

    hn, mx = nodes["HN"], nodes["MX"]
    at_hn = hn.ledger.report_missing_person(same_person(HN_WORKER, "HN"))
    at_mx = mx.ledger.report_missing_person(same_person(MX_WORKER, "HN"))
    for node in (hn, mx):
        node.relay.run_once()
    linkage_finder(mx, parse(rules())).run_once()
    with pytest.raises(RuleBroken, match="caseworker"):
        candidates_of(mx, at_mx, MX_WORKER)
    [shown] = candidates_of(mx, at_mx, MX_DESIGNATED)
    assert (shown["other_origin"], shown["other_case_id"]) == ("HN", str(at_hn))
    assert set(shown) == {"other_origin", "other_case_id", "score", "disclosure_asked"}
    outcomes = [(r.recorded_by["role"], r.outcome) for r in mx.ledger.reads_of(at_mx)]
    assert outcomes == [("caseworker", "refused"), ("investigator", "granted")]


def test_after_an_approved_disclosure_the_requesting_node_views_show_the_common_tier_only(
    nodes: dict[str, Node],
) -> None:
    """#19 item 4 end to end on the embedded log: before the approval MX's views hold the HN
    case's public tier only; after it, its names, for MX's own organisations reading to search,
    and still nothing reserved (the family's phone, the circumstances), nothing for a consulate
    sitting in MX, and nothing of another HN case (control)."""
    import uuid

    from ledger.linkage_case import DecideDisclosure, RequestDisclosure
    from services.caller_view import CallerView
    from services.linkage import linkage_finder

    hn, mx = nodes["HN"], nodes["MX"]
    at_hn = hn.ledger.report_missing_person(same_person(HN_WORKER, "HN"))
    other_hn = hn.ledger.report_missing_person(
        same_person(HN_WORKER, "HN", given_names="Ana", first_surname="Ruiz", sex="female")
    )
    at_mx = mx.ledger.report_missing_person(same_person(MX_WORKER, "HN"))
    for node in (hn, mx):
        node.relay.run_once()
    finders = {c: linkage_finder(n, parse(rules())) for c, n in nodes.items()}
    for finder in finders.values():
        finder.run_once()
    mx.sync("MX")
    before = mx.views("MX").rows([str(at_hn)])[str(at_hn)]
    assert before.restricted and before.given_names is None and not before.disclosed  # control

    request = str(uuid.uuid4())
    mx.ledger.request_disclosure(
        RequestDisclosure(
            **ctx(MX_DESIGNATED), case_id=at_mx, request=request, other_origin="HN", other_case_id=str(at_hn)
        )
    )
    mx.relay.run_once()
    finders["HN"].read()
    hn.ledger.decide_disclosure(
        DecideDisclosure(
            **ctx(HN_DESIGNATED),
            case_id=at_hn,
            request=request,
            requester_origin="MX",
            requester_case_id=str(at_mx),
            decision="approved",
        )
    )
    hn.relay.run_once()
    mx.sync("MX")
    views = mx.views("MX")
    rows = views.rows([str(at_hn), str(other_hn)])
    after = rows[str(at_hn)]
    assert (after.given_names, after.first_surname, after.disclosed) == ("Wilmer Josué", "Hernández", True)
    assert rows[str(other_hn)].restricted and rows[str(other_hn)].given_names is None  # control
    shown = " ".join(e.shown for e in views.timeline(str(at_hn)))
    assert "Wilmer" in shown
    assert "5555" not in shown and "family_contacts" not in shown  # the reserved tier stays closed

    raw = rules()
    raw["jurisdictions"].append({"code": "GT", "name": "Guatemala"})
    raw["organisations"].append(
        {
            "id": "gt-consulado-tapachula",
            "name": "Consulado",
            "kind": "consulate",
            "jurisdiction": "MX",
            "represents": "GT",
        }
    )
    # Without members on the linkage agreement, no organisation of MX lists the disclosed case.
    assert CallerView(views, parse(raw), MX_DESIGNATED.organisation, "search").case(after).given_names is None
    raw["agreements"][0]["members"] = ["search_commission"]  # HN -> MX: who at MX reads a disclosure
    rules_ = parse(raw)
    designated = CallerView(views, rules_, MX_DESIGNATED.organisation, "search")
    assert designated.case(after).given_names == "Wilmer Josué"
    assert [c.given_names for c in designated.cases() if c.case_id == str(at_hn)] == ["Wilmer Josué"]
    assert "Wilmer" in " ".join(e.shown for e in designated.timeline(str(at_hn)))
    # Another purpose, another kind of organisation here (a shelter), or a consulate sitting in
    # MX (it speaks for another country and is never a member) sees no names.
    assert CallerView(views, rules_, MX_DESIGNATED.organisation, "statistics").case(after).given_names is None
    assert CallerView(views, rules_, MX_WORKER.organisation, "search").case(after).given_names is None
    consulate = CallerView(views, rules_, "gt-consulado-tapachula", "search")
    assert consulate.case(after).given_names is None and consulate.timeline(str(at_hn)) == []
    # Nor does it leave the node in a PFIF export for outside registries.
    from services.pfif_export import exportable

    assert not exportable(after) and exportable(dataclasses.replace(after, disclosed=False))  # control

    # A rebuild from zero opens the case as the first pass did (the disclosure is kept with its key).
    digest = views.digest()
    mx.projector("MX").rebuild()
    assert views.digest() == digest
    assert views.rows([str(at_hn)])[str(at_hn)].given_names == "Wilmer Josué"
    for finder in finders.values():
        finder.close()


def test_a_rotated_secret_is_announced_and_withdraws_the_encodings_made_under_the_old_one(
    nodes: dict[str, Node],
) -> None:
    """#19 item 1: the linkage secret is rotated by a signed announcement on the origin's
    linkage topic; its cases are encoded again under the new secret, every reader withdraws
    the old encodings, and encodings made under different secrets are never compared."""
    from ledger.linkage import secret_id
    from services.bootstrap import linkage_publishing
    from services.linkage import linkage_finder, published_by, rotate_secret
    from topics.linkage_publishing import ROTATION

    hn, mx = nodes["HN"], nodes["MX"]
    at_hn = str(hn.ledger.report_missing_person(same_person(HN_WORKER, "HN")))
    at_mx = str(mx.ledger.report_missing_person(same_person(MX_WORKER, "HN")))
    for node in (hn, mx):
        node.relay.run_once()
    old = hn.relay.linkage.secret_id if hn.relay.linkage else ""
    first = linkage_finder(mx, parse(rules()))
    assert [(f.case_id, f.other_case_id) for f in first.run_once()] == [(at_mx, at_hn)]
    first.close()

    new_secret = SecretStr(base64.b64encode(os.urandom(32)).decode())
    for node in (hn, mx):  # the operators install the network's new secret on each node
        node.relay.linkage = linkage_publishing(
            node.settings.model_copy(update={"linkage_secret": new_secret}),
            parse(rules()),
            node.relay.signer,
            node.catalogue,
            node.ledger,
        )
    new = secret_id(base64.b64decode(new_secret.get_secret_value()))
    assert new != old
    assert rotate_secret(hn) == (1, [old])
    assert published_by(hn) == {at_hn: new}
    announced = [r for r in published(hn, "HN") if (r.key or b"").startswith(ROTATION.encode())]
    assert len(announced) == 1 and json.loads(announced[0].value or b"")["previous"] == [old]

    # MX still encodes under the old secret: nothing is compared across the two.
    between = linkage_finder(mx, parse(rules()))
    assert between.run_once() == []
    assert between.rejected == []
    held = between.store.get("HN", at_hn)
    assert held is not None and held.secret_id == new  # the old encoding was withdrawn
    between.close()

    assert rotate_secret(mx) == (1, [old])
    after = linkage_finder(mx, parse(rules()))
    assert [(f.case_id, f.other_case_id) for f in after.run_once()] == [(at_mx, at_hn)]
    assert {e.secret_id for o in ("HN", "MX") for e in after.store.of(o)} == {new}
    after.close()
    # Rotating again under the same secret announces it again and changes no encoding's bits.
    assert rotate_secret(hn) == (1, [])

    # A second rotation, then the first announcement replayed onto HN's topic: a reader that
    # starts afresh, whatever order it reads the partitions in, compares under the newest.
    third = SecretStr(base64.b64encode(os.urandom(32)).decode())
    for node in (hn, mx):
        node.relay.linkage = linkage_publishing(
            node.settings.model_copy(update={"linkage_secret": third}),
            parse(rules()),
            node.relay.signer,
            node.catalogue,
            node.ledger,
        )
        rotate_secret(node)
    replayed = announced[0]
    publisher = hn.event_log.publisher("replayed-rotation")
    publisher.publish(
        [
            OutgoingRecord(
                replayed.topic, replayed.key or b"", replayed.value, replayed.headers, replayed.timestamp_ms
            )
        ]
    )
    publisher.close()
    latest = linkage_finder(mx, parse(rules()))
    assert [(f.case_id, f.other_case_id) for f in latest.run_once()] == [(at_mx, at_hn)]
    assert latest.rotated["HN"][1] == secret_id(base64.b64decode(third.get_secret_value()))
    assert latest.rejected == []
    latest.close()


def test_a_rotation_naming_another_origin_is_dead_lettered(nodes: dict[str, Node]) -> None:
    from services.linkage import linkage_finder
    from topics.linkage_publishing import ROTATION, linkage_record

    hn, mx = nodes["HN"], nodes["MX"]
    forged = json.dumps(
        {
            "kind": "secret_rotated",
            "origin": "MX",
            "secret_id": "ab",
            "rotated_at": "2026-12-01T00:00:00+00:00",
        }
    ).encode()
    record = linkage_record(hn.catalogue, hn.relay.signer, "HN", ROTATION, 0, forged)
    hn.event_log.create_topics([hn.catalogue.linkage("HN")])
    publisher = hn.event_log.publisher("forged-rotation")
    publisher.publish([record])
    publisher.close()
    finder = linkage_finder(mx, parse(rules()))
    finder.read()
    assert [reason for _, reason in finder.rejected] == [
        "origin: the rotation names another origin than its topic"
    ]
    assert finder.rotated == {}
    finder.close()
