"""Monitoring snapshots: /varz-style counters per server, sampled, against the results tables.

The counters are what nats-server's monitoring endpoints would show; each
test checks them against what the run's own tables say happened (messages
published, deliveries made, clients placed, slow consumers closed), so a
counter that drifts from the model is caught.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim.analysis import monitor_peaks, monitor_rates
from sim.errors import ScenarioError
from sim.expect import evaluate
from sim.plots import figures
from sim.report import write_report
from sim.scenario.load import load_scenario
from tests.conftest import scenario
from tests.test_faults import pubsub, slow_scenario
from tests.test_supercluster import supercluster

REPO = Path(__file__).resolve().parents[1]


def cluster_scenario(duration: str = "2s", monitored: bool = True, **extra) -> dict:
    """3 servers, constant latencies: fan-out, a queue group, a service; monitored every 0.5 s."""
    workloads = [
        pubsub(
            {"count": 2, "rate": "200/s", "servers": ["c-1", "c-2"], "size": "100B"},
            {"per_server": 2},
            {"count": 3, "queue": "q"},
        ),
        {
            "name": "svc",
            "kind": "request_reply",
            "subject": "svc.x",
            "requesters": {"count": 2, "rate": "50/s", "servers": ["c-3"]},
            "responders": {"count": 2, "queue": "s", "servers": ["c-1", "c-2"]},
        },
    ]
    sc = scenario(workloads, duration=duration, **extra)
    if monitored:
        sc["monitor"] = {"interval": "0.5s"}
    return sc


def final(r: sim.Result) -> pd.DataFrame:
    """The last sample of every server, indexed by server."""
    m = r.monitor
    return m[m.time == m.time.max()].set_index("server")


def per_server(frame: pd.DataFrame, servers: pd.Index, col: str | None = None) -> pd.Series:
    g = frame.groupby("server")
    out = g.size() if col is None else g[col].sum()
    return out.reindex(servers, fill_value=0)


@pytest.fixture(scope="module")
def cluster_run() -> sim.Result:
    return sim.run(cluster_scenario())


def test_message_counters_equal_published_and_delivered(cluster_run):
    """Per server, client messages in = messages published there, client messages out =
    deliveries recorded there (with their payload bytes); what one server sent over
    routes, another received; the /varz totals add up every connection kind."""
    r = cluster_run
    f = final(r)
    sizes = r.messages.set_index("msg_id")["size"]
    d = r.deliveries.assign(size=sizes.loc[r.deliveries.msg_id].to_numpy())
    assert (f.in_client_msgs == per_server(r.messages, f.index)).all()
    assert (f.in_client_bytes == per_server(r.messages, f.index, "size")).all()
    assert (f.out_client_msgs == per_server(d, f.index)).all()
    assert (f.out_client_bytes == per_server(d, f.index, "size")).all()
    assert f.out_route_msgs.sum() == f.in_route_msgs.sum() > 0
    assert f.out_route_bytes.sum() == f.in_route_bytes.sum()
    assert (f.in_msgs == f.in_client_msgs + f.in_route_msgs + f.in_gateway_msgs).all()
    assert (f.out_bytes == f.out_client_bytes + f.out_route_bytes + f.out_gateway_bytes).all()


def test_counters_only_grow_and_rates_follow_the_publishers(cluster_run):
    """Counters are cumulative; between 0.5 s and 2 s the network takes in ~600 msgs/s."""
    m = cluster_run.monitor.sort_values(["server", "time"])
    steps = m.groupby("server")[["in_msgs", "out_msgs", "total_connections"]].diff().dropna()
    assert (steps >= 0).all().all()
    totals = m.groupby("time").in_client_msgs.sum()
    rate = (totals.loc[2.0] - totals.loc[0.5]) / 1.5
    # 2 publishers x 200/s, 2 requesters x 50/s and as many replies (Poisson, ~900 in 1.5 s)
    assert 500 <= rate <= 700


def test_connections_and_subscriptions(cluster_run):
    """Connections = the clients placed on each server; subscriptions = the clients' active
    subscriptions plus one shadow subscription per route, subject and queue (acc.sl.Count)."""
    r = cluster_run
    f = final(r)
    placed = per_server(r.clients, f.index)
    assert (f.connections == placed).all() and (f.total_connections == placed).all()
    s = r.subscriptions
    active = per_server(s[s.t_unsub.isna()], f.index)
    assert (f.subscriptions - f.route_subscriptions == active).all()
    # every server has plain t.x subscribers and queue q members, so each learns
    # t.x and (t.x, q) from both peers; the service's queue s lives on c-1 and c-2
    # and the requesters' inboxes on c-3
    assert f.route_subscriptions["c-3"] == 2 * 2 + 2
    assert (f.routes == 2).all() and (f.remotes == 2).all() and (f.gateways == 0).all()
    assert (f.slow_consumers == 0).all() and (f.pending_bytes == 0).all()


def test_samples_at_the_interval(cluster_run):
    """One row per server at 0, 0.5 s, 1 s, ... before the run's end, and one at the end."""
    r = cluster_run
    end = r.meta["sim_end"]
    times = sorted(set(r.monitor.time))
    assert times == [*np.arange(0, end, 0.5), end]
    assert (r.monitor.groupby("time").size() == len(r.servers)).all()
    links = r.monitor_links
    assert sorted(set(links.time)) == times
    assert (links.groupby("time").size() == 6).all()  # 3 servers x 2 routes


