"""Tests of the failure schema: server and client options, fault actions, chaos, names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sim.errors import ScenarioError
from sim.scenario.checks import resolve_names
from sim.scenario.load import load_scenario, load_scenario_with_warnings
from sim.scenario.spec import (
    CHAOS_KINDS,
    CLIENT_PROFILES,
    ClientOptions,
    ClientTarget,
    LatencyChange,
    PubSubWorkload,
    Scenario,
    client_profile,
)

REPO = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024

BASE = """\
name: faults
duration: 60s
topology:
  clusters:
    east: {region: us-east, servers: 3}
    west: {region: us-west, servers: [w1, w2]}
    eu: {region: eu-west, servers: 2}
workloads:
  - kind: pubsub
    name: ticks
    subject: STOCK.A
    publishers: {count: 2, rate: 20/s}
    subscribers: {count: 2, cluster: west}
  - kind: request_reply
    name: svc
    subject: svc.echo
    requesters: {count: 1, rate: 10/s}
    responders: {per_server: 1}
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "f.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def with_faults(*lines: str) -> str:
    return BASE + "faults:\n" + "".join(f"  - {line}\n" for line in lines)


def load(tmp_path: Path, text: str) -> Scenario:
    return load_scenario(write(tmp_path, text))


def error_of(tmp_path: Path, text: str) -> str:
    """Load ``text`` expecting a ScenarioError; return its one-line message."""
    file = write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(file)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{file}:")
    return message


# ------------------------------------------------------------------ good input


def test_server_options_defaults_and_override(tmp_path: Path) -> None:
    """topology.server has nats-server's defaults; given values are parsed with units."""
    s = load(tmp_path, BASE)
    opts = s.topology.server
    assert (opts.ping_interval, opts.max_pings_out) == (120.0, 2)
    assert (opts.route_ping_max, opts.gateway_ping_max) == (30.0, 15.0)
    assert (opts.max_pending, opts.write_deadline) == (64 * MiB, 10.0)
    assert (opts.lame_duck_duration, opts.lame_duck_grace) == (120.0, 10.0)
    assert (opts.route_reconnect, opts.connect_retry, opts.dial_timeout) == (1.0, 1.0, 1.0)
    assert opts.tcp_buffer == 4 * MiB
    text = BASE.replace(
        "topology:\n", "topology:\n  server: {ping_interval: 5s, max_pending: 1MiB}\n"
    )
    opts = load(tmp_path, text).topology.server
    assert (opts.ping_interval, opts.max_pending, opts.max_pings_out) == (5.0, MiB, 2)


def test_cluster_routes(tmp_path: Path) -> None:
    """Seed routes name servers of the cluster; absent means None (full mesh)."""
    s = load(tmp_path, BASE.replace("servers: 3}", "servers: 3, routes: [east-1]}"))
    assert s.topology.clusters["east"].routes == ["east-1"]
    assert s.topology.clusters["west"].routes is None


@pytest.mark.parametrize(
    ("fault", "action", "target"),
    [
        ("{at: 5s, for: 10s, crash: east-1}", "crash", ("east-1",)),
        ("{at: 5s, crash: [east, w1], silent: true}", "crash", ("east", "w1")),
        ("{at: 5s, for: 1m, lame_duck: us-west}", "lame_duck", ("us-west",)),
        ("{at: 5s, for: 3s, link_down: [east, west]}", "link_down", ("east", "west")),
        ("{at: 5s, link_down: [east-1, east-2], silent: true}", "link_down", ("east-1", "east-2")),
        (
            "{at: 5s, for: 3s, partition: [east, [west, eu]]}",
            "partition",
            [("east",), ("west", "eu")],
        ),
        ("{at: 5s, join: w2}", "join", ("w2",)),
    ],
)
def test_server_fault_forms_load(tmp_path: Path, fault: str, action: str, target: object) -> None:
    """Every server fault form loads; names become tuples, a single name a tuple of one."""
    f = load(tmp_path, with_faults(fault)).faults[0]
    assert f.action == action
    assert f.target == target
    assert f.at == 5.0


