"""Routing inside one cluster: fan-out, the one-hop rule, interest propagation."""

from __future__ import annotations

import pandas as pd

import sim
from sim.model.clock import Call
from sim.model.message import Msg
from sim.model.network import Network
from sim.scenario import load_scenario
from tests.conftest import scenario


def pubsub(pub: dict, *subs: dict, subject: str = "t.x") -> dict:
    return {
        "name": "w",
        "kind": "pubsub",
        "subject": subject,
        "publishers": pub,
        "subscribers": list(subs),
    }


def test_every_subscriber_gets_every_message_after_propagation():
    """Plain subscribers on every server each get a copy of every message."""
    sc = scenario(
        [
            pubsub(
                {"count": 1, "servers": ["c-1"], "rate": "100/s", "start": "0.5s"},
                {"per_server": 2},
            )
        ]
    )
    r = sim.run(sc)
    published = len(r.messages)
    assert published > 100
    assert len(r.deliveries) == published * 6
    assert r.drops.empty
    per_sub = r.deliveries.groupby("subscriber").size()
    assert (per_sub == published).all()


def test_route_hop_and_local_paths():
    """A local subscriber gets the message with 0 hops; one on another server with 1 hop."""
    sc = scenario(
        [
            pubsub(
                {
                    "count": 1,
                    "servers": ["c-1"],
                    "rate": "50/s",
                    "start": "0.5s",
                    "arrival": "constant",
                },
                {"count": 1, "servers": ["c-1"]},
                {"count": 1, "servers": ["c-2"]},
            )
        ],
        route="1ms",
        client="100us",
    )
    r = sim.run(sc)
    d = r.deliveries
    local = d[d.server == "c-1"]
    remote = d[d.server == "c-2"]
    assert set(local.hops) == {0} and set(local.path) == {"c-1"}
    assert set(remote.hops) == {1} and set(remote.path) == {"c-1>c-2"}
    # constant latencies: client leg 0.1 ms each way, route 1 ms
    assert local.latency.round(9).eq(0.0002).all()
    assert remote.latency.round(9).eq(0.0012).all()


def test_message_from_a_route_is_never_forwarded_to_another_route():
    """One hop: a server delivers a routed message to its own clients only."""
    sc = scenario([pubsub({"count": 0, "rate": "1/s"}, {"count": 1, "servers": ["c-3"]})])
    net = Network(load_scenario(sc), seed=1)
    from sim.workloads import WORKLOADS

    wl = load_scenario(sc).workloads[0]
    net.trace.add_workload("w", "pubsub")
    WORKLOADS["pubsub"](net, wl, 0, 2.0)
    net.env.run(until=0.5)  # c-3's interest has reached c-1 and c-2
    b = net.servers["c-2"]
    assert b.remote_view("t.x").peers == (2,)
    pub = net.add_client("probe", "w", 0, "publisher", "c-1")
    msg = Msg(net.trace.add_msg(0.5, pub.id, 0, "t.x", 10, 1, 0), "t.x", None, 10, 0.5, pub, 1, 0)
    msg.expect = net.ledger.expect("t.x")
    msg.origin = 0
    before = net.clock.scheduled
    b.on_route_msg(Call(lambda ev: None, (msg, None, 0)))
    assert net.clock.scheduled == before  # nothing sent on to c-3
    assert net.trace.n_deliveries == 0


