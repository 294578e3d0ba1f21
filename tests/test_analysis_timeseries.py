"""sim.analysis.timeseries on small hand-built result tables with hand-computed answers."""

from __future__ import annotations

import math
import types
from typing import Any

import pandas as pd
import pytest

from sim.analysis.timeseries import (
    delivery_over_time,
    latency_by_path,
    latency_histogram,
    latency_over_time,
    path_kind,
    queue_distribution,
    request_outcomes_over_time,
    route_mesh,
    server_counters,
    subscriber_table,
)

NAN = math.nan

COLS = {
    "messages": ["msg_id", "time", "workload", "kind", "client", "server", "expected"],
    "deliveries": [
        "msg_id", "workload", "kind", "sub_id", "subscriber", "queue", "server", "origin",
        "hops", "publish_time", "receive_time", "latency", "expected",
    ],
    "drops": ["msg_id", "workload", "time", "sub_id", "subscriber", "queue", "server", "reason"],
    "requests": ["msg_id", "workload", "start", "end", "outcome", "latency"],
    "subscriptions": ["sub_id", "client", "server", "queue", "t_sub", "t_unsub", "t_lost"],
    "servers": ["server", "cluster", "region"],
    "events": ["time", "server", "kind", "detail", "value"],
}  # fmt: skip

SERVERS = [("a1", "A", "us-east"), ("a2", "A", "us-east"), ("b1", "B", "us-west")]


def result(meta: dict[str, Any] | None = None, **rows: Any) -> types.SimpleNamespace:
    frames = {n: pd.DataFrame(rows.get(n, []), columns=c) for n, c in COLS.items()}
    if "servers" not in rows:
        frames["servers"] = pd.DataFrame(SERVERS, columns=COLS["servers"])
    return types.SimpleNamespace(**frames, meta=meta or {})


def dlv(mid, sub, who, t0, t1, server="a1", origin="a1", hops=0, queue=None, expected=True,
        kind="publish", wl="w"):  # fmt: skip
    return (mid, wl, kind, sub, who, queue, server, origin, hops, t0, t1, t1 - t0, expected)


def drop(mid, t, reason, sub=-1, who=None, queue=None, wl="w"):
    return (mid, wl, t, sub, who, queue, "a1", reason)


def test_delivery_over_time_bins_owed_copies_and_losses():
    r = result(
        messages=[(m, 0.25 * m, "w", "publish", "p", "a1", 1) for m in range(8)],
        deliveries=[
            dlv(0, 0, "s", 0.0, 0.5),
            dlv(0, 0, "s", 0.0, 0.75),  # duplicate copy: not counted twice
            dlv(1, 1, "s", 0.25, 2.5),
            dlv(2, 2, "s", 0.5, 0.75, expected=False),  # extra: not owed
        ],
        drops=[
            drop(3, 0.5, "partition", sub=0, who="s"),
            drop(4, 2.25, "server_down", sub=0, who="s"),
            drop(5, 2.75, "partition", sub=0, who="s"),
            drop(6, 1.0, "no_interest"),  # owes nothing
        ],
    )
    out = delivery_over_time(r, bin=1.0)
    # bins 0, 1, 2: delivered 1 (t 0.5), 0, 1 (t 2.5); partition at 0.5 and 2.75; server_down 2.25
    assert list(out.index) == [0.0, 1.0, 2.0]
    assert list(out.columns) == ["delivered", "partition", "server_down"]
    assert out.to_numpy().tolist() == [[1, 1, 0], [0, 0, 0], [1, 1, 1]]
    # by publish time: message 1 (0.25) delivered in bin 0; drops of 3 (0.75), 4 (1.0), 5 (1.25)
    pub = delivery_over_time(r, bin=1.0, clock="publish")
    assert pub.to_numpy().tolist() == [[2, 1, 0], [0, 1, 1]]
    with pytest.raises(ValueError):
        delivery_over_time(r, bin=0)


