"""JetStream: PubAcks after quorum commit, de-duplication, redelivery, failover, no acked loss."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim
from sim.analysis.guarantees import guarantee_table
from sim.analysis.jetstream import end_to_end_latency, jetstream_table
from sim.model.jetstream.raft import ELECTION_TIMEOUT, HEARTBEAT
from sim.plots import figures
from tests.conftest import ROOT, scenario
from tests.test_accounting import check_balance
from tests.test_cli_validate import validate
from tests.test_supercluster import supercluster

ROUTE = 0.001  # one way, constant
CLIENT = 0.0001


def js_scenario(
    publishers: dict[str, Any] | None = None,
    consumers: list[dict[str, Any]] | None = None,
    stream: dict[str, Any] | None = None,
    consumer: dict[str, Any] | None = None,
    faults: list[dict[str, Any]] | None = None,
    duration: str = "3s",
    seed: int = 1,
    **extra: Any,
) -> dict[str, Any]:
    """One R3 stream ORDERS on c-1 (leader), c-2, c-3 and one workload publishing to it."""
    pubs = {"count": 1, "servers": ["c-1"], "rate": "20/s", "arrival": "constant"}
    pubs.update(publishers or {})
    work = {"name": "orders", "kind": "jetstream", "subject": "orders.new", "publishers": pubs}
    if consumers is not None:
        work["consumers"] = consumers
    s = {
        "name": "ORDERS",
        "subjects": ["orders.>"],
        "replicas": 3,
        "servers": ["c-1", "c-2", "c-3"],
    }
    s.update(stream or {})
    c = {"stream": "ORDERS", "name": "billing"}
    c.update(consumer or {})
    return scenario(
        [work],
        duration=duration,
        route=f"{ROUTE * 1000}ms",
        client=f"{CLIENT * 1e6:.0f}us",
        seed=seed,
        streams=[s],
        consumers=[c],
        faults=faults or [],
        **extra,
    )


def test_puback_comes_after_a_quorum_has_written():
    """A PubAck reaches the publisher no sooner than one round trip to a follower after capture."""
    r = sim.run(js_scenario())
    p = r.js_publishes
    assert (p.outcome == "acked").all() and len(p) > 0
    rtt = 2 * CLIENT + 2 * ROUTE  # publish in, append out and back, PubAck out
    assert ((p.end - p.publish_time) >= rtt - 1e-9).all()
    r1 = sim.run(js_scenario(stream={"replicas": 1, "servers": ["c-1"]}))
    p1 = r1.js_publishes
    assert ((p1.end - p1.publish_time) < ROUTE).all()  # R1: nobody to wait for


def test_no_puback_without_quorum():
    """With both followers of an R3 stream down, nothing published afterwards is acknowledged."""
    faults = [{"at": "1s", "crash": "c-2"}, {"at": "1s", "crash": "c-3"}]
    r = sim.run(js_scenario(faults=faults, publishers={"retries": 0, "ack_timeout": "500ms"}))
    p = r.js_publishes
    late = p[p.publish_time > 1.0]
    assert len(late) > 0
    assert set(late.outcome) == {"timeout"}
    assert (p[p.publish_time < 0.99].outcome == "acked").all()
    assert set(r.js_captures[r.js_captures.time > 1.0].outcome) <= {
        "stream_no_quorum",
        "in_flight_at_end",
    }


def _retrying(window: str, retry_wait: str) -> dict[str, Any]:
    """Every attempt times out (1 ms < a round trip) and is retried: each reaches the stream."""
    return js_scenario(
        publishers={
            "ack_timeout": "1ms",
            "retries": 2,
            "retry_wait": retry_wait,
            "msg_id": True,
            "rate": "5/s",
        },
        stream={"duplicate_window": window},
        duration="2s",
    )


def test_duplicates_inside_the_window_are_stored_once():
    """Retries with the same Nats-Msg-Id inside the duplicate window store the message once."""
    r = sim.run(_retrying("2m", "100ms"))
    t = jetstream_table(r).loc["orders"]
    # the retry is answered "duplicate" at once (no quorum to wait for): no third attempt
    assert t.published > 0 and t.retries == t.published
    assert t.acked == t.published
    assert t.stored == t.published
    assert t.stored_duplicates == 0
    assert t.deduplicated == t.retries


def test_duplicates_after_the_window_are_stored_again():
    """A retry arriving after the duplicate window has passed is stored as a new message."""
    r = sim.run(_retrying("50ms", "100ms"))
    t = jetstream_table(r).loc["orders"]
    assert t.published > 0
    assert t.stored_duplicates == t.retries == 2 * t.published
    assert t.deduplicated == 0


def test_the_duplicate_window_defaults_to_two_minutes_or_max_age():
    """As checkStreamCfg: 2 min, or max_age when shorter; a window above max_age is refused."""
    from sim.scenario.spec import StreamSpec

    assert StreamSpec(name="S", subjects=["s"]).dedupe_window == 120.0
    assert StreamSpec(name="S", subjects=["s"], max_age="30s").dedupe_window == 30.0
    assert StreamSpec(name="S", subjects=["s"], duplicate_window="5s").dedupe_window == 5.0
    with pytest.raises(ValueError, match="larger than max_age"):
        StreamSpec(name="S", subjects=["s"], max_age="30s", duplicate_window="1m")


def test_unacked_message_is_redelivered_after_ack_wait_until_max_deliver():
    """A message nobody acks is redelivered every ack_wait, max_deliver times in all."""
    consumer = {"ack_wait": "500ms", "max_deliver": 3}
    slow = [{"count": 1, "servers": ["c-2"], "consumer": "billing", "process_time": "1h"}]
    r = sim.run(js_scenario(consumers=slow, consumer=consumer, duration="4s"))
    d = r.js_deliveries
    early = d[d.app.isin(r.js_stored[r.js_stored.time < 2.0].app)]
    counts = early.groupby("app").size()
    assert len(counts) > 10 and (counts == 3).all()
    assert sorted(set(early.delivery)) == [1, 2, 3]
    gaps = early.sort_values("receive_time").groupby("app").receive_time.diff().dropna()
    assert gaps.to_list() == pytest.approx([0.5] * len(gaps), abs=1e-6)  # constant latencies


def test_backoff_sets_the_wait_before_each_redelivery():
    """With backoff [200ms, 600ms] the 2nd delivery comes 200 ms after the 1st, the 3rd 600 ms."""
    consumer = {"backoff": ["200ms", "600ms"], "max_deliver": 3}
    slow = [{"count": 1, "servers": ["c-2"], "consumer": "billing", "process_time": "1h"}]
    r = sim.run(js_scenario(consumers=slow, consumer=consumer, duration="4s"))
    d = r.js_deliveries.sort_values("receive_time")
    first = d[d.app == d.app.min()].receive_time.to_numpy()
    assert len(first) == 3
    assert first[1] - first[0] == pytest.approx(0.2, abs=0.005)
    assert first[2] - first[1] == pytest.approx(0.6, abs=0.005)


def test_max_ack_pending_caps_what_waits_for_an_ack():
    """With max_ack_pending 3 and no acks, only three messages are ever delivered."""
    slow = [{"count": 1, "servers": ["c-2"], "consumer": "billing", "process_time": "1h"}]
    consumer = {"max_ack_pending": 3, "ack_wait": "500ms"}
    r = sim.run(js_scenario(consumers=slow, consumer=consumer, duration="2s"))
    d = r.js_deliveries
    assert d.seq.nunique() == 3 and d.delivery.max() > 1  # the same three, redelivered
    assert len(r.js_stored) > 20


def _failover_redelivery(durable: bool) -> sim.Result:
    """Consumer acks after 3 s; the leader crashes at 1 s; ack wait 5 s."""
    cons = [{"count": 1, "servers": ["c-3"], "consumer": "billing", "process_time": "3s"}]
    faults = [{"at": "1s", "for": "30s", "crash": "c-1"}]
    consumer = {"ack_wait": "5s", "durable": durable}
    pubs = {"stop": "0.9s", "rate": "10/s"}
    return sim.run(
        js_scenario(
            consumers=cons, consumer=consumer, faults=faults, publishers=pubs, duration="20s"
        )
    )


def test_a_new_leader_redelivers_what_was_delivered_and_not_acked():
    """Consumer state is replicated: the new leader redelivers unacked messages as delivery 2."""
    r = _failover_redelivery(durable=True)
    d = r.js_deliveries
    new = _leader_changes(r)
    t_new = new[new.time > 1.0].time.min()
    again = d[d.receive_time > t_new].sort_values("receive_time").drop_duplicates("seq")
    assert set(again.seq) == set(r.js_stored.seq) != set()  # every ack went nowhere
    assert set(again.delivery) == {2}  # the count goes on from the replicated state
    first = d[d.delivery == 1].set_index("seq").receive_time
    assert (again.receive_time.to_numpy() >= first[again.seq].to_numpy() + 5.0).all()


def test_an_ephemeral_consumer_starts_over_on_a_new_leader():
    """An ephemeral consumer's state is not replicated: the new leader delivers anew (count 1)."""
    r = _failover_redelivery(durable=False)
    d = r.js_deliveries
    counts = d.groupby("seq").delivery.apply(list)
    assert len(counts) > 0 and all(c[:2] == [1, 1] for c in counts)


