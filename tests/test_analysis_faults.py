"""Guarantee and fault analysis on small hand-built result tables with hand-computed answers.

No simulation runs here: a stand-in object carries the DataFrames a
:class:`~sim.results.Result` has (same column names and dtypes), and every
expected number is worked out in the comments.
"""

from __future__ import annotations

import math
import types
from typing import Any

import pandas as pd
import pytest

from sim.analysis import (
    convergence,
    delivery_table,
    duplicates,
    fault_timeline,
    format_summary,
    guarantee_table,
    loss_by_fault,
    ordering_violations,
    reconnect_storm,
    reconnect_storm_pivot,
    reconnect_times,
    request_outcomes,
    split_losses,
    summary,
)
from sim.results import TABLES

NAN = math.nan

COLUMNS: dict[str, dict[str, Any]] = {
    "messages": {
        "msg_id": "int64",
        "time": "float64",
        "workload": object,
        "kind": object,
        "client": object,
        "expected": "int64",
    },
    "deliveries": {
        "msg_id": "int64",
        "workload": object,
        "kind": object,
        "sub_id": "int64",
        "subscriber": object,
        "queue": object,
        "hops": "int64",
        "publish_time": "float64",
        "receive_time": "float64",
        "latency": "float64",
        "expected": bool,
    },
    "drops": {
        "msg_id": "int64",
        "workload": object,
        "time": "float64",
        "sub_id": "int64",
        "subscriber": object,
        "queue": object,
        "server": object,
        "reason": object,
    },
    "requests": {
        "msg_id": "int64",
        "workload": object,
        "cluster": object,
        "start": "float64",
        "end": "float64",
        "outcome": object,
        "latency": "float64",
        "responder": object,
        "replies": "int64",
    },
    "subscriptions": {
        "sub_id": "int64",
        "client": object,
        "workload": object,
        "server": object,
        "t_sub": "float64",
        "t_lost": "float64",
        "lost_reason": object,
    },
    "clients": {"client": object, "workload": object, "role": object, "server": object},
    "servers": {"server": object, "cluster": object, "region": object},
    "events": {
        "time": "float64",
        "server": object,
        "kind": object,
        "detail": object,
        "value": "float64",
    },
}


def table(name: str, rows: list[tuple] | list[dict] = ()) -> pd.DataFrame:
    """A ``name`` table from tuples (in COLUMNS order) or dicts, with the result dtypes."""
    cols = COLUMNS.get(name, {})
    return pd.DataFrame(list(rows), columns=list(cols)).astype(cols)


def result(meta: dict[str, Any] | None = None, **tables: Any) -> types.SimpleNamespace:
    """A stand-in Result; tables given as row lists are built with :func:`table`."""
    frames = {}
    for name in TABLES:
        t = tables.get(name, [])
        frames[name] = t if isinstance(t, pd.DataFrame) else table(name, t)
    meta = {"scenario": "hand", "seed": 1, **(meta or {})}
    return types.SimpleNamespace(**frames, frames=frames, meta=meta)


def msg(mid: int, workload: str, client: str, t: float, expected: int, kind: str = "publish"):
    return (mid, t, workload, kind, client, expected)


def dlv(mid, workload, sub, subscriber, sent, received, expected=True, queue=None, kind="publish"):
    return (
        mid,
        workload,
        kind,
        sub,
        subscriber,
        queue,
        0,
        sent,
        received,
        received - sent,
        expected,
    )


def drop(mid, workload, reason, sub=-1, subscriber=None, queue=None, t=0.0):
    return (mid, workload, t, sub, subscriber, queue, "east-1", reason)


def req(mid, workload, outcome, start=0.0, end=1.0, latency=NAN):
    return (mid, workload, "east", start, end, outcome, latency, None, int(outcome == "ok"))


def ev(t, kind, detail, value=NAN, server=None):
    return (t, server, kind, detail, value)


def rows(df: pd.DataFrame) -> dict[Any, dict[str, Any]]:
    return {k: row.to_dict() for k, row in df.iterrows()}


def same(actual: dict[str, Any], expected: dict[str, Any]) -> bool:
    """Dict equality that treats NaN as equal to NaN."""
    if actual.keys() != expected.keys():
        return False
    for k, e in expected.items():
        a = actual[k]
        if isinstance(e, float) and math.isnan(e):
            if not (isinstance(a, float) and math.isnan(a)):
                return False
        elif a != e:
            return False
    return True


