"""A projection group shares views on PostgreSQL over Kafka: on the embedded default, which has
one writer, `views-worker` and `serve --views-group` say so and what to set, and the views
refuse claims."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from services.bootstrap import build_node
from services.cli import main
from services.settings import Settings
from topics.log import TopicPartition


def test_a_views_worker_on_the_embedded_default_names_what_it_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("CASELEDGER_KAFKA_BOOTSTRAP", "CASELEDGER_DATABASE_URL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("CASELEDGER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CASELEDGER_NODE", "MX")
    result = CliRunner().invoke(main, ["views-worker"])
    assert result.exit_code != 0
    assert "CASELEDGER_KAFKA_BOOTSTRAP" in result.output and "CASELEDGER_DATABASE_URL" in result.output
    served = CliRunner().invoke(main, ["serve", "--no-api", "--views-group"])
    assert served.exit_code != 0 and "Kafka and PostgreSQL" in served.output


def test_views_with_one_writer_refuse_a_claim(tmp_path: Path) -> None:
    node = build_node(Settings(node="MX", data_dir=tmp_path))
    try:
        with pytest.raises(NotImplementedError, match="PostgreSQL"):
            node.views("MX").claim([TopicPartition("ledger.events.MX", 0)])
    finally:
        node.close()