def test_acked_messages_are_delivered_once():
    """A consumer that acks at once gets every stored message exactly once (no faults)."""
    fast = [{"count": 1, "servers": ["c-3"], "consumer": "billing"}]
    r = sim.run(js_scenario(consumers=fast))
    t = jetstream_table(r).loc["orders"]
    assert t.delivered == t.stored == t.published
    assert t.delivered_more_than_once == 0 and t.redeliveries == 0
    assert len(r.js_acks) == t.stored


def test_pull_consumer_gets_every_message():
    """A pull consumer's client, asking for batches, receives every stored message once."""
    pull = [{"count": 1, "servers": ["c-3"], "consumer": "billing"}]
    r = sim.run(js_scenario(consumers=pull, consumer={"mode": "pull", "batch": 4}))
    t = jetstream_table(r).loc["orders"]
    assert t.delivered == t.stored == t.published > 0
    assert t.delivered_more_than_once == 0


def test_a_full_stream_with_discard_new_refuses_with_an_error():
    """max_msgs 5 and discard new: five messages are stored, later ones get an error PubAck."""
    r = sim.run(js_scenario(stream={"max_msgs": 5, "discard": "new"}, duration="1s"))
    p = r.js_publishes.sort_values("publish_time")
    assert list(p.outcome[:5]) == ["acked"] * 5
    assert len(p) > 5 and set(p.outcome[5:]) == {"error"}
    assert set(r.js_captures.outcome) == {"stored", "stream_full"}


