"""Service latency tracking: samples computed and published as nats-server does (digest §10).

With constant latencies every field of a sample is known in advance:
client links 100 µs one way (RTT 200 µs), routes 1 ms, service time 5 ms,
no processing time.
"""

from __future__ import annotations

import json

import pytest

import sim
from sim.model.latency import SERVICE_LATENCY_TYPE, sample_json
from tests.conftest import scenario

ACCOUNTS = {
    "API": {
        "exports": [{"service": "api.>", "latency": {"sampling": "100%", "subject": "lat.api"}}]
    },
    "APP": {"imports": [{"service": {"account": "API", "subject": "api.>"}}]},
}


def tracked(requesters, responders, rate="20/s", **extra):
    wl = {
        "name": "svc",
        "kind": "request_reply",
        "subject": "api.get",
        "requesters": {
            "count": 1,
            "rate": rate,
            "account": "APP",
            "arrival": "constant",
            **requesters,
        },
        "responders": {"count": 1, "account": "API", "service_time": "5ms", **responders},
    }
    return scenario(
        [wl, *extra.pop("more", [])], client="100us", route="1ms", accounts=ACCOUNTS, **extra
    )


@pytest.mark.parametrize(
    ("responder", "service", "system"),
    [("c-1", 5e-3, 0.0), ("c-2", 5e-3, 2e-3)],
    ids=["same-server", "over-a-route"],
)
def test_sample_fields_follow_nats_server_formulas(responder, service, system):
    """service, system, total and the RTTs match sendTrackingLatency/merge, and add up."""
    r = sim.run(tracked({"servers": ["c-1"]}, {"servers": [responder]}))
    s = r.service_latency
    assert len(s) == (r.requests.outcome == "ok").sum() > 10
    assert s.requestor_rtt.to_numpy() == pytest.approx(200e-6)
    assert s.responder_rtt.to_numpy() == pytest.approx(200e-6)
    assert s.service.to_numpy() == pytest.approx(service, abs=1e-9)
    assert s.system.to_numpy() == pytest.approx(system, abs=1e-9)
    # NATSTotalTime = requestor.rtt + responder.rtt + system; total = it + service
    parts = s.service + s.system + s.requestor_rtt + s.responder_rtt
    assert (s.total - parts).abs().max() < 1e-9
    # start = when the requester's server handled the request, minus the requester's RTT
    req = r.messages.set_index("msg_id")
    assert s.start.to_numpy() == pytest.approx(
        (req.time[req.kind == "request"] - 100e-6).to_numpy()
    )
    assert set(s.status) == {200}
    assert set(s.account) == {"API"} and set(s.importer) == {"APP"}


def test_samples_are_published_in_the_exporting_account():
    """A subscriber in the exporter gets every sample on the results subject; the importer none."""
    watchers = {
        "name": "watch",
        "kind": "pubsub",
        "subject": "lat.api",
        "subscribers": [{"count": 1, "account": "API"}, {"count": 1, "account": "APP"}],
    }
    r = sim.run(tracked({}, {}, more=[watchers]))
    got = r.deliveries.groupby("subscriber").size()
    assert got.get("watch.sub0", 0) == len(r.service_latency) > 10
    assert "watch.sub1.0" not in got.index
    assert set(r.service_latency.msg_id) == set(
        r.deliveries.msg_id[r.deliveries.subscriber == "watch.sub0"]
    )


def test_sample_json_has_the_service_latency_shape():
    """The published payload is a ServiceLatency event: durations in ns, RFC 3339 start."""
    r = sim.run(tracked({}, {"servers": ["c-2"]}))
    row = r.service_latency.iloc[0]
    record = (
        0,
        row.time,
        "API",
        "APP",
        "api.get",
        0,
        1,
        0,
        1,
        row.start,
        row.service,
        row.system,
        row.total,
        row.requestor_rtt,
        row.responder_rtt,
        200,
    )
    body = json.loads(sample_json(record, [("c-1", "c"), ("c-2", "c")], ["req", "rsp"]))
    assert body["type"] == SERVICE_LATENCY_TYPE
    assert {
        "id",
        "timestamp",
        "status",
        "requestor",
        "responder",
        "start",
        "service",
        "system",
        "total",
    } <= set(body)
    assert body["service"] == round(row.service * 1e9) == 5_000_000
    assert body["requestor"]["rtt"] == 200_000
    assert body["requestor"]["name"] == "req" and body["responder"]["server"] == "c-2"
    assert body["start"].startswith("1970-01-01T00:00:") and body["start"].endswith("Z")
    sizes = r.messages.set_index("msg_id")["size"]
    assert (sizes[r.service_latency.msg_id] > 200).all()  # the JSON's length


def test_sampling_percentage_is_honoured_with_nats_servers_off_by_one():
    """sampling p% tracks a request with probability (p+1)/100, as shouldSample does."""
    accounts = {
        "API": {"exports": [{"service": "api.>", "latency": {"sampling": "30%", "subject": "l"}}]},
        "APP": {"imports": [{"service": {"account": "API", "subject": "api.>"}}]},
    }
    wl = {
        "name": "svc",
        "kind": "request_reply",
        "subject": "api.get",
        "requesters": {"count": 4, "rate": "500/s", "account": "APP"},
        "responders": {"count": 2, "account": "API", "queue": "q", "service_time": "100us"},
    }
    r = sim.run(scenario([wl], duration="2s", accounts=accounts))
    n = (r.requests.outcome == "ok").sum()
    assert n > 3000
    share = len(r.service_latency) / n
    assert share == pytest.approx(0.31, abs=0.03)


def test_no_tracking_without_latency_on_the_export():
    """An export without ``latency`` produces no samples."""
    accounts = {
        "API": {"exports": [{"service": "api.>"}]},
        "APP": {"imports": [{"service": {"account": "API", "subject": "api.>"}}]},
    }
    wl = {
        "name": "svc",
        "kind": "request_reply",
        "subject": "api.get",
        "requesters": {"count": 1, "rate": "50/s", "account": "APP"},
        "responders": {"count": 1, "account": "API"},
    }
    r = sim.run(scenario([wl], accounts=accounts))
    assert len(r.requests) > 50 and r.service_latency.empty


def test_samples_are_deterministic():
    """Same scenario, same seed: the same samples, bit for bit."""
    sc = tracked(
        {"count": 3},
        {"count": 3, "queue": "q", "service_time": {"dist": "exponential", "mean": "2ms"}},
    )
    a, b = sim.run(sc).service_latency, sim.run(sc).service_latency
    assert a.equals(b) and len(a) > 10
