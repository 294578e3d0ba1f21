"""Superclusters: gateways, interest-only propagation, geo queue routing, _GR_ replies."""

from __future__ import annotations

import math

import pytest

import sim
from sim.analysis.failover import failover_summary, served_by
from sim.model.network import Network
from sim.model.topology import region_base_latency
from sim.regions import REGIONS, great_circle_km
from sim.scenario import load_scenario
from tests.conftest import ROOT


def supercluster(
    workloads, clusters=None, duration="3s", seed=1, gateways=None, latency=None, faults=None
):
    clusters = clusters or {
        "a": {"region": "r1", "servers": 2},
        "b": {"region": "r2", "servers": 2},
    }
    lat = {
        "intra_cluster": "1ms",
        "client": "100us",
        "regions": {"r1": {"r2": "20ms", "r3": "40ms"}, "r2": {"r3": "30ms"}},
    }
    lat.update(latency or {})
    sc = {
        "name": "sc",
        "seed": seed,
        "duration": duration,
        "topology": {"clusters": clusters, "latency": lat, "processing": "0s"},
        "workloads": workloads,
    }
    if gateways:
        sc["topology"]["gateways"] = gateways
    if faults:
        sc["faults"] = faults
    return sc


def test_region_latency_from_coordinates_and_matrix():
    """Great-circle distance / fibre speed + overhead, or the matrix (halved when RTT)."""
    sc = load_scenario(
        {
            "name": "x",
            "duration": "1s",
            "topology": {
                "clusters": {"e": {"region": "us-east"}, "w": {"region": "eu-west"}},
                "latency": {"fibre": "200km/ms", "overhead": "2ms"},
            },
        }
    )
    km = great_circle_km(REGIONS["us-east"], REGIONS["eu-west"])
    assert region_base_latency(sc.topology, "us-east", "eu-west") == pytest.approx(
        km / 200_000 + 0.002
    )
    sc2 = load_scenario(
        {
            "name": "x",
            "duration": "1s",
            "topology": {
                "clusters": {"e": {"region": "r1"}, "w": {"region": "r2"}},
                "latency": {"regions": {"r1": {"r2": "80ms"}}, "matrix": "rtt"},
            },
        }
    )
    assert region_base_latency(sc2.topology, "r2", "r1") == pytest.approx(0.040)


def test_unknown_region_is_a_scenario_error():
    """A region with no coordinates and no matrix is reported with its field path."""
    with pytest.raises(sim.ScenarioError, match=r"topology.clusters.a.region: unknown region"):
        load_scenario(
            {"name": "x", "duration": "1s", "topology": {"clusters": {"a": {"region": "mars-1"}}}}
        )


def test_every_server_has_one_outbound_per_remote_cluster():
    """Each server dials one server of every other cluster; the graph shows routes and gateways."""
    sc = supercluster(
        [],
        clusters={
            "a": {"region": "r1", "servers": 3},
            "b": {"region": "r2", "servers": 2},
            "c": {"region": "r3", "servers": 2},
        },
    )
    net = Network(load_scenario(sc), seed=3)
    for s in net.servers.values():
        assert sorted(s.gw.outbound) == sorted({"a", "b", "c"} - {s.cluster})
        for cluster, ob in s.gw.outbound.items():
            assert ob.peer.cluster == cluster
    inbound = sum(len(s.gw.inbound) for s in net.servers.values())
    assert inbound == 3 * 2 + 2 * 2 + 2 * 2  # Σ Ni·(M−1)
    g = net.graph()
    kinds = {d["kind"] for _, _, d in g.edges(data=True)}
    assert kinds == {"route", "gateway"}


def pubsub(pub_cluster, sub_cluster, **kw):
    return {
        "name": "w",
        "kind": "pubsub",
        "subject": "t.x",
        "publishers": {
            "count": 1,
            "cluster": pub_cluster,
            "rate": "200/s",
            "arrival": "constant",
            **kw.get("pub", {}),
        },
        "subscribers": {
            "count": kw.get("subs", 2),
            **({"cluster": sub_cluster} if "servers" not in kw.get("sub", {}) else {}),
            **kw.get("sub", {}),
        },
    }


