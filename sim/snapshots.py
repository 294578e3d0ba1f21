"""The columnar record of monitoring snapshots: each server's counters, sampled.

:class:`sim.model.monitor.Monitor` appends one row per server per sample
(what nats-server's /varz shows, plus the /routez and /gatewayz totals that
matter for capacity planning) and one row per route or gateway connection
per sample (its round-trip time).  Plain numbers in per-column arrays, as in
:mod:`sim.trace`; :func:`sim.results.snapshot_frames` builds the DataFrames.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

__all__ = ["COUNTERS", "GAUGES", "LINK_KINDS", "SERVER_COLUMNS", "Snapshots"]

#: Point-in-time values of a server (/varz, /routez, /gatewayz, /connz).
GAUGES = (
    "up",
    "connections",
    "total_connections",
    "subscriptions",
    "route_subscriptions",
    "slow_consumers",
    "routes",
    "remotes",
    "gateways",
    "gateways_in",
    "pending_bytes",
)

#: Messages and payload bytes in and out since the run started, by connection kind.
COUNTERS = tuple(
    f"{way}_{kind}_{unit}"
    for way in ("in", "out")
    for kind in ("client", "route", "gateway")
    for unit in ("msgs", "bytes")
)

#: Every integer column of a server row, in order.
SERVER_COLUMNS = GAUGES + COUNTERS

#: What a link row measures: a route, or an outbound gateway connection.
LINK_KINDS = ("route", "gateway")


class Snapshots:
    """Append-only columns of server rows and link rows.

    Attributes
    ----------
    time, server : array
        When each server row was sampled, and the server's id in the trace.
    values : dict[str, array]
        One integer column per name in :data:`SERVER_COLUMNS`.
    link_time, link_server, link_kind, link_remote, link_rtt : array
        One row per connection per sample: the sampling server, the kind
        (an index into :data:`LINK_KINDS`), the server at the other end and
        the round-trip time in seconds (NaN while none was measured).
    """

    def __init__(self) -> None:
        self.time = array("d")
        self.server = array("q")
        self.values: dict[str, array] = {name: array("q") for name in SERVER_COLUMNS}
        self.link_time = array("d")
        self.link_server = array("q")
        self.link_kind = array("b")
        self.link_remote = array("q")
        self.link_rtt = array("d")

    def __len__(self) -> int:
        return len(self.time)

    def add_server(self, t: float, server: int, values: Sequence[int]) -> None:
        """Record server ``server``'s values at ``t``, in :data:`SERVER_COLUMNS` order."""
        self.time.append(t)
        self.server.append(server)
        for column, v in zip(self.values.values(), values, strict=True):
            column.append(v)

    def add_link(self, t: float, server: int, kind: str, remote: int, rtt: float) -> None:
        """Record the RTT ``server`` sees on its ``kind`` connection to ``remote`` at ``t``."""
        self.link_time.append(t)
        self.link_server.append(server)
        self.link_kind.append(LINK_KINDS.index(kind))
        self.link_remote.append(remote)
        self.link_rtt.append(rtt)
