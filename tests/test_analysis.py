"""Analysis functions on small hand-built result tables with hand-computed answers.

Every table here is built by hand (no simulation run): a stand-in object carries
the DataFrames a :class:`~sim.results.Result` has, with the same column names
and dtypes, and every expected number below is worked out in the comments.
Times are chosen as binary fractions so that latencies are exact floats.
"""

from __future__ import annotations

import math
import types
from typing import Any

import pandas as pd
import pytest

from sim.analysis.failover import failover_summary, fault_windows, served_by, served_share
from sim.analysis.metrics import (
    delivery_table,
    duplicates,
    latency_quantiles,
    loss_by_reason,
    ordering_violations,
    request_outcomes,
)
from sim.results import TABLES

INF = math.inf
NAN = math.nan

# Column names and dtypes of each table, as sim.results.frames_from_trace builds them
# (only the columns the analysis functions read, plus a few for realism).
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
    "subscriptions": {"sub_id": "int64", "client": object, "workload": object},
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


def result(**tables: pd.DataFrame) -> types.SimpleNamespace:
    """A stand-in Result: every table as an attribute and in ``frames``, plus ``meta``."""
    frames = {name: tables.get(name, table(name)) for name in TABLES}
    return types.SimpleNamespace(**frames, frames=frames, meta={"scenario": "hand", "seed": 1})


def dlv(
    msg: int,
    workload: str,
    sub: int,
    subscriber: str,
    sent: float,
    received: float,
    expected: bool = True,
    kind: str = "publish",
    hops: int = 0,
    queue: str | None = None,
) -> dict[str, Any]:
    """One deliveries row; latency = received - sent."""
    return {
        "msg_id": msg,
        "workload": workload,
        "kind": kind,
        "sub_id": sub,
        "subscriber": subscriber,
        "queue": queue,
        "hops": hops,
        "publish_time": sent,
        "receive_time": received,
        "latency": received - sent,
        "expected": expected,
    }


def drop(
    msg: int,
    workload: str,
    reason: str,
    sub: int = -1,
    subscriber: str | None = None,
    queue: str | None = None,
    t: float = 0.0,
) -> dict[str, Any]:
    """One drops row (sub -1 / subscriber None for a queue group or no interest)."""
    return {
        "msg_id": msg,
        "workload": workload,
        "time": t,
        "sub_id": sub,
        "subscriber": subscriber,
        "queue": queue,
        "server": "c-1",
        "reason": reason,
    }


def req(
    msg: int,
    workload: str,
    start: float,
    end: float,
    outcome: str,
    latency: float = NAN,
    responder: str | None = None,
    replies: int | None = None,
) -> dict[str, Any]:
    """One requests row; the requester's cluster is always ``east``."""
    if replies is None:
        replies = 1 if outcome == "ok" else 0
    return {
        "msg_id": msg,
        "workload": workload,
        "cluster": "east",
        "start": start,
        "end": end,
        "outcome": outcome,
        "latency": latency,
        "responder": responder,
        "replies": replies,
    }


def by_key(df: pd.DataFrame) -> dict[Any, dict[str, Any]]:
    """Rows of ``df`` keyed by index value, with missing index labels turned into None."""

    def clean(k: Any) -> Any:
        if isinstance(k, tuple):
            return tuple(None if pd.isna(v) else v for v in k)
        return None if pd.isna(k) else k

    return {clean(k): row.to_dict() for k, row in df.iterrows()}


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
# delivery_table / loss_by_reason
# ---------------------------------------------------------------------------
#
# Workload "ticks", publisher p1.  Subscriptions: s1 (sub 0), s2 (sub 1), s3
# (sub 2, made after m1 was routed), queue group g with member q1 (sub 3).
#   m0: owed s1, s2, g      -> s1, s2 and q1 receive it
#   m1: owed s1, s2, g      -> s1 receives; s2 unsubscribed; g's member gone;
#                              s3 receives an extra (not owed) copy
#   m2: no interest at all  -> one no_interest drop row, nothing owed
# Workload "logs", publisher p2, subscription s4 (sub 5).
#   m3: owed s4 -> delivered;  m4: owed s4 -> still in flight at the end
DELIVERIES = [
    dlv(0, "ticks", 0, "s1", 0.0, 0.5),
    dlv(0, "ticks", 1, "s2", 0.0, 1.0),
    dlv(0, "ticks", 3, "q1", 0.0, 0.25, queue="g"),
    dlv(1, "ticks", 0, "s1", 1.0, 1.5),
    dlv(1, "ticks", 2, "s3", 1.0, 2.0, expected=False),
    dlv(3, "logs", 5, "s4", 3.0, 3.25),
]
DROPS = [
    drop(1, "ticks", "unsubscribed", sub=1, subscriber="s2", t=1.25),
    drop(1, "ticks", "queue_member_gone", queue="g", t=1.25),
    drop(2, "ticks", "no_interest", t=2.0),
    drop(4, "logs", "in_flight_at_end", sub=5, subscriber="s4", t=9.0),
]