def test_route_rtt_is_a_ping_round_trip(cluster_run):
    """With 1 ms routes each way, a route's RTT is 2 ms, more only behind traffic in flight."""
    links = cluster_run.monitor_links
    assert set(links.kind) == {"route"}
    assert (links.rtt >= 0.002 - 1e-12).all()
    quiet = links[links.time == 0]
    assert np.allclose(quiet.rtt, 0.002)


def test_monitoring_changes_nothing_and_is_deterministic():
    """The same run with and without monitoring has the same tables; two monitored runs
    with one seed have the same snapshots (route RTT draws come from their own streams)."""
    faults = [
        {"at": "0.6s", "for": "0.5s", "latency": {"between": ["c-1", "c-2"], "add": "3ms"}},
        {"at": "1.2s", "for": "0.4s", "crash": "c-3"},
    ]
    sc = cluster_scenario(faults=faults)
    sc["topology"]["latency"]["intra_cluster"] = {"dist": "exponential", "mean": "1ms"}
    a, b = sim.run(sc), sim.run(sc)
    off = dict(sc)
    del off["monitor"]
    plain = sim.run(off)
    assert plain.monitor is None
    for name in sim.results.TABLES:
        pd.testing.assert_frame_equal(a.frames[name], plain.frames[name])
    pd.testing.assert_frame_equal(a.monitor, b.monitor)
    pd.testing.assert_frame_equal(a.monitor_links, b.monitor_links)
    m = a.monitor.set_index(["time", "server"])
    assert not m.loc[(1.5, "c-3"), "up"] and m.loc[(1.5, "c-3"), "connections"] == 0
    assert m.loc[(1.5, "c-1"), "routes"] == 1
    # c-3's clients reconnected elsewhere: more connections accepted than clients placed
    assert a.monitor.groupby("server").total_connections.max().sum() > len(a.clients)
    spike = a.monitor_links.query("server == 'c-1' and remote == 'c-2'").set_index("time").rtt
    assert spike.loc[1.0] > 0.006  # 2 x 3 ms added


