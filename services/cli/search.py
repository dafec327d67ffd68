"""`caseledger cases --as J --search ... [filters] [--json]`: the case list of a jurisdiction's
views, searched, filtered and paged as `GET /cases` does (services/case_search.py). The node's
operator reads the views as they were projected for the jurisdiction: a case they show without
its names (a minor's, one without consent or agreement) is never found by its name."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

import click

from projections.views import JurisdictionViews
from services import case_search

__all__ = ["OPTIONS", "listed", "parse", "show"]

OPTIONS = {name: f"--{name.replace('_', '-')}" for name in case_search.PARAMETERS}
OPTIONS["q"] = "--search"


def _text(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def parse(asked: Mapping[str, str | None]) -> case_search.CaseSearch:
    """The search from the command's options; InvalidField names the option."""
    return case_search.parse({k: v for k, v in asked.items() if v is not None}, names=OPTIONS)


def listed(views: JurisdictionViews, search: case_search.CaseSearch) -> list[dict[str, Any]]:
    """The page of cases as `--json` gives them (a score beside each when searching by name)."""
    items = []
    for found in case_search.find(views, case_search.as_listed, search).items:
        item = asdict(found.row)
        if found.score is not None:
            item["score"] = round(found.score, 4)
        items.append(item)
    return items


def show(
    jurisdiction: str,
    views: JurisdictionViews,
    search: case_search.CaseSearch,
    as_json: bool,
    print_cases: Callable[..., None],
) -> None:
    page = case_search.find(views, case_search.as_listed, search)
    rows = [f.row for f in page.items]
    if as_json:
        listed: list[dict[str, Any]] = []
        for found in page.items:
            item = asdict(found.row)
            if found.score is not None:
                item["score"] = round(found.score, 4)
            listed.append(item)
        click.echo(json.dumps(listed, ensure_ascii=False, default=_text))
    elif search.q:
        print_cases(jurisdiction, rows, [f.score or 0.0 for f in page.items])
    else:
        print_cases(jurisdiction, rows)
    if page.next_cursor or page.total > len(rows):
        note = f"{len(rows)} of {page.total} cases"
        if page.next_cursor:
            note += f"; next page: --cursor {page.next_cursor}"
        click.echo(note, err=as_json)