def pubsub_result() -> types.SimpleNamespace:
    return result(deliveries=table("deliveries", DELIVERIES), drops=table("drops", DROPS))


def test_delivery_table_by_workload_counts_owed_delivered_extra_lost():
    """Owed = delivered owed copies + lost copies; extras and no-interest messages are not owed."""
    out = delivery_table(pubsub_result())
    assert list(out.columns) == ["owed", "delivered", "extra", "lost", "delivery_ratio"]
    assert out.index.name == "workload"
    # ticks: delivered m0→s1,s2,q1 + m1→s1 = 4; extra m1→s3 = 1;
    # lost m1 s2 (unsubscribed) + m1 g (queue_member_gone) = 2; m2 (no_interest) not owed
    assert by_key(out) == {
        "ticks": {"owed": 6, "delivered": 4, "extra": 1, "lost": 2, "delivery_ratio": 4 / 6},
        "logs": {"owed": 2, "delivered": 1, "extra": 0, "lost": 1, "delivery_ratio": 0.5},
    }
    for col in ("owed", "delivered", "extra", "lost"):
        assert out[col].dtype == "int64"


def test_delivery_table_by_subscriber_splits_per_subscriber():
    """by="subscriber" groups by (workload, subscriber); a lost queue-group copy has none."""
    out = delivery_table(pubsub_result(), by="subscriber")
    assert list(out.index.names) == ["workload", "subscriber"]
    rows = by_key(out)
    assert set(rows) == {
        ("ticks", "s1"),
        ("ticks", "s2"),
        ("ticks", "s3"),
        ("ticks", "q1"),
        ("ticks", None),
        ("logs", "s4"),
    }
    assert rows[("ticks", "s1")] == {
        "owed": 2,
        "delivered": 2,
        "extra": 0,
        "lost": 0,
        "delivery_ratio": 1.0,
    }
    assert rows[("ticks", "s2")] == {
        "owed": 2,
        "delivered": 1,
        "extra": 0,
        "lost": 1,
        "delivery_ratio": 0.5,
    }
    assert rows[("ticks", "q1")] == {
        "owed": 1,
        "delivered": 1,
        "extra": 0,
        "lost": 0,
        "delivery_ratio": 1.0,
    }
    # the queue group's lost copy of m1 (no member named)
    assert rows[("ticks", None)] == {
        "owed": 1,
        "delivered": 0,
        "extra": 0,
        "lost": 1,
        "delivery_ratio": 0.0,
    }
    assert rows[("logs", "s4")] == {
        "owed": 2,
        "delivered": 1,
        "extra": 0,
        "lost": 1,
        "delivery_ratio": 0.5,
    }


def test_delivery_table_only_extra_copies_have_no_ratio():
    """A subscriber that was owed nothing but got an extra copy has owed 0 and a NaN ratio."""
    rows = by_key(delivery_table(pubsub_result(), by="subscriber"))
    assert same(
        rows[("ticks", "s3")],
        {"owed": 0, "delivered": 0, "extra": 1, "lost": 0, "delivery_ratio": NAN},
    )