# ---------------------------------------------------------------------------
# The guarantee fixture
# ---------------------------------------------------------------------------
#
# Workload "ticks", publisher p1, one subscriber client s1 whose subscription was
# sub 0 on east-1 and, after a reconnect, sub 3 on east-2.
#   m0 owed 1: delivered on sub 0 at 1.0, and again on sub 3 at 1.75 (a duplicate
#              across the reconnect: same client, another sub id)
#   m1 owed 1: delivered on sub 0 at 3.0 (late)
#   m2 owed 1: delivered on sub 3 at 2.0 -> before m1 on the same client: out of order
#              (per subscription nothing is out of order: sub 0 got m0, m1 in order;
#              sub 3 got m0 at 1.75, m2 at 2.0)
#   m3 owed 0: lost in the reconnect buffer before reaching a server (unowed)
#   m4 owed 1: lost, link_down, on sub 0
#   m5 owed 0: no interest (not a loss)
#   -> published 6, owed 4 (3 delivered + 1 lost), lost_unowed 1, duplicated 1,
#      out_of_order 1, ratio 0.75
# Workload "jobs", publisher p2, queue group g (members q1 sub 4, q2 sub 5).
#   m6 owed 1 (the group's copy): lost, server_down (sub -1, queue g)
#   m7 owed 2: delivered to q1; lost to q2, client_killed
#   -> published 2, owed 3, delivered 1, lost 2
# Workload "svc", requester c1: 4 requests m8..m11, one per outcome, nothing owed
# (no responders subscribed in this hand-made run).
MESSAGES = [
    msg(0, "ticks", "p1", 0.0, 1),
    msg(1, "ticks", "p1", 0.25, 1),
    msg(2, "ticks", "p1", 0.5, 1),
    msg(3, "ticks", "p1", 0.75, 0),
    msg(4, "ticks", "p1", 1.0, 1),
    msg(5, "ticks", "p1", 1.25, 0),
    msg(6, "jobs", "p2", 0.0, 1),
    msg(7, "jobs", "p2", 0.5, 2),
    *(msg(8 + i, "svc", "c1", float(i), 0, kind="request") for i in range(4)),
]
DELIVERIES = [
    dlv(0, "ticks", 0, "s1", 0.0, 1.0),
    dlv(1, "ticks", 0, "s1", 0.25, 3.0),
    dlv(2, "ticks", 3, "s1", 0.5, 2.0),
    dlv(0, "ticks", 3, "s1", 0.0, 1.75, expected=False),
    dlv(7, "jobs", 4, "q1", 0.5, 0.75, queue="g"),
]
DROPS = [
    drop(3, "ticks", "reconnect_buffer_full", t=0.75),
    drop(4, "ticks", "link_down", sub=0, subscriber="s1", t=1.25),
    drop(5, "ticks", "no_interest", t=1.25),
    drop(6, "jobs", "server_down", queue="g", t=0.125),
    drop(7, "jobs", "client_killed", sub=5, subscriber="q2", queue="g", t=0.625),
]
REQUESTS = [
    req(8, "svc", "ok", latency=0.5),
    req(9, "svc", "timeout"),
    req(10, "svc", "client_gone"),
    req(11, "svc", "no_responders"),
]
CLIENTS = [
    ("p1", "ticks", "publisher", "east-1"),
    ("s1", "ticks", "subscriber", "east-1"),
    ("p2", "jobs", "publisher", "east-1"),
    ("q1", "jobs", "subscriber", "east-1"),
    ("q2", "jobs", "subscriber", "east-2"),
    ("c1", "svc", "requester", "east-1"),
]


def guarantee_result(**more: Any) -> types.SimpleNamespace:
    return result(
        messages=MESSAGES,
        deliveries=DELIVERIES,
        drops=DROPS,
        requests=REQUESTS,
        clients=CLIENTS,
        **more,
    )