def test_blackholed_route_keeps_its_last_rtt():
    """While a partition blackholes a route (before pings find it stale) no PONG comes
    back: the route's RTT stays what it last was, as nats-server's c.rtt does."""
    sc = cluster_scenario(faults=[{"at": "1s", "for": "0.6s", "partition": [["c-1"], ["c-2"]]}])
    rtt = sim.run(sc).monitor_links.query("server == 'c-1' and remote == 'c-2'")
    rtt = rtt.set_index("time").rtt
    assert rtt.loc[1.5] == rtt.loc[1.0] and np.isfinite(rtt.loc[1.5])
    assert rtt.loc[2.0] >= 0.002 - 1e-9


def test_gateways_counted_on_both_ends_and_rtt_measured():
    """In a supercluster, messages sent over gateways are received on the other side; the
    outbound gateway RTT is NaN until the first PONG (~1 s), then the regions' round trip."""
    sc = supercluster([pubsub({"count": 1, "rate": "100/s", "cluster": "a"}, {"per_server": 1})])
    sc["monitor"] = {"interval": "0.5s"}
    r = sim.run(sc)
    f = final(r)
    assert f.out_gateway_msgs.sum() == f.in_gateway_msgs.sum() > 0
    assert f.out_gateway_bytes.sum() == f.in_gateway_bytes.sum()
    assert (f.gateways == 1).all() and f.gateways_in.sum() == 4
    gw = r.monitor_links[r.monitor_links.kind == "gateway"]
    assert gw[gw.time < 1.0].rtt.isna().all()
    late = gw[gw.time >= 1.5].rtt
    assert late.notna().all() and np.allclose(late, 0.040)
    assert set(gw.remote_cluster) == {"a", "b"}


@pytest.mark.parametrize(
    "server",
    [{"max_pending": "64KiB", "write_deadline": "10s"}, {"max_pending": "1MiB"}],
    ids=["max_pending", "write_deadline"],
)
def test_slow_consumers_counted_where_closed(server):
    """slow_consumers counts the clients each server closed as slow consumers (the trace's
    slow_consumer events); pending bytes pile up on the stalled client's server first."""
    sc = slow_scenario("3s", **server)
    sc["topology"]["server"].setdefault("write_deadline", "500ms")
    sc["monitor"] = {"interval": "10ms"}
    r = sim.run(sc)
    ev = r.events[r.events.kind == "slow_consumer"]
    assert len(ev) == 1
    f = final(r)
    assert (f.slow_consumers == per_server(ev, f.index)).all()
    m = r.monitor
    t = ev.time.iloc[0]
    srv = ev.server.iloc[0]
    before = m[(m.server == srv) & (m.time < t) & (m.time >= t - 0.05)]
    assert before.pending_bytes.max() > 0
    assert (m[m.server != srv].pending_bytes == 0).all()


@pytest.mark.parametrize(
    ("monitor", "problem"),
    [
        ({"interval": "0s"}, "greater than 0"),
        ({"interval": "fast"}, "fast"),
        ({"interval": "1us"}, "samples"),
        ({"every": "1s"}, "every"),
    ],
)
def test_bad_monitor_settings_are_one_line_errors(monitor, problem):
    """A bad interval (or key) is a ScenarioError naming monitor.<field>."""
    sc = cluster_scenario()
    sc["monitor"] = monitor
    with pytest.raises(ScenarioError) as err:
        load_scenario(sc)
    text = str(err.value)
    assert "monitor" in text and problem in text and "\n" not in text


