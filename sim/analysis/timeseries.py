"""Time series and breakdowns behind the plots: per time bin, per path, per member, per server.

Pure functions over a result's DataFrames (a :class:`~sim.results.Result` or
anything with the same table attributes).  Time bins are ``bin`` seconds
wide; a bin is labelled by its start, a multiple of ``bin``, and every bin
from the first to the last non-empty one is present (empty bins are 0).

Counts follow :mod:`sim.analysis.metrics`: *delivered* are owed copies that
arrived (``expected`` deliveries, one per message and subscription), *lost*
are the drops :func:`~sim.analysis.metrics.split_losses` counts as lost owed
copies.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from sim.analysis.metrics import split_losses

if TYPE_CHECKING:
    import pandas as pd

    from sim.results import Result

__all__ = [
    "PATHS",
    "delivery_over_time",
    "latency_by_path",
    "latency_histogram",
    "latency_over_time",
    "path_kind",
    "queue_distribution",
    "request_outcomes_over_time",
    "route_mesh",
    "server_counters",
    "subscriber_table",
]

#: delivery path labels, in display order (see :func:`path_kind`)
PATHS = ("local", "route", "fallback", "gateway")


def _check_bin(bin: float) -> None:
    if not bin > 0:
        raise ValueError(f"bin must be positive, not {bin!r}")


def _bins(t: Any, bin: float) -> Any:
    """The start of the bin each time falls in."""
    import numpy as np

    return np.floor(np.asarray(t, dtype=float) / bin) * bin


def _full_range(frame: pd.DataFrame, bin: float) -> pd.DataFrame:
    """Reindex a frame indexed by bin start onto every bin from first to last (0 fill)."""
    import numpy as np

    if frame.empty:
        return frame
    lo, hi = frame.index.min(), frame.index.max()
    bins = np.arange(round((hi - lo) / bin) + 1) * bin + lo
    out = frame.reindex(bins, fill_value=0)
    out.index.name = "time"
    return out


def delivery_over_time(result: Result, bin: float = 1.0, clock: str = "event") -> pd.DataFrame:
    """Delivered and lost owed copies per time bin, losses split by reason.

    One row per bin (index ``time``); columns ``delivered`` then one per loss
    reason seen, in order of total count (largest first).  ``clock="event"``
    (the default) bins a delivery by its receive time and a loss by its drop
    time; ``clock="publish"`` bins both by the message's publish time.
    """
    import pandas as pd

    _check_bin(bin)
    if clock not in ("event", "publish"):
        raise ValueError(f"clock must be 'event' or 'publish', not {clock!r}")
    d = result.deliveries
    d = d[d.expected].drop_duplicates(["msg_id", "sub_id"])
    lost, _ = split_losses(result)
    if clock == "event":
        td, tl = d.receive_time, lost.time
    else:
        td = d.publish_time
        tl = lost.msg_id.map(result.messages.set_index("msg_id")["time"]).fillna(lost.time)
    delivered = pd.Series(1, index=_bins(td, bin)).groupby(level=0).size()
    out = pd.DataFrame({"delivered": delivered})
    if len(lost):
        per = (
            pd.DataFrame({"time": _bins(tl, bin), "reason": lost.reason.to_numpy()})
            .groupby(["time", "reason"])
            .size()
            .unstack("reason", fill_value=0)
        )
        per = per[per.sum().sort_values(ascending=False, kind="stable").index]
        out = out.join(per, how="outer")
    out = out.fillna(0).astype("int64")
    out.index.name = "time"
    out.columns.name = None
    return _full_range(out, bin)


def latency_over_time(
    result: Result,
    bin: float = 1.0,
    q: tuple[float, ...] = (0.5, 0.99),
    source: str = "deliveries",
) -> pd.DataFrame:
    """Latency quantiles (seconds) per workload and time bin.

    ``source="deliveries"`` (default): delivery latency binned by publish
    time, replies left out (as :func:`~sim.analysis.metrics.latency_quantiles`).
    ``source="requests"``: answered requests' latency to the first reply,
    binned by the request's start.  A tidy table with columns ``time``,
    ``workload``, one ``p<q>`` per quantile and ``count``; only bins with
    samples appear.
    """
    import pandas as pd

    _check_bin(bin)
    if source == "deliveries":
        d = result.deliveries
        d = d[d.kind != "reply"]
        t, lat, wl = d.publish_time, d.latency, d.workload
    elif source == "requests":
        r = result.requests
        r = r[r.outcome == "ok"]
        t, lat, wl = r.start, r.latency, r.workload
    else:
        raise ValueError(f"source must be 'deliveries' or 'requests', not {source!r}")
    cols = [f"p{round(v * 100):d}" for v in q]
    frame = pd.DataFrame(
        {"time": _bins(t, bin), "workload": wl.to_numpy(), "latency": lat.to_numpy()}
    )
    g = frame.groupby(["workload", "time"])["latency"]
    out = pd.DataFrame({c: g.quantile(v) for c, v in zip(cols, q, strict=True)})
    out["count"] = g.size().astype("int64")
    return out.reset_index()[["time", "workload", *cols, "count"]]


def path_kind(result: Result) -> pd.Series:
    """The path of each delivery: ``local``, ``route``, ``fallback`` or ``gateway``.

    From ``hops`` (0 local, 1 one route hop, 2 queue fallback through a
    second server); a delivery whose origin server is in another cluster than
    the server that delivered it crossed a gateway and is ``gateway``
    whatever its hops.  Aligned with the deliveries table's index.
    """
    import numpy as np
    import pandas as pd

    d = result.deliveries
    labels = np.array(PATHS[:3], dtype=object)
    out = pd.Series(labels[np.clip(d.hops.to_numpy(), 0, 2)], index=d.index, dtype=object)
    if "origin" in d and "server" in d:
        cluster = result.servers.set_index("server")["cluster"]
        a, b = d.origin.map(cluster), d.server.map(cluster)
        out[(a != b) & a.notna() & b.notna()] = "gateway"
    return out


def latency_by_path(
    result: Result, q: tuple[float, ...] = (0.5, 0.9, 0.99), by: str | None = "workload"
) -> pd.DataFrame:
    """Delivery latency quantiles (seconds) per workload and path (:func:`path_kind`).

    Replies are left out.  Index ``(workload, path)`` (just ``path`` with
    ``by=None``), paths in :data:`PATHS` order; columns ``p<q>``, ``mean``
    and ``count``.
    """
    import pandas as pd

    d = result.deliveries
    keep = (d.kind != "reply").to_numpy()
    d = d[keep].assign(path=path_kind(result)[keep])
    keys = ["path"] if by is None else [by, "path"]
    g = d.groupby(keys)["latency"]
    cols = [f"p{round(v * 100):d}" for v in q]
    out = pd.DataFrame({c: g.quantile(v) for c, v in zip(cols, q, strict=True)})
    out["mean"] = g.mean()
    out["count"] = g.size().astype("int64")
    order = {p: i for i, p in enumerate(PATHS)}
    return out.sort_index(key=lambda ix: ix.map(order) if ix.name == "path" else ix, kind="stable")


def latency_histogram(
    result: Result, by: str = "path", bins: int | Any = 40, log: bool = True
) -> pd.DataFrame:
    """Counts of delivery latencies (seconds) per bin, one column per ``by`` group.

    ``by`` is ``"path"`` (:func:`path_kind`) or a deliveries column such as
    ``"workload"``.  ``bins`` is a number of bins (log-spaced between the
    smallest and largest positive latency when ``log``, else linear) or the
    bin edges.  Index ``lo`` (bin's lower edge), plus a ``hi`` column; the
    last bin includes its upper edge.  Replies are left out.
    """
    import numpy as np
    import pandas as pd

    d = result.deliveries
    keep = (d.kind != "reply").to_numpy()
    groups = path_kind(result)[keep] if by == "path" else d[by][keep]
    lat = d.latency[keep].to_numpy(dtype=float)
    if np.ndim(bins) == 0:
        pos = lat[lat > 0]
        if len(pos) == 0:
            edges = np.linspace(0.0, 1.0, int(bins) + 1)
        elif log:
            lo, hi = pos.min(), pos.max()
            edges = np.geomspace(lo, hi if hi > lo else lo * 10, int(bins) + 1)
        else:
            hi = lat.max()
            edges = np.linspace(0.0, hi if hi > 0 else 1.0, int(bins) + 1)
    else:
        edges = np.asarray(bins, dtype=float)
    out = pd.DataFrame(index=pd.Index(edges[:-1], name="lo"))
    out["hi"] = edges[1:]
    names = [p for p in PATHS if p in set(groups)] if by == "path" else sorted(set(groups))
    for name in names:
        counts, _ = np.histogram(lat[(groups == name).to_numpy()], bins=edges)
        out[name] = counts.astype("int64")
    return out


def request_outcomes_over_time(
    result: Result, bin: float = 1.0, workload: str | None = None
) -> pd.DataFrame:
    """Requests per outcome per time bin of their start (index ``time``).

    Columns ``ok``, ``timeout``, ``no_responders`` always, then others
    (``client_gone``) when they occurred.  ``workload`` limits to one workload.
    """
    import pandas as pd

    from sim.analysis.metrics import OUTCOMES

    _check_bin(bin)
    r = result.requests
    if workload is not None:
        r = r[r.workload == workload]
    out = (
        pd.DataFrame({"time": _bins(r.start, bin), "outcome": r.outcome.to_numpy()})
        .groupby(["time", "outcome"])
        .size()
        .unstack("outcome", fill_value=0)
    )
    cols = [
        *OUTCOMES[:3],
        *(c for c in OUTCOMES[3:] if c in out),
        *(c for c in out if c not in OUTCOMES),
    ]
    out = out.reindex(columns=cols, fill_value=0).astype("int64")
    out.columns.name = None
    out.index.name = "time"
    return _full_range(out, bin)


def queue_distribution(result: Result, by: str = "member") -> pd.DataFrame:
    """Queue-group deliveries per member, server or cluster.

    ``by="member"``: one row per (workload, queue, cluster, server,
    subscriber) — a member that reconnected elsewhere has a row per server;
    ``by="server"``: per (workload, queue, cluster, server);
    ``by="cluster"``: per (workload, queue, cluster).  Columns are the keys,
    ``messages`` (deliveries) and ``share`` (of the queue group's
    deliveries).  Sorted by the keys.
    """
    import pandas as pd

    levels = {
        "member": ["workload", "queue", "cluster", "server", "subscriber"],
        "server": ["workload", "queue", "cluster", "server"],
        "cluster": ["workload", "queue", "cluster"],
    }
    if by not in levels:
        raise ValueError(f"by must be one of {sorted(levels)}, not {by!r}")
    keys = levels[by]
    d = result.deliveries
    d = d[d.queue.notna()]
    cluster = result.servers.set_index("server")["cluster"]
    d = d.assign(cluster=d.server.map(cluster).fillna(""))
    if d.empty:
        return pd.DataFrame(
            {
                **{k: pd.Series(dtype=object) for k in keys},
                "messages": pd.Series(dtype="int64"),
                "share": pd.Series(dtype="float64"),
            }
        )
    out = d.groupby(keys).size().rename("messages").reset_index()
    total = out.groupby(["workload", "queue"])["messages"].transform("sum")
    out["share"] = out.messages / total
    return out.astype({"messages": "int64"})


def server_counters(result: Result, bin: float = 1.0, cumulative: bool = False) -> pd.DataFrame:
    """Per-server counters per time bin, named after nats-server ``/varz`` fields.

    A tidy table with a row per (``time``, ``server``) for every bin of the
    run and every server, and columns:

    ``in_msgs``        messages published on the server (client PUBs) in the bin
    ``out_msgs``       deliveries the server made to its clients in the bin
    ``subscriptions``  client subscriptions active on the server at the bin's end
                       (made at or before it; neither unsubscribed nor lost by then)
    ``slow_consumers`` ``slow_consumer`` events on the server in the bin

    ``cumulative=True`` turns ``in_msgs``, ``out_msgs`` and ``slow_consumers``
    into running totals, like ``/varz`` reports them.
    """
    import numpy as np
    import pandas as pd

    _check_bin(bin)
    m, d, s, ev = result.messages, result.deliveries, result.subscriptions, result.events
    ev = ev[ev.kind == "slow_consumer"]
    servers = list(result.servers.server)
    times = [m.time, d.receive_time, s.t_sub, ev.time]
    end = result.meta.get("sim_end") if hasattr(result, "meta") else None
    hi = max([float(t.max()) for t in times if len(t)] + [float(end or 0.0)])
    # bins up to the run's end (an event exactly at the end falls in the last bin)
    nbins = max(1, math.ceil(hi / bin - 1e-9))
    edges = np.arange(nbins) * bin
    idx = pd.MultiIndex.from_product([edges, servers], names=["time", "server"])

    def per_bin(t: pd.Series, srv: pd.Series) -> pd.Series:
        k = np.minimum(np.floor(t.to_numpy(dtype=float) / bin).astype(np.int64), nbins - 1)
        frame = pd.DataFrame({"time": edges[k] if len(k) else [], "server": srv.to_numpy()})
        return frame.groupby(["time", "server"]).size().reindex(idx, fill_value=0)

    out = pd.DataFrame(
        {
            "in_msgs": per_bin(m.time, m.server),
            "out_msgs": per_bin(d.receive_time, d.server),
            "slow_consumers": per_bin(ev.time, ev.server),
        }
    )
    stop = np.fmin(s.t_unsub.to_numpy(dtype=float), s.t_lost.to_numpy(dtype=float))
    stop = np.where(np.isnan(stop), np.inf, stop)
    t_sub = s.t_sub.to_numpy(dtype=float)
    subs = []
    for e in edges:
        at = min(e + bin, float(end)) if end is not None else e + bin
        live = (t_sub <= at) & (stop > at)
        subs.append(pd.Series(s.server.to_numpy()[live]).value_counts())
    out["subscriptions"] = [int(subs[i].get(srv, 0)) for i in range(len(edges)) for srv in servers]
    if cumulative:
        for col in ("in_msgs", "out_msgs", "slow_consumers"):
            out[col] = out.groupby(level="server")[col].cumsum()
    out = out[["in_msgs", "out_msgs", "subscriptions", "slow_consumers"]].astype("int64")
    return out.reset_index()


def subscriber_table(result: Result) -> pd.DataFrame:
    """Delivery guarantees per subscriber client: owed, delivered, lost (by reason), ratio.

    Index ``(workload, subscriber)``.  Copies owed to a queue group as a
    whole and lost before a member was chosen have no subscriber: they are
    on a row ``subscriber = "queue <name>"``.  Columns: ``owed``,
    ``delivered``, ``lost``, one ``lost_<reason>`` per reason seen,
    ``duplicated`` (copies beyond the first of a message to the client) and
    ``delivery_ratio`` = delivered / owed.
    """
    import pandas as pd

    d = result.deliveries
    owed = d[d.expected].drop_duplicates(["msg_id", "sub_id"])
    lost, _ = split_losses(result)
    who = lost.subscriber.where(lost.subscriber.notna(), "queue " + lost.queue.astype(str))
    lost = lost.assign(subscriber=who)
    keys = ["workload", "subscriber"]
    delivered = owed.groupby(keys).size()
    n_lost = lost.groupby(keys).size()
    dup = d[d.duplicated(["msg_id", "subscriber"])].groupby(keys).size()
    out = pd.DataFrame({"delivered": delivered, "lost": n_lost}).fillna(0).astype("int64")
    out.insert(0, "owed", out.delivered + out.lost)
    if len(lost):
        per = lost.groupby([*keys, "reason"]).size().unstack("reason", fill_value=0)
        per.columns = [f"lost_{c}" for c in per.columns]
        out = out.join(per).fillna(0)
    out["duplicated"] = dup.reindex(out.index, fill_value=0)
    out = out.fillna(0)
    ints = [c for c in out if c != "delivery_ratio"]
    out[ints] = out[ints].astype("int64")
    out["delivery_ratio"] = (out.delivered / out.owed.where(out.owed > 0)).astype(float)
    out.index.names = keys
    return out


def route_mesh(result: Result) -> pd.DataFrame:
    """Route-mesh completeness per cluster over time, from route and server events.

    At the start every server is running (unless its first ``server_up`` /
    ``server_down`` event is a ``server_up``: it joined later) and each
    cluster's running servers are fully meshed.  A route between two
    servers is live while both are running and neither end has reported it
    down (``route_down``) since it last reported it up (``route_up``; an
    event names its server and the peer in ``detail``).

    One row per change (and one at time 0 per cluster): ``time``,
    ``cluster``, ``servers`` (running), ``routes`` (live), ``full`` =
    servers·(servers−1)/2 and ``complete`` = routes / full (1 when full is 0).
    """
    import pandas as pd

    cluster_of = dict(zip(result.servers.server, result.servers.cluster, strict=True))
    ev = result.events
    ev = ev[ev.kind.isin(["route_up", "route_down", "server_up", "server_down"])]
    ev = ev.sort_values("time", kind="stable")
    running: dict[str, bool] = {}
    for srv in cluster_of:
        first = ev[(ev.server == srv) & ev.kind.isin(["server_up", "server_down"])]
        running[srv] = first.empty or first.kind.iloc[0] != "server_up"
    up: set[tuple[str, str]] = set()
    for a in cluster_of:
        for b in cluster_of:
            if a != b and cluster_of[a] == cluster_of[b] and running[a] and running[b]:
                up.add((a, b))

    def snapshot(t: float, cluster: str) -> dict[str, Any]:
        members = [s for s, c in cluster_of.items() if c == cluster and running[s]]
        routes = sum(
            1
            for i, a in enumerate(members)
            for b in members[i + 1 :]
            if (a, b) in up and (b, a) in up
        )
        full = len(members) * (len(members) - 1) // 2
        return {
            "time": float(t),
            "cluster": cluster,
            "servers": len(members),
            "routes": routes,
            "full": full,
            "complete": routes / full if full else 1.0,
        }

    clusters = list(dict.fromkeys(cluster_of.values()))
    rows = [snapshot(0.0, c) for c in clusters]
    for t, srv, kind, peer in zip(ev.time, ev.server, ev.kind, ev.detail, strict=True):
        c = cluster_of.get(srv)
        if c is None:
            continue
        if kind == "server_up":
            running[srv] = True
        elif kind == "server_down":
            running[srv] = False
            up.difference_update({p for p in up if srv in p})
        elif cluster_of.get(peer) == c:
            if kind == "route_up":
                up.add((srv, peer))
            else:
                up.discard((srv, peer))
                up.discard((peer, srv))
        else:
            continue
        rows.append(snapshot(t, c))
    out = pd.DataFrame(rows, columns=["time", "cluster", "servers", "routes", "full", "complete"])
    return out.astype({"time": "float64", "servers": "int64", "routes": "int64", "full": "int64"})