def test_guarantee_table_counts_per_workload():
    g = guarantee_table(guarantee_result())
    assert list(g.index) == ["ticks", "jobs", "svc"]
    assert g.index.name == "workload"
    assert list(g.columns) == [
        "published",
        "owed",
        "delivered",
        "lost",
        "lost_client_killed",
        "lost_link_down",
        "lost_server_down",
        "lost_unowed",
        "duplicated",
        "out_of_order",
        "delivery_ratio",
        "requests",
        "ok",
        "timeout",
        "no_responders",
        "client_gone",
    ]
    r = rows(g)
    assert r["ticks"] == {
        "published": 6,
        "owed": 4,
        "delivered": 3,
        "lost": 1,
        "lost_client_killed": 0,
        "lost_link_down": 1,
        "lost_server_down": 0,
        "lost_unowed": 1,
        "duplicated": 1,
        "out_of_order": 1,
        "delivery_ratio": 0.75,
        "requests": 0,
        "ok": 0,
        "timeout": 0,
        "no_responders": 0,
        "client_gone": 0,
    }
    assert r["jobs"]["owed"] == 3
    assert r["jobs"]["delivered"] == 1
    assert r["jobs"]["lost"] == 2
    assert r["jobs"]["lost_server_down"] == 1
    assert r["jobs"]["lost_client_killed"] == 1
    assert r["jobs"]["delivery_ratio"] == pytest.approx(1 / 3)
    assert same(
        {k: r["svc"][k] for k in ("published", "owed", "delivery_ratio", "requests")},
        {"published": 4, "owed": 0, "delivery_ratio": NAN, "requests": 4},
    )
    assert {k: r["svc"][k] for k in ("ok", "timeout", "no_responders", "client_gone")} == {
        "ok": 1,
        "timeout": 1,
        "no_responders": 1,
        "client_gone": 1,
    }
    for col in g.columns.drop("delivery_ratio"):
        assert g[col].dtype == "int64"


def test_guarantee_table_without_requests_or_losses():
    """A clean pub/sub run: no lost_<reason> and no request columns; everything zero."""
    res = result(messages=MESSAGES[:1], deliveries=DELIVERIES[:1], clients=CLIENTS[:2])
    g = guarantee_table(res)
    assert list(g.columns) == [
        "published",
        "owed",
        "delivered",
        "lost",
        "lost_unowed",
        "duplicated",
        "out_of_order",
        "delivery_ratio",
    ]
    assert rows(g) == {
        "ticks": {
            "published": 1,
            "owed": 1,
            "delivered": 1,
            "lost": 0,
            "lost_unowed": 0,
            "duplicated": 0,
            "out_of_order": 0,
            "delivery_ratio": 1.0,
        }
    }


def test_guarantee_table_empty_result():
    g = guarantee_table(result())
    assert g.empty and g.index.name == "workload"


def test_duplicates_and_ordering_per_client_across_a_reconnect():
    """Per subscription the reconnect hides the duplicate and the inversion; per client not."""
    res = guarantee_result()
    assert duplicates(res) == 0
    assert duplicates(res, per="client") == 1
    assert ordering_violations(res) == 0
    assert ordering_violations(res, per="client") == 1


def test_ordering_per_client_ignores_later_copies():
    """A duplicate arriving after later messages is a duplicate, not a reordering."""
    res = result(
        messages=[msg(0, "w", "p", 0.0, 1), msg(1, "w", "p", 0.5, 1)],
        deliveries=[
            dlv(0, "w", 0, "s", 0.0, 1.0),
            dlv(1, "w", 1, "s", 0.5, 2.0),
            dlv(0, "w", 1, "s", 0.0, 3.0, expected=False),
        ],
    )
    assert ordering_violations(res, per="client") == 0
    assert duplicates(res, per="client") == 1


def test_split_losses_by_expected_and_by_shape():
    """Unowed: the message's expected is 0, or (unlisted message) no sub and no queue."""
    lost, unowed = split_losses(guarantee_result())
    assert sorted(lost.msg_id) == [4, 6, 7]
    assert list(unowed.msg_id) == [3]
    # without a messages table the shape decides
    lost, unowed = split_losses(result(drops=DROPS))
    assert sorted(lost.msg_id) == [4, 6, 7]
    assert list(unowed.msg_id) == [3]


def test_delivery_table_leaves_unowed_losses_out():
    out = delivery_table(guarantee_result())
    assert out.loc["ticks", "lost"] == 1
    assert out.loc["ticks", "owed"] == 4


def test_request_outcomes_client_gone_counts_as_a_request():
    out = request_outcomes(guarantee_result())
    assert out.loc["svc", "client_gone"] == 1
    assert out.loc["svc", "requests"] == 4
    assert out.loc["svc", "success_ratio"] == 0.25


