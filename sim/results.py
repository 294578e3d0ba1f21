"""The result of a run: tidy pandas DataFrames, run metadata, files.

:class:`Result` turns the columnar :class:`~sim.trace.Trace` into DataFrames
once, at the end of a run, and can save itself to a folder and load back from
one — so a notebook can work from a saved ``reports/<scenario>/`` folder
without running anything.  Column names are ``snake_case``; times are
seconds of simulated time; categorical columns (workload, client, server,
reason…) are strings.

Tables
------
messages      one row per published message (publish, request or reply)
deliveries    one row per delivery to a subscription
drops         one row per owed delivery that did not happen, with its reason,
              and one per message that found no interest at all
requests      one row per request, with its outcome as the requester saw it
subscriptions one row per client subscription
clients       one row per client connection
servers       one row per server
events        one row per control-plane event (faults, reconnects, gateway RTTs,
              permission violations, …)
service_latency one row per service latency sample (tracked service imports)
js_*          JetStream: publish attempts, what stream leaders did with them,
              stored messages, consumer deliveries, acks (see sim.jstrace)

With accounts, ``messages`` and ``subscriptions`` carry the ``account`` of
each subject (``$G`` without accounts) and ``clients`` the ``account`` and
``user`` of each client.

Only when the scenario has ``monitor:`` (None otherwise):

monitor       one row per server per sample: /varz-style counters and gauges
monitor_links one row per route or outbound gateway connection per sample: its RTT
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.model.accounts import split_account
from sim.results_js import JS_TABLES, empty_js_frames, js_frames
from sim.scenario.spec import GLOBAL_ACCOUNT
from sim.snapshots import COUNTERS, LINK_KINDS, SERVER_COLUMNS, Snapshots
from sim.trace import DropReason, MsgKind, Outcome, Trace

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "LATENCY_COLUMNS",
    "OPTIONAL_TABLES",
    "TABLES",
    "Result",
    "frames_from_trace",
    "snapshot_frames",
]

TABLES = (
    "messages",
    "deliveries",
    "drops",
    "requests",
    "subscriptions",
    "clients",
    "servers",
    "events",
    "service_latency",
)

#: columns of the ``service_latency`` table, in the order of Trace.latency_samples rows
LATENCY_COLUMNS = (
    "sample_id",
    "time",
    "account",
    "importer",
    "subject",
    "requester",
    "responder",
    "requester_server",
    "responder_server",
    "start",
    "service",
    "system",
    "total",
    "requestor_rtt",
    "responder_rtt",
    "status",
    "msg_id",
)

#: Tables a result has only when the run made them (monitoring snapshots).
OPTIONAL_TABLES = ("monitor", "monitor_links")


def frames_from_trace(trace: Trace) -> dict[str, pd.DataFrame]:
    """Build every results table from the trace's columns."""
    import numpy as np
    import pandas as pd

    def col(arr: Any, dtype: Any) -> Any:
        return np.array(arr, dtype=dtype)

    def names(table: Any, idx: Any) -> Any:
        """Map ids to names, with None where the id is -1."""
        out = np.full(len(idx), None, dtype=object)
        ok = idx >= 0
        out[ok] = table[idx[ok]]
        return out

    i64, f64 = np.int64, np.float64
    server_names = col([s[0] for s in trace.servers], object)
    servers = pd.DataFrame(
        {
            "server": server_names,
            "cluster": [s[1] for s in trace.servers],
            "region": col(trace.server_regions, object),
        }
    )
    events = pd.DataFrame(
        {
            "time": col(trace.ev_time, f64),
            "server": names(server_names, col(trace.ev_server, i64)),
            "kind": col(trace.ev_kind, object),
            "detail": col(trace.ev_detail, object),
            "value": col(trace.ev_value, f64),
        }
    )
    c_name = col([c[0] for c in trace.clients], object)
    c_wl = col([c[1] for c in trace.clients], object)
    c_srv = server_names[col([c[3] for c in trace.clients], i64)]
    clients = pd.DataFrame(
        {
            "client": c_name,
            "workload": c_wl,
            "role": [c[2] for c in trace.clients],
            "server": c_srv,
            "account": col([a or GLOBAL_ACCOUNT for a in trace.client_account], object),
            "user": col(trace.client_user, object),
        }
    )
    split = [split_account(s) for s in trace.subjects]
    subjects = col([s for _, s in split], object)
    subject_account = col([a for a, _ in split], object)
    sub_queue = col(trace.sub_queue, object)
    kinds = col([None, *(k.name.lower() for k in MsgKind)], object)

    sub_client = col(trace.sub_client, i64)
    # the server each subscription was made on (a reconnect makes new ones);
    # a trace built without it (-1) means the client's first server
    sub_server = col(trace.sub_server, i64)
    if len(sub_client):
        first = col([c[3] for c in trace.clients], i64)[sub_client]
        sub_server = np.where(sub_server >= 0, sub_server, first)
    reason_labels = col([None, *(r.name.lower() for r in DropReason)], object)
    subscriptions = pd.DataFrame(
        {
            "sub_id": np.arange(len(sub_client)),
            "client": c_name[sub_client],
            "workload": c_wl[sub_client],
            "server": server_names[sub_server],
            "subject": subjects[col(trace.sub_subject, i64)],
            "account": subject_account[col(trace.sub_subject, i64)],
            "queue": sub_queue,
            "t_sub": col(trace.sub_start, f64),
            "t_unsub": col(trace.sub_stop, f64),
            "t_lost": col(trace.sub_lost, f64),
            "lost_reason": reason_labels[col(trace.sub_lost_reason, i64)],
        }
    )

    m_client = col(trace.msg_client, i64)
    m_time = col(trace.msg_time, f64)
    m_server = col(trace.msg_server, i64)
    m_kind = col(trace.msg_kind, i64)
    msg_request = col(trace.msg_request, i64)
    messages = pd.DataFrame(
        {
            "msg_id": np.arange(len(m_time)),
            "time": m_time,
            "workload": c_wl[m_client],
            "kind": kinds[m_kind],
            "client": c_name[m_client],
            "server": server_names[m_server],
            "subject": subjects[col(trace.msg_subject, i64)],
            "account": subject_account[col(trace.msg_subject, i64)],
            "size": col(trace.msg_size, i64),
            "expected": col(trace.msg_expected, i64),
            "request_id": col(trace.msg_request, i64),
        }
    )

    dlv = trace.deliveries()
    d_msg = col(dlv[0], i64)
    d_sub = col(dlv[1], i64)
    d_time = col(dlv[2], f64)
    d_via = col(dlv[3], i64)
    d_origin = m_server[d_msg]
    d_server = server_names[sub_server[d_sub]]
    hops = np.where(d_via < 0, 0, np.where(d_via == d_origin, 1, 2))
    origin = server_names[d_origin]
    via = names(server_names, d_via)
    path = [
        o if h == 0 else (f"{o}>{s}" if h == 1 else f"{o}>{v}>{s}")
        for o, v, s, h in zip(origin, via, d_server, hops, strict=True)
    ]
    deliveries = pd.DataFrame(
        {
            "msg_id": d_msg,
            "workload": c_wl[m_client[d_msg]],
            "kind": kinds[m_kind[d_msg]],
            "sub_id": d_sub,
            "subscriber": c_name[sub_client[d_sub]],
            "queue": sub_queue[d_sub],
            "server": d_server,
            "origin": origin,
            "hops": hops,
            "path": col(path, object),
            "publish_time": m_time[d_msg],
            "receive_time": d_time,
            "latency": d_time - m_time[d_msg],
            "expected": col(dlv[4], bool),
        }
    )

    x_msg = col(trace.drop_msg, i64)
    x_sub = col(trace.drop_sub, i64)
    x_client = np.where(x_sub >= 0, sub_client[np.maximum(x_sub, 0)] if len(sub_client) else -1, -1)
    reasons = col([None, *(r.name.lower() for r in DropReason)], object)
    drops = pd.DataFrame(
        {
            "msg_id": x_msg,
            "workload": c_wl[m_client[x_msg]],
            "time": col(trace.drop_time, f64),
            "sub_id": x_sub,
            "subscriber": names(c_name, x_client),
            "queue": col(trace.drop_queue, object),
            "server": server_names[col(trace.drop_server, i64)],
            "reason": reasons[col(trace.drop_reason, i64)],
        }
    )

    r_msg = col(trace.req_msg, i64)
    r_start = m_time[r_msg]
    outcomes = col([None, *(o.name.lower() for o in Outcome)], object)
    requests = pd.DataFrame(
        {
            "msg_id": r_msg,
            "workload": c_wl[m_client[r_msg]],
            "requester": c_name[m_client[r_msg]],
            "server": server_names[m_server[r_msg]],
            "subject": subjects[col(trace.msg_subject, i64)[r_msg]],
            "start": r_start,
            "end": col(trace.req_end, f64),
            "outcome": outcomes[col(trace.req_outcome, i64)],
            "latency": col(trace.req_first, f64) - r_start,
            "responder": names(c_name, col(trace.req_responder, i64)),
            "replies": col(trace.req_replies, i64),
        }
    )
    cluster_of = col([s[1] for s in trace.servers], object)
    c_cluster = cluster_of[col([c[3] for c in trace.clients], i64)]
    requests["cluster"] = c_cluster[m_client[r_msg]]
    # the cluster whose responder sent the first reply: who served the request
    # the cluster of the server the first reply was published on (a responder
    # that reconnected elsewhere serves from its new cluster)
    first_reply: dict[tuple[int, int], int] = {}
    for mid in np.flatnonzero(m_kind == MsgKind.REPLY):
        first_reply.setdefault((int(msg_request[mid]), int(m_client[mid])), int(m_server[mid]))
    responder = col(trace.req_responder, i64)
    served = np.array(
        [first_reply.get((int(m), int(c)), -1) for m, c in zip(r_msg, responder, strict=True)],
        dtype=i64,
    )
    requests["served_cluster"] = names(cluster_of, served)
    requests = requests.sort_values("msg_id", kind="stable").reset_index(drop=True)
    js = js_frames(trace, c_name, c_wl, server_names, m_client, m_time)
    return {
        "service_latency": _latency_frame(trace, c_name, server_names),
        **js,
        "messages": messages,
        "deliveries": deliveries,
        "drops": drops,
        "requests": requests,
        "subscriptions": subscriptions,
        "clients": clients,
        "servers": servers,
        "events": events,
    }