def test_messages_cross_a_gateway_once_and_fan_out_by_route():
    """A message crosses one gateway, then reaches the remote cluster's servers one route hop on."""
    r = sim.run(supercluster([pubsub("a", "b", pub={"start": "0.5s"})]))
    d = r.deliveries
    assert len(d) == 2 * len(r.messages)
    assert r.drops.empty
    # path: origin > gateway server of b > (route) > subscriber server
    assert set(d.hops) <= {1, 2}
    assert (d.latency > 0.020).all()


def test_gateway_message_is_never_forwarded_to_a_third_cluster():
    """One hop between clusters: a message from a gateway is not sent to another gateway."""
    sc = supercluster(
        [pubsub("a", "c", pub={"start": "0.5s"})],
        clusters={
            "a": {"region": "r1", "servers": 1},
            "b": {"region": "r2", "servers": 1},
            "c": {"region": "r3", "servers": 1},
        },
    )
    r = sim.run(sc)
    # a→c directly (40 ms), never a→b→c
    assert set(r.deliveries.path) == {"a-1>c-1"}
    counts = r.servers.set_index("server")
    assert counts.loc["b-1", "gateway_in"] == 0


def test_interest_only_convergence_takes_route_plus_gateway_time():
    """A new subscription becomes visible to a remote cluster after route + gateway latency.

    Subscriber on b-2 subscribes at 1 s: SUB 0.1 ms, RS+ over the route 1 ms
    to b-1 (which may hold a-1's inbound gateway), RS+ over the gateway 20 ms.
    Messages published on a before that are owed but lost as not propagated.
    """
    sc = supercluster(
        [
            pubsub(
                "a",
                "b",
                subs=1,
                pub={"start": "0.9s", "rate": "1k/s"},
                sub={"servers": ["b-2"], "start": "1s"},
            )
        ]
    )
    r = sim.run(sc)
    m = r.messages.set_index("msg_id")
    lost = r.drops[r.drops.reason == "interest_not_yet_propagated"]
    got = r.deliveries
    assert len(lost) > 5
    first_ok = m.loc[got.msg_id, "time"].min()
    assert 1.020 < first_ok < 1.0225
    assert m.loc[lost.msg_id, "time"].max() < first_ok


def test_optimistic_mode_switches_to_interest_only_at_threshold():
    """Legacy optimistic gateways send blindly, learn RS-, and switch after the threshold."""
    wl = [
        {
            "name": "w",
            "kind": "pubsub",
            "subject": "t.{1..50}",
            "publishers": {"count": 1, "cluster": "a", "rate": "2k/s", "start": "0.2s"},
            "subscribers": {"count": 1, "cluster": "b", "subject": "t.1"},
        }
    ]
    sc = supercluster(
        wl, gateways={"mode": "optimistic", "interest_only_threshold": 20}, duration="2s"
    )
    r = sim.run(sc)
    ev = r.events
    switched = ev[ev.kind == "gateway_interest_only"]
    assert len(switched) >= 1
    assert (switched.value == 20).all()
    # before the switch, messages without interest crossed; after it, none do
    wasted = r.servers.set_index("server").gateway_in.sum()
    owed_crossing = len(r.deliveries)
    assert wasted > owed_crossing  # optimistic sends crossed without interest
    assert r.drops[r.drops.reason != "no_interest"].empty


def test_queue_group_prefers_local_cluster():
    """While the local cluster has a member, it gets every message of the group."""
    wl = [
        {
            "name": "q",
            "kind": "pubsub",
            "subject": "q.x",
            "publishers": {"count": 1, "cluster": "a", "rate": "500/s", "start": "0.5s"},
            "subscribers": [
                {"count": 1, "cluster": "a", "queue": "g"},
                {"count": 3, "cluster": "b", "queue": "g"},
            ],
        }
    ]
    r = sim.run(supercluster(wl))
    assert set(r.deliveries.server.str[0]) == {"a"}
    assert len(r.deliveries) == len(r.messages)