# ---------------------------------------------------------------------------
# The fault fixture
# ---------------------------------------------------------------------------
#
# Faults (run ends at 10.0):
#   #0 crash east-1       1.0 .. 4.0
#   #1 partition          3.0 .. 5.0
#   #2 kill_clients       6.0 .. (no fault_end: to the end of the run, 10.0)
FAULT_EVENTS = [
    ev(1.0, "fault_start", "crash: server east-1", 0),
    ev(1.0, "server_down", "crash", server="east-1"),
    ev(3.0, "fault_start", "partition: east-1 | east-2,east-3", 1),
    ev(4.0, "fault_end", "crash: server east-1", 0),
    ev(4.0, "server_up", "restart", server="east-1"),
    ev(5.0, "fault_end", "partition: east-1 | east-2,east-3", 1),
    ev(6.0, "fault_start", "kill_clients: 2 clients of ticks", 2),
]
# Losses (workload w; every message owed 1 unless said otherwise):
#   t 2.0 server_down  -> only #0's window
#   t 3.5 partition    -> #0 [1,4] and #1 [3,5]: latest is #1
#   t 4.5 link_down    -> #1
#   t 5.5 link_down    -> no window (settle 0); #1 with settle 1 ([3,6])
#   t 7.0 client_killed -> #2 (open to the end, 10)
#   t 3.25 reconnect_buffer_full, message owed 0 -> unowed, #1 (latest)
#   t 2.5 no_interest  -> never a loss
FAULT_DROPS = [
    drop(0, "w", "server_down", sub=0, subscriber="s", t=2.0),
    drop(1, "w", "partition", sub=0, subscriber="s", t=3.5),
    drop(2, "w", "link_down", sub=0, subscriber="s", t=4.5),
    drop(3, "w", "link_down", sub=0, subscriber="s", t=5.5),
    drop(4, "w", "client_killed", sub=0, subscriber="s", t=7.0),
    drop(5, "w", "reconnect_buffer_full", t=3.25),
    drop(6, "w", "no_interest", t=2.5),
]
FAULT_MESSAGES = [msg(i, "w", "p", 0.0, 0 if i in (5, 6) else 1) for i in range(7)]


def fault_result(events=FAULT_EVENTS, **more: Any) -> types.SimpleNamespace:
    return result(
        meta={"sim_end": 10.0},
        events=events,
        drops=FAULT_DROPS,
        messages=FAULT_MESSAGES,
        **more,
    )


def test_fault_timeline_rows_and_open_fault():
    t = fault_timeline(fault_result())
    assert list(t.columns) == ["number", "action", "detail", "start", "end", "open"]
    assert t.to_dict("records") == [
        {
            "number": 0,
            "action": "crash",
            "detail": "server east-1",
            "start": 1.0,
            "end": 4.0,
            "open": False,
        },
        {
            "number": 1,
            "action": "partition",
            "detail": "east-1 | east-2,east-3",
            "start": 3.0,
            "end": 5.0,
            "open": False,
        },
        {
            "number": 2,
            "action": "kill_clients",
            "detail": "2 clients of ticks",
            "start": 6.0,
            "end": 10.0,
            "open": True,
        },
    ]


def test_fault_timeline_unknown_end_and_no_faults():
    """Without meta sim_end an open fault ends at inf; no fault events give an empty table."""
    res = result(events=FAULT_EVENTS)
    assert fault_timeline(res).end.tolist() == [4.0, 5.0, math.inf]
    empty = fault_timeline(result())
    assert empty.empty
    assert list(empty.columns) == ["number", "action", "detail", "start", "end", "open"]


def test_loss_by_fault_latest_attribution():
    out = loss_by_fault(fault_result())
    assert out.index.name == "number"
    assert list(out.columns) == [
        "action",
        "detail",
        "start",
        "end",
        "lost",
        "lost_client_killed",
        "lost_link_down",
        "lost_partition",
        "lost_server_down",
        "lost_unowed",
    ]
    counts = out[[c for c in out.columns if c.startswith("lost")]]
    assert rows(counts) == {
        0: {
            "lost": 1,
            "lost_client_killed": 0,
            "lost_link_down": 0,
            "lost_partition": 0,
            "lost_server_down": 1,
            "lost_unowed": 0,
        },
        1: {
            "lost": 2,
            "lost_client_killed": 0,
            "lost_link_down": 1,
            "lost_partition": 1,
            "lost_server_down": 0,
            "lost_unowed": 1,
        },
        2: {
            "lost": 1,
            "lost_client_killed": 1,
            "lost_link_down": 0,
            "lost_partition": 0,
            "lost_server_down": 0,
            "lost_unowed": 0,
        },
    }