def test_silent_flag_and_for(tmp_path: Path) -> None:
    """silent defaults to False; for: is the fault's duration."""
    a, b = load(
        tmp_path,
        with_faults("{at: 5s, for: 10s, crash: east-1}", "{at: 6s, crash: w1, silent: true}"),
    ).faults
    assert (a.silent, a.duration) == (False, 10.0)
    assert (b.silent, b.duration) == (True, None)


def test_latency_and_client_faults_load(tmp_path: Path) -> None:
    """latency, kill_clients and slow_consumer load with their targets."""
    s = load(
        tmp_path,
        with_faults(
            "{at: 1s, for: 5s, latency: {between: [us-east, eu], add: 50ms}}",
            "{at: 2s, latency: {between: [east-1, w1], factor: 3}}",
            "{at: 3s, for: 2s, kill_clients: {workload: ticks, role: subscriber, count: 1}}",
            "{at: 4s, slow_consumer: {workload: ticks, servers: [w1], cluster: west}}",
        ),
    )
    lat, lat2, kill, slow = s.faults
    assert lat.target == LatencyChange(between=("us-east", "eu"), add="50ms")
    assert (lat2.target.add, lat2.target.factor) == (0.0, 3.0)
    assert kill.target == ClientTarget(workload="ticks", role="subscriber", count=1)
    assert kill.duration == 2.0
    assert slow.target.servers == ["w1"]


def test_chaos_loads_with_defaults(tmp_path: Path) -> None:
    """chaos takes a rate and kinds; for: defaults to uniform 5-30 s."""
    text = BASE + "chaos: {rate: 2/min, kinds: [crash, silent_crash], among: [east, us-west]}\n"
    chaos = load(tmp_path, text).chaos
    assert chaos is not None
    assert chaos.rate == pytest.approx(2 / 60)
    assert chaos.kinds == ["crash", "silent_crash"]
    assert (chaos.duration.dist, chaos.duration.low, chaos.duration.high) == ("uniform", 5.0, 30.0)
    assert (chaos.start, chaos.stop, chaos.latency_add, chaos.workload) == (0.0, None, 0.1, None)
    text = BASE + "chaos: {rate: 1/s, kinds: [kill_clients], for: 2s, workload: svc, stop: 30s}\n"
    chaos = load(tmp_path, text).chaos
    assert chaos is not None
    assert (chaos.duration.value, chaos.workload, chaos.stop) == (2.0, "svc", 30.0)
    assert set(CHAOS_KINDS) >= {"crash", "silent_crash", "kill_clients", "slow_consumer"}


def test_read_rate(tmp_path: Path) -> None:
    """A subscriber group's read_rate is messages per second; absent is None."""
    s = load(tmp_path, BASE.replace("cluster: west}", "cluster: west, read_rate: 100/s}"))
    ticks = s.workloads[0]
    assert isinstance(ticks, PubSubWorkload)
    assert ticks.subscribers[0].read_rate == 100.0


def test_client_options_resolve_merges(tmp_path: Path) -> None:
    """A group's client options win over the scenario's, which win over the profile."""
    text = BASE.replace(
        "cluster: west}",
        "cluster: west,\n                  client: {profile: nats.py, reconnect_wait: 5s}}",
    )
    text += "clients: {reconnect_wait: 1s, reconnect_jitter: 300ms, max_reconnect: -1}\n"
    s = load(tmp_path, text)
    ticks = s.workloads[0]
    assert isinstance(ticks, PubSubWorkload)
    sub = client_profile(s, ticks.subscribers[0])
    assert sub.reconnect_wait == 5.0  # group
    assert sub.reconnect_jitter == 0.3  # scenario
    assert sub.max_reconnect == -1  # scenario
    assert sub.reconnect_buffer == 2 * MiB  # group's profile (nats.py)
    assert sub.pending_msgs == 512 * 1024
    pub = client_profile(s, ticks.publishers)
    assert pub.reconnect_wait == 1.0
    assert pub.reconnect_buffer == 8 * MiB  # nats.go, the default profile
    assert pub.pending_bytes == 64 * MiB