#: columns of tables that may be missing from a result (see Result.__init__)
_COLUMNS: dict[str, tuple[str, ...]] = {"service_latency": LATENCY_COLUMNS}


def _latency_frame(trace: Trace, c_name: Any, server_names: Any) -> pd.DataFrame:
    """The ``service_latency`` table: one row per sample, names for ids, clusters and regions."""
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame(trace.latency_samples, columns=list(LATENCY_COLUMNS))
    cluster_of = np.array([s[1] for s in trace.servers], dtype=object)
    region_of = np.array(trace.server_regions, dtype=object)
    for who in ("requester", "responder"):
        cid = frame[who].to_numpy(dtype=np.int64)
        srv = frame[f"{who}_server"].to_numpy(dtype=np.int64)
        frame[who] = c_name[cid] if len(cid) else np.array([], dtype=object)
        frame[f"{who}_server"] = server_names[srv] if len(srv) else np.array([], dtype=object)
        frame[f"{who}_cluster"] = cluster_of[srv] if len(srv) else np.array([], dtype=object)
        frame[f"{who}_region"] = region_of[srv] if len(srv) else np.array([], dtype=object)
    return frame.astype({"start": float, "service": float, "system": float, "total": float})


def snapshot_frames(snaps: Snapshots, trace: Trace) -> dict[str, pd.DataFrame]:
    """Build the ``monitor`` and ``monitor_links`` tables from the monitoring record.

    ``monitor`` adds the /varz totals ``in_msgs``, ``out_msgs``, ``in_bytes``
    and ``out_bytes`` (every connection kind) to the per-kind counters.
    """
    import numpy as np
    import pandas as pd

    names = np.array([s[0] for s in trace.servers], dtype=object)
    clusters = np.array([s[1] for s in trace.servers], dtype=object)
    server = np.array(snaps.server, dtype=np.int64)
    monitor = pd.DataFrame(
        {
            "time": np.array(snaps.time, dtype=np.float64),
            "server": names[server],
            "cluster": clusters[server],
            **{c: np.array(snaps.values[c], dtype=np.int64) for c in SERVER_COLUMNS},
        }
    )
    monitor["up"] = monitor["up"].astype(bool)
    for way in ("in", "out"):
        for unit in ("msgs", "bytes"):
            parts = [c for c in COUNTERS if c.startswith(f"{way}_") and c.endswith(f"_{unit}")]
            monitor[f"{way}_{unit}"] = monitor[parts].sum(axis=1)
    l_server = np.array(snaps.link_server, dtype=np.int64)
    l_remote = np.array(snaps.link_remote, dtype=np.int64)
    links = pd.DataFrame(
        {
            "time": np.array(snaps.link_time, dtype=np.float64),
            "server": names[l_server],
            "cluster": clusters[l_server],
            "kind": np.array(LINK_KINDS, dtype=object)[np.array(snaps.link_kind, dtype=np.int64)],
            "remote": names[l_remote],
            "remote_cluster": clusters[l_remote],
            "rtt": np.array(snaps.link_rtt, dtype=np.float64),
        }
    )
    return {"monitor": monitor, "monitor_links": links}