def test_a_full_stream_with_discard_old_drops_the_oldest():
    """max_msgs 5 and discard old: every publish is acked; a late consumer gets the last five."""
    late = [{"count": 1, "servers": ["c-3"], "consumer": "billing", "start": "2s"}]
    sc = js_scenario(stream={"max_msgs": 5}, consumers=late, publishers={"stop": "1s"})
    r = sim.run(sc)
    assert (r.js_publishes.outcome == "acked").all()
    got = sorted(r.js_deliveries.seq)
    assert got == sorted(r.js_stored.seq)[-5:]


def test_same_seed_same_jetstream_records():
    """Same scenario and seed, a leader crash included: identical JetStream tables."""
    faults = [{"at": "1s", "for": "6s", "crash": "c-1"}]
    fast = [{"count": 1, "servers": ["c-3"], "consumer": "billing"}]
    a, b = (sim.run(js_scenario(faults=faults, consumers=fast, duration="10s")) for _ in "ab")
    for name in ("js_publishes", "js_captures", "js_stored", "js_deliveries", "js_acks"):
        assert a.frames[name].equals(b.frames[name]), name
    assert a.events.equals(b.events)


def test_a_restarted_pull_consumer_pulls_again():
    """A pull consumer's process killed and restarted asks for messages again."""
    pull = [{"count": 1, "servers": ["c-3"], "consumer": "billing"}]
    kill = [{"at": "1s", "for": "1s", "kill_clients": {"workload": "orders", "role": "consumer"}}]
    consumer = {"mode": "pull", "batch": 4, "expires": "500ms", "ack_wait": "1s"}
    r = sim.run(js_scenario(consumers=pull, consumer=consumer, faults=kill, duration="4s"))
    t = jetstream_table(r).loc["orders"]
    assert t.stored == t.published > 0 and t.never_delivered == 0
    assert (r.js_deliveries.receive_time > 2.0).any()


