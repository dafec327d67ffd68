"""One case end to end through a node — report, relay, log, views — on the embedded default
and on real Kafka and PostgreSQL, with the same cases."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from ledger.access_rules import SAMPLE_POLICY
from ledger.access_rules import load as load_rules
from ledger.commands import (
    Actor,
    AmendData,
    CloseCase,
    ConfirmIdentification,
    EraseData,
    GrantConsent,
    JudgeCasesDistinct,
    RecordPersonLocatedAlive,
    RecordSighting,
    ReopenCase,
    WithdrawConsent,
)
from ledger.errors import ConsentRequired, InvalidField
from ledger.forensic_commands import (
    ProposeMatch,
    RecordProfile,
    RecordRemainsRecovered,
    ReviewMatch,
    ReviseMatch,
    TakeSample,
    WithdrawDonorConsent,
)
from ledger.tier_split import sealed_tiers
from ledger.values import Place
from projections import feed as feed_module
from projections.claims import PartitionTaken
from projections.statistics import UNKNOWN_MONTH, monthly
from projections.view_batch import ViewBatch
from services.bootstrap import Node, build_node
from services.candidates import Candidates, CandidatesRefused
from services.feed import ConsularFeed
from services.feed_topic import FeedPublisher, open_feed_message
from services.history import case_as_of, diff
from services.parallel import project
from services.reading import READ_REFUSED, CaseReading, ReadRefused
from services.settings import Settings
from tests.contracts.test_event_log_contract import read_all
from tests.factories import FAMILY, FORENSIC, REVIEWER, ctx, report
from tests.network import keyed
from tests.story import whole_story
from topics.grants import signed_grant
from topics.log import OutgoingRecord
from topics.log_verifier import LogVerifier
from topics.relay import Relay
from topics.run_signatures import message_digest, run_bytes
from topics.signing import GENESIS, signed_bytes

UNWRAP_REFUSED = b"wrapped key does not open: tampered, or granted to another organisation"
HN_CONSUL = "hn-consulado-tapachula"
NOW = date(2026, 11, 1)
NodeFactory = Callable[[str], Node]


class NodeContract:
    @pytest.fixture
    def settings_for(self) -> Callable[[str], Settings]:
        raise NotImplementedError

    @pytest.fixture
    def make_node(self, settings_for: Callable[[str], Settings], tmp_path: Path) -> Iterator[NodeFactory]:
        nodes: list[Node] = []
        network = keyed({c: settings_for(c) for c in ("MX", "GT", "HN")}, tmp_path / "keys")

        def make(country: str, **updates: Any) -> Node:
            settings = network[country].model_copy(update=updates)
            nodes.append(build_node(settings))
            return nodes[-1]

        yield make
        for node in nodes:
            node.close()

    def test_a_reported_case_reaches_its_own_view_with_names(self, make_node: NodeFactory) -> None:
        mx = make_node("MX")
        case_id = mx.ledger.report_missing_person(report(given_names="Dulce María", first_surname="Ávila"))
        assert mx.sync("MX") == {"published": 1, "consumed": 1}
        [row] = mx.views("MX").cases()
        assert (row.case_id, row.origin, row.display_name) == (str(case_id), "MX", "Dulce María Ávila Chávez")
        assert (row.status, row.nationalities, row.last_seen_country) == ("missing", ("GT",), "MX")

    def test_another_jurisdiction_sees_only_the_public_tier(self, make_node: NodeFactory) -> None:
        mx = make_node("MX")
        mx.ledger.report_missing_person(report())
        mx.sync("GT")
        [row] = mx.views("GT").cases()
        assert row.restricted and row.display_name == "(restricted)"
        assert (row.given_names, row.first_surname, row.last_seen_place, row.last_seen_date) == (None,) * 4
        # The age band and the month come from the date of birth and the date last seen, which
        # are common-tier: a jurisdiction that may not read them does not get them derived.
        assert (row.sex, row.nationalities, row.last_seen_country) == ("female", ("GT",), "MX")
        assert (row.age_band, row.last_seen_month) == (None, None)

    def test_nodes_of_two_countries_share_one_log(self, make_node: NodeFactory) -> None:
        mx, gt = make_node("MX"), make_node("GT")
        mx.ledger.report_missing_person(report(given_names="Ana"))
        gt.ledger.report_missing_person(report(given_names="Berta"))
        mx.relay.run_once()
        gt.relay.run_once()
        gt.projector("GT").run_once()
        names = sorted(r.display_name for r in gt.views("GT").cases())
        assert names == ["(restricted)", "Berta López Chávez"]

    def test_a_restarted_relay_publishes_nothing_twice(self, make_node: NodeFactory) -> None:
        mx = make_node("MX")
        for n in range(3):
            mx.ledger.report_missing_person(report(command_id=f"cmd-{n}"))
        assert mx.relay.run_once() == 3
        fresh = Relay(
            mx.ledger.recorder,
            mx.ledger.mapper,
            mx.event_log,
            "MX",
            mx.registry,
            mx.catalogue,
            signer=mx.relay.signer,
            chain=mx.relay.chain,
            keys=mx.data_keys,
        )
        assert fresh.published_up_to() == 3
        assert fresh.run_once() == 0
        mx.ledger.report_missing_person(report(command_id="cmd-3"))
        assert fresh.run_once() == 1
        fresh.close()
        on_topic = read_all(mx.event_log, mx.catalogue.events("MX").name)
        ids = [r.header("event_id") for r in on_topic]
        assert len(ids) == len(set(ids)) == 4
        assert sorted(int(r.header("notification_id") or 0) for r in on_topic) == [1, 2, 3, 4]

    def test_a_retried_report_is_one_event(self, make_node: NodeFactory) -> None:
        mx = make_node("MX")
        command = report()
        assert mx.ledger.report_missing_person(command) == mx.ledger.report_missing_person(command)
        assert mx.relay.run_once() == 1

    def test_a_bad_report_writes_and_publishes_nothing(self, make_node: NodeFactory) -> None:
        mx = make_node("MX")
        with pytest.raises(InvalidField, match="nationalities"):
            mx.ledger.report_missing_person(report(nationalities=("XX",)))
        assert mx.ledger.recorder.max_notification_id() is None
        assert mx.relay.run_once() == 0

    def test_an_undecodable_record_is_dead_lettered_and_the_views_go_on(self, make_node: NodeFactory) -> None:
        mx = make_node("MX")
        topic = mx.catalogue.events("MX").name
        garbage = OutgoingRecord(topic, b"k", b"\xc3\x01not-a-known-fingerprint", (), 1_767_225_600_000)
        publisher = mx.event_log.publisher(f"{topic}-intruder")
        publisher.publish([garbage])
        publisher.close()
        mx.ledger.report_missing_person(report())
        mx.sync("MX")
        assert len(mx.views("MX").cases()) == 1
        [letter] = read_all(mx.event_log, mx.catalogue.deadletter("MX").name)
        assert letter.value == garbage.value
        assert letter.header("reason") == b"unknown schema fingerprint 6e6f742d612d6b6e"
        assert letter.header("source_topic") == topic.encode()
        assert sum(mx.projector("MX").lag().values()) == 0

    def test_every_event_type_travels_as_avro_and_decodes(self, make_node: NodeFactory) -> None:
        mx = make_node("MX")
        whole_story(mx.ledger)
        published = mx.relay.run_once()
        on_topic = read_all(mx.event_log, mx.catalogue.events("MX").name)
        assert len(on_topic) == published == mx.ledger.recorder.max_notification_id()
        decoded = [mx.registry.decode(r.value) for r in on_topic]
        expected = {n for n in mx.registry.names() if "_" not in n} - {"Actor", "Envelope", "KeyGrant"}
        assert {d.name for d in decoded} == expected
        # Every event type with fields above public travels sealed; no name is readable on the log.
        assert {d.name for d in decoded if "sealed" in d.record} == {n for n in expected if sealed_tiers(n)}
        names = ("María José".encode(), "López".encode(), b"Ma. Jos")
        assert not any(name in (r.value or b"") for name in names for r in on_topic)
        for record, message in zip(on_topic, decoded, strict=True):
            assert record.header("event_type") == message.name.encode()
            assert str(message.record["meta"]["aggregate_id"]).encode() == record.key
        mx.projector("MX").run_once()
        cases = mx.views("MX").cases()
        assert len(cases) == 3  # the story's case, its twin and a located child
        [erased] = [c for c in cases if c.status == "erased"]  # the story's twin asked for erasure
        assert erased.restricted and erased.given_names is None and erased.last_seen_place is None

    def test_the_network_rules_decide_what_another_jurisdiction_sees(
        self, make_node: NodeFactory, settings_for: Callable[[str], Settings]
    ) -> None:
        mx = make_node("MX", access_rules=SAMPLE_POLICY)
        adult = mx.ledger.report_missing_person(report(given_names="Adulta", nationalities=("GT",)))
        minor = mx.ledger.report_missing_person(report(given_names="Menor", date_of_birth="2012-05-05"))
        mx.relay.run_once()
        gt, hn = make_node("GT", access_rules=SAMPLE_POLICY), make_node("HN", access_rules=SAMPLE_POLICY)
        gt.projector("GT").run_once()
        seen = {r.given_names for r in gt.views("GT").cases()}
        # network-search-mx-gt grants GT's node the common tier, so MX wraps that data key for
        # GT; a minor's common tier is reserved, so its key is not granted to GT at all.
        assert seen == {"Adulta", None}
        # Even at the origin, views list no minor's name: it is read through an audited read.
        mx.projector("MX").run_once()
        assert {r.given_names for r in mx.views("MX").cases()} == {"Adulta", None}
        assert gt.data_keys.get(f"{adult}/common/1") is not None
        assert gt.data_keys.get(f"{minor}/common/1") is None
        assert gt.data_keys.get(f"{adult}/reserved/1") is None  # the agreement names common only
        # HN holds no agreement with MX for search: its node got no key and sees no name.
        hn.projector("HN").run_once()
        assert {r.given_names for r in hn.views("HN").cases()} == {None}

    @pytest.mark.parametrize(
        ("tamper", "reason"),
        [
            ("signature", b"batch signature: signature does not verify with the key of MX"),
            ("unsigned", b"batch signature: the run's last message carries no signature"),
            ("cut", b"batch signature: its run was cut short"),
            ("alone", None),  # signed on its own, as before batch signatures: a valid repeat
            ("alone-forged", b"signature does not verify with the key of MX"),
            ("alone-unsigned", b"unsigned: no signature, seal or previous_hash header"),
            ("chain", b"broken hash chain: previous hash of version 1 does not match"),
            ("gap", b"broken hash chain: version 2 arrives without version 1"),
            ("rewrite", b"broken hash chain: version 1 arrives after version 1"),
            ("truncated", b"body does not decode with CaseReported v9: EOFError"),
            ("fingerprint", b"unknown schema fingerprint"),
            ("origin", b"envelope origin 'MX' does not match topic"),
            ("duplicate", None),
        ],
    )
    def test_a_message_that_fails_verification_is_dead_lettered_and_never_applied(
        self, make_node: NodeFactory, tamper: str, reason: bytes | None
    ) -> None:
        mx, gt = make_node("MX"), make_node("GT")
        mx.ledger.report_missing_person(report(given_names="Original"))
        mx.relay.run_once()
        [good] = read_all(mx.event_log, mx.catalogue.events("MX").name)
        headers, value, topic, key = dict(good.headers), good.value or b"", good.topic, good.key or b""

        def forge(aggregate_id: UUID, version: int, previous: bytes, given_names: str) -> None:
            """A message MX's own key signs, but that breaks the chain (a faulty or hostile origin)."""
            nonlocal value, key
            key = str(aggregate_id).encode()
            record = mx.registry.decode(value).record
            record["meta"].update(aggregate_id=str(aggregate_id), aggregate_version=version)
            record["source"] = given_names  # a public field: names travel sealed
            value = mx.registry.encode("CaseReported", record)
            headers["previous_hash"] = previous
            headers["aggregate_version"] = str(version).encode()
            digest = message_digest("MX", str(aggregate_id), version, previous, value)
            headers["signature"] = mx.relay.signer.sign(run_bytes("MX", topic, good.partition, [digest]))

        if tamper == "signature":
            headers["signature"] = bytes(64)
        elif tamper == "unsigned":
            del headers["signature"]
        elif tamper == "cut":
            headers["seal"] = b"1/2"
        elif tamper.startswith("alone"):
            del headers["seal"]
            headers["signature"] = mx.relay.signer.sign(
                signed_bytes("MX", good.key.decode(), 1, bytes(32), value)  # type: ignore[union-attr]
            )
            if tamper == "alone-forged":
                headers["signature"] = bytes(64)
            elif tamper == "alone-unsigned":
                del headers["signature"]
        elif tamper == "chain":
            forge(UUID(int=8), 1, b"\x01" * 32, "Forged")
        elif tamper == "gap":
            forge(UUID(int=7), 2, b"\x01" * 32, "Forged")
        elif tamper == "rewrite":
            forge(UUID(good.key.decode()), 1, bytes(32), "Rewritten")  # type: ignore[union-attr]
        elif tamper == "truncated":
            value = value[: len(value) // 2]
        elif tamper == "fingerprint":
            value = value[:2] + b"\xff" * 8 + value[10:]
        elif tamper == "origin":
            topic = gt.catalogue.events("GT").name
        intruder = mx.event_log.publisher(f"{topic}-intruder")
        intruder.publish(
            [OutgoingRecord(topic, key, value, tuple(headers.items()), good.timestamp_ms, good.partition)]
        )
        intruder.close()
        gt.ledger.report_missing_person(report(given_names="Después"))
        gt.relay.run_once()
        gt.projector("GT").run_once()

        letters = read_all(gt.event_log, gt.catalogue.deadletter("GT").name)
        cases = gt.views("GT").cases()
        names = sorted(r.given_names or "(restricted)" for r in cases)
        assert "Después" in names, "the stream goes on after a bad message"
        forged = {str(UUID(int=7)), str(UUID(int=8))}
        assert not forged & {r.case_id for r in cases}, "a message that fails verification is never applied"
        assert all(r.version == 1 for r in cases), "a rewritten event is never applied"
        if reason is None:
            assert letters == [] and len(names) == 2  # a repeat is applied once, silently
        else:
            assert len(letters) == 1 and (letters[0].header("reason") or b"").startswith(reason)
            assert letters[0].value == value and letters[0].header("source_topic") == topic.encode()

    @pytest.mark.parametrize(
        ("tamper", "reader", "reason"),
        [
            ("wrapped", "GT", b"wrapped key does not open: tampered, or granted to another organisation"),
            (
                "other-organisation",
                "HN",
                b"wrapped key does not open: tampered, or granted to another organisation",
            ),
            ("signature", "GT", b"key grant: signature does not verify with the key of MX"),
            ("body", "GT", b"key grant: its body does not match its key and origin"),
        ],
    )
    def test_a_bad_key_grant_is_refused_recorded_and_opens_nothing(
        self, make_node: NodeFactory, tamper: str, reader: str, reason: bytes
    ) -> None:
        mx = make_node("MX", access_rules=SAMPLE_POLICY)
        case_id = mx.ledger.report_missing_person(report(given_names="Adulta", nationalities=("GT",)))
        mx.relay.run_once()
        key_id = f"{case_id}/common/1"
        [grant] = [r for r in read_all(mx.event_log, mx.catalogue.keys().name) if r.key == key_id.encode()]
        body = mx.registry.decode(grant.value).record
        assert set(body["grants"]) == {"MX", "GT"}  # the rules entitle MX's and GT's nodes only
        forged_id = f"{case_id}/common/9"  # a key id no real grant uses
        body["key_id"] = forged_id
        if tamper == "wrapped":
            wrapped = bytearray(body["grants"]["GT"])
            wrapped[-1] ^= 1
            body["grants"]["GT"] = bytes(wrapped)
        elif tamper == "other-organisation":
            body["grants"]["HN"] = body["grants"]["GT"]  # GT's grant, offered to HN
        elif tamper == "body":
            body["key_id"] = key_id  # a grant for one key, sent as another's
        value = mx.registry.encode("KeyGrant", body)
        # A faulty or hostile origin signs what it sends; only the forged signature is not MX's.
        signature = (
            bytes(64) if tamper == "signature" else mx.relay.signer.sign(signed_grant(forged_id, value))
        )
        intruder = mx.event_log.publisher(f"grant-intruder-{tamper}")
        headers = (("origin", b"MX"), ("signature", signature))
        intruder.publish(
            [OutgoingRecord(mx.catalogue.keys().name, forged_id.encode(), value, headers, grant.timestamp_ms)]
        )
        intruder.close()
        node = make_node(reader, access_rules=SAMPLE_POLICY)
        node.projector(reader).run_once()
        letters = read_all(node.event_log, node.catalogue.deadletter(reader).name)
        assert [(r.header("reason") or b"")[: len(reason)] for r in letters] == [reason]
        assert letters[0].value == value, "the refused grant is recorded as it came"
        assert node.data_keys.get(forged_id) is None, "nothing of a refused grant is kept"
        if reader == "HN":
            assert node.data_keys.get(key_id) is None and node.views("HN").cases()[0].given_names is None

    def test_the_views_show_the_familys_amendment_and_the_original_stays(
        self, make_node: NodeFactory
    ) -> None:
        mx = make_node("MX", access_rules=SAMPLE_POLICY)
        gt = make_node("GT", access_rules=SAMPLE_POLICY)
        case_id = mx.ledger.report_missing_person(report(given_names="Maria Jose", nationalities=("GT",)))
        mx.ledger.amend_data(
            AmendData(
                **ctx(FAMILY),
                case_id=case_id,
                changes={"person.given_names": "María José", "last_seen.place": "Ixtepec, Oaxaca"},
                reason="the family's spelling; she was last seen in Ixtepec",
            )
        )
        mx.sync("MX")
        gt.projector("GT").run_once()
        for node, jurisdiction in ((mx, "MX"), (gt, "GT")):
            [row] = node.views(jurisdiction).cases()
            assert (row.given_names, row.last_seen_place, row.version) == ("María José", "Ixtepec, Oaxaca", 2)
        history = [type(e).__name__ for e in mx.ledger.events.get(case_id)]
        assert history == ["CaseReported", "DataAmended"]
        assert next(iter(mx.ledger.events.get(case_id))).person["given_names"] == "Maria Jose"

    def test_a_share_whose_purpose_lacks_consent_is_refused(self, make_node: NodeFactory) -> None:
        mx = make_node("MX", access_rules=SAMPLE_POLICY)
        gt = make_node("GT", access_rules=SAMPLE_POLICY)
        no_search = mx.ledger.report_missing_person(
            report(
                given_names="Sin Consentimiento",
                nationalities=("GT",),
                consented_purposes=("family_support",),
            )
        )
        withdrawn = mx.ledger.report_missing_person(report(given_names="Retirado", nationalities=("GT",)))
        mx.sync("MX")
        gt.projector("GT").run_once()
        assert gt.views("GT").rows([str(withdrawn)])[str(withdrawn)].given_names == "Retirado"
        mx.ledger.withdraw_consent(
            WithdrawConsent(
                **ctx(FAMILY), case_id=withdrawn, consent_purpose="search", withdrawn_by="the father"
            )
        )
        mx.sync("MX")
        gt.projector("GT").run_once()
        for node, jurisdiction in ((mx, "MX"), (gt, "GT")):
            rows = node.views(jurisdiction).rows([str(no_search), str(withdrawn)])
            for case in (no_search, withdrawn):
                row = rows[str(case)]
                assert row.restricted and row.given_names is None and "search" not in row.consents
        # A command whose purpose lacks consent is refused with the reason, and records nothing.
        with pytest.raises(ConsentRequired, match="search"):
            mx.ledger.record_sighting(
                RecordSighting(
                    **ctx(), case_id=withdrawn, seen_on="2026-03-01", place=Place("MX"), source="witness"
                )
            )
        assert mx.ledger.get_case(withdrawn).version == 2

    def test_consent_given_again_shares_the_case_again_with_what_the_family_amended(
        self, make_node: NodeFactory
    ) -> None:
        """Withdrawing consent empties a view's row and timeline of all but public fields; when
        the family consents again, each view takes what it may show back from the log."""
        mx = make_node("MX", access_rules=SAMPLE_POLICY)
        gt = make_node("GT", access_rules=SAMPLE_POLICY)
        case_id = mx.ledger.report_missing_person(report(given_names="Maria Jose", nationalities=("GT",)))
        other = mx.ledger.report_missing_person(report(given_names="Otra", nationalities=("GT",)))

        def consent(case: UUID, give: bool, purpose: str = "search") -> None:
            if give:
                mx.ledger.grant_consent(
                    GrantConsent(**ctx(FAMILY), case_id=case, consent_purpose=purpose, given_by="the mother")
                )
            else:
                mx.ledger.withdraw_consent(
                    WithdrawConsent(
                        **ctx(FAMILY), case_id=case, consent_purpose=purpose, withdrawn_by="the mother"
                    )
                )

        def seen() -> dict[str, tuple[str | None, str | None, bool, list[str]]]:
            mx.sync("MX")
            gt.projector("GT").run_once()
            out = {}
            for node, jurisdiction in ((mx, "MX"), (gt, "GT")):
                views = node.views(jurisdiction)
                row = views.rows([str(case_id)])[str(case_id)]
                entries = views.timeline(str(case_id))
                shown = [json.loads(e.shown).get("person", {}).get("given_names") for e in entries]
                # The report's common fields are shown, or said to be withheld.
                assert ("common" in entries[0].withheld) == (entries[0].shown == "{}"), entries[0]
                out[jurisdiction] = (row.given_names, row.last_seen_place, row.restricted, shown)
            return out

        consent(case_id, give=False)
        mx.ledger.amend_data(
            AmendData(
                **ctx(FAMILY),
                case_id=case_id,
                changes={"person.given_names": "María José", "last_seen.place": "Ixtepec, Oaxaca"},
                reason="the family's spelling",
            )
        )
        assert seen()["GT"][:3] == (None, None, True)
        consent(case_id, give=True, purpose="family_support")  # not what the views are for
        assert seen()["GT"][:3] == (None, None, True)
        consent(case_id, give=True)
        for jurisdiction, (name, place, restricted, shown) in seen().items():
            assert (name, place, restricted) == ("María José", "Ixtepec, Oaxaca", False), jurisdiction
            assert shown[0] == "Maria Jose", "the report's timeline entry shows what it recorded"
        # Withdrawn and given again between two passes; given and withdrawn again: the last wins.
        consent(case_id, give=False)
        consent(case_id, give=True)
        consent(other, give=True, purpose="family_support")
        consent(other, give=False, purpose="family_support")
        assert seen()["GT"][:3] == ("María José", "Ixtepec, Oaxaca", False)
        consent(case_id, give=False)
        consent(case_id, give=True)
        consent(case_id, give=False)
        after = seen()
        assert all(v[:3] == (None, None, True) and set(v[3]) == {None} for v in after.values()), after
        # A rebuild from zero folds the same way.
        consent(case_id, give=True)
        live = seen()
        gt.projector("GT").rebuild()
        assert seen() == live and live["GT"][0] == "María José"
        assert gt.views("GT").rows([str(other)])[str(other)].given_names == "Otra"

    def test_a_consulate_sees_a_minors_name_only_under_an_agreement_that_names_minors(
        self, make_node: NodeFactory
    ) -> None:
        mx = make_node("MX", access_rules=SAMPLE_POLICY)
        reading = CaseReading(mx, load_rules(SAMPLE_POLICY), today=lambda: date(2026, 11, 1))
        hn_minor = mx.ledger.report_missing_person(
            report(given_names="Kevin", nationalities=("HN",), date_of_birth="2011-01-09")
        )
        gt_minor = mx.ledger.report_missing_person(
            report(given_names="Heidy", nationalities=("GT",), date_of_birth="2011-01-09")
        )
        hn_adult = mx.ledger.report_missing_person(report(given_names="Wilmer", nationalities=("HN",)))
        # mx-cases-to-gt-consulate names minors: the GT consulate reads the minor's name, and
        # that read of reserved-level data is recorded.
        seen = reading.read(gt_minor, Actor("gt-consulado-tapachula", "consular_officer"), "search")
        assert seen.entries[0].fields["person"]["given_names"] == "Heidy"
        assert "reserved" in seen.entries[0].withheld  # the agreement gives common, not reserved
        [granted] = mx.ledger.reads_of(gt_minor)
        assert (granted.outcome, granted.tiers, granted.recorded_by["organisation"]) == (
            "granted",
            ["common"],
            "gt-consulado-tapachula",
        )
        # mx-cases-to-hn-consulate does not: the minor's name is refused, and the refusal recorded.
        with pytest.raises(ReadRefused) as told:
            reading.read(hn_minor, Actor("hn-consulado-tapachula", "consular_officer"), "search")
        assert "reserved tier" in told.value.reason and "reserved" not in str(told.value), (
            "the reason is the read log's; the reader is not told the person is a minor"
        )
        [refused] = mx.ledger.reads_of(hn_minor)
        assert (refused.outcome, refused.tiers) == ("refused", [])
        assert "reserved tier" in refused.reason
        # An adult national's name is common: shown under the same agreement, and the read is
        # recorded too, at the common tier, so that the family sees who read its case (issue 16).
        adult = reading.read(hn_adult, Actor("hn-consulado-tapachula", "consular_officer"), "search")
        assert adult.entries[0].fields["person"]["given_names"] == "Wilmer"
        [common] = mx.ledger.reads_of(hn_adult)
        assert (common.outcome, common.tiers) == ("granted", ["common"])

    @pytest.mark.parametrize(
        ("reader", "purpose", "today", "reason"),
        [
            (
                "hn-consulado-tapachula",
                "curiosity",
                date(2026, 11, 1),
                "purpose 'curiosity' is not in the rules",
            ),
            (
                "hn-consulado-tapachula",
                "search",
                date(2029, 1, 1),
                "agreement mx-cases-to-hn-consulate expired",
            ),
            (
                "gt-consulado-tapachula",
                "search",
                date(2026, 11, 1),
                "no agreement lets gt-consulado-tapachula",
            ),
            ("xx-nobody", "search", date(2026, 11, 1), "'xx-nobody' is neither an organisation"),
            (
                "hn-consulado-tapachula",
                "statistics",
                date(2026, 11, 1),
                "statistics read the public tier only",
            ),
        ],
    )
    def test_a_read_the_rules_refuse_is_recorded_and_shows_nothing(
        self, make_node: NodeFactory, reader: str, purpose: str, today: date, reason: str
    ) -> None:
        mx = make_node("MX", access_rules=SAMPLE_POLICY)
        case_id = mx.ledger.report_missing_person(report(given_names="Wilmer", nationalities=("HN",)))
        reading = CaseReading(mx, load_rules(SAMPLE_POLICY), today=lambda: today)
        with pytest.raises(ReadRefused) as refused:
            reading.read(case_id, Actor(reader, "consular_officer"), purpose)
        assert reason in refused.value.reason and "Wilmer" not in str(refused.value)
        assert str(refused.value) == f"read of case {case_id} refused and recorded: {READ_REFUSED}"
        [recorded] = mx.ledger.reads_of(case_id)
        assert (recorded.outcome, recorded.read_purpose, recorded.recorded_by["organisation"]) == (
            "refused",
            purpose,
            reader,
        )
        assert reason in recorded.reason and recorded.purpose == "accountability"

    def test_a_family_consults_everything_and_who_read_it_and_the_audit_is_on_the_log(
        self, make_node: NodeFactory
    ) -> None:
        mx = make_node("MX", access_rules=SAMPLE_POLICY)
        case_id = mx.ledger.report_missing_person(report(given_names="Wilmer", nationalities=("HN",)))
        reading = CaseReading(mx, load_rules(SAMPLE_POLICY), today=lambda: date(2026, 11, 1))
        with pytest.raises(ReadRefused):
            reading.read(case_id, Actor("hn-consulado-tapachula", "consular_officer"), "accountability")
        dossier = reading.consult(case_id, Actor("Rosa Chávez", "family_member"))
        [reported] = dossier.entries
        assert reported.withheld == () and reported.fields["family_contacts"][0]["name"] == "Rosa Chávez"
        assert reported.recorded_by == {
            "organisation": "mx-casa-migrante-tapachula",
            "role": "caseworker",
        }
        assert [(r.organisation, r.outcome) for r in dossier.reads] == [
            ("hn-consulado-tapachula", "refused"),
            ("Rosa Chávez", "granted"),
        ]
        # The audit travels like every event: signed, chained, and verified by another node.
        mx.relay.run_once()
        on_topic = read_all(mx.event_log, mx.catalogue.events("MX").name)
        assert sorted(r.header("event_type") for r in on_topic).count(b"ReadRecorded") == 2
        gt = make_node("GT")
        gt.projector("GT").run_once()
        assert read_all(gt.event_log, gt.catalogue.deadletter("GT").name) == []

    def test_audit_verify_holds_for_a_whole_story_and_names_the_first_break(
        self, make_node: NodeFactory
    ) -> None:
        mx, gt = make_node("MX"), make_node("GT")
        ids = whole_story(mx.ledger)
        gt.ledger.report_missing_person(report(given_names="Berta"))
        mx.relay.run_once()
        gt.relay.run_once()
        verifier = LogVerifier(gt.event_log, gt.keys, gt.registry, gt.catalogue)
        clean = verifier.verify()
        total = mx.ledger.recorder.max_notification_id() + gt.ledger.recorder.max_notification_id()
        assert (clean.messages, clean.first_break) == (total, None)
        one = verifier.verify(str(ids["case"]))
        assert (
            one.first_break is None
            and one.aggregates == 1
            and one.messages == mx.ledger.get_case(ids["case"]).version
        )

        # A message MX's key signed but that rewrites version 2 of the case (a faulty origin).
        [second] = [
            r
            for r in read_all(mx.event_log, mx.catalogue.events("MX").name)
            if r.key == str(ids["case"]).encode() and r.header("aggregate_version") == b"2"
        ]
        rewritten = mx.registry.decode(second.value)
        rewritten.record["source"] = "press"  # what the sighting's source was, rewritten
        value = mx.registry.encode(rewritten.name, rewritten.record)
        previous = second.header("previous_hash") or b""
        signature = mx.relay.signer.sign(signed_bytes("MX", str(ids["case"]), 2, previous, value))
        # Signed on its own, as a message was before batch signatures.
        headers = (
            *((k, v) for k, v in second.headers if k not in ("seal", "signature")),
            ("signature", signature),
        )
        intruder = mx.event_log.publisher("audit-intruder")
        intruder.publish(
            [OutgoingRecord(second.topic, second.key or b"", value, headers, second.timestamp_ms)]
        )
        intruder.close()
        broken = verifier.verify()
        assert broken.first_break is not None and len(broken.breaks) == 1
        assert broken.first_break.aggregate_id == str(ids["case"]) and broken.first_break.version == 2
        assert "version 2 again, with other bytes" in broken.first_break.reason
        assert verifier.verify(str(ids["remains"])).first_break is None, "other aggregates still verify"

    def test_a_rebuild_from_zero_gives_the_views_the_live_projection_built(
        self, make_node: NodeFactory
    ) -> None:
        mx = make_node("MX", access_rules=SAMPLE_POLICY)
        gt = make_node("GT", access_rules=SAMPLE_POLICY)
        for n in range(3):  # the live views follow the log in several steps
            mx.ledger.report_missing_person(report(given_names=f"Persona {n}", nationalities=("GT",)))
            mx.sync("MX")
            gt.projector("GT").run_once()
        whole_story(mx.ledger)
        mx.sync("MX")
        gt.projector("GT").run_once()
        mx_live = mx.views("MX").digest()
        for node, jurisdiction in ((mx, "MX"), (gt, "GT")):
            projector = node.projector(jurisdiction)
            live, rows = projector.views.digest(), projector.views.cases()
            seen: list[int] = []
            consumed = projector.rebuild(progress=seen.append)
            assert consumed == len(read_all(node.event_log, node.catalogue.events("MX").name))
            assert sum(seen) == sum(node.event_log.end_offsets(projector.partitions()).values())
            assert projector.views.digest() == live and projector.views.cases() == rows
            assert {r.status for r in rows} >= {"missing", "erased"}
            # Views opened afresh after a rebuild (another process of the node) hold the same rows.
            node._views.pop(jurisdiction).close()
            node._projectors.pop(jurisdiction).close()
            assert node.views(jurisdiction).digest() == live
        # Several worker processes, a share of the partitions each (on PostgreSQL and Kafka;
        # the embedded default keeps one writer): the same views again.
        consumed = project(mx, "MX", workers=2, rebuild=True)
        assert consumed == len(read_all(mx.event_log, mx.catalogue.events("MX").name))
        assert mx.views("MX").digest() == mx_live
        # Control: the digest sees a change in any row.
        gt.views("GT").apply(
            ViewBatch([replace(gt.views("GT").cases()[0], route="otra ruta", version=99)], [])
        )
        assert gt.views("GT").digest() != live

    def test_history_shows_a_case_as_a_jurisdiction_could_see_it_at_an_instant(
        self, make_node: NodeFactory
    ) -> None:
        mx = make_node("MX", access_rules=SAMPLE_POLICY)
        gt = make_node("GT", access_rules=SAMPLE_POLICY)
        hn = make_node("HN", access_rules=SAMPLE_POLICY)
        before = datetime.now(UTC)
        time.sleep(0.01)
        case_id = mx.ledger.report_missing_person(report(given_names="Maria", nationalities=("GT",)))
        time.sleep(0.01)
        reported = datetime.now(UTC)
        time.sleep(0.01)
        mx.ledger.amend_data(
            AmendData(
                **ctx(FAMILY), case_id=case_id, changes={"person.given_names": "María"}, reason="accent"
            )
        )
        mx.ledger.record_sighting(
            RecordSighting(
                **ctx(), case_id=case_id, seen_on="2026-03-02", place=Place("MX", "Ixtepec"), source="shelter"
            )
        )
        time.sleep(0.01)
        amended = datetime.now(UTC)
        time.sleep(0.01)
        # The nodes follow the log as it grows: the exact instants are in the envelope's common
        # tier (the public one says the month), which they open while the case has its keys.
        mx.sync("MX")
        for node, jurisdiction in ((gt, "GT"), (hn, "HN")):
            node.projector(jurisdiction).run_once()
        mx.ledger.erase_data(EraseData(**ctx(FAMILY), case_id=case_id, requested_by="Rosa Chávez, mother"))
        mx.sync("MX")
        for node, jurisdiction in ((gt, "GT"), (hn, "HN")):
            node.projector(jurisdiction).run_once()
        gt_views = gt.views("GT")

        assert case_as_of(gt_views, str(case_id), before).events == []
        at_report = case_as_of(gt_views, str(case_id), reported)
        assert (at_report.version, at_report.status, at_report.sightings) == (1, "missing", 0)
        at_amend = case_as_of(gt_views, str(case_id), amended)
        assert (at_amend.version, at_amend.amendments, at_amend.sightings) == (3, 1, 1)
        # The family erased the case since: its past names stay erased for everyone.
        assert at_report.person.get("given_names") is None and at_amend.person.get("given_names") is None
        assert at_amend.person["nationalities"] == ["GT"] and at_amend.last_sighting == {"country": "MX"}
        now = case_as_of(gt_views, str(case_id))
        assert (now.status, now.version) == ("erased", 4)
        change = diff(gt_views, str(case_id), reported, amended)
        assert [e["event"] for e in change["events"]] == ["DataAmended", "SightingRecorded"]
        assert change["changed"]["sightings"] == {"from": 0, "to": 1}
        # HN has no agreement: the same events at the same instants, public fields only.
        hn_view = case_as_of(hn.views("HN"), str(case_id), amended)
        assert hn_view.version == 3 and set(hn_view.person) == {"sex", "nationalities"}

    def test_history_before_an_erasure_shows_the_names_a_jurisdiction_held(
        self, make_node: NodeFactory
    ) -> None:
        mx = make_node("MX", access_rules=SAMPLE_POLICY)
        gt = make_node("GT", access_rules=SAMPLE_POLICY)
        case_id = mx.ledger.report_missing_person(report(given_names="Maria", nationalities=("GT",)))
        time.sleep(0.01)
        reported = datetime.now(UTC)
        time.sleep(0.01)
        mx.ledger.amend_data(
            AmendData(
                **ctx(FAMILY), case_id=case_id, changes={"person.given_names": "María"}, reason="accent"
            )
        )
        mx.sync("MX")
        gt.projector("GT").run_once()
        assert case_as_of(gt.views("GT"), str(case_id), reported).person["given_names"] == "Maria"
        assert case_as_of(gt.views("GT"), str(case_id)).person["given_names"] == "María"
        change = diff(gt.views("GT"), str(case_id), reported, datetime.now(UTC))
        assert change["changed"]["person"] == {"given_names": {"from": "Maria", "to": "María"}}

    def test_monthly_statistics_come_from_the_public_tier_with_small_cells_suppressed(
        self, make_node: NodeFactory
    ) -> None:
        mx = make_node("MX")
        for n in range(7):
            mx.ledger.report_missing_person(
                report(given_names=f"Mujer {n}", sex="female", last_seen_country="MX")
            )
        for n in range(2):
            mx.ledger.report_missing_person(
                report(given_names=f"Hombre {n}", sex="male", last_seen_country="MX")
            )
        mx.sync("MX")
        mx.projector("GT").run_once()  # GT sees only the public tier of MX's cases
        month = datetime.now(UTC).strftime("%Y-%m")
        for jurisdiction in ("MX", "GT"):
            for by in ("missing", "reported"):
                cells = {(c.sex, c.last_seen_country): c.shown for c in monthly(mx.views(jurisdiction), by)}
                assert cells == {("female", "MX"): "7", ("male", "MX"): "<5"}
            assert {c.month for c in monthly(mx.views(jurisdiction), "reported")} == {month}
        # Counted by the month they went missing (2026-02), which GT may not read: "unknown".
        assert {c.month for c in monthly(mx.views("MX"))} == {"2026-02"}
        assert {c.month for c in monthly(mx.views("GT"))} == {UNKNOWN_MONTH}

    def test_the_timeline_shows_a_samples_custody_chain_without_its_forensic_data(
        self, make_node: NodeFactory
    ) -> None:
        mx = make_node("MX")
        ids = whole_story(mx.ledger)
        mx.sync("MX")
        custody = mx.views("MX").timeline(str(ids["sample"]))
        assert [e.event_type for e in custody] == [
            "SampleTaken",
            "SampleTransferred",
            "ProfileRecorded",
            "SampleDestroyed",
        ]
        assert [e.role for e in custody] == ["forensic_expert", "forensic_expert", "geneticist", "geneticist"]
        assert all(e.recorded_at and e.purpose == "forensic_identification" for e in custody)
        assert "forensic" in custody[0].withheld and "genetic" in custody[0].withheld
        shown = "".join(e.public + e.shown for e in custody)
        assert "Laboratorio" not in shown and "D3S1358" not in shown and "mother" not in shown
        remains = mx.views("MX").timeline(str(ids["remains"]))
        assert remains[0].event_type == "RemainsRecovered" and "context" in json.loads(remains[0].public)
        several = [
            str(ids["sample"]),
            "not-an-id",
            str(ids["remains"]),
            str(UUID(int=7)),
            str(ids["sample"]),
        ]
        assert mx.views("MX").timelines(several) == {
            str(ids["sample"]): custody,
            str(ids["remains"]): remains,
        }

    def test_remains_samples_and_matches_have_views_of_their_own_as_far_as_each_may_see(
        self, make_node: NodeFactory
    ) -> None:
        mx = make_node("MX")
        ids = whole_story(mx.ledger)
        mx.sync("MX")
        mx.projector("GT").run_once()  # GT: the public tier of MX's records only
        own, other = mx.views("MX"), mx.views("GT")
        for views in (own, other):
            assert {(f.aggregate_type, f.status) for f in views.forensic()} == {
                ("UnidentifiedRemains", "handed_over"),  # identified, released, repatriated (#17)
                ("UnidentifiedRemains", "reopened"),  # a second bone, its match revised
                ("Sample", "destroyed"),
                ("Sample", "withdrawn"),  # the father withdrew his consent
                ("Match", "confirmed" if views is own else "reviewed"),  # the outcome is forensic
                ("Match", "revised"),
            }
            samples = views.forensic("Sample")
            assert sorted(f.aggregate_id for f in samples) == sorted(
                map(str, (ids["sample"], ids["withdrawn_sample"]))
            )
            [withdrawn] = [f for f in samples if f.aggregate_id == str(ids["withdrawn_sample"])]
            assert withdrawn.state == "{}"
            assert all("D3S1358" not in f.state and "mother" not in f.state for f in views.forensic())
            assert all("genetic" in f.withheld for f in views.forensic("Sample"))
        remains = {
            v: json.loads(v.forensic_rows([str(ids["remains"])])[str(ids["remains"])].state)
            for v in (own, other)
        }
        assert remains[own]["place"] == {"country": "MX", "place": "Altar, Sonora"}
        assert remains[own]["context"] == "desert" and remains[own]["sex"] == "female"
        assert remains[other]["place"] == {"country": "MX"} and remains[other]["context"] == "desert"
        assert "common" in other.forensic_rows([str(ids["remains"])])[str(ids["remains"])].withheld
        sample = json.loads(own.forensic_rows([str(ids["sample"])])[str(ids["sample"])].state)
        assert sample["holder"] == "Laboratorio de Genética Forense"  # its custody, transfer by transfer
        assert "holder" not in json.loads(other.forensic_rows([str(ids["sample"])])[str(ids["sample"])].state)
        match = json.loads(own.forensic_rows([str(ids["match"])])[str(ids["match"])].state)
        assert match["case_id"] == str(ids["case"]) and match["remains_id"] == str(ids["remains"])
        assert own.forensic_rows([str(ids["match"]), str(UUID(int=5))]).keys() == {str(ids["match"])}
        # A case's status follows its events: closed, then reopened to what it was before.
        statuses = {r.case_id: r.status for r in own.cases()}
        assert statuses[str(ids["case"])] == "identified_deceased"
        assert statuses[str(ids["twin"])] == "erased"
        assert own.rows([str(ids["case"]), "not-a-case"]).keys() == {str(ids["case"])}
        assert own.digest() != other.digest()
        live = own.digest()
        mx.projector("MX").rebuild()
        assert own.digest() == live, "the forensic views rebuild to the same rows"

    def test_the_views_keep_what_links_remains_samples_and_matches_to_their_case(
        self, make_node: NodeFactory
    ) -> None:
        """Linked records answer to their case's rules (projections/linked.py): the views learn
        the links from the match, the identification and the sample, in every jurisdiction's
        views whose node holds the keys of the tiers naming them, and a rebuild keeps them."""
        mx = make_node("MX")
        ids = whole_story(mx.ledger)
        mx.sync("MX")
        own = mx.views("MX")
        case, remains, sample, match = (str(ids[k]) for k in ("case", "remains", "sample", "match"))
        assert own.linked_cases([remains, sample, match, case]) == {
            remains: {case},
            sample: {case},
            match: {case},
        }
        # The bone identified through a match revised later, and that match, still answer to the
        # case's rules (the stricter reading): their links stay.
        bone, revised = str(ids["bone"]), str(ids["revised_match"])
        assert own.linked_cases([bone, revised]) == {bone: {case}, revised: {case}}
        assert own.rows([case])[case].minor is False
        live = own.digest()
        mx.projector("MX").rebuild()
        assert own.digest() == live and len(own.links()) == 5  # each link once, whatever names it

    def test_a_reopened_case_takes_back_its_own_status_whatever_else_the_batch_holds(
        self, make_node: NodeFactory
    ) -> None:
        mx = make_node("MX")
        closed = mx.ledger.report_missing_person(report(given_names="Cerrado"))
        found = mx.ledger.report_missing_person(report(given_names="Encontrada"))
        mx.sync("MX")
        mx.ledger.close_case(CloseCase(**ctx(), case_id=closed, reason="reported_in_error"))
        mx.ledger.record_person_located_alive(
            RecordPersonLocatedAlive(
                **ctx(),
                case_id=found,
                located_on="2026-05-20",
                place=Place("MX"),
                whereabouts_may_be_shared=True,
            )
        )
        mx.ledger.reopen_case(ReopenCase(**ctx(), case_id=closed, reason="the report was right after all"))
        mx.sync("MX")  # the three events in one batch
        views = mx.views("MX")
        statuses = {r.given_names: r.status for r in views.cases()}
        assert statuses == {"Cerrado": "missing", "Encontrada": "located_alive"}
        live = views.digest()
        mx.projector("MX").rebuild()
        assert views.digest() == live

    def test_a_revised_match_shows_the_person_missing_again_in_the_views(
        self, make_node: NodeFactory
    ) -> None:
        mx = make_node("MX")
        fi = "forensic_identification"
        case_id = mx.ledger.report_missing_person(report(consented_purposes=("search", fi)))
        remains = mx.ledger.record_remains_recovered(
            RecordRemainsRecovered(
                **ctx(FORENSIC, fi), recovered_on="2026-04-02", place=Place("MX"), context="sea"
            )
        )
        match = mx.ledger.propose_match(
            ProposeMatch(**ctx(FORENSIC, fi), case_id=case_id, remains_id=remains, basis="dna", score=0.99)
        )
        mx.ledger.review_match(ReviewMatch(**ctx(REVIEWER, fi), match_id=match, outcome="confirmed"))
        mx.ledger.confirm_identification(
            ConfirmIdentification(**ctx(FORENSIC, fi), case_id=case_id, match_id=match)
        )
        mx.sync("MX")
        views = mx.views("MX")
        assert [r.status for r in views.cases()] == ["identified_deceased"]
        mx.ledger.revise_match(ReviseMatch(**ctx(REVIEWER, fi), match_id=match, reason="a sample mix-up"))
        mx.sync("MX")
        assert [r.status for r in views.cases()] == ["missing"]
        statuses = {f.aggregate_id: f.status for f in views.forensic()}
        assert statuses == {str(remains): "reopened", str(match): "revised"}
        live = views.digest()
        mx.projector("MX").rebuild()
        assert views.digest() == live

    def test_a_donors_withdrawal_tombstones_the_samples_keys_and_leaves_the_case(
        self, make_node: NodeFactory
    ) -> None:
        mx = make_node("MX")
        fi = "forensic_identification"
        case_id = mx.ledger.report_missing_person(report(consented_purposes=("search", fi)))
        sample = mx.ledger.take_sample(
            TakeSample(
                **ctx(FORENSIC, fi),
                taken_on="2026-04-05",
                sample_type="buccal_swab",
                holder="Medicina Forense",
                case_id=case_id,
                donor_relationship="mother",
                donor_consent_given_by="the donor herself",
            )
        )
        mx.ledger.record_profile(
            RecordProfile(
                **ctx(FORENSIC, fi), sample_id=sample, laboratory="L", kind="mtdna", profile="16519C"
            )
        )
        mx.sync("MX")
        sample_keys = set(mx.ledger.keys.known(str(sample)))
        assert sample_keys
        mx.ledger.withdraw_donor_consent(
            WithdrawDonorConsent(**ctx(FORENSIC, fi), sample_id=sample, withdrawn_by="the donor herself")
        )
        mx.sync("MX")
        tombstones = {
            r.key.decode()
            for r in read_all(mx.event_log, mx.catalogue.keys().name)
            if r.value is None and r.key
        }
        assert tombstones == sample_keys  # the sample's keys, none of the case's
        views = mx.views("MX")
        [row] = views.forensic("Sample")
        assert (row.status, row.state) == ("withdrawn", "{}")
        assert [r.given_names for r in views.cases()] == ["María José"]

    def test_the_public_envelope_names_no_recorder_and_only_the_month(self, make_node: NodeFactory) -> None:
        mx, gt = make_node("MX"), make_node("GT")
        shelter = Actor("Albergue Hermanos en el Camino, Ixtepec", "caseworker")
        case_id = mx.ledger.report_missing_person(report(recorded_by=shelter))
        mx.ledger.record_sighting(
            RecordSighting(
                **ctx(shelter), case_id=case_id, seen_on="2026-03-02", place=Place("MX"), source="shelter"
            )
        )
        mx.sync("MX")
        gt.projector("GT").run_once()
        on_topic = read_all(mx.event_log, mx.catalogue.events("MX").name)
        assert on_topic and not any(b"Albergue" in (r.value or b"") for r in on_topic)
        for record in on_topic:
            meta = mx.registry.decode(record.value).record["meta"]
            month = meta["occurred_at"]
            assert (month.day, month.hour, month.minute, month.second, month.microsecond) == (1, 0, 0, 0, 0)
            assert meta["recorded_at"] == month and record.timestamp_ms == int(month.timestamp() * 1000)
            assert meta["recorded_by"] == {"organisation": "", "role": ""} and meta["command_id"] == ""
            assert meta["sealed_envelope"] is not None
        # The origin opens the envelope's common tier; a node without an agreement cannot.
        own = mx.views("MX").timeline(str(case_id))
        assert [(e.organisation, e.role) for e in own] == [(shelter.organisation, "caseworker")] * 2
        assert own[0].recorded_at.microsecond or own[0].recorded_at.second or own[0].recorded_at.minute
        other = gt.views("GT").timeline(str(case_id))
        assert [e.organisation for e in other] == ["", ""]
        assert all(e.recorded_at.day == 1 and e.recorded_at.hour == 0 for e in other)

    def test_a_consulates_feed_topic_holds_each_event_once_across_restarts(
        self, make_node: NodeFactory
    ) -> None:
        mx = make_node("MX", access_rules=SAMPLE_POLICY)
        rules = load_rules(SAMPLE_POLICY)
        for n in range(3):
            mx.ledger.report_missing_person(report(given_names=f"Persona {n}", nationalities=("HN",)))
        mx.ledger.report_missing_person(report(given_names="Guatemalteca", nationalities=("GT",)))
        mx.sync("MX")
        first = FeedPublisher(ConsularFeed(mx, rules, "hn-consulado-tapachula"))
        assert first.run_once() == 3
        first.close()
        case_id = mx.ledger.report_missing_person(report(given_names="Después", nationalities=("HN",)))
        mx.ledger.record_sighting(
            RecordSighting(
                **ctx(), case_id=case_id, seen_on="2026-03-02", place=Place("MX"), source="survivor"
            )
        )
        mx.sync("MX")
        restarted = FeedPublisher(ConsularFeed(mx, rules, "hn-consulado-tapachula"))  # another process
        assert restarted.run_once() == 2 and restarted.run_once() == 0
        restarted.close()
        messages = read_all(mx.event_log, mx.catalogue.feed("hn-consulado-tapachula").name)
        assert b"Persona" not in b"".join(m.value or b"" for m in messages), "names travel sealed"
        # The consulate's node opens the sealed tiers with the keys it holds through its grants.
        delivered = [open_feed_message(mx.registry, mx.data_keys, m.value or b"") for m in messages]
        assert len({(d["case_id"], d["version"]) for d in delivered}) == len(delivered) == 5
        assert {
            d["fields"]["person"]["given_names"] for d in delivered if d["event_type"] == "CaseReported"
        } == {
            "Persona 0",
            "Persona 1",
            "Persona 2",
            "Después",
        }
        assert "Guatemalteca" not in b"".join(m.value or b"" for m in messages).decode()

    def test_a_feed_at_a_node_holding_another_origins_case_decides_by_it_as_it_is_now(
        self, make_node: NodeFactory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A node that holds an MX case through its grant (GT) knows the case's consent from its
        views, folded forward with the events its pass reads; when its views lag behind events
        the pass did not read, it holds the case back rather than deciding on the past."""
        mx, gt = make_node("MX", access_rules=SAMPLE_POLICY), make_node("GT", access_rules=SAMPLE_POLICY)
        rules = load_rules(SAMPLE_POLICY)
        case_id = mx.ledger.report_missing_person(
            report(
                given_names="Viajera", nationalities=("HN",), consented_purposes=("search", "family_support")
            )
        )
        mx.relay.run_once()
        gt.projector("GT").run_once()
        first, after_report = ConsularFeed(gt, rules, HN_CONSUL).read()
        assert [i.fields["person"].get("given_names") for i in first] == ["Viajera"]

        mx.ledger.withdraw_consent(
            WithdrawConsent(**ctx(FAMILY), case_id=case_id, consent_purpose="search", withdrawn_by="su madre")
        )
        mx.relay.run_once()  # GT's views have not read the withdrawal yet
        replay, _ = ConsularFeed(gt, rules, HN_CONSUL).read()
        assert [(i.event_type, i.tiers) for i in replay] == [
            ("CaseReported", ("public",)),
            ("ConsentWithdrawn", ("public",)),
            ("ItemsRetracted", ("public",)),
        ]
        live, after_withdrawal = ConsularFeed(gt, rules, HN_CONSUL).read(after_report)
        assert [i.event_type for i in live] == ["ConsentWithdrawn", "ItemsRetracted"]

        mx.ledger.record_sighting(
            RecordSighting(
                **ctx(purpose="family_support"),
                case_id=case_id,
                seen_on="2026-03-02",
                place=Place("MX"),
                source="survivor",
            )
        )
        mx.relay.run_once()
        held, where = ConsularFeed(gt, rules, HN_CONSUL).read(after_withdrawal)
        assert held == [] and where == after_withdrawal, "views a withdrawal behind: nothing decided"
        monkeypatch.setattr(feed_module, "LAG_PATIENCE_S", 0.0)  # views stuck: the stricter reading
        [stuck], _ = ConsularFeed(gt, rules, HN_CONSUL).read(after_withdrawal)
        assert (stuck.event_type, stuck.tiers) == ("SightingRecorded", ("public",))
        monkeypatch.undo()
        gt.projector("GT").run_once()
        later, _ = ConsularFeed(gt, rules, HN_CONSUL).read(after_withdrawal)
        assert "Viajera" not in json.dumps([i.fields for i in later], default=str)
        assert all(i.tiers == ("public",) for i in later)

    def test_an_event_for_an_aggregate_never_created_is_dead_lettered(self, make_node: NodeFactory) -> None:
        mx, gt = make_node("MX"), make_node("GT")
        case_id = mx.ledger.report_missing_person(report())
        mx.ledger.amend_data(
            AmendData(**ctx(FAMILY), case_id=case_id, changes={"last_seen.place": "Ixtepec"}, reason="typo")
        )
        mx.relay.run_once()
        [amendment] = [
            r
            for r in read_all(mx.event_log, mx.catalogue.events("MX").name)
            if r.header("aggregate_version") == b"2"
        ]
        # The origin's own key signs an amendment of an aggregate that was never reported.
        stray = UUID(int=11)
        decoded = mx.registry.decode(amendment.value)
        decoded.record["meta"].update(aggregate_id=str(stray), aggregate_version=1)
        value = mx.registry.encode(decoded.name, decoded.record)
        signature = mx.relay.signer.sign(signed_bytes("MX", str(stray), 1, GENESIS, value))
        headers = (("previous_hash", GENESIS), ("signature", signature), ("aggregate_version", b"1"))
        intruder = mx.event_log.publisher("stray-intruder")
        intruder.publish([OutgoingRecord(amendment.topic, str(stray).encode(), value, headers, 0)])
        intruder.close()
        gt.projector("GT").run_once()
        [letter] = read_all(gt.event_log, gt.catalogue.deadletter("GT").name)
        assert (letter.header("reason") or b"").startswith(b"DataAmended as version 1 of MissingPersonCase")
        assert gt.views("GT").timeline(str(stray)) == [] and len(gt.views("GT").timeline(str(case_id))) == 2

    def test_possible_duplicates_cross_borders_as_the_agreements_allow(self, make_node: NodeFactory) -> None:
        """#14: Mexico's prosecutor is told that a case Honduras's node recorded may be the one it
        reports (network-search-hn-mx); the Guatemalan consulate in Tapachula, which may not read
        Honduran cases, never sees it, and its refused ask is recorded; a pair judged distinct is
        not proposed again."""
        hn, mx = make_node("HN", access_rules=SAMPLE_POLICY), make_node("MX", access_rules=SAMPLE_POLICY)
        maria = {"first_surname": "Pérez", "second_surname": "Gutiérrez", "nationalities": ("HN",)}
        maria |= {"date_of_birth": "1990-04-02", "consented_purposes": ("search",)}
        at_hn = hn.ledger.report_missing_person(report(given_names="María José", **maria))
        hn.relay.run_once()
        unaccented = {**maria, "first_surname": "Perez", "second_surname": "Gutierrez"}
        at_mx = mx.ledger.report_missing_person(report(given_names="Maria Jose", **unaccented))
        mx.sync("MX")
        finder = Candidates(mx, load_rules(SAMPLE_POLICY))
        prosecutor = Actor("mx-fiscalia-migrantes", "caseworker")
        found = finder.at_report("MX", str(at_mx), prosecutor, "search", "cli")
        assert [(c.left, c.right) for c in found] == [tuple(sorted((str(at_hn), str(at_mx))))]
        assert found[0].score > 0.9
        batch = finder.batch("MX", prosecutor, "search", 0.5, "cli")  # Splink over the views
        assert [(c.left, c.right) for c in batch] == [(found[0].left, found[0].right)]
        consulate = Actor("gt-consulado-tapachula", "consular_officer")
        assert finder.batch("MX", consulate, "search", 0.5, "cli") == []
        with pytest.raises(CandidatesRefused):
            finder.for_case("MX", str(at_hn), consulate, "search", 0.5, "cli")
        assert [r.outcome for r in mx.ledger.reads_of(at_hn)] == ["granted", "granted", "refused"]
        mx.ledger.judge_cases_distinct(
            JudgeCasesDistinct(**ctx(), case_id=at_mx, other_case_id=at_hn, reason="another birthplace")
        )
        mx.sync("MX")
        assert finder.for_case("MX", str(at_mx), prosecutor, "search", 0.5, "cli") == []


class TestEmbeddedNode(NodeContract):
    @pytest.fixture
    def settings_for(self, tmp_path: Path) -> Callable[[str], Settings]:
        # Nodes on one machine share the embedded log file, as nodes share one Kafka cluster.
        return lambda country: Settings(
            node=country, data_dir=tmp_path, kafka_bootstrap=None, database_url=None
        )


@pytest.mark.integration
class TestKafkaPostgresNode(NodeContract):
    @pytest.fixture
    def settings_for(self, kafka_bootstrap: str, database_url: str, unique: str) -> Callable[[str], Settings]:
        return lambda country: Settings(
            node=country,
            kafka_bootstrap=kafka_bootstrap,
            database_url=database_url,
            topic_prefix=f"t{unique}.",
        )

    def test_a_member_that_lost_its_partition_publishes_no_dead_letter(
        self, make_node: NodeFactory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Two members of a projection group on one partition (the group moved it; the loser has
        not heard): the successor commits a case's versions 1 and 2 while the loser's batch of
        them is in hand. Checked against the successor's chain heads, version 1 looks like a
        rewrite; the loser must stop (PartitionTaken) before publishing it as a dead letter,
        which is what the chaos run's false 'version 1 arrives after version 2' letters were."""
        loser, successor = make_node("MX"), make_node("MX")
        case_id = loser.ledger.report_missing_person(report())
        loser.ledger.record_sighting(
            RecordSighting(**ctx(), case_id=case_id, seen_on="2026-03-01", place=Place("MX"), source="press")
        )
        assert loser.relay.run_once() == 2
        behind, ahead = loser.projector("MX"), successor.projector("MX")
        tps = behind.partitions()
        assert loser.views("MX").claim(tps) == successor.views("MX").claim(tps) == dict.fromkeys(tps, 0)
        original = behind.apply

        def successor_first(checked: Any, positions: Any = None) -> None:
            assert ahead.run_once() == 2  # the successor commits while the loser holds the batch
            original(checked, positions)

        monkeypatch.setattr(behind, "apply", successor_first)
        with pytest.raises(PartitionTaken):
            behind.run_once()
        assert read_all(loser.event_log, loser.catalogue.deadletter("MX").name) == []
        [row] = loser.views("MX").cases()
        assert (row.case_id, row.version) == (str(case_id), 2)
