"""The observatory's statistics page: counts of cases by month of disappearance, nationality,
route segment and status, drawn on the server as SVG bar charts (no script, nothing from
elsewhere, under the pages' Content-Security-Policy), each with its figures in a table, and
the same figures as CSV. Only the public tier is counted, of the cases the rules let the
caller read for statistics; a count under 5 is suppressed, as everywhere else (so small a
count can point at a person)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from babel import Locale
from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup, escape

from projections.statistics import SMALLEST_CELL
from projections.views import CaseRow
from services.caller_view import ledger_withholding
from services.http import deps
from services.http.common import jurisdiction_of
from services.http.pages.review import Reviewer, page, reviewer
from services.http.view_access import ViewAccess
from services.node_lock import NodeLock
from services.tokens import Credential

__all__ = ["STATUS_WORDS", "UNKNOWN", "Chart", "as_csv", "charts", "counted", "router", "svg"]

UNKNOWN = "not known"
STATUS_WORDS = {
    "missing": "missing",
    "located_alive": "located alive",
    "identified_deceased": "identified deceased",
    "closed": "closed",
    "erased": "erased",
}

router = APIRouter()


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    cells: list[tuple[str, int | None]]  # (category, count or None when suppressed)

    def shown(self, count: int | None) -> str:
        return str(count) if count is not None else f"fewer than {SMALLEST_CELL}"


def _cells(counts: Counter[str], ordered: bool = False) -> list[tuple[str, int | None]]:
    items = sorted(counts.items()) if ordered else sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [(k, n if n >= SMALLEST_CELL else None) for k, n in items]


def charts(rows: Iterable[CaseRow]) -> list[Chart]:
    rows = list(rows)
    months = Counter(r.last_seen_month or UNKNOWN for r in rows)
    names = Locale("en").territories
    nationalities = Counter(str(names.get(n, n)) for r in rows for n in (r.nationalities or (UNKNOWN,)))
    routes = Counter(r.route or UNKNOWN for r in rows)
    statuses = Counter(STATUS_WORDS.get(r.status, r.status.replace("_", " ")) for r in rows)
    return [
        Chart("month", "Cases by month of disappearance", _cells(months, ordered=True)),
        Chart("nationality", "Cases by nationality", _cells(nationalities)),
        Chart("route", "Cases by route segment", _cells(routes)),
        Chart("status", "Cases by status", _cells(statuses)),
    ]


def svg(chart: Chart) -> Markup:
    """A horizontal bar chart; suppressed cells get no bar and say so."""
    bar_h, gap, label_w, width = 22, 6, 130, 400
    largest = max((n for _, n in chart.cells if n is not None), default=1)
    height = max(1, len(chart.cells)) * (bar_h + gap) + gap
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="chart-{chart.key}-title" focusable="false">',
        f'<title id="chart-{chart.key}-title">{escape(chart.title)}</title>',
    ]
    for index, (category, count) in enumerate(chart.cells):
        y = gap + index * (bar_h + gap)
        parts.append(
            f'<text x="{label_w - 8}" y="{y + bar_h * 0.7:.0f}" text-anchor="end" font-size="13" '
            f'fill="#1b1b1b">{escape(_short(category))}</text>'
        )
        if count is None:
            parts.append(
                f'<text x="{label_w}" y="{y + bar_h * 0.7:.0f}" font-size="13" fill="#4a4a4a">'
                f"{escape(chart.shown(None))} (suppressed)</text>"
            )
            continue
        length = max(2.0, (width - label_w - 40) * count / largest)
        parts.append(f'<rect x="{label_w}" y="{y}" width="{length:.1f}" height="{bar_h}" fill="#0b4f9c"/>')
        parts.append(
            f'<text x="{label_w + length + 6:.1f}" y="{y + bar_h * 0.7:.0f}" font-size="13" '
            f'fill="#1b1b1b">{count}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _short(category: str) -> str:
    """A label that fits beside its bar at a phone's width (the table below says it whole)."""
    return category if len(category) <= 18 else category[:17] + "…"


def as_csv(found: list[Chart]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["chart", "category", "cases"])
    for chart in found:
        for category, count in chart.cells:
            writer.writerow([chart.key, category, count if count is not None else f"<{SMALLEST_CELL}"])
    return out.getvalue()


def counted(
    who: Reviewer | None, lock: NodeLock, views: ViewAccess, here: str
) -> tuple[Credential, list[Chart]] | None:
    """The charts of the cases the signed-in reviewer may count (None: not signed in)."""
    if who is None:
        return None
    credential, _purpose = who
    rules = views.rules
    jurisdiction = jurisdiction_of(rules, credential, here)
    withheld = ledger_withholding(views.ledger)
    today = datetime.now(UTC).date()
    with lock:
        rows = [
            row
            for row in views.current(jurisdiction).cases()
            if rules is None
            or (
                not rules.withholds(credential.organisation, withheld(row.case_id))
                and rules.decide_member(credential.organisation, row.origin, "public", "statistics", on=today)
            )
        ]
    return credential, charts(rows)


@router.get("/pages/statistics", response_class=HTMLResponse, include_in_schema=False)
def statistics_page(
    who: Reviewer | None = Depends(reviewer),
    lock: NodeLock = Depends(deps.node_lock),
    views: ViewAccess = Depends(deps.views),
    here: str = Depends(deps.node_jurisdiction),
) -> Response:
    found = counted(who, lock, views, here)
    if found is None:
        return RedirectResponse("/pages/login", status_code=303)
    credential, figures = found
    rules = views.rules
    return page(
        "statistics.html",
        title="Statistics",
        charts=[(c, svg(c)) for c in figures],
        total=sum(n or 0 for n in (n for _, n in figures[0].cells)) if figures else 0,
        smallest=SMALLEST_CELL,
        who=rules.organisations[credential.organisation].name
        if rules is not None and credential.organisation in rules.organisations
        else credential.organisation,
    )


@router.get("/pages/statistics.csv", include_in_schema=False)
def statistics_csv(
    who: Reviewer | None = Depends(reviewer),
    lock: NodeLock = Depends(deps.node_lock),
    views: ViewAccess = Depends(deps.views),
    here: str = Depends(deps.node_jurisdiction),
) -> Response:
    found = counted(who, lock, views, here)
    if found is None:
        return RedirectResponse("/pages/login", status_code=303)
    return Response(
        as_csv(found[1]),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="caseledger-statistics.csv"'},
    )