@pytest.mark.parametrize("mode", ["push", "pull"])
def test_a_stream_in_one_cluster_serves_clients_in_another(mode):
    """Publishers and consumers across a gateway: every message acked, stored, delivered once.

    PubAcks and pull deliveries come back by the ``_GR_.`` reply mapping.
    """
    clusters = {"a": {"region": "r1", "servers": 3}, "b": {"region": "r2", "servers": 2}}
    work = {
        "name": "orders",
        "kind": "jetstream",
        "subject": "orders.new",
        "publishers": {"count": 2, "cluster": "b", "rate": "20/s", "start": "500ms"},
        "consumers": {"count": 1, "cluster": "b", "consumer": "billing"},
    }
    sc = supercluster([work], clusters=clusters)
    sc["streams"] = [{"name": "ORDERS", "subjects": ["orders.>"], "replicas": 3, "cluster": "a"}]
    sc["consumers"] = [{"stream": "ORDERS", "name": "billing", "mode": mode}]
    r = sim.run(sc)
    t = jetstream_table(r).loc["orders"]
    assert t.published > 0 and t.retries == 0
    assert t.acked == t.stored == t.delivered_once == t.published
    lat = end_to_end_latency(r).latency
    assert (lat > 0.040).all()  # two gateway crossings of 20 ms at least


def test_chaos_never_kills_a_servers_internal_client():
    """Random client kills pick workload clients only, never a server's JetStream client."""
    fast = [{"count": 1, "servers": ["c-3"], "consumer": "billing"}]
    chaos = {"rate": "5/s", "kinds": ["kill_clients"], "for": "200ms"}
    r = sim.run(js_scenario(consumers=fast, chaos=chaos, duration="4s"))
    killed = r.events[r.events.kind == "client_killed"].detail
    assert len(killed) > 0 and not killed.str.startswith("$JS").any()


def _leader_changes(r: sim.Result) -> Any:
    e = r.events
    return e[e.kind == "stream_leader"]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_failover_time_is_within_the_election_bounds(seed):
    """After the leader's server crashes a survivor leads within the raft.go election timeouts.

    The followers heard the leader at most one heartbeat before the crash, so
    the new leader comes 4 s − 1 s to 9 s (plus a vote round trip) after it.
    """
    faults = [{"at": "2s", "for": "20s", "crash": "c-1"}]
    r = sim.run(js_scenario(faults=faults, duration="15s", seed=seed))
    new = _leader_changes(r)
    new = new[new.time > 2.0]
    assert len(new) >= 1
    first = new.iloc[0]
    low, high = ELECTION_TIMEOUT
    assert low - HEARTBEAT <= first.time - 2.0 <= high + 4 * ROUTE
    assert first.server in ("c-2", "c-3")


def test_r1_data_is_unavailable_until_its_server_returns():
    """An R1 stream's server down: publishes get 503; back up, its messages are delivered."""
    faults = [{"at": "1s", "for": "2s", "crash": "c-2"}]
    stream = {"replicas": 1, "servers": ["c-2"]}
    cons = [{"count": 1, "servers": ["c-3"], "consumer": "billing", "start": "2.5s"}]
    pubs = {"retries": 0, "stop": "2s"}
    r = sim.run(js_scenario(stream=stream, consumers=cons, faults=faults, publishers=pubs))
    p = r.js_publishes
    down = p[(p.publish_time > 1.0) & (p.publish_time < 2.0)]
    assert len(down) > 0 and set(down.outcome) == {"no_responders"}
    t = jetstream_table(r).loc["orders"]
    assert t.stored == t.acked > 0
    got = r.js_deliveries
    assert set(got.app) == set(r.js_stored.app)
    assert got.receive_time.min() >= 3.0  # nothing while its server was down


def test_a_partitioned_leader_takes_no_writes_and_the_majority_elects_another():
    """The leader cut off alone commits nothing; the other two elect a leader and go on."""
    faults = [{"at": "1s", "for": "12s", "partition": [["c-1"], ["c-2", "c-3"]]}]
    pubs = {"count": 2, "servers": ["c-1", "c-2"], "retries": 0, "ack_timeout": "1s"}
    r = sim.run(js_scenario(faults=faults, publishers=pubs, duration="12s"))
    p = r.js_publishes
    cut = p[(p.client == "orders.pub0") & (p.publish_time > 1.01) & (p.publish_time < 11)]
    assert len(cut) > 0 and "acked" not in set(cut.outcome)
    lead = _leader_changes(r)
    new = lead[lead.time > 1.0]
    assert len(new) and set(new.server) <= {"c-2", "c-3"}
    after = p[(p.client == "orders.pub1") & (p.publish_time > new.time.min() + 0.1)]
    assert len(after) > 0 and (after.outcome == "acked").all()
    stepped = r.events[(r.events.kind == "stream_follower") & (r.events.server == "c-1")]
    assert len(stepped) and stepped.time.min() >= 11.0  # lost quorum after 10 s