def test_delivery_table_by_column_list():
    """``by`` may be any column list both tables share, e.g. (workload, queue)."""
    out = delivery_table(pubsub_result(), by=["workload", "queue"])
    rows = by_key(out)
    # queue g: m0 delivered to q1, m1 lost (queue_member_gone) -> owed 2
    assert rows[("ticks", "g")] == {
        "owed": 2,
        "delivered": 1,
        "extra": 0,
        "lost": 1,
        "delivery_ratio": 0.5,
    }
    # plain subscriptions of ticks: delivered s1,s2,s1 = 3, extra s3, lost s2 -> owed 4
    assert rows[("ticks", None)] == {
        "owed": 4,
        "delivered": 3,
        "extra": 1,
        "lost": 1,
        "delivery_ratio": 0.75,
    }


def test_delivery_table_message_with_no_interest_owes_nothing():
    """A workload whose only message found no interest does not appear in the delivery table."""
    res = result(drops=table("drops", [drop(0, "lonely", "no_interest")]))
    out = delivery_table(res)
    assert out.empty
    assert list(out.columns) == ["owed", "delivered", "extra", "lost", "delivery_ratio"]


def test_delivery_table_empty_tables():
    """No deliveries and no drops give an empty table with the documented columns."""
    out = delivery_table(result())
    assert out.empty
    assert list(out.columns) == ["owed", "delivered", "extra", "lost", "delivery_ratio"]
    assert out.index.name == "workload"
    by_sub = delivery_table(result(), by="subscriber")
    assert by_sub.empty
    assert list(by_sub.index.names) == ["workload", "subscriber"]


def test_delivery_table_duplicate_delivery_is_one_owed_copy():
    """A duplicated delivery of one owed copy still counts as one owed, one delivered copy."""
    res = result(
        deliveries=table(
            "deliveries",
            [dlv(0, "w", 0, "s1", 0.0, 1.0), dlv(0, "w", 0, "s1", 0.0, 2.0)],
        )
    )
    row = by_key(delivery_table(res))["w"]
    assert row["owed"] == 1
    assert row["delivered"] == 1
    assert row["delivery_ratio"] == 1.0


def test_loss_by_reason_counts_every_drop_including_no_interest():
    """Lost copies per workload and reason, no_interest included, missing pairs 0."""
    out = loss_by_reason(pubsub_result())
    assert out.index.name == "workload"
    assert set(out.columns) == {
        "unsubscribed",
        "queue_member_gone",
        "no_interest",
        "in_flight_at_end",
    }
    assert by_key(out[sorted(out.columns)]) == {
        "ticks": {
            "in_flight_at_end": 0,
            "no_interest": 1,
            "queue_member_gone": 1,
            "unsubscribed": 1,
        },
        "logs": {
            "in_flight_at_end": 1,
            "no_interest": 0,
            "queue_member_gone": 0,
            "unsubscribed": 0,
        },
    }


def test_loss_by_reason_empty_drops():
    """No drops give an empty table indexed by workload with no reason columns."""
    out = loss_by_reason(result())
    assert out.empty
    assert out.index.name == "workload"
    assert list(out.columns) == []


# ---------------------------------------------------------------------------
# latency_quantiles
# ---------------------------------------------------------------------------
#
# Workload "a": latencies 1, 2 (local, hops 0) and 3, 4 (routed, hops 1), plus a
# reply of workload "a" with latency 100 that must be left out.
# Workload "b": one delivery, latency 0.5.
# Linear interpolation over the sorted values [1, 2, 3, 4] (positions 0..3):
#   p50 at 1.5 -> 2.5;  p90 at 2.7 -> 3.7;  p99 at 2.97 -> 3.97
LATENCIES = [
    dlv(0, "a", 0, "s1", 0.0, 1.0, hops=0),
    dlv(1, "a", 0, "s1", 0.0, 2.0, hops=0),
    dlv(2, "a", 1, "s2", 0.0, 3.0, hops=1),
    dlv(3, "a", 1, "s2", 0.0, 4.0, hops=1),
    dlv(4, "a", 2, "inbox", 0.0, 100.0, kind="reply", hops=1),
    dlv(5, "b", 3, "s3", 1.0, 1.5),
]