class Result:
    """What a run produced: the tables, the scenario and the run metadata.

    Attributes
    ----------
    messages, deliveries, drops, requests, subscriptions, clients, servers : pandas.DataFrame
        The results tables (see the module docstring).
    meta : dict
        ``scenario`` name, ``seed``, ``natsim_version``, ``wall_seconds``,
        ``events``, ``sim_end`` and the scenario itself as plain data.
    """

    def __init__(self, frames: dict[str, pd.DataFrame], meta: dict[str, Any]) -> None:
        missing = [n for n in JS_TABLES if n not in frames]
        if missing:  # no JetStream records (saved before natsim had them, or built by hand)
            frames = {**frames, **{n: t for n, t in empty_js_frames().items() if n in missing}}
        self.frames = frames
        self.meta = meta
        for name in TABLES:
            if name not in frames:
                # a table this result's producer does not make (the real backend,
                # results saved by an older natsim): present, and empty
                import pandas as pd

                frames[name] = pd.DataFrame(columns=list(_COLUMNS.get(name, ())))
        for name in (*TABLES, *JS_TABLES):
            setattr(self, name, frames[name])
        for name in OPTIONAL_TABLES:
            setattr(self, name, frames.get(name))

    messages: pd.DataFrame
    deliveries: pd.DataFrame
    drops: pd.DataFrame
    requests: pd.DataFrame
    subscriptions: pd.DataFrame
    clients: pd.DataFrame
    servers: pd.DataFrame
    events: pd.DataFrame
    service_latency: pd.DataFrame
    js_publishes: pd.DataFrame
    js_captures: pd.DataFrame
    js_stored: pd.DataFrame
    js_deliveries: pd.DataFrame
    js_acks: pd.DataFrame
    #: monitoring snapshots (see :func:`snapshot_frames`); None when monitoring was off
    monitor: pd.DataFrame | None
    monitor_links: pd.DataFrame | None
    #: the networkx topology graph (servers, clients, routes, gateways), when known
    topology: Any = None

    def __repr__(self) -> str:
        sizes = ", ".join(f"{n}={len(self.frames[n])}" for n in TABLES[:4])
        return f"<Result {self.meta.get('scenario')} seed={self.meta.get('seed')} {sizes}>"

    def save(self, out: str | Path, fmt: str | None = None) -> Path:
        """Write every table and ``run.json`` into folder ``out``; return the folder.

        ``fmt`` is ``"parquet"`` (the default when pyarrow is installed) or ``"csv"``.
        """
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        fmt = fmt or ("parquet" if _has_pyarrow() else "csv")
        files = {}
        for name in (*TABLES, *JS_TABLES, *(t for t in OPTIONAL_TABLES if t in self.frames)):
            path = out / f"{name}.{fmt}"
            if fmt == "parquet":
                self.frames[name].to_parquet(path, index=False)
            else:
                self.frames[name].to_csv(path, index=False)
            files[name] = path.name
        if self.topology is not None:
            import networkx as nx

            graph = nx.node_link_data(self.topology, edges="edges")
            (out / "topology.json").write_text(json.dumps(graph, indent=1, default=str) + "\n")
            files["topology"] = "topology.json"
        meta = {**self.meta, "files": files}
        (out / "run.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
        return out

    @classmethod
    def load(cls, folder: str | Path) -> Result:
        """Read a folder written by :meth:`save`."""
        import pandas as pd

        folder = Path(folder)
        meta = json.loads((folder / "run.json").read_text())
        frames = {}
        topology = None
        for name, file in meta.get("files", {}).items():
            path = folder / file
            if name == "topology":
                import networkx as nx

                topology = nx.node_link_graph(json.loads(path.read_text()), edges="edges")
            else:
                frames[name] = (
                    pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
                )
        result = cls(frames, meta)
        result.topology = topology
        return result


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True