def test_two_consumers_each_get_every_message():
    """Two consumers on one stream each receive every message: that is no duplicate."""
    sc = js_scenario(
        consumers=[
            {"count": 1, "servers": ["c-2"], "consumer": "billing"},
            {"count": 1, "servers": ["c-3"], "consumer": "audit"},
        ]
    )
    sc["consumers"].append({"stream": "ORDERS", "name": "audit"})
    r = sim.run(sc)
    t = jetstream_table(r).loc["orders"]
    assert t.published > 0
    assert t.delivered == 2 * t.published and t.delivered_once == t.delivered
    assert t.delivered_more_than_once == 0 and t.never_delivered == 0


#: examples of the crash property: a few by default, many with HYPOTHESIS_PROFILE=deep
CRASH_EXAMPLES = 300 if os.environ.get("HYPOTHESIS_PROFILE") == "deep" else 8


@settings(max_examples=CRASH_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    at=st.floats(min_value=0.2, max_value=5.0),
    down=st.floats(min_value=0.5, max_value=12.0),
    victim=st.sampled_from(["c-1", "c-2", "c-3"]),
    cut=st.booleans(),
    seed=st.integers(min_value=1, max_value=10_000),
)
def test_no_acknowledged_message_is_lost_with_one_server_crashed(at, down, victim, cut, seed):
    """R3 with one server crashed (or cut off) at a random time: every acked message stays.

    The core books balance too: every publish, PubAck, delivery and ack is a
    core message delivered or dropped with a reason (data a partition still
    holds when the run ends: ``in_flight_at_end``).
    """
    others = [s for s in ("c-1", "c-2", "c-3") if s != victim]
    action = {"partition": [[victim], others]} if cut else {"crash": victim}
    faults = [{"at": f"{at:.3f}s", "for": f"{down:.3f}s", **action}]
    pubs = {"count": 2, "servers": ["c-1", "c-2"], "rate": "40/s", "ack_timeout": "500ms"}
    r = sim.run(js_scenario(faults=faults, publishers=pubs, duration="8s", seed=seed))
    t = jetstream_table(r).loc["orders"]
    assert t.acked > 0
    assert t.acked_lost == 0
    assert r.js_stored.in_log.all()
    check_balance(r)


def test_core_mode_delivers_at_most_once():
    """The same workload in core mode publishes plainly: no retries, nothing stored, no dups."""
    sc = js_scenario(consumers=[{"count": 1, "servers": ["c-3"]}])
    sc["workloads"][0]["mode"] = "core"
    sc["workloads"][0]["subject"] = "core.orders"
    r = sim.run(sc)
    t = jetstream_table(r).loc["orders"]
    assert t.published > 0 and t.retries == 0 and t.stored == 0
    assert t.delivered == t.published and t.delivered_more_than_once == 0


# ------------------------------------------------------------ the comparison

COMPARISON = ROOT / "scenarios" / "guarantees-core-vs-jetstream.yaml"


@pytest.fixture(scope="module")
def comparison() -> sim.Result:
    """The bundled core vs JetStream comparison, run once for the tests below."""
    return sim.run(COMPARISON)


def test_comparison_duplicates_appear_without_ids_and_disappear_with_them(comparison):
    """Under the same faults, retries store duplicates without msg ids, none with them."""
    t = jetstream_table(comparison)
    assert t.loc["js", "stored_duplicates"] > 0
    assert t.loc["js-msgid", "stored_duplicates"] == 0
    assert t.loc["js-msgid", "deduplicated"] > 0
    assert (
        t.loc["js-msgid", "delivered_more_than_once"] * 20 < t.loc["js", "delivered_more_than_once"]
    )
    assert t.loc["core", "delivered_more_than_once"] == 0
    assert (t.acked_lost == 0).all()


def test_comparison_shows_jetstreams_latency_price(comparison):
    """End-to-end, JetStream's median is above core's (a quorum round trip and the PubAck)."""
    lat = end_to_end_latency(comparison).groupby("workload").latency.median()
    assert lat["js"] > lat["core"] and lat["js-msgid"] > lat["core"]


