"""The node's views as the API's routes read them (services/http/deps.py gives them): a
jurisdiction's views caught up first on a node without background relay and projector threads
(catch_up), and as a caller may read them under the access rules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ledger.access_rules import AccessRules
from ledger.application import CaseLedger
from projections.views import JurisdictionViews
from services.caller_view import CallerView, ledger_withholding
from services.http.common import Caller, seen_by

__all__ = ["ViewAccess"]


@dataclass(frozen=True)
class ViewAccess:
    """Each jurisdiction's views (of), the network's rules, and the ledger whose cases may be
    withheld from a caller's country. catch_up: bring the views up to the log before a read
    (catch: the node's own catch-up of a jurisdiction)."""

    of: Callable[[str], JurisdictionViews]
    rules: AccessRules | None
    ledger: CaseLedger
    catch: Callable[[str], Any]
    catch_up: bool

    def sync(self, jurisdiction: str) -> None:
        """Publish and project before a read, on a node that runs no background threads."""
        if self.catch_up:
            self.catch(jurisdiction)

    def current(self, jurisdiction: str) -> JurisdictionViews:
        """The jurisdiction's views, caught up."""
        self.sync(jurisdiction)
        return self.of(jurisdiction)

    def seen(self, who: Caller) -> CallerView:
        """The caller's jurisdiction's views, caught up, as the caller may read them."""
        return seen_by(who, self.current(who.jurisdiction), self.rules, self.ledger)

    def read_by(self, jurisdiction: str, organisation: str, purpose: str) -> CallerView:
        """The jurisdiction's views (not caught up) as an organisation may read them for a purpose."""
        withheld = ledger_withholding(self.ledger)
        return CallerView(self.of(jurisdiction), self.rules, organisation, purpose, withheld=withheld)
