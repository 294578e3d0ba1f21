"""The columnar record of a run: what was published, delivered and dropped.

The model appends plain numbers to per-column arrays on the hot path (one
``append`` per column per record, no dicts, no objects); names are interned to
small integers in side tables.  :meth:`Trace.columns` hands the raw columns to
:mod:`sim.results`, which builds the pandas DataFrames once, at the edge.
"""

from __future__ import annotations

from array import array
from enum import IntEnum

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

    @property
    def label(self) -> str:
        """The lower-case name used in DataFrames and reports."""
        return self.name.lower()


class Trace:
    """Append-only columns for every record kind of a run.

    Attributes are public arrays so the hot path can bind ``append`` methods
    once.  Integer ids refer to the side tables (``servers``, ``clients``,
    ``subs``, ``workloads``, ``subjects``) filled while the network is built.
    """

    def __init__(self) -> None:
        # side tables: one entry per id, appended in id order
        self.servers: list[tuple[str, str]] = []  # (name, cluster)
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
        # messages: id is the row index
        self.msg_time = array("d")
        self.msg_client = array("q")
        self.msg_server = array("q")
        self.msg_subject = array("q")
        self.msg_size = array("q")
        self.msg_kind = array("b")
        self.msg_expected = array("q")
        self.msg_request = array("q")  # the request a reply answers, else -1
        # deliveries, the hottest record: appended to lists (twice as fast as
        # array.append) and moved into compact arrays by flush()
        self.dlv_msg: list[int] = []
        self.dlv_sub: list[int] = []
        self.dlv_time: list[float] = []
        self.dlv_via: list[int] = []  # server that forwarded it to the delivering server, -1 if local
        self.dlv_expected: list[bool] = []
        self._dlv_arrays = (array("q"), array("q"), array("d"), array("q"), array("b"))
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

    def subject_id(self, subject: str) -> int:
        """Intern a subject string and return its id."""
        sid = self._subject_ids.get(subject)
        if sid is None:
            sid = self._subject_ids[subject] = len(self.subjects)
            self.subjects.append(subject)
        return sid

    def add_server(self, name: str, cluster: str) -> int:
        """Register a server; return its id."""
        self.servers.append((name, cluster))
        return len(self.servers) - 1

    def add_workload(self, name: str, kind: str) -> int:
        """Register a workload; return its id."""
        self.workloads.append((name, kind))
        return len(self.workloads) - 1

    def add_client(self, name: str, workload: str, role: str, server: int) -> int:
        """Register a client connection; return its id."""
        self.clients.append((name, workload, role, server))
        return len(self.clients) - 1

    def add_sub(self, client: int, subject: str, queue: str | None, t: float) -> int:
        """Record a subscription made at ``t``; return its id."""
        self.sub_client.append(client)
        self.sub_subject.append(self.subject_id(subject))
        self.sub_queue.append(queue)
        self.sub_start.append(t)
        self.sub_stop.append(float("nan"))
        return len(self.sub_client) - 1

    def end_sub(self, sub_id: int, t: float) -> None:
        """Record that subscription ``sub_id`` was removed at ``t``."""
        self.sub_stop[sub_id] = t

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
        self.msg_subject.append(self.subject_id(subject))
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

    def flush(self) -> None:
        """Move the delivery lists into their arrays (bounds memory on long runs)."""
        lists = (self.dlv_msg, self.dlv_sub, self.dlv_time, self.dlv_via, self.dlv_expected)
        for arr, lst in zip(self._dlv_arrays, lists, strict=True):
            arr.extend(lst)
            lst.clear()

    def deliveries(self) -> tuple[array, array, array, array, array]:
        """Return the delivery columns (msg, sub, time, via, expected), flushed."""
        self.flush()
        return self._dlv_arrays

    @property
    def n_deliveries(self) -> int:
        """Number of deliveries recorded so far."""
        return len(self._dlv_arrays[0]) + len(self.dlv_msg)
