"""The columnar record of JetStream: publish attempts, stored messages, consumer deliveries.

Kept beside :class:`sim.trace.Trace` (which records every core message a
JetStream publish, PubAck, delivery or ack also is) and written the same way:
plain numbers appended to columns, names interned, DataFrames built at the
edge by :mod:`sim.results`.  Volumes are per JetStream message, not per hop.

Tables (see :func:`sim.results.frames_from_trace`):

``js_publishes``  one row per publish attempt, written when the publisher
                  settles it (``JsPubOutcome``)
``js_captures``   one row per attempt a stream leader received, with what the
                  stream did with it (``JsStoreOutcome``)
``js_stored``     one row per message committed to a stream (a stream sequence)
``js_deliveries`` one row per message a consuming client received
``js_acks``       one row per ack a consumer leader processed
"""

from __future__ import annotations

from array import array
from enum import IntEnum

__all__ = ["JsPubOutcome", "JsStoreOutcome", "JsTrace"]


class JsPubOutcome(IntEnum):
    """How one publish attempt ended, as the publishing client saw it."""

    #: A PubAck with a stream sequence arrived in time.
    ACKED = 1
    #: A PubAck arrived saying the message id was seen inside the duplicate window.
    DUPLICATE = 2
    #: No PubAck within ``ack_timeout``.
    TIMEOUT = 3
    #: A 503 status: no stream leader had the subject's interest.
    NO_RESPONDERS = 4
    #: A PubAck with an error (the stream is full and discards new messages).
    ERROR = 5
    #: The publishing process was killed, or the run ended, with the attempt pending.
    UNSETTLED = 6
    #: Core mode: published, nothing comes back (at-most-once).
    SENT = 7

    @property
    def label(self) -> str:
        """The lower-case name used in DataFrames and reports."""
        return self.name.lower()


class JsStoreOutcome(IntEnum):
    """What a stream leader did with a publish it received."""

    #: Committed by the replication group and stored under a new sequence.
    STORED = 1
    #: Its ``Nats-Msg-Id`` was already stored inside the duplicate window.
    DUPLICATE = 2
    #: Refused: the stream is at a limit and discards new messages.
    STREAM_FULL = 3
    #: Proposed, never committed: the leader lost its quorum or crashed, or the
    #: server that got it was not the leader any more.
    STREAM_NO_QUORUM = 4
    #: Still waiting for its commit when the run ended.
    IN_FLIGHT_AT_END = 5

    @property
    def label(self) -> str:
        """The lower-case name used in DataFrames and reports."""
        return self.name.lower()


class JsTrace:
    """Append-only columns of the JetStream records (ids as in :class:`sim.trace.Trace`)."""

    def __init__(self) -> None:
        #: stream and consumer names, interned (stream id, consumer id)
        self.streams: list[str] = []
        self.consumers: list[str] = []
        # js_publishes
        self.pub_msg = array("q")
        self.pub_app = array("q")
        self.pub_attempt = array("q")
        self.pub_msg_id = array("b")
        self.pub_end = array("d")
        self.pub_outcome = array("b")
        self.pub_seq = array("q")
        # js_captures
        self.cap_msg = array("q")
        self.cap_stream = array("q")
        self.cap_server = array("q")
        self.cap_time = array("d")
        self.cap_outcome = array("b")
        self.cap_seq = array("q")
        # js_stored
        self.st_stream = array("q")
        self.st_seq = array("q")
        self.st_msg = array("q")
        self.st_app = array("q")
        self.st_time = array("d")
        self.st_server = array("q")
        self.st_index = array("q")
        #: 1 if the entry is still in the group's log at the end (Raft safety), else 0
        self.st_in_log = array("b")
        # js_deliveries
        self.dl_client = array("q")
        self.dl_stream = array("q")
        self.dl_consumer = array("q")
        self.dl_seq = array("q")
        self.dl_count = array("q")
        self.dl_app = array("q")
        self.dl_msg = array("q")
        self.dl_time = array("d")
        # js_acks
        self.ack_stream = array("q")
        self.ack_consumer = array("q")
        self.ack_seq = array("q")
        self.ack_time = array("d")
        self.ack_server = array("q")
        #: the next application message number (one per message an application
        #: publishes, shared by its retries)
        self.apps = 0

    def stream_id(self, name: str) -> int:
        """Intern a stream name."""
        if name not in self.streams:
            self.streams.append(name)
        return self.streams.index(name)

    def consumer_id(self, name: str) -> int:
        """Intern a consumer name (``stream/name``)."""
        if name not in self.consumers:
            self.consumers.append(name)
        return self.consumers.index(name)

    def new_app(self) -> int:
        """Number a new application message."""
        self.apps += 1
        return self.apps - 1

    def add_publish(
        self,
        msg: int,
        app: int,
        attempt: int,
        msg_id: bool,
        end: float,
        outcome: JsPubOutcome,
        seq: int,
    ) -> None:
        """Record how publish attempt ``msg`` (the core message) of message ``app`` ended."""
        self.pub_msg.append(msg)
        self.pub_app.append(app)
        self.pub_attempt.append(attempt)
        self.pub_msg_id.append(msg_id)
        self.pub_end.append(end)
        self.pub_outcome.append(outcome)
        self.pub_seq.append(seq)

    def add_capture(
        self, msg: int, stream: int, server: int, t: float, outcome: JsStoreOutcome, seq: int
    ) -> None:
        """Record what stream ``stream``'s leader on ``server`` did with publish ``msg``."""
        self.cap_msg.append(msg)
        self.cap_stream.append(stream)
        self.cap_server.append(server)
        self.cap_time.append(t)
        self.cap_outcome.append(outcome)
        self.cap_seq.append(seq)

    def add_stored(
        self, stream: int, seq: int, msg: int, app: int, t: float, server: int, index: int
    ) -> int:
        """Record that publish ``msg`` was committed to ``stream`` as ``seq`` (log ``index``).

        Returns the row, for :attr:`st_in_log` at the end of the run.
        """
        self.st_index.append(index)
        self.st_in_log.append(1)
        self.st_stream.append(stream)
        self.st_seq.append(seq)
        self.st_msg.append(msg)
        self.st_app.append(app)
        self.st_time.append(t)
        self.st_server.append(server)
        return len(self.st_seq) - 1

    def add_delivery(
        self,
        client: int,
        stream: int,
        consumer: int,
        seq: int,
        count: int,
        app: int,
        msg: int,
        t: float,
    ) -> None:
        """Record that a consuming client received message ``app`` (delivery ``count``)."""
        self.dl_client.append(client)
        self.dl_stream.append(stream)
        self.dl_consumer.append(consumer)
        self.dl_seq.append(seq)
        self.dl_count.append(count)
        self.dl_app.append(app)
        self.dl_msg.append(msg)
        self.dl_time.append(t)

    def add_ack(self, stream: int, consumer: int, seq: int, t: float, server: int) -> None:
        """Record that a consumer leader on ``server`` processed an ack of ``seq``."""
        self.ack_stream.append(stream)
        self.ack_consumer.append(consumer)
        self.ack_seq.append(seq)
        self.ack_time.append(t)
        self.ack_server.append(server)
