"""The real backend: placement and timing as in the simulation, processes, faults, CLI."""

from __future__ import annotations

import os

import numpy as np
import pytest

from sim.errors import NatsimError
from sim.model.network import Network
from sim.real.driver import arrival_schedule, place
from sim.rng import RandomStreams
from sim.runner import simulate
from sim.scenario.load import load_scenario
from sim.subjects import expand_subject_template


def _sc(**kw):
    base = {
        "name": "real-unit",
        "seed": 11,
        "duration": "1.2s",
        "drain": "0.3s",
        "topology": {"clusters": {"a": {"servers": 3}, "b": {"servers": 2}}},
        "workloads": [
            {
                "name": "w",
                "kind": "pubsub",
                "subject": "S.{x,y,z}",
                "publishers": {"count": 4, "placement": "random", "rate": "40/s"},
                "subscribers": [
                    {"count": 5, "placement": "random", "subject": "S.>"},
                    {"per_server": 1, "cluster": "b", "subject": "S.x"},
                ],
            }
        ],
    }
    base.update(kw)
    return load_scenario(base)


def test_placement_matches_the_simulation() -> None:
    """Clients land on the same servers as in the simulation (same seeded streams)."""
    sc = _sc()
    net = Network(sc, 11)
    streams = RandomStreams(11)
    w = sc.workloads[0]
    assert place(sc, streams, w.publishers, "placement:w:pub") == net.place(
        w.publishers, "placement:w:pub"
    )
    for g, group in enumerate(w.subscribers):
        stream = f"placement:w:sub{g}"
        assert place(sc, streams, group, stream) == net.place(group, stream)


def test_arrival_schedule_matches_simulated_publishes() -> None:
    """The k-th publish of each publisher has the simulation's time and subject."""
    sc = _sc()
    result = simulate(sc)
    streams = RandomStreams(sc.seed)
    subjects = expand_subject_template("S.{x,y,z}")
    for i in range(4):
        name = f"w.pub{i}"
        sched = arrival_schedule(streams.stream(f"pub:{name}"), 40.0, True, 0.0, 1.2, 3)
        m = result.messages[result.messages.client == name]
        assert len(m) == len(sched) > 10
        np.testing.assert_allclose(m.time.to_numpy(), [t for t, _ in sched])
        assert list(m.subject) == [subjects[k] for _, k in sched]


nats = pytest.importorskip("nats")

from sim.real import run_real  # noqa: E402
from sim.real.servers import ServerSet, find_nats_server  # noqa: E402

try:
    find_nats_server()
