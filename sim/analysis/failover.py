"""Geographic failover: who served each request, and what the switch cost.

Functions over a result's ``requests``, ``clients``, ``servers`` and
``events`` tables.  A fault window comes from the event log (the
``stop_responders`` / ``start_responders`` events the fault schedule records)
unless given explicitly.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from sim.results import Result

__all__ = ["failover_summary", "fault_windows", "served_by", "served_share"]


def served_by(result: Result) -> pd.DataFrame:
    """The requests table with the serving ``cluster`` and ``region`` (missing if unanswered)."""
    clients = result.clients.set_index("client")
    servers = result.servers.set_index("server")
    r = result.requests.copy()
    srv = r["responder"].map(clients["server"])
    r["cluster"] = srv.map(servers["cluster"])
    r["region"] = srv.map(servers["region"]) if "region" in servers else None
    return r


def fault_windows(result: Result, workload: str | None = None) -> pd.DataFrame:
    """Fault windows from the event log: ``start``, ``end`` (inf if never undone), ``detail``.

    A ``stop_responders`` event opens a window that the next
    ``start_responders`` with the same detail closes.
    """
    import pandas as pd

    ev = result.events
    ev = ev[ev.kind.isin(["stop_responders", "start_responders"])]
    if workload is not None:
        ev = ev[ev.detail.str.split(" ").str[0] == workload]
    rows: list[dict[str, Any]] = []
    open_: dict[str, dict[str, Any]] = {}
    for t, kind, detail in zip(ev.time, ev.kind, ev.detail, strict=True):
        if kind == "stop_responders":
            open_[detail] = {"start": t, "end": math.inf, "detail": detail}
            rows.append(open_[detail])
        elif detail in open_:
            open_.pop(detail)["end"] = t
    return pd.DataFrame(rows, columns=["start", "end", "detail"])


def served_share(
    result: Result, workload: str, windows: dict[str, tuple[float, float]]
) -> pd.DataFrame:
    """Share of a workload's answered requests served per cluster, in each named time window.

    ``windows`` maps a label to ``(from, to)`` request start times, for
    example ``{"before": (0, 40), "during": (40, 80), "after": (80, inf)}``.
    """
    import pandas as pd

    r = served_by(result)
    r = r[(r.workload == workload) & (r.outcome == "ok")]
    out = {}
    for label, (lo, hi) in windows.items():
        part = r[(r.start >= lo) & (r.start < hi)]
        out[label] = part.groupby("cluster").size() / max(len(part), 1)
    return pd.DataFrame(out).fillna(0.0)


def failover_summary(result: Result, workload: str) -> dict[str, Any]:
    """Failover figures for a workload whose responders were stopped by a fault.

    Returns a dict with ``fault_at``, ``restored_at``, ``faulted`` (the
    stopped cluster), ``failover_time`` (from the fault until the first reply
    from another cluster to a request started after it, seconds),
    ``failback_time`` (from the restore until the faulted cluster's first
    reply), ``lost_in_switch`` (failed requests started from one timeout —
    the longest wait among timed-out requests — before the fault up to the
    first successful failover), ``timeouts_during`` and ``share`` (the
    served share per cluster before, during and after).
    """
    r = served_by(result)
    r = r[r.workload == workload].sort_values("start")
    win = fault_windows(result, workload)
    if win.empty:
        raise ValueError(f"no stop_responders fault for workload {workload!r}")
    start, end, detail = win.iloc[0]
    faulted = detail.split(" in ")[1].split(" ")[0] if " in " in detail else None
    waited = r[r.outcome == "timeout"]
    timeout = float((waited.end - waited.start).max()) if len(waited) else 0.0
    answered_at = r.start + r.latency  # first reply (the end of a gather window comes later)
    after = r[(r.start >= start) & (r.outcome == "ok") & (r.cluster != faulted)]
    first = after.iloc[0] if len(after) else None
    failover = float(answered_at[first.name] - start) if first is not None else math.inf
    switch_end = float(first.start) if first is not None else end
    switch = r[(r.start >= start - timeout) & (r.start < switch_end)]
    back = r[(r.start >= end) & (r.outcome == "ok") & (r.cluster == faulted)]
    failback = (
        float(answered_at[back.index[0]] - end) if len(back) and math.isfinite(end) else math.nan
    )
    share = served_share(
        result, workload, {"before": (0, start), "during": (start, end), "after": (end, math.inf)}
    )
    return {
        "fault_at": float(start),
        "restored_at": float(end),
        "faulted": faulted,
        "failover_time": failover,
        "failback_time": failback,
        "lost_in_switch": int((switch.outcome != "ok").sum()),
        "timeouts_during": int(
            ((r.start >= start) & (r.start < end) & (r.outcome == "timeout")).sum()
        ),
        "share": share,
    }