def test_queue_group_goes_to_lowest_rtt_remote_cluster_and_follows_rtt_changes():
    """With no local member, the group is served by the remote cluster with the lowest RTT.

    b is 20 ms from a and c 40 ms: b serves.  With the matrix reversed c serves.
    """

    def run(ab, ac):
        wl = [
            {
                "name": "q",
                "kind": "pubsub",
                "subject": "q.x",
                "publishers": {"count": 1, "cluster": "a", "rate": "200/s", "start": "3s"},
                "subscribers": [
                    {"count": 2, "cluster": "b", "queue": "g"},
                    {"count": 2, "cluster": "c", "queue": "g"},
                ],
            }
        ]
        sc = supercluster(
            wl,
            clusters={
                "a": {"region": "r1", "servers": 2},
                "b": {"region": "r2", "servers": 2},
                "c": {"region": "r3", "servers": 2},
            },
            latency={"regions": {"r1": {"r2": ab, "r3": ac}, "r2": {"r3": "30ms"}}},
            duration="5s",
        )
        r = sim.run(sc)
        return r.deliveries.server.str[0].value_counts()

    assert set(run("20ms", "40ms").index) == {"b"}
    assert set(run("40ms", "20ms").index) == {"c"}


def test_rtt_is_measured_not_configured():
    """Servers measure gateway RTT by PING/PONG: about twice the one-way latency, after ~1 s."""
    r = sim.run(supercluster([], duration="3s"))
    rtt = r.events[r.events.kind == "gateway_rtt"]
    assert len(rtt) == 4  # each of the 4 servers measured its one outbound once (1-1.2 s)
    assert ((rtt.time > 1.0) & (rtt.time < 1.3)).all()
    assert rtt.value.between(0.040, 0.0401).all()


def request_reply(req_cluster, rsp, window=None, **req):
    return {
        "name": "svc",
        "kind": "request_reply",
        "subject": "svc.x",
        "requesters": {"count": 1, "cluster": req_cluster, "rate": "50/s", **req},
        "responders": rsp,
    }


def test_reply_crosses_back_through_gr_mapping_before_inbox_interest_arrives():
    """A reply reaches a requester whose inbox interest has not yet crossed the gateway.

    The first request creates the inbox subscription and is sent at once; the
    responder's server learns the inbox interest only after a route hop and a
    gateway hop, about when the reply is ready, but the reply, rewritten with
    _GR_., finds its way back.  With the mapping window at 0 s the first reply
    loses that race and its request times out.
    """
    wl = [
        request_reply(
            "a",
            {"count": 1, "cluster": "b", "service_time": "0s"},
            start="0.5s",
            arrival="constant",
            rate="500/s",
        )
    ]
    ok = sim.run(supercluster(wl, duration="1s"))
    assert (ok.requests.outcome == "ok").all()
    off = sim.run(supercluster(wl, duration="1s", gateways={"reply_mapping_window": "0s"}))
    # the first request's reply races the inbox RS+ (route 1 ms + gateway 20 ms) and loses
    assert off.requests.outcome.iloc[0] == "timeout"
    assert (off.requests[off.requests.start > 0.5 + 0.01].outcome == "ok").all()
    lost = off.drops[off.drops.reason == "interest_not_yet_propagated"]
    assert len(lost) >= 1


def test_gr_mapped_reply_reaches_every_subscriber_of_its_subject():
    """A _GR_ reply, once at the requester's server, goes to all its subject's subscribers.

    nats-server's handleGatewayReply hands it to processMsgResults (local,
    routes) and sendMsgToGateways with the real subject, so an ``_INBOX.>``
    subscriber on every server of both clusters gets each reply once (checked
    against nats-server 2.15.1, tests/conformance); the books balance.
    """
    from tests.test_accounting import check_books

    wl = [
        request_reply("a", {"count": 1, "servers": ["b-1"]}, servers=["a-1"], start="0.5s"),
        {
            "name": "spy",
            "kind": "pubsub",
            "subject": "_INBOX.>",
            "publishers": {"count": 0, "rate": "1/s"},
            "subscribers": {"per_server": 1, "start": "0.1s"},
        },
    ]
    wl[0]["requesters"].pop("cluster")
    r = sim.run(supercluster(wl, duration="1.5s"))
    reqs = r.requests
    assert len(reqs) > 10 and (reqs.outcome == "ok").all()
    d = r.deliveries
    d = d[(d.kind == "reply") & d.subscriber.str.startswith("spy.")]
    per_server = d.groupby("server").msg_id.nunique()
    assert dict(per_server) == dict.fromkeys(["a-1", "a-2", "b-1", "b-2"], len(reqs))
    assert not d.duplicated(["msg_id", "sub_id"]).any()
    check_books(r)