def test_latency_quantiles_by_workload_leaves_out_replies():
    """Quantiles of publish→receive latency per workload, replies excluded, with a count."""
    out = latency_quantiles(result(deliveries=table("deliveries", LATENCIES)))
    assert list(out.columns) == ["p50", "p90", "p99", "count"]
    assert out.loc["a", "p50"] == pytest.approx(2.5, abs=1e-12)
    assert out.loc["a", "p90"] == pytest.approx(3.7, abs=1e-12)
    assert out.loc["a", "p99"] == pytest.approx(3.97, abs=1e-12)
    assert out.loc["a", "count"] == 4
    assert out.loc["b"].to_dict() == {"p50": 0.5, "p90": 0.5, "p99": 0.5, "count": 1}


def test_latency_quantiles_by_workload_and_hops():
    """Grouping by (workload, hops) separates local from routed deliveries."""
    res = result(deliveries=table("deliveries", LATENCIES))
    out = latency_quantiles(res, by=["workload", "hops"], q=(0.5,))
    assert list(out.columns) == ["p50", "count"]
    assert by_key(out) == {
        ("a", 0): {"p50": 1.5, "count": 2},
        ("a", 1): {"p50": 3.5, "count": 2},
        ("b", 0): {"p50": 0.5, "count": 1},
    }


def test_latency_quantiles_custom_quantile_names():
    """Column names are p<100·q>: q=(0.25, 1.0) gives p25 and p100."""
    out = latency_quantiles(result(deliveries=table("deliveries", LATENCIES)), q=(0.25, 1.0))
    assert list(out.columns) == ["p25", "p100", "count"]
    # [1, 2, 3, 4]: 0.25 at position 0.75 -> 1.75; max 4
    assert out.loc["a", "p25"] == 1.75
    assert out.loc["a", "p100"] == 4.0


def test_latency_quantiles_empty_deliveries():
    """No deliveries give an empty table with the quantile and count columns."""
    out = latency_quantiles(result())
    assert out.empty
    assert list(out.columns) == ["p50", "p90", "p99", "count"]


def test_latency_quantiles_only_replies_is_empty():
    """A workload whose only deliveries are replies has no latency row."""
    res = result(deliveries=table("deliveries", [LATENCIES[4]]))
    assert latency_quantiles(res).empty


# ---------------------------------------------------------------------------
# request_outcomes
# ---------------------------------------------------------------------------
#
# "w": two ok (latency 0.5 with 1 reply, 0.25 with 3 replies), one timeout.
# "v": one no_responders.
REQUESTS = [
    req(0, "w", 1.0, 1.5, "ok", 0.5, "rE", 1),
    req(1, "w", 2.0, 2.25, "ok", 0.25, "rW", 3),
    req(2, "w", 3.0, 4.0, "timeout"),
    req(3, "v", 1.0, 1.125, "no_responders"),
]


def test_request_outcomes_counts_ratio_latency_and_replies():
    """Outcome counts, success = ok / requests, reply latency of ok requests, mean replies."""
    out = request_outcomes(result(requests=table("requests", REQUESTS)))
    assert out.index.name == "workload"
    w = out.loc["w"].to_dict()
    assert {k: w[k] for k in ("ok", "timeout", "no_responders", "requests")} == {
        "ok": 2,
        "timeout": 1,
        "no_responders": 0,
        "requests": 3,
    }
    assert w["success_ratio"] == 2 / 3
    # ok latencies [0.25, 0.5]: p50 = 0.375, p99 = 0.25 + 0.99 * 0.25 = 0.4975
    assert w["p50"] == 0.375
    assert w["p99"] == pytest.approx(0.4975, abs=1e-12)
    # (1 + 3 + 0) / 3 over every request, the timeout included
    assert w["mean_replies"] == 4 / 3


def test_request_outcomes_never_answered_workload():
    """A workload with no ok request has success 0 and no reply latency."""
    out = request_outcomes(result(requests=table("requests", REQUESTS)))
    v = out.loc["v"].to_dict()
    assert same(
        v,
        {
            "no_responders": 1,
            "ok": 0,
            "timeout": 0,
            "requests": 1,
            "success_ratio": 0.0,
            "p50": NAN,
            "p99": NAN,
            "mean_replies": 0.0,
        },
    )