def test_bad_interval_exits_2(tmp_path):
    """On the command line a bad interval is one stderr line and exit code 2."""
    path = tmp_path / "m.yaml"
    path.write_text(
        "name: m\nduration: 1s\ntopology: {clusters: {c: {servers: 1}}}\nmonitor:\n"
        "  interval: -1s\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "sim", "run", str(path), "--out", str(tmp_path / "o")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1 and "monitor.interval" in proc.stderr
    assert f"{path}:5" in proc.stderr


def test_cli_monitor_option(tmp_path):
    """natsim run --monitor INTERVAL monitors a scenario that has no monitor: key."""
    path = tmp_path / "m.yaml"
    path.write_text("name: m\nduration: 1s\ntopology: {clusters: {c: {servers: 2}}}\n")
    out = tmp_path / "o"
    argv = [sys.executable, "-m", "sim", "run", str(path), "--out", str(out), "-q"]
    argv += ["--no-report", "--format", "csv", "--monitor", "250ms"]
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    m = pd.read_csv(out / "monitor.csv")
    assert sorted(set(m.time))[:3] == [0.0, 0.25, 0.5] and set(m.server) == {"c-1", "c-2"}


def test_saved_and_loaded_with_the_result(cluster_run, tmp_path):
    """The snapshot tables are saved with the others (csv here) and load back equal;
    a run without monitoring has none."""
    out = cluster_run.save(tmp_path / "r", fmt="csv")
    assert (out / "monitor.csv").exists() and (out / "monitor_links.csv").exists()
    back = sim.Result.load(out)
    pd.testing.assert_frame_equal(back.monitor, cluster_run.monitor, check_dtype=False)
    pd.testing.assert_frame_equal(back.monitor_links, cluster_run.monitor_links, check_dtype=False)
    plain = sim.run(cluster_scenario(duration="0.2s", monitored=False))
    saved = plain.save(tmp_path / "p", fmt="csv")
    assert not (saved / "monitor.csv").exists() and sim.Result.load(saved).monitor is None


def test_rates_and_peaks(cluster_run):
    """Rates times the interval add back up to the counters; peaks are per server, with the
    placed clients as peak connections and the 2 ms routes as peak route RTT (or more)."""
    r = cluster_run
    rates = monitor_rates(r)
    assert len(rates) == len(r.monitor) - len(r.servers)
    f = final(r)
    back = (rates.assign(n=rates.out_msgs * 0.5)).groupby("server").n.sum()
    back.loc[:] += r.monitor[r.monitor.time == 0].set_index("server").out_msgs
    assert np.allclose(back, f.out_msgs.reindex(back.index))
    peaks = monitor_peaks(r)
    assert list(peaks.index) == list(r.servers.server)
    assert (peaks.connections == per_server(r.clients, peaks.index)).all()
    assert (peaks.route_rtt >= 0.002).all() and peaks.gateway_rtt.isna().all()
    assert (peaks.out_msgs_per_s > 0).all()
    with pytest.raises(ValueError, match="not monitored"):
        monitor_rates(sim.run(cluster_scenario(duration="0.1s", monitored=False)))


def test_expectations_on_monitoring_peaks(cluster_run):
    """expect: lines can bound a server's peak connections, message rates and slow
    consumers; in a run without monitoring they fail with the reason, not a crash."""
    placed = int(cluster_run.clients.groupby("server").size().max())
    rows = evaluate(
        cluster_run,
        [
            f"peak_connections == {placed}",
            "peak_msgs_out_per_s > 100",
            "peak_msgs_in_per_s{window=all} < 100000",
            "slow_consumers == 0",
        ],
    )
    assert rows.passed.all(), rows.to_string()
    plain = sim.run(cluster_scenario(duration="0.1s", monitored=False))
    row = evaluate(plain, ["peak_connections < 10"]).iloc[0]
    assert not row.passed and "not monitored" in row.error


def test_monitor_figure_and_peaks_in_the_report(cluster_run, tmp_path):
    """The report of a monitored run has the monitoring figure (five panels) and the peaks."""
    figs = {slug: fig for slug, _, fig in figures(cluster_run)}
    assert len(figs["monitor"].axes) == 5
    write_report(
        cluster_run, tmp_path, figures=[("monitor", "Monitoring snapshots", figs["monitor"])]
    )
    assert (tmp_path / "figures" / "monitor.png").exists()
    html = (tmp_path / "index.html").read_text()
    assert "Monitoring snapshots" in html and 'id="monitoring"' in html
    assert "msgs/s out" in (tmp_path / "summary.md").read_text()