def test_every_jetstream_publish_is_accounted_for(comparison):
    """Each publish attempt reached a stream leader (and has an outcome) or has a drop reason."""
    p, c, drops = comparison.js_publishes, comparison.js_captures, comparison.drops
    js = p[p.workload != "core"]
    assert js.msg_id.is_unique
    captured = set(c.msg_id)
    missed = set(js.msg_id) - captured
    assert missed <= set(drops.msg_id)
    assert set(c.outcome) <= {
        "stored",
        "duplicate",
        "stream_full",
        "stream_no_quorum",
        "in_flight_at_end",
    }
    stored = c[c.outcome == "stored"]
    assert len(stored) == len(comparison.js_stored)
    assert set(p[p.workload == "core"].outcome) == {"sent"}


def test_guarantee_table_gains_jetstream_columns(comparison):
    """The guarantee table carries stored, acked, delivered once or more, retries per workload."""
    g = guarantee_table(comparison)
    for col in ("stored", "acked", "delivered_at_least_once", "delivered_more_than_once"):
        assert col in g.columns
    assert g.loc["js", "publish_retries"] > 0 and g.loc["core", "stored"] == 0
    assert g.loc["js-msgid", "deduplicated"] > 0


def test_jetstream_figures_are_in_the_plots(comparison):
    """A run with JetStream workloads gets the side-by-side bars and the latency CDFs."""
    slugs = [slug for slug, _, _ in figures(comparison)]
    assert "jetstream" in slugs and "jetstream_latency" in slugs


def test_report_has_the_jetstream_section(comparison, tmp_path):
    """The HTML report shows the JetStream guarantee table and the side-by-side figures."""
    import matplotlib

    matplotlib.use("Agg")
    from sim.report import write_report

    html = write_report(comparison, tmp_path).read_text()
    assert "JetStream guarantees" in html and "stored twice+" in html
    assert (tmp_path / "figures" / "jetstream.png").is_file()
    assert (tmp_path / "figures" / "jetstream_latency.png").is_file()
    saved = sim.Result.load(comparison.save(tmp_path / "run"))
    assert jetstream_table(saved).equals(jetstream_table(comparison))


# ------------------------------------------------------------- validation

BASE = """\
name: v
duration: 5s
topology:
  clusters:
    east: {servers: 3}
streams:
  - {name: ORDERS, subjects: ["orders.>"], replicas: 3}
consumers:
  - {stream: ORDERS, name: billing}
workloads:
  - name: w
    kind: jetstream
    subject: orders.new
    publishers: {count: 1, rate: 5/s}
    consumers: {count: 1, consumer: billing}
"""


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "{stream: ORDERS, name: billing}",
            "{stream: ORDRES, name: billing}",
            "consumers[0].stream: unknown stream 'ORDRES'",
        ),
        (
            "replicas: 3}",
            "replicas: 5}",
            "streams[0].replicas: 5 replicas, but cluster 'east' has 3 servers",
        ),
        (
            "subject: orders.new",
            "subject: invoices.new",
            "workloads[0].subject: no stream captures 'invoices.new'",
        ),
        (
            "consumer: billing}",
            "consumer: audit}",
            "workloads[0].consumers.consumer: unknown consumer 'audit'",
        ),
        (
            "replicas: 3}",
            "replicas: 3}\n  - {name: MORE, subjects: [orders.eu]}",
            "streams[1].subjects[0]: 'orders.eu' overlaps the subjects of stream 'ORDERS'",
        ),
        (
            "consumer: billing}\n",
            "consumer: billing}\n  - {name: p, kind: pubsub, subject: x, publishers: {count: 1, "
            "rate: 1/s}}\nexpect:\n  - js_acked_lost{workload=p} == 0\n",
            "js_acked_lost: workload 'p' is pubsub, not jetstream",
        ),
        (
            "{stream: ORDERS, name: billing}",
            "{stream: ORDERS, name: billing, max_deliver: 2, backoff: [1s, 2s]}",
            "max_deliver must be greater than the number of backoff values",
        ),
    ],
)
def test_bad_jetstream_input_is_one_line_exit_2(tmp_path, old, new, message):
    """Bad stream / consumer / workload references are one-line errors naming the field, exit 2."""
    proc, _ = validate(tmp_path, BASE.replace(old, new))
    assert proc.returncode == 2
    assert message in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
