"""The columnar record of a run: what was published, delivered and dropped.

The model appends plain numbers to per-column arrays on the hot path (one
``append`` per column per record, no dicts, no objects); names are interned to
small integers in side tables.  :meth:`Trace.columns` hands the raw columns to
:mod:`sim.results`, which builds the pandas DataFrames once, at the edge.
"""

from __future__ import annotations

from array import array
from enum import IntEnum
from typing import TYPE_CHECKING

from sim.jstrace import JsTrace

if TYPE_CHECKING:
    import numpy as np

__all__ = ["DropReason", "MsgKind", "Outcome", "Trace"]


class DropReason(IntEnum):
    """Why a message did not reach a subscriber that was interested in it."""

    #: The message matched no subscription anywhere when it reached its first server.
    NO_INTEREST = 1
    #: The subscription existed, but its SUB (or the RS+ that carries it over a
    #: route) had not reached the server that routed the message yet.
    INTEREST_NOT_YET_PROPAGATED = 2
    #: The subscription was removed while the message was in flight.
    UNSUBSCRIBED = 3
    #: A queue-group member chosen by the publishing server had left when the
    #: message arrived, and no other member could take it.
    QUEUE_MEMBER_GONE = 4
    #: The run ended with the message still in flight.
    IN_FLIGHT_AT_END = 5
    #: No longer booked (kept so that older results load): the model used to
    #: deliver a ``_GR_.``-mapped reply on the requester's server only, but
    #: nats-server routes it from there to every subscription on its subject
    #: (handleGatewayReply; docs/conformance.md).
    REPLY_ROUTED_DIRECT = 6
    #: A route or gateway connection (or a client's) was cut by a ``link_down``
    #: fault: lost in flight on it, or not sent because the connection was gone.
    LINK_DOWN = 7
    #: A server crashed: lost in flight to or inside it, or owed to one of its
    #: clients while they were cut off.
    SERVER_DOWN = 8
    #: A partition cut the path: lost when a blackholed connection was closed as
    #: stale, or owed across a partition whose connections were already closed.
    PARTITION = 9
    #: Published while the client was reconnecting, beyond its reconnect buffer.
    RECONNECT_BUFFER_FULL = 10
    #: The server closed a slow consumer (max_pending or write deadline);
    #: what was queued for it, and what it missed until it reconnected, is lost.
    SLOW_CONSUMER_SERVER = 11
    #: The client library's pending limits for the subscription were exceeded.
    SLOW_CONSUMER_CLIENT = 12
    #: The subscribing client process was killed with the message on its way.
    CLIENT_KILLED = 13
    #: The server was shutting down in lame-duck mode and closed the connection.
    LAME_DUCK = 14
    #: The publisher's permissions do not allow the subject: -ERR, message dropped
    #: (pubPermissionViolation).
    PERMISSION_DENIED = 15

    @property
    def label(self) -> str:
        """The lower-case name used in DataFrames and reports."""
        return self.name.lower()


class MsgKind(IntEnum):
    """What a published message is."""

    PUBLISH = 1
    REQUEST = 2
    REPLY = 3


class Outcome(IntEnum):
    """How a request ended, from the requester's point of view."""

    OK = 1
    TIMEOUT = 2
    NO_RESPONDERS = 3
    #: The requesting client was killed with the request pending.
    CLIENT_GONE = 4

    @property
    def label(self) -> str:
        """The lower-case name used in DataFrames and reports."""
        return self.name.lower()


