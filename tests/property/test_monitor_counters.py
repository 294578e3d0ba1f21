"""Random scenarios: the monitoring counters agree with the results tables.

The same random topologies and workloads as :mod:`test_random_scenarios`
(no faults), monitored.  At the end of every run, per server: client
messages in = messages published there, client messages out = deliveries
made there, connections = clients placed there, subscriptions = the
clients' active subscriptions plus one shadow per route peer and
(subject, queue) that peer has interest in; network-wide, every message
sent over a route or gateway was received at the other end.
"""

from __future__ import annotations

import pandas as pd
from hypothesis import given

import sim
from tests.property.test_random_scenarios import scenarios


def count(frame: pd.DataFrame, servers: pd.Index) -> pd.Series:
    return frame.groupby("server").size().reindex(servers, fill_value=0)


def shadows(r: sim.Result, servers: pd.Index) -> pd.Series:
    """Per server: distinct (subject, queue) with interest on each other server of its cluster."""
    s = r.subscriptions[r.subscriptions.t_unsub.isna()]
    keys = s[["server", "subject"]].assign(queue=s.queue.fillna("").to_numpy())
    distinct = count(keys.drop_duplicates(), servers)
    cluster = r.servers.set_index("server").cluster.reindex(servers)
    total = distinct.groupby(cluster).transform("sum")
    return total - distinct


@given(sc=scenarios())
def test_counters_agree_with_the_tables(sc):
    """Monitoring counters at the end equal what the tables count, server by server."""
    sc["monitor"] = {"interval": "100ms"}
    r = sim.run(sc)
    m = r.monitor
    f = m[m.time == m.time.max()].set_index("server")
    assert (f.in_client_msgs == count(r.messages, f.index)).all()
    assert (f.out_client_msgs == count(r.deliveries, f.index)).all()
    assert (f.connections == count(r.clients, f.index)).all()
    active = count(r.subscriptions[r.subscriptions.t_unsub.isna()], f.index)
    assert (f.subscriptions - f.route_subscriptions == active).all()
    assert (f.route_subscriptions == shadows(r, f.index)).all()
    assert f.out_route_msgs.sum() == f.in_route_msgs.sum()
    assert f.out_gateway_msgs.sum() == f.in_gateway_msgs.sum()
    assert f.out_gateway_bytes.sum() == f.in_gateway_bytes.sum()
    assert (m.groupby("time").size() == len(r.servers)).all()