def test_geo_failover_scenario():
    """geo-failover: east serves until stopped, then the nearest region, then east again."""
    r = sim.run(ROOT / "scenarios" / "geo-failover.yaml")
    s = failover_summary(r, "weather")
    share = s["share"]
    assert share.loc["east", "before"] == 1.0
    assert share.loc["east", "during"] == 0.0
    assert share.loc["west", "during"] > 0.99  # us-west is nearer us-east than eu-west
    assert share.loc["east", "after"] > 0.99
    # failover bounded by the latencies involved: interest withdrawal + a cross-region RTT
    assert 0 < s["failover_time"] < 0.2
    assert s["lost_in_switch"] < 20
    rq = served_by(r)
    assert rq.msg_id.is_unique  # each request served (or not) once
    assert (rq.replies <= 1).all()
    assert not math.isnan(s["failback_time"])


def test_gateway_loss_stops_traffic_until_interest_is_resent():
    """A lost outbound gateway sends nothing until reconnected and the remote re-sent interest."""
    from sim.workloads import WORKLOADS

    sc = load_scenario(
        supercluster(
            [
                pubsub(
                    "a",
                    "b",
                    subs=1,
                    pub={"start": "0.2s", "rate": "1k/s"},
                    sub={"servers": ["b-1"]},
                )
            ],
            clusters={"a": {"region": "r1", "servers": 1}, "b": {"region": "r2", "servers": 1}},
            duration="3s",
        )
    )
    net = Network(sc, seed=1)
    net.trace.add_workload("w", "pubsub")
    WORKLOADS["pubsub"](net, sc.workloads[0], 0, 3.0)
    a1 = net.servers["a-1"]
    net.clock.at(1.0, lambda ev: a1.gw.disconnect("b"))
    net.env.run(until=3.5)
    from sim.results import frames_from_trace

    f = frames_from_trace(net.trace)
    m = f["messages"].set_index("msg_id")
    lost = f["drops"][f["drops"].reason == "interest_not_yet_propagated"]
    t_lost = m.loc[lost.msg_id, "time"]
    # down at 1 s, redialled after 1-1.1 s, interest back one gateway hop (20 ms) later
    assert t_lost.min() >= 1.0 - 1e-3
    assert 2.02 < t_lost.max() < 2.13
    ev = f["events"]
    assert list(ev[ev.kind.isin(["gateway_down", "gateway_up"])].kind) == [
        "gateway_down",
        "gateway_up",
    ]
    delivered = m.loc[f["deliveries"].msg_id, "time"]
    assert (delivered > t_lost.max()).sum() > 800


def test_supercluster_runs_are_deterministic():
    """Same seed, same supercluster scenario: identical tables, RTT events included."""
    from tests.test_determinism import digest

    a = sim.run(ROOT / "scenarios" / "service-patterns.yaml")
    b = sim.run(ROOT / "scenarios" / "service-patterns.yaml")
    assert digest(a) == digest(b)
    assert a.events.equals(b.events)


def test_four_service_patterns():
    """The bundled patterns: all answer (first wins), one group, two groups, supercluster."""
    r = sim.run(ROOT / "scenarios" / "service-patterns.yaml")
    rq = r.requests
    assert (rq.outcome == "ok").all()
    replies = r.messages[r.messages.kind == "reply"].groupby(["workload", "request_id"]).size()
    assert (replies["all-answer"] == 3).all()
    assert (replies["queue-group"] == 1).all()
    assert (replies["several-groups"] == 2).all()
    d = rq[rq.workload == "supercluster"]
    assert (d.cluster == d.served_cluster).all()  # each cluster serves its own requesters
