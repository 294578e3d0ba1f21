"""Topology: clusters grouped by region, routes and gateways, failed parts at a chosen time."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from sim.plots._common import faults, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sim.results import Result

__all__ = ["topology", "topology_state"]


def _region_coords(result: Result) -> dict[str, tuple[float, float]]:
    from sim.regions import REGIONS

    coords = {k: (float(v[0]), float(v[1])) for k, v in REGIONS.items()}
    spec = (getattr(result, "meta", {}).get("scenario_spec") or {}).get("topology") or {}
    for name, r in (spec.get("regions") or {}).items():
        if isinstance(r, dict) and "lat" in r and "lon" in r:
            coords[name] = (float(r["lat"]), float(r["lon"]))
    return coords


def topology_state(result: Result, at: float) -> dict[str, Any]:
    """What was down at time ``at``: ``servers`` (set), ``routes`` (frozensets), ``gateways``.

    From ``server_down``/``server_up``, ``route_down``/``route_up`` and
    ``gateway_down``/``gateway_up`` events up to and including ``at``.  A
    server whose first such event is ``server_up`` did not run before it.
    ``gateways`` holds (server, remote cluster) pairs.
    """
    ev = result.events
    ev = ev[ev.time <= at].sort_values("time", kind="stable")
    all_ev = result.events
    down: set[str] = set()
    for srv in result.servers.server:
        first = all_ev[(all_ev.server == srv) & all_ev.kind.isin(["server_up", "server_down"])]
        if len(first) and first.sort_values("time").kind.iloc[0] == "server_up":
            down.add(srv)
    routes: set[frozenset[str]] = set()
    gateways: set[tuple[str, str]] = set()
    for srv, kind, detail in zip(ev.server, ev.kind, ev.detail, strict=True):
        if kind == "server_down":
            down.add(srv)
        elif kind == "server_up":
            down.discard(srv)
        elif kind == "route_down":
            routes.add(frozenset((srv, detail)))
        elif kind == "route_up":
            routes.discard(frozenset((srv, detail)))
        elif kind == "gateway_down":
            gateways.add((srv, detail))
        elif kind == "gateway_up":
            gateways.discard((srv, detail))
    return {"servers": down, "routes": routes, "gateways": gateways}


def _default_at(result: Result) -> float | None:
    f = faults(result)
    if f.empty:
        return None
    row = f.iloc[0]
    return (
        float(row.start + (row.end - row.start) / 2)
        if row.end > row.start
        else float(row.start) + 1.0
    )


def topology(result: Result, at: float | None = None, geographic: bool | None = None) -> Figure:
    """Servers grouped by cluster and region; routes solid, gateways dashed; latency labels.

    With coordinates for every cluster's region (bundled regions or the
    scenario's ``topology.regions``) clusters sit at their region's
    longitude/latitude (``geographic=False`` forces the schematic layout).
    Client counts are shown per server.  Servers, routes and gateways down at
    time ``at`` (default: the middle of the first fault, none without faults)
    are marked in red.
    """
    import numpy as np

    servers = result.servers
    cluster_of = dict(zip(servers.server, servers.cluster, strict=True))
    region_of_cluster = {}
    for c, reg in zip(servers.cluster, servers.region, strict=True):
        region_of_cluster.setdefault(c, reg if isinstance(reg, str) else None)
    clusters = list(dict.fromkeys(servers.cluster))
    coords = _region_coords(result)
    geo = (
        all(region_of_cluster[c] in coords for c in clusters)
        and len(set(region_of_cluster.values())) > 1
    )
    if geographic is not None:
        geo = geographic and all(region_of_cluster[c] in coords for c in clusters)
    if at is None:
        at = _default_at(result)
    state = (
        topology_state(result, at)
        if at is not None
        else {"servers": set(), "routes": set(), "gateways": set()}
    )

    # cluster centres
    centre: dict[str, np.ndarray] = {}
    if geo:
        regions = list(dict.fromkeys(region_of_cluster[c] for c in clusters))
        pts = {reg: np.array([coords[reg][1], coords[reg][0]]) for reg in regions}
        dists = [
            np.linalg.norm(pts[a] - pts[b]) for i, a in enumerate(regions) for b in regions[i + 1 :]
        ]
        radius = min(10.0, 0.22 * min(dists)) if dists else 5.0
        for reg in regions:
            members = [c for c in clusters if region_of_cluster[c] == reg]
            for k, c in enumerate(members):
                angle = 2 * math.pi * k / len(members)
                off = (
                    2.6 * radius * np.array([math.cos(angle), math.sin(angle)])
                    if len(members) > 1
                    else 0
                )
                centre[c] = pts[reg] + off
    else:
        radius = 1.0
        big = 3.2 if len(clusters) > 1 else 0.0
        for k, c in enumerate(clusters):
            angle = math.pi / 2 - 2 * math.pi * k / len(clusters)
            centre[c] = np.array([big * math.cos(angle), big * math.sin(angle)])
    pos: dict[str, np.ndarray] = {}
    for c in clusters:
        members = [s for s in servers.server if cluster_of[s] == c]
        for k, s in enumerate(members):
            angle = math.pi / 2 - 2 * math.pi * k / len(members)
            pos[s] = centre[c] + (
                radius * np.array([math.cos(angle), math.sin(angle)]) if len(members) > 1 else 0
            )

    fig, ax = new_figure((10, 6))
    when = f" at t = {at:g} s" if at is not None else ""
    ax.set_title(f"Topology — {result.meta.get('scenario', '')}{when}")
    g = result.topology
    routes: dict[frozenset[str], list[float]] = {}
    gws: dict[frozenset[str], list[float]] = {}
    gw_pairs: dict[frozenset[str], list[tuple[str, str]]] = {}
    clients: dict[str, int] = {}
    if g is not None:
        for a, b, data in g.edges(data=True):
            kind = data.get("kind")
            if kind == "route":
                routes.setdefault(frozenset((a, b)), []).append(
                    float(data.get("mean_latency", math.nan))
                )
            elif kind == "gateway":
                pair = frozenset((cluster_of.get(a), cluster_of.get(b)))
                gws.setdefault(pair, []).append(float(data.get("mean_latency", math.nan)))
                gw_pairs.setdefault(pair, []).append((a, b))
            elif kind == "client":
                clients[b] = clients.get(b, 0) + 1
    else:
        clients = result.clients.server.value_counts().to_dict()
    # gateways: one dashed line per server pair, one latency label per cluster pair
    for pair, links in gw_pairs.items():
        for a, b in links:
            failed = (
                (a, cluster_of[b]) in state["gateways"]
                or (b, cluster_of[a]) in state["gateways"]
                or a in state["servers"]
                or b in state["servers"]
            )
            ax.plot(
                *zip(pos[a], pos[b], strict=True),
                ls="--",
                lw=1.6 if failed else 0.8,
                color="#d62728" if failed else "#1f77b4",
                alpha=0.9 if failed else 0.35,
                zorder=1,
            )
        ca, cb = sorted(pair) if len(pair) == 2 else (next(iter(pair)),) * 2
        mid = (centre[ca] + centre[cb]) / 2
        ax.annotate(
            f"{np.nanmean(gws[pair]) * 1000:.1f} ms",
            mid,
            ha="center",
            va="center",
            fontsize="small",
            color="#1f77b4",
            bbox={"boxstyle": "round", "fc": "white", "ec": "#1f77b4", "alpha": 0.9},
            zorder=4,
        )
    route_lat: dict[str, list[float]] = {}
    for pair, lats in routes.items():
        a, b = sorted(pair)
        failed = pair in state["routes"] or a in state["servers"] or b in state["servers"]
        ax.plot(
            *zip(pos[a], pos[b], strict=True),
            ls="-",
            lw=2 if failed else 1.4,
            color="#d62728" if failed else "#555555",
            alpha=0.9,
            zorder=2,
        )
        route_lat.setdefault(cluster_of[a], []).extend(lats)
    for c in clusters:
        members = [s for s in servers.server if cluster_of[s] == c]
        region = region_of_cluster[c]
        label = f"cluster {c}" + (f" ({region})" if region else "")
        if c in route_lat:
            label += f"\nroutes ~{np.nanmean(route_lat[c]) * 1000:.2f} ms"
        low = min(pos[m][1] for m in members)
        ax.annotate(
            label,
            (centre[c][0], low),
            xytext=(0, -12),
            textcoords="offset points",
            ha="center",
            va="top",
            fontsize="small",
            fontweight="bold",
            zorder=5,
        )
    for s, p in pos.items():
        down = s in state["servers"]
        ax.scatter(
            *p,
            s=160,
            marker="o",
            color="white" if down else "#2ca02c",
            edgecolor="#d62728" if down else "black",
            lw=2 if down else 1,
            zorder=6,
        )
        if down:
            ax.scatter(*p, s=90, marker="x", color="#d62728", lw=2, zorder=7)
        n = clients.get(s, 0)
        ax.annotate(
            f"{s}\n{n} client{'s' if n != 1 else ''}",
            p,
            xytext=(0, 10),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize="x-small",
            zorder=8,
        )
    # legend proxies
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color="#555555", lw=1.4, label="route (intra-cluster)"),
        Line2D(
            [], [], color="#1f77b4", ls="--", lw=1, label="gateway (label: mean one-way latency)"
        ),
        Line2D([], [], marker="o", ls="", color="#2ca02c", mec="black", ms=9, label="server"),
    ]
    if state["servers"] or state["routes"] or state["gateways"]:
        handles += [
            Line2D(
                [], [], marker="X", ls="", color="#d62728", ms=9, label="server down / not running"
            ),
            Line2D([], [], color="#d62728", lw=2, label="route or gateway down"),
        ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    ax.set_aspect("equal", adjustable="datalim")
    ax.margins(0.15)
    if geo:
        ax.set_xlabel("longitude (°)")
        ax.set_ylabel("latitude (°)")
        ax.grid(True, alpha=0.2)
    else:
        ax.set_xlabel("schematic layout (no region coordinates)")
        ax.set_xticks([])
        ax.set_yticks([])
    return fig