class Trace:
    """Append-only columns for every record kind of a run.

    Attributes are public arrays so the hot path can bind ``append`` methods
    once.  Integer ids refer to the side tables (``servers``, ``clients``,
    ``subs``, ``workloads``, ``subjects``) filled while the network is built.

    Deliveries, the hottest record, are buffered in lists and reach their
    columns at :meth:`flush` (the runner flushes between chunks of simulated
    time); :meth:`deliveries` flushes first.
    """

    def __init__(self) -> None:
        # side tables: one entry per id, appended in id order
        self.servers: list[tuple[str, str]] = []  # (name, cluster)
        self.server_regions: list[str | None] = []
        # control-plane events (faults, gateway RTTs, mode switches): low volume
        self.ev_time: list[float] = []
        self.ev_server: list[int] = []
        self.ev_kind: list[str] = []
        self.ev_detail: list[str] = []
        self.ev_value: list[float] = []
        self.clients: list[tuple[str, str, str, int]] = []  # (name, workload, role, server)
        self.workloads: list[tuple[str, str]] = []  # (name, kind)
        self.subjects: list[str] = []
        self._subject_ids: dict[str, int] = {}
        # subscriptions: id, client, subject id, queue, t_sub, t_unsub (nan while active)
        self.sub_client = array("q")
        self.sub_subject = array("q")
        self.sub_queue: list[str | None] = []
        self.sub_start = array("d")
        self.sub_stop = array("d")
        self.sub_server = array("q")
        # a subscription whose connection died: when, and the DropReason (0 = alive)
        self.sub_lost = array("d")
        self.sub_lost_reason = array("b")
        # messages: id is the row index
        self.msg_time = array("d")
        self.msg_client = array("q")
        self.msg_server = array("q")
        self.msg_subject = array("q")
        self.msg_size = array("q")
        self.msg_kind = array("b")
        self.msg_expected = array("q")
        self.msg_request = array("q")  # the request a reply answers, else -1
        # deliveries, the hottest record, come in batches: one message handed by
        # one server to some of its subscriptions.  The hot path appends each
        # arrival time to ``dlv_time`` and, per batch, the message id to
        # ``dlv_msg``, the server that forwarded the message to the delivering
        # one to ``dlv_via`` (-1 if local) and the id of its (sub ids, expected
        # flags) to ``dlv_rec`` (see batch_id; one id serves every batch of a
        # subject on a server).  Lists of existing objects: no allocation,
        # nothing for the garbage collector to traverse.  flush() expands them
        # into numpy columns (msg, sub, time, via, expected).
        self.dlv_time: list[float] = []
        self.dlv_msg: list[int] = []
        self.dlv_via: list[int] = []
        self.dlv_rec: list[int] = []
        # the batch table: the deliveries of batch b are the rows _bt_start[b]
        # to _bt_start[b] + _bt_size[b] of _bt_sub and _bt_exp
        self._bt_ids: dict[tuple[tuple[int, ...], tuple[bool, ...]], int] = {}
        self._bt_start: list[int] = []
        self._bt_size: list[int] = []
        self._bt_sub: list[int] = []
        self._bt_exp: list[bool] = []
        self._bt_np: tuple[np.ndarray, ...] | None = None
        #: flushed deliveries: numpy columns (msg, sub, time, via, expected) per flush,
        #: joined by deliveries() (appending to one growing array copies it again and again)
        self._dlv_chunks: list[tuple[np.ndarray, ...]] = []
        self._dlv_flushed = 0
        # drops
        self.drop_msg = array("q")
        self.drop_sub = array("q")  # -1 when no subscriber (no interest at all)
        self.drop_queue: list[str | None] = []
        self.drop_server = array("q")
        self.drop_time = array("d")
        self.drop_reason = array("b")
        # requests: one row when the requester settles it
        self.req_msg = array("q")
        self.req_outcome = array("b")
        self.req_end = array("d")
        self.req_first = array("d")  # arrival of the first reply, nan if none
        self.req_responder = array("q")  # client id of the first replier, -1 if none
        self.req_replies = array("q")
        # service latency samples (sim.model.latency): few, so plain tuples
        self.latency_samples: list[tuple] = []
        # per client: account and user (None without accounts)
        self.client_account: list[str | None] = []
        self.client_user: list[str | None] = []
        #: JetStream records (publish attempts, stored messages, consumer deliveries)
        self.js = JsTrace()

    def subject_id(self, subject: str) -> int:
        """Intern a subject string and return its id."""
        sid = self._subject_ids.get(subject)
        if sid is None:
            sid = self._subject_ids[subject] = len(self.subjects)
            self.subjects.append(subject)
        return sid

    def add_event(self, t: float, server: int, kind: str, detail: str, value: float = 0.0) -> None:
        """Record a control-plane event (a fault, a gateway RTT measurement, …)."""
        self.ev_time.append(t)
        self.ev_server.append(server)
        self.ev_kind.append(kind)
        self.ev_detail.append(detail)
        self.ev_value.append(value)

    def add_server(self, name: str, cluster: str, region: str | None = None) -> int:
        """Register a server; return its id."""
        self.servers.append((name, cluster))
        self.server_regions.append(region)
        return len(self.servers) - 1

    def add_workload(self, name: str, kind: str) -> int:
        """Register a workload; return its id."""
        self.workloads.append((name, kind))
        return len(self.workloads) - 1

    def add_client(
        self,
        name: str,
        workload: str,
        role: str,
        server: int,
        account: str | None = None,
        user: str | None = None,
    ) -> int:
        """Register a client connection (of ``account``, as ``user``); return its id."""
        self.clients.append((name, workload, role, server))
        self.client_account.append(account)
        self.client_user.append(user)
        return len(self.clients) - 1

    def add_latency_sample(self, row: tuple, msg: int) -> None:
        """Record a service latency sample (see sim.model.latency) and the message carrying it."""
        self.latency_samples.append((*row, msg))

    def add_sub(
        self, client: int, subject: str, queue: str | None, t: float, server: int = -1
    ) -> int:
        """Record a subscription made at ``t`` on ``server``; return its id."""
        self.sub_client.append(client)
        self.sub_subject.append(self.subject_id(subject))
        self.sub_queue.append(queue)
        self.sub_start.append(t)
        self.sub_stop.append(float("nan"))
        self.sub_server.append(server)
        self.sub_lost.append(float("nan"))
        self.sub_lost_reason.append(0)
        return len(self.sub_client) - 1

    def end_sub(self, sub_id: int, t: float) -> None:
        """Record that subscription ``sub_id`` was removed at ``t``."""
        self.sub_stop[sub_id] = t

    def lose_sub(self, sub_id: int, t: float, reason: DropReason) -> None:
        """Record that the connection of subscription ``sub_id`` died at ``t``.

        Deliveries recorded for it that arrive after ``t`` were still on the
        wire (or in the server's outbound buffer): :meth:`apply_losses` turns
        them into drops with ``reason``.  The first loss of a subscription wins.
        """
        if self.sub_lost_reason[sub_id] == 0:
            self.sub_lost[sub_id] = t
            self.sub_lost_reason[sub_id] = reason
            if self.sub_stop[sub_id] != self.sub_stop[sub_id]:
                self.sub_stop[sub_id] = t

    def retime(self, sub_ids: set[int], t_new: float) -> None:
        """Deliveries to ``sub_ids`` held back (arrival ``inf``) arrive at ``t_new`` instead.

        A blackholed connection holds what is sent on it (TCP retransmits);
        when the path heals before the connection is closed, the held data
        arrives in one burst.
        """
        import numpy as np

        self.flush()
        ids = np.fromiter(sub_ids, np.int64, len(sub_ids))
        for _, sub, t, _, _ in self._dlv_chunks:
            held = np.isinf(t) & np.isin(sub, ids)
            t[held] = t_new

    def apply_losses(self, end: float) -> None:
        """Turn deliveries that arrive after their subscription's connection died into drops.

        Owed ones become drops with the subscription's loss reason; unowed
        ones are simply removed (they were never owed and never arrived).
        Deliveries still held on a blackholed connection at ``end`` (arrival
        ``inf``) become drops ``in_flight_at_end``.
        """
        import numpy as np

        self.flush()
        if not self._dlv_chunks:
            return
        lost_t = np.frombuffer(self.sub_lost, dtype=np.float64)
        lost_r = np.frombuffer(self.sub_lost_reason, dtype=np.int8)
        server = np.frombuffer(self.sub_server, dtype=np.int64)
        kept = []
        for msg, sub, t, via, exp in self._dlv_chunks:
            held = np.isinf(t)
            cut = (t > lost_t[sub]) | held  # NaN (alive) compares False
            if cut.any():
                owed = cut & (exp != 0)
                for m, s, h in zip(msg[owed], sub[owed], held[owed], strict=True):
                    lost = float(lost_t[s])
                    if h and not lost <= end:
                        reason, at = DropReason.IN_FLIGHT_AT_END, end
                    else:
                        reason, at = DropReason(int(lost_r[s])), lost
                    self.add_drop(int(m), int(s), None, int(server[s]), at, reason)
                keep = ~cut
                kept.append((msg[keep], sub[keep], t[keep], via[keep], exp[keep]))
                self._dlv_flushed -= int(cut.sum())
            else:
                kept.append((msg, sub, t, via, exp))
        self._dlv_chunks[:] = kept

    def add_msg(
        self,
        t: float,
        client: int,
        server: int,
        subject: str,
        size: int,
        kind: MsgKind,
        expected: int,
        request: int = -1,
    ) -> int:
        """Record a message published at ``t``; return its id."""
        self.msg_time.append(t)
        self.msg_client.append(client)
        self.msg_server.append(server)
        sid = self._subject_ids.get(subject)
        self.msg_subject.append(self.subject_id(subject) if sid is None else sid)
        self.msg_size.append(size)
        self.msg_kind.append(kind)
        self.msg_expected.append(expected)
        self.msg_request.append(request)
        return len(self.msg_time) - 1

    def add_drop(
        self,
        msg: int,
        sub: int,
        queue: str | None,
        server: int,
        t: float,
        reason: DropReason,
    ) -> None:
        """Record that message ``msg`` did not reach subscription ``sub`` (or queue group)."""
        self.drop_msg.append(msg)
        self.drop_sub.append(sub)
        self.drop_queue.append(queue)
        self.drop_server.append(server)
        self.drop_time.append(t)
        self.drop_reason.append(reason)

    def add_request(
        self,
        msg: int,
        outcome: Outcome,
        t_end: float,
        t_first: float,
        responder: int,
        replies: int,
    ) -> None:
        """Record how the request published as message ``msg`` ended."""
        self.req_msg.append(msg)
        self.req_outcome.append(outcome)
        self.req_end.append(t_end)
        self.req_first.append(t_first)
        self.req_responder.append(responder)
        self.req_replies.append(replies)

    def batch_id(self, subs: tuple[int, ...], expected: tuple[bool, ...]) -> int:
        """Return the id of a delivery batch: to these subscriptions, these flagged as owed."""
        key = (subs, expected)
        bid = self._bt_ids.get(key)
        if bid is None:
            bid = self._bt_ids[key] = len(self._bt_start)
            self._bt_start.append(len(self._bt_sub))
            self._bt_size.append(len(subs))
            self._bt_sub.extend(subs)
            self._bt_exp.extend(expected)
            self._bt_np = None
        return bid

    def add_delivery(self, msg: int, sub: int, t: float, via: int, expected: bool) -> None:
        """Record one delivery (the hot path records whole batches itself)."""
        self.dlv_time.append(t)
        self.dlv_msg.append(msg)
        self.dlv_via.append(via)
        self.dlv_rec.append(self.batch_id((sub,), (expected,)))

    def flush(self) -> None:
        """Move the recorded deliveries into numpy columns (bounds memory on long runs)."""
        if not self.dlv_msg:
            return
        import numpy as np

        if self._bt_np is None:
            self._bt_np = (
                np.array(self._bt_start, dtype=np.int64),
                np.array(self._bt_size, dtype=np.int64),
                np.array(self._bt_sub, dtype=np.int64),
                np.array(self._bt_exp, dtype=np.int8),
            )
        bt_start, bt_size, bt_sub, bt_exp = self._bt_np
        # numpy all the way (array.extend would parse every item with
        # PyArg_Parse), each list emptied as soon as it is read
        nb, n = len(self.dlv_rec), len(self.dlv_time)
        recs = np.fromiter(self.dlv_rec, np.int64, nb)
        self.dlv_rec.clear()
        sizes = bt_size[recs]
        if len(self.dlv_msg) != nb or len(self.dlv_via) != nb or int(sizes.sum()) != n:
            raise AssertionError("delivery columns out of step")
        # table rows of every delivery: its batch's start, plus its rank in the batch
        first = np.cumsum(sizes) - sizes
        rows = np.repeat(bt_start[recs] - first, sizes) + np.arange(n)
        t = np.fromiter(self.dlv_time, np.float64, n)
        self.dlv_time.clear()
        msg = np.repeat(np.fromiter(self.dlv_msg, np.int64, nb), sizes)
        self.dlv_msg.clear()
        via = np.repeat(np.fromiter(self.dlv_via, np.int64, nb), sizes)
        self.dlv_via.clear()
        self._dlv_chunks.append((msg, bt_sub[rows], t, via, bt_exp[rows]))
        self._dlv_flushed += n

    def owed_deliveries(self, n: int) -> np.ndarray:
        """Return, for each message id below ``n``, how many of its deliveries were owed.

        Counted chunk by chunk: the books need no joined columns (see deliveries).
        """
        import numpy as np

        self.flush()
        owed = [msg[expected != 0] for msg, _, _, _, expected in self._dlv_chunks]
        return np.bincount(np.concatenate(owed) if owed else np.zeros(0, np.int64), minlength=n)

    def deliveries(self) -> tuple[np.ndarray, ...]:
        """Return the delivery columns (msg, sub, time, via, expected) as numpy arrays, flushed.

        Types: int64, int64, float64, int64, int8.
        """
        import numpy as np

        self.flush()
        chunks = self._dlv_chunks
        if len(chunks) != 1:
            if chunks:
                cols = tuple(np.concatenate(c) for c in zip(*chunks, strict=True))
            else:
                types = (np.int64, np.int64, np.float64, np.int64, np.int8)
                cols = tuple(np.zeros(0, dtype=d) for d in types)
            chunks[:] = [cols]
        return chunks[0]

    @property
    def n_deliveries(self) -> int:
        """Number of deliveries recorded so far."""
        return self._dlv_flushed + len(self.dlv_time)