def test_latency_over_time_quantiles_per_bin_and_requests():
    r = result(
        deliveries=[
            dlv(0, 0, "s", 0.0, 0.001),
            dlv(1, 0, "s", 0.5, 0.503),
            dlv(2, 0, "s", 1.5, 1.502),
            dlv(3, 0, "s", 1.5, 1.6, kind="reply"),  # replies left out
        ],
        requests=[(9, "w", 0.5, 0.6, "ok", 0.25), (10, "w", 0.75, 1.75, "timeout", NAN)],
    )
    out = latency_over_time(r, bin=1.0, q=(0.5,))
    assert out.time.tolist() == [0.0, 1.0]
    assert out.p50.tolist() == pytest.approx([0.002, 0.002])
    assert out["count"].tolist() == [2, 1]
    req = latency_over_time(r, bin=1.0, source="requests")
    assert (
        req.time.tolist() == [0.0] and req.p99.tolist() == [0.25] and req["count"].tolist() == [1]
    )


def test_path_kind_and_latency_by_path():
    r = result(
        deliveries=[
            dlv(0, 0, "s", 0.0, 0.001, "a1", "a1", 0),
            dlv(1, 0, "s", 0.0, 0.002, "a2", "a1", 1),
            dlv(2, 0, "s", 0.0, 0.004, "a2", "a1", 2),
            dlv(3, 0, "s", 0.0, 0.030, "b1", "a1", 1),  # crossed a gateway
            dlv(4, 0, "s", 0.0, 0.010, "a2", "a1", 1),
        ]
    )
    assert path_kind(r).tolist() == ["local", "route", "fallback", "gateway", "route"]
    out = latency_by_path(r, q=(0.5,))
    assert list(out.index) == [("w", p) for p in ("local", "route", "fallback", "gateway")]
    assert out.loc[("w", "route"), "p50"] == pytest.approx(0.006)
    assert out.loc[("w", "route"), "count"] == 2
    hist = latency_histogram(r, bins=[0.0, 0.003, 0.1], log=False)
    assert hist.index.tolist() == [0.0, 0.003] and hist.hi.tolist() == [0.003, 0.1]
    assert hist[["local", "route", "fallback", "gateway"]].to_numpy().tolist() == [
        [1, 1, 0, 0],
        [0, 1, 1, 1],
    ]
    assert list(latency_histogram(r, bins=4).columns) == [
        "hi",
        "local",
        "route",
        "fallback",
        "gateway",
    ]
    assert latency_histogram(r, bins=4)[["local", "route", "fallback", "gateway"]].sum().sum() == 5


def test_request_outcomes_over_time():
    r = result(
        requests=[
            (0, "w", 0.1, 0.2, "ok", 0.1),
            (1, "w", 0.2, 1.2, "timeout", NAN),
            (2, "w", 2.5, 2.5, "no_responders", NAN),
            (3, "v", 2.6, 3.0, "client_gone", NAN),
        ]
    )
    out = request_outcomes_over_time(r, bin=1.0)
    assert list(out.columns) == ["ok", "timeout", "no_responders", "client_gone"]
    assert out.to_numpy().tolist() == [[1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 1, 1]]
    w = request_outcomes_over_time(r, bin=1.0, workload="w")
    assert list(w.columns) == ["ok", "timeout", "no_responders"] and w.to_numpy().sum() == 3


def test_queue_distribution_levels():
    r = result(
        deliveries=[
            dlv(0, 1, "m1", 0, 1, server="a1", queue="q"),
            dlv(1, 1, "m1", 0, 1, server="a1", queue="q"),
            dlv(2, 2, "m2", 0, 1, server="a2", queue="q"),
            dlv(3, 3, "m3", 0, 1, server="b1", queue="q"),
            dlv(4, 0, "s", 0, 1, server="a1"),  # not a queue delivery
        ]
    )
    members = queue_distribution(r)
    assert members.subscriber.tolist() == ["m1", "m2", "m3"]
    assert members.messages.tolist() == [2, 1, 1]
    assert members.share.tolist() == [0.5, 0.25, 0.25]
    clusters = queue_distribution(r, "cluster")
    assert clusters[["cluster", "messages"]].to_numpy().tolist() == [["A", 3], ["B", 1]]
    assert queue_distribution(r, "server").server.tolist() == ["a1", "a2", "b1"]
    with pytest.raises(ValueError):
        queue_distribution(r, "region")