def test_loss_by_fault_settle_and_all_attribution():
    settled = loss_by_fault(fault_result(), settle=1.0)
    # #1's window [3, 6] now takes the link_down at 5.5; 4.5 is in #0 [1,5] and #1: #1
    assert settled.lost.tolist() == [1, 3, 1]
    assert settled.lost_link_down.tolist() == [0, 2, 0]
    every = loss_by_fault(fault_result(), attribute="all")
    # #0 [1,4]: 2.0, 3.5 (+ unowed 3.25); #1 [3,5]: 3.5, 4.5 (+ unowed); #2: 7.0
    assert every.lost.tolist() == [2, 2, 1]
    assert every.lost_unowed.tolist() == [1, 1, 0]
    with pytest.raises(ValueError, match="attribute"):
        loss_by_fault(fault_result(), attribute="first")


def test_loss_by_fault_no_faults():
    out = loss_by_fault(result(drops=FAULT_DROPS))
    assert out.empty
    assert "lost" in out.columns and "lost_unowed" in out.columns


# Reconnects (events deliberately not in time order in the table):
#   a: down at 2.0 on east-1 (server_down, 8), back at 2.5 on east-2 -> gap 0.5;
#      down again at 7.0 (link_down, 7), never back
#   b: down at 2.0 on east-1, back at 2.25 on east-3 -> gap 0.25
#   c: down at 3.5 on east-1 (partition, 9), gave up at 6.0
#   d: reconnected at 3.25 on east-2 after 1.0 s with no disconnect event
RECONNECTS = [
    ev(2.0, "client_disconnected", "a", 8, server="east-1"),
    ev(2.0, "client_disconnected", "b", 8, server="east-1"),
    ev(2.5, "client_reconnected", "a", 0.5, server="east-2"),
    ev(3.5, "client_disconnected", "c", 9, server="east-1"),
    ev(2.25, "client_reconnected", "b", 0.25, server="east-3"),
    ev(6.0, "client_gave_up", "c"),
    ev(7.0, "client_disconnected", "a", 7, server="east-2"),
    ev(3.25, "client_reconnected", "d", 1.0, server="east-2"),
]


def test_reconnect_times_pairs_and_unmatched():
    out = reconnect_times(result(events=RECONNECTS))
    assert list(out.columns) == [
        "client",
        "cause",
        "from_server",
        "to_server",
        "disconnected_at",
        "reconnected_at",
        "gap",
        "gave_up",
    ]
    got = {(r["client"], r["disconnected_at"]): r for r in out.to_dict("records")}
    assert same(
        got[("a", 2.0)],
        {
            "client": "a",
            "cause": "server_down",
            "from_server": "east-1",
            "to_server": "east-2",
            "disconnected_at": 2.0,
            "reconnected_at": 2.5,
            "gap": 0.5,
            "gave_up": False,
        },
    )
    assert got[("b", 2.0)]["to_server"] == "east-3"
    assert got[("b", 2.0)]["gap"] == 0.25
    assert same(
        got[("c", 3.5)],
        {
            "client": "c",
            "cause": "partition",
            "from_server": "east-1",
            "to_server": None,
            "disconnected_at": 3.5,
            "reconnected_at": NAN,
            "gap": NAN,
            "gave_up": True,
        },
    )
    assert same(
        got[("a", 7.0)],
        {
            "client": "a",
            "cause": "link_down",
            "from_server": "east-2",
            "to_server": None,
            "disconnected_at": 7.0,
            "reconnected_at": NAN,
            "gap": NAN,
            "gave_up": False,
        },
    )
    d = got[("d", 2.25)]
    assert d["from_server"] is None and d["to_server"] == "east-2" and d["gap"] == 1.0
    assert len(out) == 5


def test_reconnect_times_empty():
    out = reconnect_times(result())
    assert out.empty and "gap" in out.columns


