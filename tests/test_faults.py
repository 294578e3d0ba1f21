"""Faults as an operator sees them: what each kind closes, loses (and why), and how it heals.

One or a few tests per fault kind, each on a small scenario with constant
latencies (1 ms routes, 100 us client legs) so times can be checked exactly
where the rule is exact.  Every run goes through :func:`run`, which also
checks the books: each owed copy of a message is one owed delivery or one
non-``no_interest`` drop, and no subscriber client gets a message twice or
out of publish order (``guarantee_table``'s ``duplicated`` / ``out_of_order``).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest

import sim
from sim.analysis.faults import convergence, fault_timeline, reconnect_times
from sim.analysis.guarantees import guarantee_table
from tests.conftest import scenario

#: DropReason codes carried as event values
LINK_DOWN, SERVER_DOWN, PARTITION, SLOW_SERVER, LAME_DUCK = 7, 8, 9, 11, 14
EPS = 1e-9
#: fast detection: routes ping every min(2 s, 1 s) = 1 s, gateways every min(2 s, 1 s)
FAST_PINGS = {"ping_interval": "2s", "route_ping_max": "1s", "gateway_ping_max": "1s"}


# ----------------------------------------------------------------- helpers
def pubsub(pub: dict, *subs: dict, name: str = "w", subject: str = "t.x") -> dict:
    return {
        "name": name,
        "kind": "pubsub",
        "subject": subject,
        "publishers": pub,
        "subscribers": list(subs),
    }


def pub(rate: str = "200/s", servers: list[str] | None = None, **kw: Any) -> dict:
    """One publisher (on c-1 unless told), constant arrivals from 0.5 s."""
    out = {"count": 1, "rate": rate, "arrival": "constant", "start": "0.5s", **kw}
    out["servers"] = servers or ["c-1"]
    return out


def check_books(r: sim.Result) -> None:
    """Owed = owed deliveries + non-no_interest drops per message; no duplicates, no reordering."""
    m = r.messages[r.messages.expected > 0].set_index("msg_id").expected
    d = r.deliveries
    owed_d = d[d.expected].groupby("msg_id").size()
    lost = r.drops[r.drops.reason != "no_interest"].groupby("msg_id").size()
    got = owed_d.reindex(m.index, fill_value=0) + lost.reindex(m.index, fill_value=0)
    bad = m[got != m]
    assert bad.empty, f"books do not balance for messages {list(bad.index[:10])}"
    # no owed delivery to one subscription twice
    assert not d[d.expected].duplicated(["msg_id", "sub_id"]).any()
    g = guarantee_table(r)
    assert (g["duplicated"] == 0).all(), g["duplicated"]
    assert (g["out_of_order"] == 0).all(), g["out_of_order"]


def run(sc: dict, seed: int = 1) -> sim.Result:
    """Run ``sc`` (the runner raises if a copy is booked twice or never) and check the books."""
    r = sim.run(sc, seed=seed)
    check_books(r)
    return r


def events(r: sim.Result, kind: str) -> pd.DataFrame:
    e = r.events
    return e[e.kind == kind].sort_values("time", kind="stable")


def route_pairs(ev: pd.DataFrame) -> set[frozenset[str]]:
    """The server pairs of route_up/route_down events."""
    return {frozenset((s, p)) for s, p in zip(ev.server, ev.detail, strict=True)}


def with_server_opts(sc: dict, **opts: Any) -> dict:
    sc["topology"]["server"] = opts
    return sc


# ------------------------------------------------------------------ crash
def test_crash_clients_fail_over_routes_close_and_come_back():
    """A crashed server's clients move to a survivor at once; in-flight copies are server_down;
    its routes close at the crash and come back (converged) after the restart."""
    sc = scenario(
        [pubsub(pub("2000/s"), {"per_server": 1})],
        duration="5s",
        faults=[{"at": "1s", "for": "2s", "crash": "c-2"}],
    )
    r = run(sc)
    down = events(r, "server_down")
    assert list(zip(down.time, down.server, down.detail, strict=True)) == [(1.0, "c-2", "crash")]
    # every route of c-2 closes at the crash instant, seen from both ends
    rd = events(r, "route_down")
    assert set(rd.time) == {1.0} and set(rd.value) == {SERVER_DOWN}
    assert route_pairs(rd) == {frozenset(("c-1", "c-2")), frozenset(("c-2", "c-3"))}
    assert len(rd) == 4
    # its subscriber disconnects now and lands on a surviving server at once
    rt = reconnect_times(r)
    assert list(rt.client) == ["w.sub1"]
    row = rt.iloc[0]
    assert row.cause == "server_down" and row.from_server == "c-2"
    assert row.to_server in ("c-1", "c-3")
    assert row.disconnected_at == 1.0 and row.gap < 0.01
    subs = r.subscriptions[r.subscriptions.client == "w.sub1"]
    assert list(subs.server) == ["c-2", row.to_server]
    assert subs.t_sub.iloc[1] == pytest.approx(row.reconnected_at)
    assert subs.lost_reason.iloc[0] == "server_down"
    # what was on its way to c-2 at the crash is lost as server_down, nothing else is lost
    drops = r.drops
    assert set(drops.reason) <= {"server_down", "interest_not_yet_propagated"}
    sd = drops[drops.reason == "server_down"]
    assert len(sd) >= 1 and set(sd.subscriber) == {"w.sub1"}
    assert (sd.time == 1.0).any()
    assert sd.time.between(1.0, row.reconnected_at).all()
    # later copies reach it on its new server
    after = r.deliveries[(r.deliveries.subscriber == "w.sub1") & (r.deliveries.publish_time > 1.1)]
    assert len(after) > 1000 and set(after.server) == {row.to_server}
    # restart: routes come back with both peers, then the cluster is converged again
    up = events(r, "server_up")
    assert list(zip(up.time, up.server, up.detail, strict=True)) == [(3.0, "c-2", "restart")]
    ru = events(r, "route_up")
    assert route_pairs(ru) == {frozenset(("c-1", "c-2")), frozenset(("c-2", "c-3"))}
    assert ru.time.between(3.0, 3.1).all()
    conv = convergence(r)
    last = conv.iloc[-1]
    assert last.start == 3.0 and ru.time.max() <= last.end < 3.1


@pytest.mark.parametrize(
    ("profile", "jitter"),
    [("nats.go", 0.1), ("nats.py", 0.0)],
)
def test_single_server_crash_clients_reconnect_after_restart_within_wait_bounds(profile, jitter):
    """With no other server, clients sleep reconnect_wait (2 s, + up to 100 ms for nats.go)
    after each failed pass, so they reconnect only after the restart, on a sleep boundary."""
    client = {"profile": profile}
    sc = scenario(
        [pubsub(pub(client=client), {"count": 4, "client": client})],
        servers=1,
        duration="7s",
        faults=[{"at": "1s", "for": "3s", "crash": "c-1"}],
    )
    r = run(sc)
    rt = reconnect_times(r)
    assert set(rt.client) == {"w.pub0", "w.sub0", "w.sub1", "w.sub2", "w.sub3"}
    assert (rt.cause == "server_down").all() and (rt.disconnected_at == 1.0).all()
    assert (rt.to_server == "c-1").all() and not rt.gave_up.any()
    # restart at 4 s: the attempt after the first 2 s sleep is refused, the next one after
    # a second sleep succeeds (plus the handshake: two round trips of 2 x 100 us)
    assert (rt.reconnected_at >= 4.0).all()
    handshake = 4 * 100e-6
    lo, hi = 2 * 2.0 + handshake, 2 * (2.0 + jitter) + handshake
    assert rt.gap.between(lo - 1e-6, hi + 1e-6).all(), rt.gap
    if jitter:
        assert rt.gap.nunique() > 1  # jitter drawn per client
    else:
        assert rt.gap.round(9).eq(round(lo, 9)).all()  # nats.py: exactly 2 s sleeps
    # copies owed to a subscriber that is not back yet are lost as server_down; the
    # publisher's buffered publishes reach whoever is back (nothing else is lost)
    assert set(r.drops.reason) <= {"server_down"}


def test_connect_overhead_lengthens_the_reconnect_gap_and_its_losses():
    """A client option for the library's own reconnect work: the gap grows by it, and so
    do the copies its subscribers miss while reconnecting (server_down)."""

    def crash_run(overhead: str) -> sim.Result:
        client = {"connect_overhead": overhead}
        sc = scenario(
            [pubsub(pub("2000/s", servers=["c-1"]), {"count": 3, "servers": ["c-2"]})],
            duration="3s",
            faults=[{"at": "1s", "for": "1s", "crash": "c-2"}],
        )
        sc["clients"] = client
        return run(sc)

    quick, slow = crash_run("0s"), crash_run("20ms")
    gap_quick = reconnect_times(quick).gap
    gap_slow = reconnect_times(slow).gap
    assert (gap_slow - gap_quick).round(9).eq(0.02).all()
    lost = {k: (r.drops.reason == "server_down").sum() for k, r in (("q", quick), ("s", slow))}
    assert lost["s"] >= lost["q"] + 3 * 30  # 20 ms at 2,000/s: ~40 copies per subscriber


# ----------------------------------------------------------- silent crash
def test_silent_crash_is_found_by_route_pings():
    """A machine that dies without closing TCP: nothing is noticed at once; routes close as
    stale after 2-3 route ping intervals (min(ping_interval, route_ping_max) = 1 s); clients
    find out by their own pings; what was owed to its subscriber is server_down."""
    sc = scenario(
        [pubsub(pub(), {"per_server": 1, "client": {"ping_interval": "1s"}})],
        duration="7s",
        faults=[{"at": "3.3s", "crash": "c-2", "silent": True}],
    )
    r = run(with_server_opts(sc, **FAST_PINGS))
    down = events(r, "server_down")
    assert list(zip(down.time, down.detail, strict=True)) == [(3.3, "silent_crash")]
    e = r.events
    at_crash = e[(e.time == 3.3) & ~e.kind.isin(["fault_start", "server_down"])]
    assert at_crash.empty, at_crash  # nothing closed at the crash
    rd = events(r, "route_down")
    assert route_pairs(rd) == {frozenset(("c-1", "c-2")), frozenset(("c-2", "c-3"))}
    interval = 1.0
    assert rd.time.between(3.3 + 2 * interval, 3.3 + 3 * interval + EPS).all(), rd.time
    assert set(rd.value) == {SERVER_DOWN}
    # the client of c-2 pings every 1 s (2 out): stale in the same window, then moves
    rt = reconnect_times(r)
    assert list(rt.client) == ["w.sub1"]
    assert 3.3 + 2 * interval <= rt.disconnected_at.iloc[0] <= 3.3 + 3 * interval + EPS
    assert rt.cause.iloc[0] == "server_down" and rt.to_server.iloc[0] in ("c-1", "c-3")
    lost = r.drops[r.drops.reason != "no_interest"]
    assert len(lost) > 100
    assert set(lost.reason) == {"server_down"} and set(lost.subscriber) == {"w.sub1"}
    # the others never miss a copy
    assert r.drops[r.drops.subscriber.isin(["w.sub0", "w.sub2"])].empty


# -------------------------------------------------------------- lame duck
def test_lame_duck_closes_clients_one_by_one_then_shuts_down():
    """Lame duck: after the grace period clients are closed one by one, spread over the
    rest of the duration (at most 1 s apart), land on other servers; then the server stops."""
    sc = scenario(
        [pubsub(pub(), {"count": 5, "servers": ["c-2"]}, {"count": 1, "servers": ["c-3"]})],
        duration="8s",
        faults=[{"at": "1s", "lame_duck": "c-2"}],
    )
    r = run(with_server_opts(sc, lame_duck_duration="5s", lame_duck_grace="2s"))
    assert list(events(r, "lame_duck").time) == [1.0]
    dis = events(r, "client_disconnected")
    assert len(dis) == 5 and set(dis.value) == {LAME_DUCK} and set(dis.server) == {"c-2"}
    assert dis.time.min() >= 1.0 + 2.0 - EPS
    gaps = dis.time.diff().dropna()
    assert (gaps <= 1.0 + EPS).all() and (gaps > 0).all()
    down = events(r, "server_down")
    assert list(down.server) == ["c-2"] and list(down.detail) == ["lame_duck"]
    t_down = down.time.iloc[0]
    assert dis.time.max() <= t_down <= 1.0 + 5.0 + EPS
    rd = events(r, "route_down")
    assert set(rd.time) == {t_down} and set(rd.value) == {LAME_DUCK}
    rt = reconnect_times(r)
    assert len(rt) == 5 and (rt.cause == "lame_duck").all()
    assert set(rt.to_server) <= {"c-1", "c-3"}  # never back to the lame-duck server
    landed = events(r, "client_reconnected")
    assert "c-2" not in set(landed.server)
    # the bystander on c-3 misses nothing; any loss is booked as lame_duck
    assert r.drops[r.drops.subscriber == "w.sub1.0"].empty
    assert set(r.drops.reason) <= {"lame_duck"}


# --------------------------------------------------------------- link down
def test_link_down_reset_loses_copies_on_that_route_only_and_redials():
    """A reset link closes the route at once; copies between its ends are link_down (no
    detour through a third server: one hop); other servers are unaffected; the route is
    redialled (every connect_retry = 1 s) and comes back soon after the link does."""
    sc = scenario(
        [pubsub(pub("2000/s"), {"per_server": 1})],
        duration="6s",
        faults=[{"at": "1s", "for": "2.5s", "link_down": ["c-1", "c-2"]}],
    )
    r = run(sc)
    rd = events(r, "route_down")
    assert route_pairs(rd) == {frozenset(("c-1", "c-2"))}
    assert set(rd.time) == {1.0} and set(rd.value) == {LINK_DOWN}
    assert events(r, "client_disconnected").empty
    d, drops = r.deliveries, r.drops
    # nothing published during the cut reaches c-2, nothing goes c-1>c-3>c-2
    cut = d[(d.publish_time > 1.0) & (d.publish_time < 3.5)]
    assert "c-2" not in set(cut.server)
    assert set(d.path) == {"c-1", "c-1>c-2", "c-1>c-3"}
    lost = drops[drops.reason != "no_interest"]
    assert set(lost.subscriber) == {"w.sub1"}
    assert set(lost.reason) <= {"link_down", "interest_not_yet_propagated"}
    assert (lost.reason == "link_down").sum() >= 2 * 2000  # the whole 2.5 s cut
    assert (lost[lost.reason == "link_down"].time == 1.0).any()  # in flight at the cut
    # c-3's subscriber gets everything
    assert len(d[d.subscriber == "w.sub2"]) == len(r.messages)
    ru = events(r, "route_up")
    assert route_pairs(ru) == {frozenset(("c-1", "c-2"))}
    assert ru.time.between(3.5, 3.5 + 1.0 + 0.1 + 0.01).all(), ru.time
    late = d[(d.subscriber == "w.sub1") & (d.publish_time > ru.time.max() + 0.01)]
    assert len(late) > 1000


def cut_scenario(fault: dict, duration: str = "8s") -> dict:
    sc = scenario([pubsub(pub(), {"per_server": 1})], duration=duration, faults=[fault])
    return with_server_opts(sc, **FAST_PINGS)


SILENT_CUTS = {
    "link_down": ({"link_down": ["c-1", "c-2"], "silent": True}, "link_down"),
    "partition": ({"partition": [["c-1"], ["c-2", "c-3"]]}, "partition"),
}


@pytest.mark.parametrize("kind", list(SILENT_CUTS))
def test_blackhole_healed_before_detection_loses_nothing_but_delivers_late(kind):
    """A blackholed path healed before the pings notice: no route closes, nothing is
    lost, and copies sent during the cut arrive after the heal (TCP retransmission)."""
    fault, _ = SILENT_CUTS[kind]
    r = run(cut_scenario({"at": "1.3s", "for": "0.5s", **fault}, duration="4s"))
    assert events(r, "route_down").empty and events(r, "client_disconnected").empty
    assert r.drops.empty
    d = r.deliveries
    far = {"link_down": {"c-2"}, "partition": {"c-2", "c-3"}}[kind]
    window = d[(d.publish_time > 1.3) & (d.publish_time < 1.8)]
    across = window[window.server.isin(far)]
    assert len(across) == 100 * len(far)
    assert (across.receive_time >= 1.8).all()
    assert (across.latency >= 1.8 - across.publish_time).all()
    assert across.latency.max() >= 0.5 - 0.01  # the first one waited the whole cut
    # the unaffected paths keep their latency
    assert d[d.server == "c-1"].latency.round(9).eq(0.0002).all()
    if kind == "link_down":
        assert d[d.server == "c-3"].latency.round(9).eq(0.0012).all()


@pytest.mark.parametrize("kind", list(SILENT_CUTS))
def test_blackhole_past_detection_closes_routes_as_stale_and_loses(kind):
    """A blackhole that lasts past 2-3 route ping intervals closes the routes as stale;
    copies are lost as link_down (silent link_down) or partition; healed, routes return."""
    fault, reason = SILENT_CUTS[kind]
    r = run(cut_scenario({"at": "1.3s", "for": "5s", **fault}))
    code = {"link_down": LINK_DOWN, "partition": PARTITION}[reason]
    rd = events(r, "route_down")
    want = {frozenset(("c-1", "c-2"))}
    if kind == "partition":
        want.add(frozenset(("c-1", "c-3")))
    assert route_pairs(rd) == want
    assert rd.time.between(1.3 + 2.0, 1.3 + 3.0 + EPS).all(), rd.time
    assert set(rd.value) == {code}
    lost = r.drops[r.drops.reason != "no_interest"]
    assert len(lost) > 500
    assert set(lost.reason) <= {reason, "interest_not_yet_propagated"}
    assert (lost.reason == reason).sum() > 500
    assert "w.sub0" not in set(lost.subscriber)  # same side as the publisher
    ru = events(r, "route_up")
    assert route_pairs(ru) == want and (ru.time >= 6.3).all()


def test_overlapping_cuts_nest_the_path_heals_when_the_last_one_ends():
    """Two link_down faults on the same route overlap: the end of the first does not
    bring the route back while the second lasts; it is redialled after the second ends."""
    faults = [
        {"at": "1s", "for": "1s", "link_down": ["c-1", "c-2"]},
        {"at": "1.5s", "for": "2s", "link_down": ["c-1", "c-2"]},
    ]
    sc = scenario([pubsub(pub(), {"per_server": 1})], duration="6s", faults=faults)
    r = run(sc)
    ru = events(r, "route_up")
    assert route_pairs(ru) == {frozenset(("c-1", "c-2"))}
    assert (ru.time >= 3.5).all()  # not at 2 s, when the first fault ended
    lost = r.drops[r.drops.reason == "link_down"]
    assert lost.time.max() > 3.0


def test_partition_between_clusters_closes_gateways_after_gateway_pings():
    """Partitioned clusters of a supercluster: gateways close as stale after 2-3 gateway
    ping intervals (min(ping_interval, gateway_ping_max) = 1 s); copies across are
    lost as partition; routes inside each cluster are untouched; healed, gateways return."""
    sc = {
        "name": "sc",
        "seed": 1,
        "duration": "10s",
        "topology": {
            "clusters": {"a": {"region": "r1", "servers": 2}, "b": {"region": "r2", "servers": 2}},
            "latency": {
                "intra_cluster": "1ms",
                "client": "100us",
                "regions": {"r1": {"r2": "20ms"}},
            },
            "processing": "0s",
            "server": FAST_PINGS,
        },
        "workloads": [pubsub(pub(servers=["a-1"]), {"per_server": 1})],
        "faults": [{"at": "2s", "for": "5s", "partition": ["a", "b"]}],
    }
    r = run(sc)
    gd = events(r, "gateway_down")
    assert set(gd.server) == {"a-1", "a-2", "b-1", "b-2"}
    assert gd.time.between(2.0 + 2.0, 2.0 + 3.0 + EPS).all(), gd.time
    assert set(gd.value) == {PARTITION}
    assert events(r, "route_down").empty
    lost = r.drops[r.drops.reason != "no_interest"]
    assert set(lost.reason) <= {"partition", "interest_not_yet_propagated"}
    assert (lost.reason == "partition").sum() > 500
    cut_off = set(r.clients[r.clients.server.isin(["b-1", "b-2"])].client)
    assert set(lost.subscriber) <= cut_off
    # the subscriber of a-2 (same cluster as the publisher) loses nothing
    assert lost[lost.server == "a-2"].empty
    gu = events(r, "gateway_up")
    assert set(gu.server) == {"a-1", "a-2", "b-1", "b-2"} and (gu.time >= 7.0).all()


# ----------------------------------------------------------------- latency
def test_latency_fault_adds_delay_between_named_servers_only_during_window():
    """latency add 50 ms between c-1 and c-2: that route's copies take 50 ms more during
    the window, other paths do not, and it returns to normal after."""
    sc = scenario(
        [pubsub(pub(), {"per_server": 1})],
        duration="4s",
        faults=[{"at": "1s", "for": "1s", "latency": {"between": ["c-1", "c-2"], "add": "50ms"}}],
    )
    r = run(sc)
    assert r.drops.empty
    d = r.deliveries
    during = d[(d.publish_time > 1.0) & (d.publish_time < 2.0)]
    after = d[d.publish_time > 2.1]
    before = d[d.publish_time < 1.0]
    lat = {
        name: part.groupby("server").latency.agg(["min", "max"]).round(9)
        for name, part in (("before", before), ("during", during), ("after", after))
    }
    for name in ("before", "after"):
        assert lat[name].loc["c-2"].tolist() == [0.0012, 0.0012]
    assert lat["during"].loc["c-2"].tolist() == [0.0512, 0.0512]
    for name in lat:
        assert lat[name].loc["c-3"].tolist() == [0.0012, 0.0012]
        assert lat[name].loc["c-1"].tolist() == [0.0002, 0.0002]


# ------------------------------------------------------------ kill clients
def test_killed_subscriber_is_owed_nothing_and_comes_back():
    """A killed subscriber is owed nothing while dead (no losses booked for it); with
    ``for:`` it restarts, reconnects and receives again."""
    sc = scenario(
        [pubsub(pub(), {"count": 2, "servers": ["c-2"]})],
        duration="4s",
        faults=[
            {
                "at": "1s",
                "for": "1s",
                "kill_clients": {"workload": "w", "role": "subscriber", "count": 1},
            }
        ],
    )
    r = run(sc)
    assert list(events(r, "client_killed").detail) == ["w.sub0"]
    # only copies already on the wire at the kill instant may be booked, as client_killed
    mine = r.drops[r.drops.subscriber == "w.sub0"]
    assert set(mine.reason) <= {"client_killed"} and (mine.time == 1.0).all()
    assert r.drops[r.drops.reason != "client_killed"].empty
    d = r.deliveries[r.deliveries.subscriber == "w.sub0"]
    assert d[(d.publish_time > 1.0) & (d.publish_time < 2.0)].empty
    # published while it was dead: owed to the other subscriber only
    m = r.messages
    dead = m[(m.time > 1.0 + 1e-3) & (m.time < 2.0)]
    assert len(dead) > 150 and (dead.expected == 1).all()
    back = events(r, "client_reconnected")
    assert list(back.detail) == ["w.sub0"] and 2.0 <= back.time.iloc[0] < 2.01
    assert len(d[d.publish_time > 2.01]) > 300


def test_killed_requester_pending_requests_end_client_gone():
    """A requester killed with requests pending: each ends at the kill with outcome
    client_gone; a dead client sends no more requests."""
    sc = scenario(
        [
            {
                "name": "rr",
                "kind": "request_reply",
                "subject": "svc",
                "responders": {"count": 1, "servers": ["c-3"], "service_time": "300ms"},
                "requesters": {
                    "count": 1,
                    "servers": ["c-1"],
                    "rate": "10/s",
                    "arrival": "constant",
                    "timeout": "2s",
                },
            }
        ],
        duration="3s",
        faults=[{"at": "1.5s", "kill_clients": {"workload": "rr", "role": "requester"}}],
    )
    r = run(sc)
    q = r.requests
    assert (q.start <= 1.5).all()
    pending = q[q.outcome != "ok"]
    assert len(pending) >= 3
    assert (pending.outcome == "client_gone").all() and (pending.end == 1.5).all()
    ok = q[q.outcome == "ok"]
    assert len(ok) >= 1 and (ok.end <= 1.5).all()


# -------------------------------------------------------- reconnect buffer
def test_reconnect_buffer_overflow_loses_newest_and_flushes_the_rest():
    """A publisher whose only server crashes buffers publishes up to reconnect_buffer
    bytes; the next ones fail (reconnect_buffer_full); the buffered ones are delivered
    once it reconnects, late by the gap."""
    sc = scenario(
        [
            pubsub(
                pub(
                    size="100B",
                    client={
                        "reconnect_buffer": "2KiB",
                        "reconnect_wait": "1s",
                        "reconnect_jitter": "0s",
                    },
                ),
                {"count": 1, "client": {"reconnect_wait": "500ms", "reconnect_jitter": "0s"}},
            )
        ],
        servers=1,
        duration="4s",
        faults=[{"at": "1s", "for": "0.3s", "crash": "c-1"}],
    )
    r = run(sc)
    rt = reconnect_times(r).set_index("client")
    t_pub = rt.reconnected_at["w.pub0"]
    assert rt.reconnected_at["w.sub0"] < t_pub  # the subscriber is back first
    assert 2.0 <= t_pub < 2.01
    m, d = r.messages, r.deliveries
    gap = m[(m.time > 1.0) & (m.time < t_pub)].sort_values("msg_id")
    delivered = d[d.msg_id.isin(gap.msg_id)]
    full = r.drops[r.drops.reason == "reconnect_buffer_full"]
    # every publish of the gap is either buffered (and delivered) or failed
    assert set(delivered.msg_id) | set(full.msg_id) == set(gap.msg_id)
    assert set(delivered.msg_id).isdisjoint(full.msg_id)
    n = len(delivered)
    assert 1 <= n <= 2048 // (100 + len("t.x"))
    # the oldest are kept (buffered in order), every later one fails
    assert list(delivered.sort_values("msg_id").msg_id) == list(gap.msg_id[:n])
    assert len(full) == len(gap) - n
    assert (delivered.receive_time >= t_pub).all()
    assert (delivered.latency >= t_pub - delivered.publish_time - EPS).all()
    assert set(r.drops.reason) == {"reconnect_buffer_full"}


# ----------------------------------------------------------- slow consumers
def slow_scenario(stall: str, **server: Any) -> dict:
    sc = scenario(
        [
            pubsub(
                pub("1000/s", size="1KiB"),
                {"count": 1, "servers": ["c-2"]},
                {"count": 1, "servers": ["c-3"]},
            )
        ],
        duration="5s",
        faults=[
            {
                "at": "1s",
                "for": stall,
                "slow_consumer": {"workload": "w", "role": "subscriber", "count": 1},
            }
        ],
    )
    return with_server_opts(sc, tcp_buffer="16KiB", **server)


@pytest.mark.parametrize(
    ("server", "why", "lo", "hi"),
    [
        # 1 MB/s into a 16 KiB socket buffer: max_pending 64 KiB passes in ~80 ms
        ({"max_pending": "64KiB", "write_deadline": "10s"}, 1, 1.0, 1.2),
        # writes block after ~16 ms; the 0.5 s write deadline fires before 1 MiB piles up
        ({"max_pending": "1MiB", "write_deadline": "500ms"}, 2, 1.5, 1.6),
    ],
    ids=["max_pending", "write_deadline"],
)
def test_stalled_subscriber_is_closed_as_slow_consumer(server, why, lo, hi):
    """A subscriber that stops reading is closed by its server (slow_consumer, value 1 for
    max_pending, 2 for write deadline); its unread copies and what it misses until it
    reconnects (after the stall) are slow_consumer_server; the other subscriber is fine."""
    r = run(slow_scenario("3s", **server))
    sc_ev = events(r, "slow_consumer")
    assert list(sc_ev.detail) == ["w.sub0"] and list(sc_ev.value) == [why]
    t = sc_ev.time.iloc[0]
    assert lo <= t <= hi
    dis = events(r, "client_disconnected")
    assert list(dis.time) == [t] and list(dis.value) == [SLOW_SERVER]
    rt = reconnect_times(r)
    assert rt.cause.iloc[0] == "slow_consumer_server"
    assert rt.reconnected_at.iloc[0] >= 4.0  # a hung process reconnects once it runs again
    lost = r.drops
    assert set(lost.reason) == {"slow_consumer_server"} and set(lost.subscriber) == {"w.sub0"}
    assert len(lost) > 2500
    d = r.deliveries
    # every message: one owed copy delivered or lost (a message published just
    # before the new SUB arrives may also reach the new subscription, not owed)
    assert len(d[(d.subscriber == "w.sub0") & d.expected]) + len(lost) == len(r.messages)
    assert len(d[d.subscriber == "w.sub1.0"]) == len(r.messages)


def test_short_stall_delivers_late_and_loses_nothing():
    """A stall shorter than the limits: nothing closed, nothing lost, the backlog is read
    when the stall ends."""
    r = run(slow_scenario("50ms", max_pending="64KiB"))
    assert events(r, "slow_consumer").empty and r.drops.empty
    d = r.deliveries
    stalled = d[(d.subscriber == "w.sub0") & (d.publish_time > 1.0) & (d.publish_time < 1.048)]
    assert len(stalled) >= 45 and (stalled.receive_time >= 1.05 - EPS).all()
    other = d[(d.subscriber == "w.sub1.0")]
    assert other.latency.round(9).eq(0.0012).all()


def test_client_side_slow_consumer_drops_beyond_pending_limit_and_queues():
    """An application that reads 50 msg/s of a 200 msg/s stream: its pending queue fills
    (pending_msgs 20), the excess is slow_consumer_client, and latency grows with the queue."""
    sc = scenario(
        [
            pubsub(
                pub(stop="2.5s"),
                {
                    "count": 1,
                    "servers": ["c-2"],
                    "read_rate": "50/s",
                    "client": {"pending_msgs": 20},
                },
                {"count": 1, "servers": ["c-2"]},
            )
        ],
        duration="3s",
    )
    sc["drain"] = "3s"
    r = run(sc)
    lost = r.drops
    assert set(lost.reason) == {"slow_consumer_client"} and set(lost.subscriber) == {"w.sub0"}
    d = r.deliveries
    slow = d[d.subscriber == "w.sub0"].sort_values("publish_time")
    n = len(r.messages)
    assert len(slow) + len(lost) == n
    # reads 50/s over the ~2 s of publishing (+ a full queue at the end), loses the rest
    assert 90 <= len(slow) <= 130 and len(lost) > 250
    # queueing: latency grows to about a full queue's worth (20 / 50 per s = 0.4 s)
    assert slow.latency.iloc[:5].max() < 0.1
    assert slow.latency.max() >= 0.35
    assert slow.latency.iloc[-20:].min() > slow.latency.iloc[:5].max()
    fast = d[d.subscriber == "w.sub1.0"]
    assert len(fast) == n and fast.latency.max() < 0.01


# ------------------------------------------------------------------ gossip
def test_gossip_from_one_seed_builds_a_full_mesh_and_join_converges():
    """Every server seeded with a-1 only: gossip connects the others (a-2–a-3) and pub/sub
    between them works directly; a-4 joins at 1 s, meets everyone, the cluster is
    converged shortly after; clients placed on a-4 start on other servers meanwhile."""
    sc = scenario(
        [
            pubsub(
                pub("100/s", servers=["a-3"]),
                {"count": 1, "servers": ["a-2"]},
                {"count": 2, "servers": ["a-4"]},
            )
        ],
        duration="3s",
        faults=[{"at": "1s", "join": "a-4"}],
    )
    sc["topology"]["clusters"] = {"a": {"servers": 4, "routes": ["a-1"]}}
    r = run(sc)
    ru = events(r, "route_up")
    pairs = route_pairs(ru)
    assert frozenset(("a-2", "a-3")) in pairs  # learned by gossip
    assert ru[ru.detail.isin(["a-2", "a-3"]) & ru.server.isin(["a-2", "a-3"])].time.max() < 0.1
    for other in ("a-1", "a-2", "a-3"):
        assert frozenset(("a-4", other)) in pairs
    joined = ru[(ru.server == "a-4") | (ru.detail == "a-4")]
    assert joined.time.between(1.0, 1.1).all()
    up = events(r, "server_up")
    assert list(zip(up.server, up.time, up.detail, strict=True)) == [("a-4", 1.0, "join")]
    conv = convergence(r)
    last = conv.iloc[-1]
    assert last.start == 1.0 and joined.time.max() <= last.end < 1.1
    assert last.seconds == pytest.approx(last.end - 1.0)
    assert conv.end.notna().all()
    d = r.deliveries
    direct = d[d.subscriber == "w.sub0"]
    assert len(direct) == len(r.messages) and set(direct.path) == {"a-3>a-2"}
    early = d[d.subscriber.str.startswith("w.sub1") & (d.receive_time < 1.0)]
    assert len(early) > 0 and "a-4" not in set(early.server)
    assert r.drops.empty


# ------------------------------------------------------------------- chaos
def chaos_scenario(seed: int) -> dict:
    sc = scenario(
        [
            pubsub({"count": 2, "rate": "100/s", "start": "0.2s"}, {"per_server": 1}),
            {
                "name": "rr",
                "kind": "request_reply",
                "subject": "svc",
                "responders": {"count": 2, "queue": "q"},
                "requesters": {"count": 2, "rate": "20/s", "timeout": "500ms"},
            },
        ],
        duration="15s",
        seed=seed,
        chaos={
            "rate": "30/min",
            "kinds": [
                "crash",
                "silent_crash",
                "lame_duck",
                "link_down",
                "partition",
                "latency",
                "kill_clients",
                "slow_consumer",
            ],
            "for": {"dist": "uniform", "low": "0.5s", "high": "3s"},
        },
    )
    return with_server_opts(sc, lame_duck_duration="2s", lame_duck_grace="0.5s", **FAST_PINGS)


def test_chaos_same_seed_same_run_other_seed_other_schedule():
    """chaos: the same scenario and seed give identical tables; another seed draws another
    fault schedule; each fault_start has its own number, and each fault_end matches one."""
    a, b = run(chaos_scenario(1)), run(chaos_scenario(1))
    for table in ("messages", "deliveries", "drops", "events", "requests", "subscriptions"):
        pd.testing.assert_frame_equal(getattr(a, table), getattr(b, table))
    c = run(chaos_scenario(2), seed=2)
    fa, fc = fault_timeline(a), fault_timeline(c)
    assert len(fa) >= 3
    key = ["action", "detail", "start"]
    assert fa[key].to_dict("records") != fc[key].to_dict("records")
    for r in (a, c):
        starts = events(r, "fault_start")
        numbers = [int(v) for v in starts.value]
        assert sorted(numbers) == list(range(len(numbers)))
        ends = events(r, "fault_end")
        assert set(int(v) for v in ends.value) <= set(numbers)
        assert not ends.value.duplicated().any()
        for n, t_end in zip(ends.value, ends.time, strict=True):
            assert starts.time[starts.value == n].iloc[0] <= t_end
        assert math.isfinite(r.meta["sim_end"])


def test_no_phantom_subscriptions_on_a_server_that_has_not_joined():
    """Before a-4 joins, nobody can be subscribed on it: no row on a-4 stays open from 0 s."""
    sc = scenario(
        [pubsub(pub("100/s", servers=["a-3"]), {"count": 2, "servers": ["a-4"]})],
        duration="2s",
        faults=[{"at": "1s", "join": "a-4"}],
    )
    sc["topology"]["clusters"] = {"a": {"servers": 4}}
    r = run(sc)
    s = r.subscriptions
    phantom = s[(s.server == "a-4") & (s.t_sub < 1.0) & s.t_unsub.isna() & s.t_lost.isna()]
    assert phantom.empty, phantom