def test_client_options_resolve_profile_from_base() -> None:
    """With no profile of its own, a group takes the base's profile; bare options are nats.go."""
    assert ClientOptions().resolve() == CLIENT_PROFILES["nats.go"]
    resolved = ClientOptions(ping_interval="10s").resolve(ClientOptions(profile="nats.py"))
    assert resolved.ping_interval == 10.0
    assert resolved.reconnect_jitter == 0.0
    assert resolved.pending_bytes == 128 * MiB


def test_resolve_names(tmp_path: Path) -> None:
    """Names are servers, clusters or regions; the result is in scenario order, deduplicated."""
    s = load(tmp_path, BASE)
    assert resolve_names(s, "east-2") == ["east-2"]
    assert resolve_names(s, ["eu", "w2", "east-1"]) == ["east-1", "w2", "eu-1", "eu-2"]
    assert resolve_names(s, ["us-west", "west", "w1"]) == ["w1", "w2"]
    assert resolve_names(s, []) == []
    with pytest.raises(KeyError):
        resolve_names(s, ["east", "mars"])


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("fault", "path", "problem"),
    [
        (
            "{at: 5s, crash: [east-1, east-9]}",
            "faults[0].crash[1]",
            "unknown server, cluster or region 'east-9' (servers: east-1",
        ),
        ("{at: 5s, lame_duck: nope}", "faults[0].lame_duck", "unknown server, cluster or region"),
        (
            "{at: 5s, partition: [east, [w1, east-2]]}",
            "faults[0].partition[1]",
            "server 'east-2' is in group 0 and group 1: groups must not overlap",
        ),
        (
            "{at: 5s, partition: [us-west, [w1]]}",
            "faults[0].partition[1]",
            "server 'w1' is in group 0 and group 1",
        ),
        ("{at: 5s, partition: [east]}", "faults[0].partition", "at least 2"),
        ("{at: 5s, for: 2s, join: w2}", "faults[0].for", "join takes no 'for'"),
        ("{at: 5s, join: east}", "faults[0].join", "join names servers; 'east' is a cluster"),
        (
            "{at: 5s, kill_clients: {workload: ticks}, silent: true}",
            "faults[0].silent",
            "'silent' applies to crash and link_down only, not kill_clients",
        ),
        (
            "{at: 5s, kill_clients: {workload: nope}}",
            "faults[0].kill_clients.workload",
            "unknown workload 'nope' (ticks, svc)",
        ),
        (
            "{at: 5s, slow_consumer: {workload: ticks, role: responder}}",
            "faults[0].slow_consumer.role",
            "workload 'ticks' (pubsub) has no responder clients (roles: publisher, subscriber)",
        ),
        (
            "{at: 5s, kill_clients: {workload: svc, servers: [x1]}}",
            "faults[0].kill_clients.servers[0]",
            "unknown server 'x1'",
        ),
        (
            "{at: 5s, kill_clients: {workload: svc, count: 0}}",
            "faults[0].kill_clients.count",
            "greater than or equal to 1",
        ),
        (
            "{at: 5s, link_down: [west, us-west]}",
            "faults[0].link_down",
            "'west' and 'us-west' are the same servers",
        ),
        (
            "{at: 5s, latency: {between: [east, mars], add: 1ms}}",
            "faults[0].latency.between[1]",
            "unknown server, cluster or region 'mars'",
        ),
        ("{at: 5s, latency: {between: [east, west]}}", "faults[0].latency", "give 'add' > 0"),
        ("{at: 5s, link_down: [east]}", "faults[0].link_down[1]", "missing required"),
        ("{at: 5s, crash: []}", "faults[0].crash", "at least 1"),
        (
            "{at: 5s, link_down: [east, west, eu]}",
            "faults[0].link_down",
            "takes at most 2 entries, got 3",
        ),
        ("{at: 5s, crsh: east}", "faults[0].crsh", "did you mean 'crash'?"),
        ("{at: 5s}", "faults[0]", "exactly one action: stop_responders, start_responders, crash"),
        ("{at: 5s, crash: east, join: w2}", "faults[0]", "exactly one action"),
    ],
)
def test_bad_fault(tmp_path: Path, fault: str, path: str, problem: str) -> None:
    """A bad fault is one line with the fault's field path and the problem."""
    message = error_of(tmp_path, with_faults(fault))
    assert f": {path}: " in message
    assert problem in message