def test_interest_race_drops_until_rs_plus_arrives():
    """Messages routed before the RS+ reaches the publisher's server are lost, with that reason.

    Subscriber on c-2 subscribes at 1.0 s; its SUB reaches c-2 at 1.0001 s and
    the RS+ reaches c-1 at 1.0011 s.  A message reaches c-1 0.1 ms after it is
    published.  So messages published in [0.9999, 1.0010) are owed but lost
    (interest_not_yet_propagated), later ones are delivered.
    """
    sc = scenario(
        [
            pubsub(
                {
                    "count": 1,
                    "servers": ["c-1"],
                    "rate": "10k/s",
                    "arrival": "constant",
                    "start": "0.99s",
                    "stop": "1.01s",
                },
                {"count": 1, "servers": ["c-2"], "start": "1s"},
            )
        ],
        route="1ms",
        client="100us",
    )
    r = sim.run(sc)
    m = r.messages.set_index("msg_id")
    lost = r.drops[r.drops.reason == "interest_not_yet_propagated"]
    got = r.deliveries
    assert len(lost) >= 9 and len(got) > 0
    assert (m.loc[lost.msg_id, "time"] >= 0.9999 - 1e-9).all()
    assert (m.loc[lost.msg_id, "time"] < 1.0010 + 1e-9).all()
    assert (m.loc[got.msg_id, "time"] >= 1.0010 - 1e-9).all()
    # published before the SUB was sent: no interest at all, not a loss
    early = r.drops[r.drops.reason == "no_interest"]
    assert (m.loc[early.msg_id, "time"] < 1.0).all()


def test_unsubscribe_in_flight_is_accounted():
    """A copy owed to a subscription removed while the message travels is dropped: unsubscribed."""
    sc = scenario(
        [
            pubsub(
                {
                    "count": 1,
                    "servers": ["c-1"],
                    "rate": "10k/s",
                    "arrival": "constant",
                    "start": "0.5s",
                    "stop": "1.5s",
                },
                {"count": 1, "servers": ["c-2"], "stop": "1s"},
            )
        ],
        route="1ms",
        client="100us",
    )
    r = sim.run(sc)
    reasons = set(r.drops.reason)
    assert "unsubscribed" in reasons
    unsub = r.drops[r.drops.reason == "unsubscribed"]
    m = r.messages.set_index("msg_id")
    assert (m.loc[unsub.msg_id, "time"] < 1.0).all()
    # after the RS- reaches c-1 nothing more is sent; stale copies get no delivery
    assert r.deliveries.receive_time.max() < 1.0 + 0.0025


def test_subject_wildcards_and_literal_star_publish():
    """'*' and '>' subscriptions match as NATS does; a published '*' token is literal."""
    sc = scenario(
        [
            {
                "name": "w",
                "kind": "pubsub",
                "subject": "a.{b,*}",
                "publishers": {"count": 1, "servers": ["c-1"], "rate": "200/s", "start": "0.5s"},
                "subscribers": [
                    {"count": 1, "subject": "a.*"},
                    {"count": 1, "subject": "a.>"},
                    {"count": 1, "subject": "a.b"},
                    {"count": 1, "subject": ">"},
                    {"count": 1, "subject": "a.b.>"},
                ],
            },
        ]
    )
    r = sim.run(sc)
    d = r.deliveries.merge(r.messages[["msg_id", "subject"]], on="msg_id")
    subs = r.subscriptions.set_index("sub_id")
    d["pattern"] = subs.loc[d.sub_id, "subject"].to_numpy()
    got = d.groupby(["subject", "pattern"]).size().unstack(fill_value=0)
    n = r.messages.subject.value_counts()
    assert got.loc["a.b", "a.b"] == n["a.b"]
    assert got.loc["a.*"].get("a.b", 0) == 0  # literal '*' is not matched by 'a.b'
    for pattern in ("a.*", "a.>", ">"):
        assert got.loc["a.*", pattern] == n["a.*"]
        assert got.loc["a.b", pattern] == n["a.b"]
    assert "a.b.>" not in got.columns  # '>' needs at least one more token


def test_owed_counts_match_publish_time_interest():
    """messages.expected counts the subscriptions interested when the message reached its server."""
    sc = scenario(
        [
            pubsub(
                {"count": 1, "servers": ["c-1"], "rate": "100/s", "start": "0.5s"},
                {"count": 4},
                {"count": 2, "queue": "q"},
            )
        ]
    )
    r = sim.run(sc)
    assert (r.messages.expected == 5).all()  # 4 plain + one queue group
    assert isinstance(r.messages, pd.DataFrame)
