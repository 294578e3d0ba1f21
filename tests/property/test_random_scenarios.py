"""Random scenarios: no run raises, the books always balance, per-publisher order holds.

Hypothesis draws small topologies (one to three clusters in regions, one to
three servers each), latency distributions, and pubsub / request-reply
workloads with wildcards, queue groups, and subscriptions that come and go.
The default run tries a few dozen; ``HYPOTHESIS_PROFILE=deep python -m pytest
tests/property`` tries thousands.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

import sim

# the "default" and "deep" profiles are registered and loaded in tests/conftest.py

LATENCIES = st.sampled_from(
    [
        "200us",
        {"dist": "uniform", "low": "100us", "high": "900us"},
        {"dist": "exponential", "mean": "300us"},
        {"dist": "lognormal", "median": "300us", "sigma": 0.6},
        {"dist": "pareto", "scale": "100us", "alpha": 1.5},
        {"dist": "normal", "mean": "300us", "sd": "200us"},
    ]
)
SUB_SUBJECTS = st.sampled_from(["t.a", "t.b", "t.*", "t.>", ">", "*.a"])


def steered_replies(r: sim.Result) -> set[int]:
    """Replies published in another cluster than their request: they may be ``_GR_``-steered.

    Such a reply goes over the gateway to the requester's server first, which
    routes it on to every subscription of the reply subject (``handleGatewayReply``,
    nats-server gateway.go) — a longer path than the responder's other
    messages take, so a wildcard subscriber may see it after later ones
    (digest §2, "order can break when … a reply is steered through ``_GR_.``").
    """
    m = r.messages.set_index("msg_id")
    cluster = r.servers.set_index("server").cluster
    replies = m[(m.kind == "reply") & (m.request_id >= 0)]
    asked = replies.request_id.map(m.server).map(cluster)
    return set(replies.index[replies.server.map(cluster) != asked])


@st.composite
def placements(draw, clusters: list[str]) -> dict:
    p: dict = {"count": draw(st.integers(1, 4))}
    if len(clusters) > 1 and draw(st.booleans()):
        p["cluster"] = draw(st.sampled_from(clusters))
    p["placement"] = draw(st.sampled_from(["round_robin", "random"]))
    return p


@st.composite
def subscriber_groups(draw, clusters: list[str]) -> dict:
    g = draw(placements(clusters))
    g["subject"] = draw(SUB_SUBJECTS)
    if draw(st.booleans()):
        g["queue"] = draw(st.sampled_from(["q1", "q2"]))
    start = draw(st.sampled_from([0.0, 0.05, 0.2]))
    g["start"] = f"{start}s"
    if draw(st.booleans()):
        g["stop"] = f"{start + draw(st.sampled_from([0.05, 0.15, 0.3]))}s"
    return g


@st.composite
def scenarios(draw) -> dict:
    n_clusters = draw(st.integers(1, 3))
    names = ["a", "b", "c"][:n_clusters]
    regions = ["us-east", "us-west", "eu-west"]
    clusters = {
        c: {"servers": draw(st.integers(1, 3)), "region": regions[i]} for i, c in enumerate(names)
    }
    workloads = [
        {
            "name": "ps",
            "kind": "pubsub",
            "subject": draw(st.sampled_from(["t.a", "t.{a,b}", "x.a"])),
            "publishers": {**draw(placements(names)), "rate": "300/s"},
            "subscribers": draw(st.lists(subscriber_groups(names), min_size=0, max_size=3)),
        }
    ]
    if draw(st.booleans()):
        rsp = draw(placements(names))
        rsp["service_time"] = draw(LATENCIES)
        if draw(st.booleans()):
            rsp["queue"] = "svc"
        if draw(st.booleans()):
            rsp["stop"] = "0.3s"
        req = {**draw(placements(names)), "rate": "100/s", "timeout": "100ms"}
        if draw(st.booleans()):
            req["gather"] = "20ms"
        workloads.append(
            {
                "name": "rr",
                "kind": "request_reply",
                "subject": "svc.x",
                "requesters": req,
                "responders": rsp,
            }
        )
    return {
        "name": "random",
        "seed": draw(st.integers(0, 2**31)),
        "duration": "0.5s",
        "topology": {
            "clusters": clusters,
            "latency": {
                "intra_cluster": draw(LATENCIES),
                "client": draw(LATENCIES),
                "overhead": "1ms",
                "fibre": "2000km/ms",
                "jitter": draw(st.one_of(st.none(), LATENCIES)),
            },
            "gateways": {
                "mode": draw(st.sampled_from(["interest_only", "optimistic"])),
                "interest_only_threshold": 3,
            },
        },
        "workloads": workloads,
    }


@given(sc=scenarios())
def test_books_balance_in_random_scenarios(sc):
    """Every owed copy ends as one delivery or one drop; owed copies are never delivered twice."""
    r = sim.run(sc)
    owed = r.messages.set_index("msg_id").expected
    got = r.deliveries[r.deliveries.expected].groupby("msg_id").size()
    lost = r.drops[r.drops.reason != "no_interest"].groupby("msg_id").size()
    booked = got.reindex(owed.index, fill_value=0) + lost.reindex(owed.index, fill_value=0)
    assert (booked == owed).all()
    assert not r.deliveries[r.deliveries.expected].duplicated(["msg_id", "sub_id"]).any()
    assert "in_flight_at_end" not in set(r.drops.reason)
    # per publisher and plain subscription, arrivals keep publish order (one path:
    # a _GR_-steered reply takes another, see steered_replies)
    d = r.deliveries[r.deliveries.queue.isna() & r.deliveries.expected]
    d = d[~d.msg_id.isin(steered_replies(r))]
    d = d.merge(r.messages[["msg_id", "client"]], on="msg_id").sort_values(
        ["client", "sub_id", "msg_id"], kind="stable"
    )
    previous = d.groupby(["client", "sub_id"]).receive_time.shift()
    assert not (d.receive_time < previous).any()