def test_reconnect_storm_tidy_and_pivot():
    res = result(events=RECONNECTS)
    storm = reconnect_storm(res)
    assert storm.to_dict("records") == [
        {"time": 2.0, "server": "east-2", "clients": 1},
        {"time": 2.0, "server": "east-3", "clients": 1},
        {"time": 3.0, "server": "east-2", "clients": 1},
    ]
    # bins of 0.5 s: b at 2.25 -> 2.0, a at 2.5 -> 2.5, d at 3.25 -> 3.0
    grid = reconnect_storm_pivot(res, bin=0.5)
    assert grid.index.tolist() == [2.0, 2.5, 3.0]
    assert grid.to_dict("list") == {"east-2": [0, 1, 1], "east-3": [1, 0, 0]}
    # bins of 0.25 s fill the empty bin 2.75 with zeros
    grid = reconnect_storm_pivot(res, bin=0.25)
    assert grid.index.tolist() == [2.25, 2.5, 2.75, 3.0, 3.25]
    assert grid["east-2"].tolist() == [0, 1, 0, 0, 1]


def test_reconnect_storm_counts_landings_and_empty():
    twice = [
        ev(1.0, "client_reconnected", "a", 0.1, server="x"),
        ev(1.5, "client_reconnected", "a", 0.1, server="x"),
    ]
    assert reconnect_storm(result(events=twice)).clients.tolist() == [2]
    empty = reconnect_storm(result())
    assert empty.empty and list(empty.columns) == ["time", "server", "clients"]
    assert reconnect_storm_pivot(result()).empty
    with pytest.raises(ValueError, match="bin"):
        reconnect_storm(result(), bin=0)


# Convergence: east incomplete at 1.0 (repeat at 1.5 ignored), converged at 3.0 -> 2.0 s;
# west incomplete at 3.0, never converged; central converged at 9.0 after 0.5 s with no
# mesh_incomplete recorded -> start 8.5.
MESH = [
    ev(1.0, "mesh_incomplete", "east"),
    ev(1.5, "mesh_incomplete", "east"),
    ev(3.0, "converged", "east", 2.0),
    ev(3.0, "mesh_incomplete", "west"),
    ev(9.0, "converged", "central", 0.5),
    ev(9.5, "mesh_incomplete", "east"),
    ev(9.75, "converged", "east", 0.25),
]


def test_convergence_periods():
    out = convergence(result(events=MESH))
    assert list(out.columns) == ["cluster", "start", "end", "seconds"]
    recs = out.to_dict("records")
    assert len(recs) == 4
    assert recs[0] == {"cluster": "east", "start": 1.0, "end": 3.0, "seconds": 2.0}
    assert same(recs[1], {"cluster": "west", "start": 3.0, "end": NAN, "seconds": NAN})
    assert recs[2] == {"cluster": "central", "start": 8.5, "end": 9.0, "seconds": 0.5}
    assert recs[3] == {"cluster": "east", "start": 9.5, "end": 9.75, "seconds": 0.25}
    assert convergence(result()).empty


# ---------------------------------------------------------------------------
# summary / format_summary
# ---------------------------------------------------------------------------


def test_summary_has_guarantee_columns():
    s = summary(guarantee_result())
    t = s.loc["ticks"]
    assert [t[c] for c in ("lost", "unowed", "duplicated", "out_of_order")] == [1, 1, 1, 1]
    assert s.loc["svc", "req_client_gone"] == 1
    assert s.loc["svc", "req_requests"] == 4


def test_format_summary_guarantees_and_faults():
    events = [*FAULT_EVENTS, *RECONNECTS, *MESH]
    events.sort(key=lambda e: e[0])
    res = fault_result(events=events, clients=[("p", "w", "publisher", "east-1")])
    text = format_summary(res)
    assert "\nguarantees\n" in text
    assert "\nfaults" in text
    assert "#0 crash server east-1  1s to 4s  lost 1 (server_down 1)" in text
    assert "#1 partition east-1 | east-2,east-3  3s to 5s  lost 2" in text
    assert "unowed 1" in text
    assert "#2 kill_clients 2 clients of ticks  6s to end of run  lost 1" in text
    assert "4 clients disconnected 5 times; 3 reconnections" in text
    assert "gap median 0.500 s, max 1.000 s, busiest server east-2 (2)" in text
    assert "2 never reconnected (1 gave up)" in text
    assert "east at 1s: 2.000 s" in text and "west at 3s: not converged" in text


def test_format_summary_without_faults_has_no_fault_lines():
    text = format_summary(guarantee_result())
    assert "guarantees" in text
    assert "faults" not in text and "reconnects" not in text
    assert "client_gone 1" in text
