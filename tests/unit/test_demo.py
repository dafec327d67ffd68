"""`caseledger demo`: the three-country story, and what each country's view ends with."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from services.demo import COUNTRIES, network, play
from tests.infrastructure import cli_env


def test_the_story_ends_as_each_countrys_agreements_say(tmp_path: Path) -> None:
    told: list[str] = []
    ids = play(tmp_path, told.append)
    assert told[0].startswith(" 1. [HN→MX]") and any("erased" in line for line in told)
    net = network(tmp_path)  # the same nodes, opened again
    try:
        son, daughter = str(ids["son"]), str(ids["daughter"])
        rows = {c: net.nodes[c].views(c).rows([son, daughter]) for c in COUNTRIES}
        assert (
            rows["MX"][son].given_names == "Kevin Alexander"
            and rows["MX"][son].status == "identified_deceased"
        )
        assert rows["GT"][son].given_names == "Kevin Alexander", "the MX–GT search agreement"
        assert rows["HN"][son].given_names is None, "no agreement lets Honduras's node read MX cases"
        assert all(
            rows[c][daughter].status == "erased" and rows[c][daughter].given_names is None for c in COUNTRIES
        )
        assert all(net.nodes[c].data_keys.live(daughter) == [] for c in COUNTRIES), (
            "her keys are gone everywhere"
        )
        assert [r.status for r in net.nodes["MX"].views("MX").forensic("UnidentifiedRemains")] == [
            "identified"
        ]
    finally:
        net.close()
    feed = ids["feed"]
    assert {item.aggregate_id for item in feed} == {str(ids["son"])}, "the consulate's nationals only"
    assert feed[0].fields["person"]["given_names"] == "Kevin Alexander"


def test_the_demo_command_tells_it_and_starts_afresh(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-c",
        "from services.cli import run; run()",
        "demo",
        "--dir",
        str(tmp_path / "d"),
    ]
    for _ in range(2):
        told = subprocess.run(
            command, env=cli_env(), cwd=tmp_path, capture_output=True, text=True, timeout=300
        )
        assert told.returncode == 0, told.stderr
        assert "view of MX" in told.stdout and "Ana Lucía" in told.stdout and "WARNING" not in told.stderr
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "precious.txt").write_text("not a demo")
    refused = subprocess.run(
        [*command[:-1], str(tmp_path / "other")], env=cli_env(), cwd=tmp_path, capture_output=True, text=True
    )
    assert refused.returncode == 2 and "is not a demo network" in refused.stderr
    assert (tmp_path / "other" / "precious.txt").exists()
