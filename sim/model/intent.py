"""What every client *means* to be subscribed to: the yardstick for accounting.

Servers learn interest late — a SUB crosses the client connection, then an
RS+ crosses each route — and the simulator models that race.  To say what a
message *should* have reached, this ledger holds every client subscription
from the moment the client sends SUB until it sends UNSUB, with no delay.
When a message reaches its first server, :meth:`InterestLedger.expect` tells
which subscriptions (and queue groups) were interested at that instant; each
of them must end in exactly one delivery or one drop with a reason.
"""

from __future__ import annotations

from sim.model.message import Sub
from sim.subjects import SubjectTrie

__all__ = ["Expect", "InterestLedger", "allowed"]


def allowed(
    plain: tuple[Sub, ...], queues: dict[str, tuple[Sub, ...]], subject: str
) -> tuple[tuple[Sub, ...], dict[str, tuple[Sub, ...]]]:
    """The subscriptions of a match that may receive ``subject``: deny filters applied.

    A subscription whose client's permissions deny the subject (``Sub.deny``)
    is skipped, as nats-server ``deliverMsg`` skips it after ``checkDenySub``;
    a queue group keeps its other members.  The common case (no filter)
    returns the match unchanged.
    """
    if not any(s.deny is not None for s in plain) and not any(
        s.deny is not None for members in queues.values() for s in members
    ):
        return plain, dict(queues)
    kept = tuple(s for s in plain if s.deny is None or not s.deny(subject))
    groups = {}
    for q, members in queues.items():
        ok = tuple(s for s in members if s.deny is None or not s.deny(subject))
        if ok:
            groups[q] = ok
    return kept, groups


class Expect:
    """The subscriptions a message should reach, grouped for cheap checks.

    Attributes
    ----------
    by_server : dict[int, tuple[tuple[Sub, ...], frozenset[Sub]]]
        Plain subscriptions by the server their client is connected to: an
        ordered tuple (for deterministic drop records) and a set (for
        membership tests on the hot path).
    queues : dict[str, tuple[Sub, ...]]
        Queue groups with at least one member: each must get one copy.
    total : int
        Plain subscriptions plus queue groups: the deliveries owed.
    plans : dict[int, object]
        A cache for the servers: what server ``idx`` does with a message on
        this subject for its own clients (see ``Server.local_plan``).  It
        lives here because it depends on the Expect, and dies with it.
    """

    __slots__ = ("by_server", "filtering", "plans", "queues", "total")

    def __init__(
        self,
        plain: tuple[Sub, ...],
        queues: dict[str, tuple[Sub, ...]],
        filtering: bool = False,
    ) -> None:
        grouped: dict[int, list[Sub]] = {}
        for s in plain:
            grouped.setdefault(s.server, []).append(s)
        self.by_server = {k: (tuple(v), frozenset(v)) for k, v in grouped.items()}
        self.queues = queues
        self.total = len(plain) + len(queues)
        self.plans: dict[int, object] = {}
        #: some subscription filters what it gets (``Sub.deny``): plans must apply them
        self.filtering = filtering


class InterestLedger:
    """All client subscriptions as the clients intend them, matched without delay."""

    def __init__(self) -> None:
        self._trie = SubjectTrie()
        self._cache: dict[str, Expect] = {}
        self._gen = self._trie.genid
        #: True once a subscription with a deny filter was made (until then no
        #: match needs filtering: scenarios without permissions never pay for it)
        self.filtering = False

    def add(self, sub: Sub) -> None:
        """Record that a client has just sent SUB."""
        self._trie.insert(sub.subject, sub, sub.queue)
        if sub.deny is not None:
            self.filtering = True

    def remove(self, sub: Sub) -> None:
        """Record that a client has just sent UNSUB (or lost its connection)."""
        self._trie.remove(sub.subject, sub, sub.queue)

    def expect(self, subject: str) -> Expect:
        """Return what a message published on ``subject`` right now is owed."""
        if self._gen != self._trie.genid:
            self._cache.clear()
            self._gen = self._trie.genid
        e = self._cache.get(subject)
        if e is None:
            r = self._trie.match(subject)
            if self.filtering:
                plain, queues = allowed(r.plain, r.queues, subject)
                e = Expect(plain, queues, True)
            else:
                e = Expect(r.plain, dict(r.queues))
            self._cache[subject] = e
        return e