def test_request_outcomes_adds_missing_outcome_columns():
    """Outcome columns that never occurred are present and zero."""
    out = request_outcomes(result(requests=table("requests", REQUESTS[:2])))
    assert out.loc["w", "timeout"] == 0
    assert out.loc["w", "no_responders"] == 0
    assert out.loc["w", "requests"] == 2
    assert out.loc["w", "success_ratio"] == 1.0


def test_request_outcomes_empty_requests():
    """No requests give an empty table indexed by workload."""
    out = request_outcomes(result())
    assert out.empty
    assert out.index.name == "workload"


# ---------------------------------------------------------------------------
# duplicates
# ---------------------------------------------------------------------------


def test_duplicates_counts_copies_beyond_the_first():
    """Each delivery of a (message, subscription) pair after the first is one duplicate."""
    rows = [
        dlv(0, "w", 0, "s0", 0.0, 1.0),
        dlv(0, "w", 0, "s0", 0.0, 2.0),  # duplicate 1
        dlv(0, "w", 0, "s0", 0.0, 3.0),  # duplicate 2
        dlv(0, "w", 1, "s1", 0.0, 1.0),  # same message, other subscription
        dlv(1, "w", 0, "s0", 1.0, 2.0),  # other message, same subscription
        dlv(1, "w", 1, "s1", 1.0, 2.0, expected=False),  # extra copy, not a duplicate
    ]
    assert duplicates(result(deliveries=table("deliveries", rows))) == 2


def test_duplicates_none_and_empty():
    """Distinct deliveries, and no deliveries at all, have zero duplicates."""
    assert duplicates(result(deliveries=table("deliveries", DELIVERIES))) == 0
    assert duplicates(result()) == 0


# ---------------------------------------------------------------------------
# ordering_violations
# ---------------------------------------------------------------------------
#
# Publisher P publishes m0, m1, m2 (in that order); publisher Q publishes m3.
#   sub 0 receives m0@1, m1@3, m2@2 -> m2 arrives before m1: 1 violation
#   sub 1 receives m0@5, m1@1, m2@2 -> m1 and m2 arrive before m0: 2 violations
#   sub 2 receives m0@1, m1@1, m2@4 -> equal times are not a violation: 0
#   sub 0 also receives Q's m3@0.5, before all of P's: other publisher, 0
MESSAGES = [
    {"msg_id": 0, "time": 0.0, "workload": "w", "kind": "publish", "client": "P", "expected": 3},
    {"msg_id": 1, "time": 0.25, "workload": "w", "kind": "publish", "client": "P", "expected": 3},
    {"msg_id": 2, "time": 0.5, "workload": "w", "kind": "publish", "client": "P", "expected": 3},
    {"msg_id": 3, "time": 0.0, "workload": "w", "kind": "publish", "client": "Q", "expected": 1},
]
ORDERED = [
    dlv(0, "w", 0, "s0", 0.0, 1.0),
    dlv(1, "w", 0, "s0", 0.25, 3.0),
    dlv(2, "w", 0, "s0", 0.5, 2.0),
    dlv(0, "w", 1, "s1", 0.0, 5.0),
    dlv(1, "w", 1, "s1", 0.25, 1.0),
    dlv(2, "w", 1, "s1", 0.5, 2.0),
    dlv(0, "w", 2, "s2", 0.0, 1.0),
    dlv(1, "w", 2, "s2", 0.25, 1.0),
    dlv(2, "w", 2, "s2", 0.5, 4.0),
    dlv(3, "w", 0, "s0", 0.0, 0.5),
]


def test_ordering_violations_counts_overtaking_deliveries():
    """Per (publisher, subscription), each delivery received before an earlier message counts."""
    res = result(messages=table("messages", MESSAGES), deliveries=table("deliveries", ORDERED))
    assert ordering_violations(res) == 3


def test_ordering_violations_independent_of_row_order():
    """Shuffling the deliveries table does not change the count."""
    shuffled = table("deliveries", ORDERED).sample(frac=1.0, random_state=7)
    res = result(messages=table("messages", MESSAGES), deliveries=shuffled)
    assert ordering_violations(res) == 3


