"""What a real run records, and the results tables built from it.

The tables have the simulation's names and columns (:mod:`sim.results`), so
every analysis, summary and comparison reads both backends alike.  What a
real run cannot know is marked: ``messages.expected`` is -1 (the number of
owed deliveries is not observable from clients), ``drops`` is empty (a lost
copy leaves no trace; :mod:`sim.real.compare` finds losses by comparing
delivery sets), ``deliveries.expected`` is True.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

from sim.scenario.spec import GLOBAL_ACCOUNT

__all__ = ["Recorder"]


@dataclass
class Recorder:
    """Rows of every table, appended as the run goes (one event loop: no locks)."""

    server_cluster: dict[str, str]
    server_region: dict[str, str | None]
    messages: list[tuple] = field(default_factory=list)
    deliveries: list[tuple] = field(default_factory=list)
    requests: list[tuple] = field(default_factory=list)
    subscriptions: list[list] = field(default_factory=list)
    clients: list[tuple] = field(default_factory=list)
    events: list[tuple] = field(default_factory=list)

    def message(
        self,
        time: float,
        workload: str,
        kind: str,
        client: str,
        server: str | None,
        subject: str,
        size: int,
        request_id: int = -1,
    ) -> int:
        """Book one published message; return its id."""
        mid = len(self.messages)
        self.messages.append((mid, time, workload, kind, client, server, subject, size, request_id))
        return mid

    def subscription(
        self,
        client: str,
        workload: str,
        server: str | None,
        subject: str,
        queue: str | None,
        t: float,
    ) -> int:
        """Book one subscription; return its id."""
        sid = len(self.subscriptions)
        self.subscriptions.append([sid, client, workload, server, subject, queue, t, math.nan])
        return sid

    def unsubscribed(self, sub_id: int, t: float) -> None:
        """Mark a subscription as ended at ``t``."""
        self.subscriptions[sub_id][7] = t

    def delivery(self, msg_id: int, sub_id: int, server: str | None, t: float) -> None:
        """Book one delivery of message ``msg_id`` to subscription ``sub_id`` at ``t``."""
        self.deliveries.append((msg_id, sub_id, server, t))

    def request(
        self,
        msg_id: int,
        end: float,
        outcome: str,
        first: float,
        responder: str | None,
        replies: int,
    ) -> None:
        """Book how a request ended."""
        self.requests.append((msg_id, end, outcome, first, responder, replies))

    def event(
        self, t: float, server: str | None, kind: str, detail: str, value: float = 0.0
    ) -> None:
        """Book a fault or another event of the run."""
        self.events.append((t, server, kind, detail, value))

    # ---------------------------------------------------------------- tables
    def frames(self) -> dict[str, pd.DataFrame]:
        """Build the results tables (:data:`sim.results.TABLES`)."""
        import numpy as np
        import pandas as pd

        cluster = self.server_cluster
        servers = pd.DataFrame(
            {
                "server": list(cluster),
                "cluster": list(cluster.values()),
                "region": [self.server_region.get(s) for s in cluster],
            }
        )
        clients = pd.DataFrame(self.clients, columns=["client", "workload", "role", "server"])
        # the real backend runs without accounts: everybody is in $G, as no user
        clients["account"] = GLOBAL_ACCOUNT
        clients["user"] = None
        events = pd.DataFrame(self.events, columns=["time", "server", "kind", "detail", "value"])
        m = pd.DataFrame(
            self.messages,
            columns=[
                "msg_id", "time", "workload", "kind", "client", "server", "subject", "size",
                "request_id",
            ],
        )  # fmt: skip
        m.insert(7, "account", GLOBAL_ACCOUNT)
        m.insert(9, "expected", np.full(len(m), -1, dtype=np.int64))
        messages = m.astype({"msg_id": "int64", "size": "int64", "request_id": "int64"})
        subs = pd.DataFrame(
            self.subscriptions,
            columns=[
                "sub_id",
                "client",
                "workload",
                "server",
                "subject",
                "queue",
                "t_sub",
                "t_unsub",
            ],
        )
        subs.insert(5, "account", GLOBAL_ACCOUNT)
        subs["t_lost"] = np.nan
        subs["lost_reason"] = None
        d = pd.DataFrame(self.deliveries, columns=["msg_id", "sub_id", "server", "receive_time"])
        d = d.astype({"msg_id": "int64", "sub_id": "int64"})
        msg = messages.set_index("msg_id")
        sub = subs.set_index("sub_id")
        origin = msg.server.reindex(d.msg_id).to_numpy()
        dserver = d.server.to_numpy()
        same_cluster = np.array(
            [cluster.get(o) == cluster.get(s) for o, s in zip(origin, dserver, strict=True)],
            dtype=bool,
        )
        hops = np.where(origin == dserver, 0, np.where(same_cluster, 1, 2))
        publish_time = msg.time.reindex(d.msg_id).to_numpy(dtype=float)
        deliveries = pd.DataFrame(
            {
                "msg_id": d.msg_id.to_numpy(),
                "workload": msg.workload.reindex(d.msg_id).to_numpy(),
                "kind": msg.kind.reindex(d.msg_id).to_numpy(),
                "sub_id": d.sub_id.to_numpy(),
                "subscriber": sub.client.reindex(d.sub_id).to_numpy(),
                "queue": sub.queue.reindex(d.sub_id).to_numpy(),
                "server": dserver,
                "origin": origin,
                "hops": hops.astype(np.int64),
                "path": [o if h == 0 else f"{o}>{s}" for o, s, h in zip(origin, dserver, hops)],  # noqa: B905
                "publish_time": publish_time,
                "receive_time": d.receive_time.to_numpy(dtype=float),
                "latency": d.receive_time.to_numpy(dtype=float) - publish_time,
                "expected": np.ones(len(d), dtype=bool),
            }
        )
        drops = pd.DataFrame(
            {
                "msg_id": pd.Series([], dtype="int64"),
                "workload": pd.Series([], dtype=object),
                "time": pd.Series([], dtype=float),
                "sub_id": pd.Series([], dtype="int64"),
                "subscriber": pd.Series([], dtype=object),
                "queue": pd.Series([], dtype=object),
                "server": pd.Series([], dtype=object),
                "reason": pd.Series([], dtype=object),
            }
        )
        r = pd.DataFrame(
            self.requests,
            columns=["msg_id", "end", "outcome", "first", "responder", "replies"],
        ).astype({"msg_id": "int64", "replies": "int64"})
        req_msg = msg.reindex(r.msg_id)
        client_cluster = {
            c: cluster.get(s) for c, s in zip(clients.client, clients.server, strict=True)
        }
        replies = messages[messages.kind == "reply"]
        first_reply: dict[tuple[int, str], Any] = {}
        for rid, c, s in zip(replies.request_id, replies.client, replies.server, strict=True):
            first_reply.setdefault((int(rid), c), s)
        served = [
            cluster.get(first_reply.get((int(m_), resp))) if resp is not None else None
            for m_, resp in zip(r.msg_id, r.responder, strict=True)
        ]
        requests = pd.DataFrame(
            {
                "msg_id": r.msg_id.to_numpy(),
                "workload": req_msg.workload.to_numpy(),
                "requester": req_msg.client.to_numpy(),
                "server": req_msg.server.to_numpy(),
                "subject": req_msg.subject.to_numpy(),
                "start": req_msg.time.to_numpy(dtype=float),
                "end": r.end.to_numpy(dtype=float),
                "outcome": r.outcome.to_numpy(),
                "latency": r["first"].to_numpy(dtype=float) - req_msg.time.to_numpy(dtype=float),
                "responder": r.responder.to_numpy(),
                "replies": r.replies.to_numpy(),
                "cluster": [client_cluster.get(c) for c in req_msg.client],
                "served_cluster": served,
            }
        )
        requests = requests.sort_values("msg_id", kind="stable").reset_index(drop=True)
        deliveries = deliveries.sort_values(["receive_time", "msg_id"], kind="stable")
        return {
            "messages": messages,
            "deliveries": deliveries.reset_index(drop=True),
            "drops": drops,
            "requests": requests,
            "subscriptions": subs,
            "clients": clients,
            "servers": servers,
            "events": events,
        }
