"""Service latency: the parts of tracked requests' latency over time and per region."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.plots._common import empty_note, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sim.results import Result

__all__ = ["service_latency"]

_LABELS = {
    "service": "service (responder)",
    "system": "system (between servers)",
    "requestor_rtt": "requester RTT",
    "responder_rtt": "responder RTT",
    "total": "total",
}


def service_latency(result: Result) -> Figure:
    """Two panels: the mean of each latency part over time; the mean parts per region, stacked.

    The parts are those of nats-server's ServiceLatency samples: the
    responder's service time, the system (inter-server) time and the two
    client RTTs, which add up to the total.
    """
    from sim.analysis.service_latency import (
        LATENCY_PARTS,
        latency_breakdown,
        latency_samples_over_time,
    )

    fig, (top, bottom) = new_figure((10, 7.5), rows=2)
    fig.suptitle(f"Service latency samples — {result.meta.get('scenario', '')}")
    series = latency_samples_over_time(result)
    if series.empty:
        empty_note(top, "no service latency samples")
        empty_note(bottom, "no service latency samples")
        return fig
    for part in (*LATENCY_PARTS, "total"):
        style = {"color": "black", "lw": 1.6} if part == "total" else {"lw": 1.1}
        top.plot(series.time, series[part] * 1e3, label=_LABELS[part], **style)
    top.set_xlabel("simulated time (s)")
    top.set_ylabel("mean per bin (ms)")
    top.legend(fontsize="small", ncols=3)
    top.grid(alpha=0.3)

    parts = latency_breakdown(result)
    labels = [f"{r}\n({n} samples)" for r, n in zip(parts.iloc[:, 0], parts.samples, strict=True)]
    base = [0.0] * len(parts)
    for i, part in enumerate(LATENCY_PARTS):
        values = list(parts[part] * 1e3)
        bottom.bar(labels, values, bottom=base, label=_LABELS[part], color=f"C{i}")
        base = [b + v for b, v in zip(base, values, strict=True)]
    bottom.set_ylabel("mean (ms)")
    bottom.set_xlabel("requester region")
    bottom.legend(fontsize="small")
    bottom.grid(axis="y", alpha=0.3)
    return fig