def test_ordering_violations_in_order_and_empty():
    """Deliveries in publish order, and no deliveries, have no violations."""
    in_order = [
        dlv(0, "w", 0, "s0", 0.0, 1.0),
        dlv(1, "w", 0, "s0", 0.25, 1.25),
        dlv(2, "w", 0, "s0", 0.5, 1.5),
        dlv(3, "w", 0, "s0", 0.0, 2.0),  # Q's message later than P's: fine
    ]
    res = result(messages=table("messages", MESSAGES), deliveries=table("deliveries", in_order))
    assert ordering_violations(res) == 0
    assert ordering_violations(result(messages=table("messages", MESSAGES))) == 0
    assert ordering_violations(result()) == 0


# ---------------------------------------------------------------------------
# served_by / fault_windows / served_share / failover_summary
# ---------------------------------------------------------------------------
#
# Two clusters: east (server e1) and west (server w1).  Responders rE on e1 and
# rW on w1; the requester "req" is on e1 (its requests' own cluster is east).
CLIENTS = [
    ("rE", "w", "responder", "e1"),
    ("rW", "w", "responder", "w1"),
    ("req", "w", "requester", "e1"),
]
SERVERS = [("e1", "east", "us-east-1"), ("w1", "west", "us-west-2")]


def geo_result(requests: list[dict], events: list[tuple] = ()) -> types.SimpleNamespace:
    return result(
        requests=table("requests", requests),
        clients=table("clients", CLIENTS),
        servers=table("servers", SERVERS),
        events=table("events", events),
    )


def test_served_by_maps_responder_to_cluster_and_region():
    """Serving cluster and region come from the responder's server; missing if unanswered."""
    out = served_by(geo_result(REQUESTS))
    assert len(out) == 4
    assert list(out.msg_id) == [0, 1, 2, 3]
    assert out.cluster.tolist()[:2] == ["east", "west"]
    assert out.region.tolist()[:2] == ["us-east-1", "us-west-2"]
    # the timeout and the no_responders request were never answered
    assert out.cluster[2:].isna().all()
    assert out.region[2:].isna().all()


def test_served_by_replaces_requester_cluster_and_keeps_input():
    """``cluster`` becomes the serving (not the requester's) cluster; the input is unchanged."""
    res = geo_result(REQUESTS)
    out = served_by(res)
    # request 1 was sent from east but served by west
    assert out.cluster[1] == "west"
    assert res.requests.cluster.tolist() == ["east"] * 4
    assert "region" not in res.requests


def test_served_by_without_region_column():
    """Servers without a region column give region None for every request."""
    res = geo_result(REQUESTS)
    res.servers = res.servers[["server", "cluster"]]
    out = served_by(res)
    assert out.region.tolist() == [None] * 4
    assert out.cluster.tolist()[:2] == ["east", "west"]


def test_served_by_empty_requests():
    """No requests give an empty table with cluster and region added."""
    out = served_by(geo_result([]))
    assert out.empty
    assert {"cluster", "region"} <= set(out.columns)


EVENTS = [
    (10.0, None, "stop_responders", "w in east", NAN),
    (12.0, "e1", "gateway_rtt", "w1", 0.25),
    (20.0, None, "start_responders", "w in east", NAN),
    (30.0, None, "stop_responders", "w in west", NAN),  # never undone
    (31.0, None, "stop_responders", "wx", NAN),  # another workload, prefix of none
    (35.0, None, "start_responders", "wx", NAN),
    (40.0, None, "start_responders", "w in east", NAN),  # nothing open: ignored
    (41.0, None, "start_responders", "w", NAN),  # start-only fault: no window
]


def test_fault_windows_pairs_stop_with_next_start_of_same_detail():
    """A stop opens a window the next start with the same detail closes; unclosed ends are inf."""
    out = fault_windows(geo_result([], EVENTS))
    assert list(out.columns) == ["start", "end", "detail"]
    assert out.to_dict("records") == [
        {"start": 10.0, "end": 20.0, "detail": "w in east"},
        {"start": 30.0, "end": INF, "detail": "w in west"},
        {"start": 31.0, "end": 35.0, "detail": "wx"},
    ]


