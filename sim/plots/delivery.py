"""Delivery and latency over time: stacked delivered/lost per bin, latency CDF, p50/p99."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.plots._common import auto_bin, cap_columns, empty_note, legend, new_figure, shade_faults

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sim.results import Result

__all__ = ["delivery", "latency_cdf", "latency_time"]

#: colours for loss reasons (others get the default cycle)
_DELIVERED = "#2ca02c"


def delivery(result: Result, bin: float | None = None, clock: str = "event") -> Figure:
    """Delivered vs lost owed copies per time bin, losses stacked by reason, faults shaded.

    Top panel: delivered and lost stacked (copies per second); bottom panel:
    the losses alone, by reason, so that a small loss is still visible.
    """
    import numpy as np

    from sim.analysis.timeseries import delivery_over_time

    bin = bin or auto_bin(result)
    data = delivery_over_time(result, bin, clock=clock)
    reasons = cap_columns(data.drop(columns="delivered"), 8)
    fig, (top, bottom) = new_figure((10, 6.5), rows=2, sharex=True, height_ratios=(3, 2))
    fig.suptitle(
        f"Delivery over time — {result.meta.get('scenario', '')} (owed copies, {bin:g} s bins)"
    )
    t = data.index.to_numpy(dtype=float)
    colours = [f"C{i}" for i in (3, 1, 4, 5, 6, 7, 8, 9, 0)]
    if len(data):
        rate = data / bin
        top.bar(
            t, rate.delivered, width=bin, align="edge", color=_DELIVERED, label="delivered", lw=0
        )
        base = rate.delivered.to_numpy(dtype=float)
        low = np.zeros(len(t))
        for i, reason in enumerate(reasons):
            y = reasons[reason].to_numpy(dtype=float) / bin
            c = colours[i % len(colours)]
            top.bar(
                t, y, bottom=base, width=bin, align="edge", color=c, lw=0, label=f"lost: {reason}"
            )
            bottom.bar(
                t, y, bottom=low, width=bin, align="edge", color=c, lw=0, label=f"lost: {reason}"
            )
            base = base + y
            low = low + y
    else:
        empty_note(top, "no deliveries")
    if reasons.empty or not reasons.to_numpy().any():
        empty_note(bottom, "no owed copies lost")
    shade_faults(top, result)
    shade_faults(bottom, result, label=False)
    top.set_ylabel("copies / s")
    top.set_title("delivered and lost", fontsize="medium")
    bottom.set_ylabel("lost copies / s")
    bottom.set_title("lost, by reason", fontsize="medium")
    bottom.set_xlabel("simulated time (s)")
    top.set_ylim(bottom=0)
    bottom.set_ylim(bottom=0)
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    return fig


def latency_cdf(result: Result, source: str = "deliveries", max_series: int = 10) -> Figure:
    """Cumulative distribution of latency per workload, log x axis (ms).

    ``source="deliveries"``: publish → receive per delivery (replies left
    out); request/reply workloads also get a dashed line for the request
    latency (to the first reply) of their answered requests.
    """
    import numpy as np

    fig, ax = new_figure((10, 5))
    d = result.deliveries
    d = d[(d.kind != "reply") & (d.latency > 0)]
    r = result.requests
    r = r[(r.outcome == "ok") & (r.latency > 0)]
    workloads = list(d.groupby("workload").size().sort_values(ascending=False).index)
    drawn = 0
    for i, wl in enumerate(workloads[:max_series]):
        x = np.sort(d.latency[d.workload == wl].to_numpy(dtype=float)) * 1000
        y = np.arange(1, len(x) + 1) / len(x)
        ax.step(x, y, where="post", color=f"C{i % 10}", label=f"{wl} (delivery)")
        drawn += 1
        rl = r.latency[r.workload == wl].to_numpy(dtype=float)
        if source == "deliveries" and len(rl):
            x = np.sort(rl) * 1000
            y = np.arange(1, len(x) + 1) / len(x)
            ax.step(
                x, y, where="post", color=f"C{i % 10}", ls="--", label=f"{wl} (request → reply)"
            )
            drawn += 1
    if drawn:
        ax.set_xscale("log")
    else:
        empty_note(ax, "no latencies")
    for p in (0.5, 0.99):
        ax.axhline(p, color="grey", lw=0.6, ls=":")
        ax.annotate(
            f"p{round(p * 100)}",
            (1.0, p),
            xycoords=("axes fraction", "data"),
            xytext=(2, 0),
            textcoords="offset points",
            va="center",
            fontsize="small",
            color="grey",
        )
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("fraction of messages ≤ latency")
    ax.set_title(f"Latency CDF per workload — {result.meta.get('scenario', '')}")
    ax.grid(True, which="major", alpha=0.3)
    legend(ax, drawn, loc="upper left")
    return fig


def latency_time(
    result: Result, bin: float | None = None, source: str = "deliveries", max_series: int = 8
) -> Figure:
    """p50 and p99 latency (ms) per workload over time (log y), fault windows shaded.

    ``source`` as :func:`sim.analysis.timeseries.latency_over_time`; request/reply
    workloads are drawn from their requests (latency to the first reply) when
    ``source="deliveries"`` too, since that is the latency their users see.
    """
    import pandas as pd

    from sim.analysis.timeseries import latency_over_time

    bin = bin or auto_bin(result)
    fig, ax = new_figure((10, 5))
    data = latency_over_time(result, bin, source=source)
    if source == "deliveries" and len(result.requests):
        req = latency_over_time(result, bin, source="requests")
        rr = set(req.workload)
        data = pd.concat(
            [data[~data.workload.isin(rr)], req.assign(workload=req.workload + " (request)")]
        )
    order = data.groupby("workload")["count"].sum().sort_values(ascending=False).index[:max_series]
    for i, wl in enumerate(order):
        part = data[data.workload == wl].sort_values("time")
        mid = part.time + bin / 2
        ax.plot(mid, part.p50 * 1000, color=f"C{i % 10}", lw=1.5, label=f"{wl} p50")
        ax.plot(mid, part.p99 * 1000, color=f"C{i % 10}", lw=1, ls="--", label=f"{wl} p99")
    if len(order):
        ax.set_yscale("log")
    else:
        empty_note(ax, "no latencies")
    shade_faults(ax, result)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("latency (ms, log scale)")
    ax.set_title(
        f"Latency over time (p50 solid, p99 dashed; {bin:g} s bins) — "
        f"{result.meta.get('scenario', '')}"
    )
    ax.grid(True, which="major", alpha=0.3)
    legend(ax, 99)
    return fig