def test_server_counters_like_varz():
    r = result(
        meta={"sim_end": 2.0},
        messages=[(0, 0.5, "w", "publish", "p", "a1", 1), (1, 1.5, "w", "publish", "p", "a1", 1)],
        deliveries=[dlv(0, 0, "s", 0.5, 0.6, server="b1"), dlv(1, 1, "s", 1.5, 1.7, server="b1")],
        subscriptions=[
            (0, "s", "b1", None, 0.0, NAN, NAN),
            (1, "t", "a2", None, 0.0, NAN, 0.8),  # lost at 0.8
        ],
        events=[(1.2, "b1", "slow_consumer", "s", 1.0)],
    )
    out = server_counters(r, bin=1.0).set_index(["time", "server"])
    assert len(out) == 6  # 2 bins × 3 servers
    assert out.loc[(0.0, "a1"), "in_msgs"] == 1 and out.loc[(1.0, "a1"), "in_msgs"] == 1
    assert out.loc[(0.0, "b1"), "out_msgs"] == 1
    assert out.loc[(0.0, "b1"), "subscriptions"] == 1 and out.loc[(0.0, "a2"), "subscriptions"] == 0
    assert out.loc[(1.0, "b1"), "slow_consumers"] == 1
    cum = server_counters(r, bin=1.0, cumulative=True).set_index(["time", "server"])
    assert cum.loc[(1.0, "a1"), "in_msgs"] == 2 and cum.loc[(1.0, "b1"), "out_msgs"] == 2


def test_subscriber_table():
    r = result(
        messages=[(m, 0.0, "w", "publish", "p", "a1", 2) for m in range(3)],
        deliveries=[
            dlv(0, 0, "s", 0, 1),
            dlv(0, 0, "s", 0, 1.5),  # duplicate
            dlv(1, 0, "s", 0, 1),
            dlv(0, 1, "m", 0, 1, queue="q"),
        ],
        drops=[drop(2, 1.0, "partition", sub=0, who="s"), drop(1, 1.0, "server_down", queue="q")],
    )
    out = subscriber_table(r)
    s = out.loc[("w", "s")]
    assert (s.owed, s.delivered, s.lost, s.lost_partition, s["duplicated"]) == (3, 2, 1, 1, 1)
    assert s.delivery_ratio == pytest.approx(2 / 3)
    q = out.loc[("w", "queue q")]
    assert (q.owed, q.delivered, q.lost, q.lost_server_down) == (1, 0, 1, 1)
    assert out.loc[("w", "m")].delivery_ratio == 1.0


def test_route_mesh_counts_live_routes_of_running_servers():
    servers = [("x1", "X", None), ("x2", "X", None), ("x3", "X", None), ("x4", "X", None)]
    r = result(
        servers=servers,
        events=[
            (1.0, "x1", "route_down", "x2", 7.0),  # one end is enough
            (1.5, "x2", "route_down", "x1", 7.0),
            (2.0, "x1", "route_up", "x2", 0.0),
            (2.1, "x2", "route_up", "x1", 0.0),  # both ends up again
            (3.0, "x4", "server_up", "join", 0.0),  # joined: not running before
            (3.1, "x4", "route_up", "x1", 0.0),
            (3.1, "x1", "route_up", "x4", 0.0),
        ],
    )
    out = route_mesh(r)
    assert out.iloc[0].to_dict() == {
        "time": 0.0, "cluster": "X", "servers": 3, "routes": 3, "full": 3, "complete": 1.0,
    }  # fmt: skip
    assert out.routes.tolist() == [3, 2, 2, 2, 3, 3, 3, 4]
    assert out.full.tolist() == [3, 3, 3, 3, 3, 6, 6, 6]
    assert out.complete.iloc[-1] == pytest.approx(4 / 6)