def test_fault_windows_filters_by_workload_name_exactly():
    """The workload filter matches the first word of the detail exactly ("w" is not "wx")."""
    out = fault_windows(geo_result([], EVENTS), workload="w")
    assert out.to_dict("records") == [
        {"start": 10.0, "end": 20.0, "detail": "w in east"},
        {"start": 30.0, "end": INF, "detail": "w in west"},
    ]
    assert fault_windows(geo_result([], EVENTS), workload="wx").to_dict("records") == [
        {"start": 31.0, "end": 35.0, "detail": "wx"},
    ]


def test_fault_windows_none():
    """No fault events (or no events at all) give an empty table with the three columns."""
    for res in (geo_result([], EVENTS[1:2]), geo_result([])):
        out = fault_windows(res)
        assert out.empty
        assert list(out.columns) == ["start", "end", "detail"]
    assert fault_windows(geo_result([], EVENTS), workload="nope").empty


# Failover scenario for workload "w": east's responders stop at 10 s, come back at 20 s.
# Client timeout 1 s (the longest request: end - start = 1.0).
FAILOVER = [
    req(0, "w", 5.0, 6.0, "timeout"),  # long before the fault: not in the switch
    req(1, "w", 8.0, 8.125, "ok", 0.125, "rE"),
    req(2, "w", 9.0, 9.125, "ok", 0.125, "rE"),  # in the switch window, but ok
    req(3, "w", 9.5, 10.5, "timeout"),  # within one timeout before the fault: lost
    req(4, "w", 10.0, 11.0, "timeout"),  # at the fault: lost, and a timeout during
    req(5, "w", 10.5, 10.75, "ok", 0.25, "rW"),  # first failover: 10.75 - 10 = 0.75
    req(6, "w", 11.0, 11.25, "ok", 0.25, "rW"),
    req(7, "w", 12.0, 13.0, "timeout"),  # during, after the switch
    req(8, "w", 20.0, 20.25, "ok", 0.25, "rW"),  # restored, still west
    req(9, "w", 21.0, 21.125, "ok", 0.125, "rE"),  # failback: 21.125 - 20 = 1.125
    req(10, "w", 22.0, 22.125, "ok", 0.125, "rE"),
    req(11, "v", 10.25, 11.25, "timeout"),  # another workload: ignored
]
FAILOVER_EVENTS = [
    (10.0, None, "stop_responders", "w in east", NAN),
    (20.0, None, "start_responders", "w in east", NAN),
]


def test_served_share_per_cluster_and_window():
    """Share of answered requests per serving cluster, windows [from, to) on request start."""
    res = geo_result(FAILOVER, FAILOVER_EVENTS)
    out = served_share(
        res, "w", {"before": (0, 10), "during": (10, 20), "after": (20, INF), "empty": (50, 60)}
    )
    assert list(out.columns) == ["before", "during", "after", "empty"]
    # before: ok 1, 2 (east); during: ok 5, 6 (west); after: 8 (west), 9, 10 (east);
    # timeouts are not answered and do not count
    assert out.to_dict("index") == {
        "east": {"before": 1.0, "during": 0.0, "after": 2 / 3, "empty": 0.0},
        "west": {"before": 0.0, "during": 1.0, "after": 1 / 3, "empty": 0.0},
    }


def test_served_share_window_bounds():
    """A request starting exactly at a window's end belongs to the next window."""
    res = geo_result(FAILOVER, FAILOVER_EVENTS)
    out = served_share(res, "w", {"a": (8.0, 20.0), "b": (20.0, 21.0)})
    # a: 1, 2 (east), 5, 6 (west);  b: 8 (west) only, 9 starts at 21.0
    assert out.to_dict("index") == {
        "east": {"a": 0.5, "b": 0.0},
        "west": {"a": 0.5, "b": 1.0},
    }


def test_served_share_nothing_answered():
    """A workload with no answered request gives an empty share table."""
    res = geo_result(FAILOVER, FAILOVER_EVENTS)
    assert served_share(res, "v", {"all": (0, INF)}).empty


