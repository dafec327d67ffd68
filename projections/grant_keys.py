"""What a projector does with the key grants on `ledger.keys`: keeps the data keys granted to
its node (and whom they were disclosed by), destroys them on a tombstone and purges the case
from the views. Projector (projections/projector.py) reads the grants through the one
verified reader and hands each batch here."""

from __future__ import annotations

from collections.abc import Sequence

from ledger.crypto import RecipientKey, Refused, unwrap
from ledger.keystore import KeyStore, parse_key_id
from projections.view_batch import ViewBatch
from projections.views import JurisdictionViews, tracking_at
from topics.avro import SchemaRegistry, UndecodableMessage
from topics.grants import disclosed_by, grant_context, granted
from topics.log import EventLog, LogRecord, TopicPartition
from topics.reader import LogReader
from topics.run_signatures import Checked
from topics.signing import KeyRegistry

__all__ = ["GrantKeys"]


class GrantKeys:
    """The key-grant half of a Projector (its attributes are the Projector's)."""

    jurisdiction: str
    node: str
    event_log: EventLog
    views: JurisdictionViews
    registry: SchemaRegistry
    keys: KeyRegistry
    data_keys: KeyStore
    recipient: RecipientKey | None

    def dead_letter(self, record: LogRecord, reason: str) -> None:
        raise NotImplementedError

    def apply_keys(
        self, checked: Sequence[Checked | LogRecord], positions: dict[TopicPartition, int] | None = None
    ) -> None:
        """Keep the data keys granted to this node; on a tombstone destroy the copy and purge
        the case from the views. A grant that is unsigned, forged or does not unwrap goes to
        dead-letter with its reason; nothing of it is kept. A bare record is checked alone."""
        bare = [c for c in checked if not isinstance(c, Checked)]
        alone = iter(LogReader(self.event_log, self.keys.verify, grants=True).check(bare))
        items = [c if isinstance(c, Checked) else next(alone) for c in checked]
        reached: dict[TopicPartition, int] = dict(positions or {})
        purged: list[str] = []
        received: dict[str, bytes] = {}
        disclosed: dict[str, str] = {}  # key id -> the origin that disclosed it to this node
        for item in items:
            record = item.record
            tp = TopicPartition(record.topic, record.partition)
            reached[tp] = max(reached.get(tp, 0), record.offset + 1)
            try:
                by = self.apply_key(item, purged, received)
                if by is not None:
                    disclosed[granted(item)[1]] = by
            except (ValueError, UndecodableMessage, Refused) as error:
                self.dead_letter(record, str(error))
        self.data_keys.put_many(received.items())  # one round trip for the batch
        # Kept with the key, so that a rebuild of the views opens the case as the first pass did;
        # never over what this node records of its own keys (the readers it granted them to).
        self.data_keys.record_grants(
            {
                k: disclosed_by(by)
                for k, by in disclosed.items()
                if k in received and _received_here(self.data_keys.granted_to(k))
            }
        )
        trackings = [tracking_at(tp, nxt) for tp, nxt in reached.items()]
        self.views.apply(ViewBatch(trackings=trackings, purged=purged))

    def apply_key(self, item: Checked, purged: list[str], received: dict[str, bytes]) -> str | None:
        """Keep one grant's key (or destroy it on a tombstone); the granting origin when it
        granted it to this node by an approved disclosure (#19) rather than by the agreements."""
        record = item.record
        origin, key_id = granted(item)
        aggregate_id = parse_key_id(key_id)[0]
        if record.value is None:
            received.pop(key_id, None)
            self.data_keys.destroy([key_id])
            purged.append(aggregate_id)
            return None
        grant = self.registry.decode(record.value)
        if grant.name != "KeyGrant" or grant.record["key_id"] != key_id or grant.record["origin"] != origin:
            raise ValueError("key grant: its body does not match its key and origin")
        wrapped = grant.record["grants"].get(self.node)
        if wrapped is None or self.recipient is None:
            return None  # not granted to this node
        received[key_id] = unwrap(self.recipient, wrapped, grant_context(key_id))
        if origin != self.node and self.node in grant.record.get("disclosed_to", ()):
            return origin
        return None

    def disclosed(self, case_id: str, origin: str) -> bool:
        """Whether the case's origin disclosed its common tier to this node (#19): a common-tier
        key of the case this node keeps was granted by that origin, by disclosure (another
        node's word for it counts for nothing). Asked only when the rules do not let these views
        read the tier but a key to it is held: a rare case."""
        if self.jurisdiction != self.node or origin == self.node:
            return False
        return any(
            parse_key_id(k)[1] == "common" and self.data_keys.granted_to(k) == disclosed_by(origin)
            for k in self.data_keys.live(case_id)
        )


def _received_here(recorded: frozenset[str] | None) -> bool:
    """Whether what the key store records of a key is a reader's (nothing, or a disclosure's
    basis), not an origin's record of the readers it granted its own key to."""
    return recorded is None or all(r.startswith("disclosure:") for r in recorded)