except NatsimError as exc:  # pragma: no cover
    pytest.skip(f"no nats-server: {exc}", allow_module_level=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def test_servers_start_kill_restart_and_stop_everything() -> None:
    """A supercluster comes up, a killed server restarts, and stop leaves no process behind."""
    sc = _sc()
    ss = ServerSet(sc)
    pids = []
    try:
        with ss:
            ss.start()
            pids = [s.proc.pid for s in ss.servers.values()]
            assert len(pids) == 5
            ss.kill("a-1")
            assert not _alive(pids[0])
            ss.restart("a-1", wait=True)
            pids.append(ss.servers["a-1"].proc.pid)
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert not any(_alive(p) for p in pids)
    assert not ss.dir.exists()


def test_run_real_tables_and_faults() -> None:
    """run_real gives the simulation's tables; a crash and a client kill are applied."""
    sc = _sc(
        faults=[
            {"at": "0.5s", "crash": "a-2", "for": "0.3s"},
            {"at": "0.4s", "kill_clients": {"workload": "w", "role": "subscriber", "count": 1}},
            {"at": "0.6s", "latency": {"between": ["a", "b"], "add": "5ms"}, "for": "0.2s"},
        ]
    )
    real = run_real(sc, latency=False)
    simr = simulate(sc)
    for name in ("messages", "deliveries", "drops", "requests", "subscriptions", "clients"):
        assert list(getattr(real, name).columns) == list(getattr(simr, name).columns), name
    assert real.meta["backend"] == "real"
    assert real.meta["nats_server_version"].startswith("2.")
    assert real.meta["emulated_latency"] is False
    assert any("latency" in n for n in real.meta["notes"])
    kinds = set(real.events.kind)
    assert {"crash", "restart", "kill_client"} <= kinds
    assert len(real.messages) == len(simr.messages)
    assert len(real.deliveries) > 0


def test_cli_real_writes_results(tmp_path, capsys) -> None:
    """`natsim real` writes Result.save tables and run.json with the server version."""
    import json

    from sim.cli import main

    path = tmp_path / "s.yaml"
    path.write_text(
        "name: cli-real\nduration: 0.8s\ndrain: 0.2s\n"
        "topology: {clusters: {c: {servers: 2}}}\n"
        "workloads:\n"
        "  - {name: w, kind: pubsub, subject: X, publishers: {count: 1, rate: 20/s},"
        " subscribers: {count: 2}}\n"
    )
    assert main(["real", str(path), "--out", str(tmp_path / "out"), "--format", "csv"]) == 0
    meta = json.loads((tmp_path / "out" / "run.json").read_text())
    assert meta["backend"] == "real"
    assert (tmp_path / "out" / "deliveries.csv").is_file()
    assert main(["compare", str(path), "--out", str(tmp_path / "cmp"), "--format", "csv"]) == 0
    assert (tmp_path / "cmp" / "compare.csv").is_file()
    assert "checks agree" in (tmp_path / "cmp" / "index.html").read_text()
    page = (tmp_path / "out" / "index.html").read_text()
    assert "cli-real" in page and (tmp_path / "out" / "figures").is_dir()
    assert "checks agree" in capsys.readouterr().out


def _latencies(result, server: str, lo: float = 0.0, hi: float = 1e9) -> np.ndarray:
    """One-way latency of the deliveries on ``server`` published in [lo, hi)."""
    d = result.deliveries
    d = d[(d.server == server) & (d.publish_time >= lo) & (d.publish_time < hi)]
    return d.latency.to_numpy()


def test_latency_fault_on_gateway_proxies() -> None:
    """A latency fault between two clusters raises real cross-cluster latency, then ends."""
    sc = load_scenario(
        {
            "name": "real-latency-fault",
            "duration": "2.4s",
            "drain": "0.3s",
            "topology": {
                "clusters": {
                    "a": {"servers": 1, "region": "r1"},
                    "b": {"servers": 1, "region": "r2"},
                },
                "latency": {"regions": {"r1": {"r2": "2ms"}}},
            },
            "workloads": [
                {
                    "name": "w",
                    "kind": "pubsub",
                    "subject": "X",
                    "publishers": {"count": 1, "cluster": "a", "rate": "50/s"},
                    "subscribers": {"count": 1, "cluster": "b"},
                }
            ],
            "faults": [
                {"at": "0.8s", "latency": {"between": ["a", "b"], "add": "30ms"}, "for": "0.8s"}
            ],
        }
    )
    real = run_real(sc)
    before = _latencies(real, "b-1", 0.2, 0.75)
    during = _latencies(real, "b-1", 0.9, 1.55)
    after = _latencies(real, "b-1", 1.8, 2.4)
    assert len(before) > 10 and len(during) > 10 and len(after) > 10
    assert np.median(during) > np.median(before) + 0.015
    assert np.median(after) < np.median(during) - 0.015
    ev = real.events
    assert list(ev[ev.kind.isin(["fault_start", "fault_end"])].kind) == ["fault_start", "fault_end"]
    assert (ev.kind == "latency").sum() == 2  # a→b-1 and b→a-1
    assert not any("latency fault" in n for n in real.meta["notes"])


def test_route_link_latency_through_proxies() -> None:
    """A 20 ms topology.links entry shows in real cross-server latency; other routes not.

    (It was slow-marked while both servers of a pair dialled the route through
    their own proxies and crossing dials were both dropped; now one side dials.)
    """
    sc = load_scenario(
        {
            "name": "real-route-link",
            "duration": "1.2s",
            "drain": "0.3s",
            "topology": {
                "clusters": {"c": {"servers": 3}},
                "links": [{"between": ["c-1", "c-2"], "latency": "20ms"}],
            },
            "workloads": [
                {
                    "name": "w",
                    "kind": "pubsub",
                    "subject": "X",
                    "publishers": {"count": 1, "servers": ["c-1"], "rate": "50/s"},
                    "subscribers": {"per_server": 1, "servers": ["c-2", "c-3"]},
                }
            ],
        }
    )
    real = run_real(sc)
    assert real.meta["route_proxies"] == 2
    slow = _latencies(real, "c-2", 0.2)
    fast = _latencies(real, "c-3", 0.2)
    assert len(slow) > 10 and len(fast) > 10
    assert np.median(slow) > 0.018
    assert np.median(fast) < 0.010


def _one_cluster(name: str, duration: str, workloads: list, faults: list, **server) -> object:
    topo = {"clusters": {"c": {"servers": 3}}}
    if server:
        topo["server"] = server
    return load_scenario(
        {
            "name": name,
            "duration": duration,
            "drain": "0.3s",
            "topology": topo,
            "workloads": workloads,
            "faults": faults,
        }
    )


def test_join_starts_the_server_at_its_time() -> None:
    """A joined server is not running before `at`, then gets routes and serves its clients."""
    sc = _one_cluster(
        "real-join",
        "1.6s",
        [
            {
                "name": "w",
                "kind": "pubsub",
                "subject": "X",
                "publishers": {"count": 1, "servers": ["c-1"], "rate": "50/s"},
                "subscribers": [
                    {"count": 1, "servers": ["c-3"], "start": "0.8s"},
                    {"count": 1, "servers": ["c-2"]},
                ],
            }
        ],
        [{"at": "0.4s", "join": "c-3"}],
    )
    real = run_real(sc)
    ev = real.events
    join = ev[ev.kind == "join"]
    assert list(join.server) == ["c-3"] and 0.35 < join.time.iloc[0] < 0.6
    d = real.deliveries
    on3 = d[d.server == "c-3"]
    assert len(on3) > 20  # published on c-1, delivered over the route to c-3
    assert on3.publish_time.min() > 0.75
    sub = real.subscriptions
    assert set(sub[sub.client == "w.sub0"].server) == {"c-3"}


def test_lame_duck_moves_clients_off() -> None:
    """A server in lame duck mode closes its clients; they reconnect elsewhere.

    nats-py may wait its ``reconnect_time_wait`` (2 s) before the next server
    (docs/conformance.md, disagreement 3), so the clients are looked at from
    4.2 s, and c-1 stays in lame duck until 5.5 s so they cannot return to it.
    """
    sc = _one_cluster(
        "real-lame-duck",
        "7s",
        [
            {
                "name": "w",
                "kind": "pubsub",
                "subject": "X",
                "publishers": {"count": 1, "servers": ["c-2"], "rate": "40/s"},
                "subscribers": {"count": 2, "servers": ["c-1"]},
            }
        ],
        [{"at": "0.5s", "lame_duck": "c-1", "for": "5s"}],
        lame_duck_duration="1s",
        lame_duck_grace="0.1s",
    )
    real = run_real(sc)
    ev = real.events
    assert {"lame_duck", "fault_start", "fault_end", "restart"} <= set(ev.kind)
    d = real.deliveries
    before = d[d.publish_time < 0.45]
    after = d[(d.publish_time > 4.2) & (d.publish_time < 5.4)]
    assert set(before.server) == {"c-1"}
    assert len(after) > 20 and "c-1" not in set(after.server)
    assert any("raised to nats-server's minimum" in n for n in real.meta["notes"])
    ss = ServerSet(sc)
    text = ss.config_text(ss.servers["c-1"])
    ss.stop()
    assert 'lame_duck_grace_period: "100ms"' in text
    assert 'lame_duck_duration: "30000ms"' in text  # nats-server's minimum


def test_gateway_reconnects_stay_behind_the_proxies() -> None:
    """After gateway reconnects every outbound gateway still dials a delay proxy.

    A server's INFO gossips its cluster's gateway URLs and the remote dials them
    on reconnect, in random order (gateway.go updateURLs, solicitGateway); the
    servers advertise a refusing address, so such a dial fails and the next URL
    — a proxy — is used.  Without that, one run in three ended with an east
    server dialling a west server's real gateway port (no emulated latency).
    Both clusters are crashed and restarted, so every gateway reconnects.
    """
    sc = load_scenario(
        {
            "name": "real-gw-gossip",
            "seed": 3,
            "duration": "2.5s",
            "drain": "0.3s",
            "topology": {
                "clusters": {
                    "east": {"servers": 2, "region": "us-east"},
                    "west": {"servers": 2, "region": "us-west"},
                }
            },
            "workloads": [
                {
                    "name": "w",
                    "kind": "pubsub",
                    "subject": "X",
                    "publishers": {"count": 1, "cluster": "east", "rate": "20/s"},
                    "subscribers": {"per_server": 1},
                }
            ],
            "faults": [
                {"at": "0.5s", "for": "0.3s", "crash": "west"},
                {"at": "1.2s", "for": "0.3s", "crash": "east"},
            ],
        }
    )
    real = run_real(sc)
    dials = real.meta["gateway_dials"]
    assert {s: set(d) for s, d in dials.items()} == {
        "east-1": {"west"},
        "east-2": {"west"},
        "west-1": {"east"},
        "west-2": {"east"},
    }
    assert real.meta["gateway_bypass"] == []


def test_client_latency_through_client_proxies() -> None:
    """With client_latency every client connection carries latency.client each way.

    A 5 ms client latency puts a delivery from c-1's publisher to c-2's
    subscriber at ≥ 10 ms (two client hops).  When c-2 crashes its subscriber
    reconnects to c-1 through the address c-1 advertises — its proxy — so the
    delay stays and no client ends on a real client port.
    """
    sc = load_scenario(
        {
            "name": "real-client-latency",
            "duration": "2.5s",
            "drain": "0.3s",
            "topology": {"clusters": {"c": {"servers": 2}}, "latency": {"client": "5ms"}},
            "workloads": [
                {
                    "name": "w",
                    "kind": "pubsub",
                    "subject": "X",
                    "publishers": {"count": 1, "servers": ["c-1"], "rate": "40/s"},
                    "subscribers": {"count": 1, "servers": ["c-2"]},
                }
            ],
            "faults": [{"at": "0.8s", "for": "0.5s", "crash": "c-2"}],
            # nats-py sleeps reconnect_wait before a server that just failed, and it
            # may try c-2 first (2 s by default: longer than the rest of the run)
            "clients": {"reconnect_wait": "200ms"},
        }
    )
    real = run_real(sc, client_latency=True)
    assert "client connections" in real.meta["latency_note"]
    d = real.deliveries
    before = d[d.publish_time < 0.75].latency
    after = d[d.publish_time > 1.8].latency
    assert len(before) > 10 and len(after) > 10  # it reconnected and kept receiving
    print(f"median latency: before {before.median():.4f} s, after {after.median():.4f} s")
    assert before.median() >= 0.010 and after.median() >= 0.010
    assert not [n for n in real.meta["notes"] if "bypassed" in n]


def test_proxy_control_stacks_cuts_and_finds_the_paths_between_groups() -> None:
    """Overlapping cuts stack (reset wins while it lasts); paths are the proxies between groups."""
    from sim.real.latency import ProxyControl, fault_paths

    calls: list[tuple] = []

    class Mesh:
        def cut(self, src: str, dst: str, mode: str) -> None:
            calls.append(("cut", src, dst, mode))

        def heal(self, src: str, dst: str) -> None:
            calls.append(("heal", src, dst))

    cluster = {"a-1": "a", "a-2": "a", "b-1": "b"}
    base = {("a-1", "rt:a-2"): 0.0, ("a-2", "rt:a-1"): 0.0, ("a", "gw:b-1"): 0.0}
    base[("b", "gw:a-1")] = base[("b", "gw:a-2")] = 0.0
    control = ProxyControl(Mesh(), base, cluster)
    keys = control.keys_between([["a-1"], ["a-2", "b-1"]])
    assert set(keys) == {("a-1", "rt:a-2"), ("a-2", "rt:a-1"), ("a", "gw:b-1"), ("b", "gw:a-1")}
    key = [("a", "gw:b-1")]
    control.cut(key, "blackhole")
    control.cut(key, "reset")
    control.heal(key, "blackhole")
    control.heal(key, "reset")
    assert calls == [
        ("cut", "a", "gw:b-1", "blackhole"),
        ("cut", "a", "gw:b-1", "reset"),
        ("cut", "a", "gw:b-1", "reset"),
        ("heal", "a", "gw:b-1"),
    ]
    sc = load_scenario(
        {
            "name": "paths",
            "duration": "1s",
            "topology": {"clusters": {"a": {"servers": 2}, "b": {"servers": 1}}},
            "workloads": [],
            "faults": [{"at": "0.5s", "partition": [["a-1"], ["a-2", "b"]]}],
        }
    )
    routes, gateways = fault_paths(sc)
    assert routes == {("a-1", "a-2"), ("a-2", "a-1")}
    assert gateways == {("a", "b-1"), ("b", "a-1")}