def test_failover_summary_figures():
    """Failover and failback times, requests lost in the switch, timeouts and shares."""
    rows = FAILOVER[::-1]  # the table order must not matter: requests are sorted by start
    s = failover_summary(geo_result(rows, FAILOVER_EVENTS), "w")
    assert set(s) == {
        "fault_at",
        "restored_at",
        "faulted",
        "failover_time",
        "failback_time",
        "lost_in_switch",
        "timeouts_during",
        "share",
    }
    assert s["fault_at"] == 10.0
    assert s["restored_at"] == 20.0
    assert s["faulted"] == "east"
    assert s["failover_time"] == 0.75
    assert s["failback_time"] == 1.125
    # started in [10 - 1, 10.5): requests 2 (ok), 3 and 4 (timeouts)
    assert s["lost_in_switch"] == 2
    # started in [10, 20) and timed out: 4 and 7
    assert s["timeouts_during"] == 2
    assert s["share"].to_dict("index") == {
        "east": {"before": 1.0, "during": 0.0, "after": 2 / 3},
        "west": {"before": 0.0, "during": 1.0, "after": 1 / 3},
    }


def test_failover_summary_fault_never_undone():
    """With no restore, restored_at is inf, failback is NaN and the 'after' share is all 0."""
    rows = FAILOVER[:8]  # up to request 7
    s = failover_summary(geo_result(rows, FAILOVER_EVENTS[:1]), "w")
    assert s["restored_at"] == INF
    assert math.isnan(s["failback_time"])
    assert s["failover_time"] == 0.75
    assert s["lost_in_switch"] == 2
    assert s["timeouts_during"] == 2
    assert s["share"].to_dict("index") == {
        "east": {"before": 1.0, "during": 0.0, "after": 0.0},
        "west": {"before": 0.0, "during": 1.0, "after": 0.0},
    }


def test_failover_summary_no_failover():
    """If no other cluster answers, failover time is inf and failures until restore are lost."""
    rows = [
        req(0, "w", 8.0, 8.125, "ok", 0.125, "rE"),
        req(1, "w", 9.5, 10.5, "timeout"),
        req(2, "w", 11.0, 12.0, "timeout"),
        req(3, "w", 15.0, 15.125, "no_responders"),
        req(4, "w", 20.5, 20.75, "ok", 0.25, "rE"),
    ]
    s = failover_summary(geo_result(rows, FAILOVER_EVENTS), "w")
    assert s["failover_time"] == INF
    # started in [9, 20) and not ok: 1, 2, 3
    assert s["lost_in_switch"] == 3
    assert s["timeouts_during"] == 1
    assert s["failback_time"] == 0.75  # 20.75 - 20


def test_failover_summary_fault_without_cluster():
    """A fault detail without ' in <cluster>' has no faulted cluster and no failback time."""
    events = [
        (10.0, None, "stop_responders", "w on e1", NAN),
        (20.0, None, "start_responders", "w on e1", NAN),
    ]
    s = failover_summary(geo_result(FAILOVER, events), "w")
    assert s["faulted"] is None
    # any cluster counts as "another": first ok request started at or after 10 is 5
    assert s["failover_time"] == 0.75
    assert math.isnan(s["failback_time"])


def test_failover_summary_needs_a_fault():
    """A workload without a stop_responders fault is a ValueError."""
    with pytest.raises(ValueError, match="no stop_responders fault for workload 'v'"):
        failover_summary(geo_result(FAILOVER, FAILOVER_EVENTS), "v")
    with pytest.raises(ValueError, match="no stop_responders fault"):
        failover_summary(geo_result(FAILOVER), "w")


# Scatter-gather: a request collects replies for 0.5 s, so ``end`` is start + 0.5
# while the first reply arrives at start + latency.
GATHER = [
    req(0, "w", 9.0, 9.5, "ok", 0.125, "rE"),
    req(1, "w", 10.25, 10.75, "ok", 0.25, "rW"),  # first answer by west at 10.5
    req(2, "w", 20.25, 20.75, "ok", 0.125, "rE"),  # east answers again at 20.375
]


def test_failover_time_is_measured_to_the_first_reply():
    """Failover time runs from the fault until the first reply from another cluster arrives."""
    s = failover_summary(geo_result(GATHER, FAILOVER_EVENTS), "w")
    assert s["failover_time"] == 0.5


def test_failback_time_is_measured_to_the_first_reply():
    """Failback time runs from the restore until the faulted cluster's first reply arrives."""
    s = failover_summary(geo_result(GATHER, FAILOVER_EVENTS), "w")
    assert s["failback_time"] == 0.375