def test_server_joins_once(tmp_path: Path) -> None:
    """A server may be named by one join fault only."""
    message = error_of(tmp_path, with_faults("{at: 5s, join: w2}", "{at: 9s, join: [eu-1, w2]}"))
    assert ": faults[1].join[1]: server 'w2' already joins in faults[0]" in message


def test_fault_after_end_warns(tmp_path: Path) -> None:
    """A fault at or after the end of the run is a warning, like other late starts."""
    _, warnings = load_scenario_with_warnings(write(tmp_path, with_faults("{at: 90s, crash: eu}")))
    assert len(warnings) == 1
    assert "faults[0].at: fault at 90s is after the end of the run" in warnings[0]


@pytest.mark.parametrize(
    ("old", "new", "path", "problem"),
    [
        (
            "servers: 3}",
            "servers: 3, routes: [east-1, w1]}",
            "topology.clusters.east.routes[1]",
            "'w1' is not a server of cluster 'east' (east-1, east-2, east-3)",
        ),
        (
            "cluster: west}",
            "cluster: west, read_rate: -5/s}",
            "workloads[0].subscribers.read_rate",
            "must not be negative",
        ),
        (
            "cluster: west}",
            "cluster: west, read_rate: 0/s}",
            "workloads[0].subscribers.read_rate",
            "greater than 0",
        ),
        (
            "cluster: west}",
            "cluster: west, client: {profile: nats.rs}}",
            "workloads[0].subscribers.client.profile",
            "expected one of: nats.go, nats.py; got 'nats.rs'",
        ),
        (
            "topology:\n",
            "topology:\n  server: {max_pings_out: 0}\n",
            "topology.server.max_pings_out",
            "greater than or equal to 1",
        ),
    ],
)
def test_bad_options(tmp_path: Path, old: str, new: str, path: str, problem: str) -> None:
    """Bad routes, read_rate, client profile or server option: one line with path and problem."""
    assert old in BASE
    message = error_of(tmp_path, BASE.replace(old, new, 1))
    assert f": {path}: " in message
    assert problem in message


def test_unknown_profile_at_scenario_level(tmp_path: Path) -> None:
    """The scenario-wide clients block rejects an unknown profile too."""
    message = error_of(tmp_path, BASE + "clients: {profile: nats.js}\n")
    assert ": clients.profile: expected one of: nats.go, nats.py; got 'nats.js'" in message


@pytest.mark.parametrize(
    ("chaos", "path", "problem"),
    [
        ("{rate: 1/s, kinds: [crash], among: [east, mars]}", "chaos.among[1]", "'mars'"),
        (
            "{rate: 1/s, kinds: [kill_clients], workload: nope}",
            "chaos.workload",
            "unknown workload",
        ),
        ("{rate: 1/s, kinds: [meteor]}", "chaos.kinds[0]", "expected one of: crash, silent_crash"),
        ("{rate: 1/s, kinds: []}", "chaos.kinds", "at least 1"),
        ("{rate: 0/s, kinds: [crash]}", "chaos.rate", "greater than 0"),
        ("{rate: 1/s, kinds: [crash], start: 10s, stop: 5s}", "chaos.stop", "must be after start"),
    ],
)
def test_bad_chaos(tmp_path: Path, chaos: str, path: str, problem: str) -> None:
    """A bad chaos block is one line with its field path and the problem."""
    message = error_of(tmp_path, BASE + f"chaos: {chaos}\n")
    assert f": {path}: " in message
    assert problem in message


def test_cli_validate_bad_fault(tmp_path: Path) -> None:
    """natsim validate on a file with one bad fault exits 2 with one stderr line."""
    path = write(tmp_path, with_faults("{at: 5s, crash: [east-9]}"))
    proc = subprocess.run(
        [sys.executable, "-m", "sim", "validate", path],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"{path}:")
    assert "faults[0].crash[0]: unknown server, cluster or region 'east-9'" in lines[0]
    assert proc.stdout == ""
