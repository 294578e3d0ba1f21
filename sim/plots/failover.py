"""Geographic failover timeline: each request at (start, latency), coloured by serving region."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from sim.plots._common import empty_note, faults, new_figure, shade_faults

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sim.results import Result

__all__ = ["failover", "failover_time", "failover_workloads"]

_FAILED = {
    "timeout": ("x", "#d62728", "timeout"),
    "no_responders": ("v", "#ff7f0e", "no responders"),
    "client_gone": ("s", "#7f7f7f", "client gone"),
}


def failover_workloads(result: Result) -> list[str]:
    """Request/reply workloads of a run that had at least one fault window."""
    if faults(result).empty or result.requests.empty:
        return []
    return list(dict.fromkeys(result.requests.workload))


def failover_time(result: Result, workload: str) -> list[dict[str, Any]]:
    """Failover per fault window: ``start``, ``end``, ``from`` (cluster), ``to``, ``seconds``.

    With a ``stop_responders`` fault for the workload, from
    :func:`sim.analysis.failover.failover_summary`.  Otherwise, for each fault
    window of :func:`sim.analysis.faults.fault_timeline`, per requesting
    cluster: the cluster that served most of its answered requests before the
    fault, and its first answered request started after the fault's start and
    served by another cluster — ``seconds`` from the fault's start to that
    reply; the earliest such switch over the requesting clusters is kept
    (none when every cluster kept its server: nothing failed over).
    """
    from sim.analysis.failover import failover_summary, fault_windows

    r = result.requests
    r = r[r.workload == workload].sort_values("start", kind="stable")
    if not fault_windows(result, workload).empty:
        s = failover_summary(result, workload)
        after = r[
            (r.start >= s["fault_at"]) & (r.outcome == "ok") & (r.served_cluster != s["faulted"])
        ]
        return [
            {
                "start": s["fault_at"],
                "end": s["restored_at"],
                "from": s["faulted"],
                "to": after.served_cluster.iloc[0] if len(after) else None,
                "seconds": s["failover_time"],
            }
        ]
    out = []
    ok = r[r.outcome == "ok"]
    for f in faults(result).itertuples():
        best: dict[str, Any] | None = None
        stuck: str | None = None  # a requesting cluster whose requests failed, no switch
        for cluster, mine in ok.groupby("cluster", sort=True):
            before = mine[mine.start < f.start].served_cluster.value_counts()
            if before.empty:
                continue
            home = before.index[0]
            after = mine[
                (mine.start >= f.start) & (mine.start <= f.end) & (mine.served_cluster != home)
            ]
            if not len(after):
                window = r[(r.cluster == cluster) & (r.start >= f.start) & (r.start <= f.end)]
                if (window.outcome != "ok").any() and stuck is None:
                    stuck = home
                continue
            first = after.iloc[0]
            seconds = float(first.start + first.latency - f.start)
            if best is None or seconds < best["seconds"]:
                best = {
                    "start": float(f.start),
                    "end": float(f.end),
                    "from": home,
                    "to": first.served_cluster,
                    "seconds": seconds,
                }
        if best is None and stuck is not None:
            best = {"start": float(f.start), "end": float(f.end), "from": stuck, "to": None}
            best["seconds"] = math.nan
        if best is not None:
            out.append(best)
    return out


def failover(result: Result, workload: str | None = None, max_regions: int = 10) -> Figure:
    """Each request of ``workload`` at (start time, latency), coloured by the region that served it.

    Answered requests are dots (latency to the first reply); timed-out,
    no-responders and client-gone requests are marked at the time they
    waited (a timeout sits on its timeout line).  Fault windows are shaded
    and the failover time (:func:`failover_time`) is annotated.
    """
    import numpy as np

    r = result.requests
    if workload is None:
        workload = (
            failover_workloads(result)[0]
            if failover_workloads(result)
            else (r.workload.iloc[0] if len(r) else None)
        )
    r = r[r.workload == workload]
    fig, ax = new_figure((10, 5))
    ax.set_title(f"Failover timeline — {workload} ({result.meta.get('scenario', '')})")
    if r.empty:
        empty_note(ax, "no requests")
    servers = result.servers
    region = dict(zip(servers.cluster, servers.region, strict=True)) if "region" in servers else {}
    served = r.served_cluster.map(
        lambda c: (region.get(c) or f"cluster {c}") if c is not None and c == c else None
    )
    ok = r[r.outcome == "ok"]
    regions = list(served[ok.index].value_counts().index)
    shown = regions[: max_regions - 1] if len(regions) > max_regions else regions
    for i, reg in enumerate(shown):
        part = ok[served[ok.index] == reg]
        ax.scatter(
            part.start,
            part.latency * 1000,
            s=6,
            color=f"C{i % 10}",
            alpha=0.6,
            lw=0,
            label=f"served in {reg} ({len(part):,})",
            rasterized=True,
        )
    rest = ok[~served[ok.index].isin(shown)]
    if len(rest):
        ax.scatter(
            rest.start,
            rest.latency * 1000,
            s=6,
            color="grey",
            alpha=0.6,
            lw=0,
            label=f"served elsewhere ({len(rest):,})",
            rasterized=True,
        )
    for outcome, (marker, colour, label) in _FAILED.items():
        part = r[r.outcome == outcome]
        if part.empty:
            continue
        wait = (part.end - part.start).to_numpy(dtype=float) * 1000
        wait = np.where(wait > 0, wait, np.nan)
        if outcome == "no_responders":
            wait = np.where(np.isnan(wait), 0.1, wait)
        ax.scatter(
            part.start,
            wait,
            s=22,
            marker=marker,
            color=colour,
            lw=1,
            label=f"{label} ({len(part):,})",
            zorder=3,
        )
    timeouts = r[r.outcome == "timeout"]
    if len(timeouts):
        t = float((timeouts.end - timeouts.start).median()) * 1000
        ax.axhline(t, color="#d62728", lw=0.6, ls=":")
        ax.annotate(
            f"timeout {t:g} ms",
            (0.0, t),
            xycoords=("axes fraction", "data"),
            xytext=(3, 3),
            textcoords="offset points",
            fontsize="small",
            color="#d62728",
        )
    shade_faults(ax, result)
    if len(r):
        ax.set_yscale("log")
    ymax = ax.get_ylim()[1] if len(r) else 1
    for k, f in enumerate(failover_time(result, workload) if len(r) else []):
        if math.isfinite(f["seconds"]):
            text = f"failover {f['from']} → {f['to']}: {f['seconds'] * 1000:.0f} ms"
        else:
            text = f"no failover from {f['from']}"
        ax.annotate(
            text,
            (f["start"], ymax),
            xytext=(4, -14 - 13 * k),
            textcoords="offset points",
            fontsize="small",
            fontweight="bold",
            bbox={"boxstyle": "round", "fc": "white", "ec": "grey", "alpha": 0.85},
        )
    ax.set_xlabel("request start (simulated time, s)")
    ax.set_ylabel("latency to first reply (ms, log scale)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", markerscale=2)
    return fig
