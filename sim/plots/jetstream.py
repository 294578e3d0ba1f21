"""JetStream side by side: what each workload lost, got twice, got once; what it cost in latency.

Two figures over the ``js_*`` tables (see :mod:`sim.analysis.jetstream`),
one bar or curve per jetstream workload, so a scenario that runs the same
workload over core NATS, JetStream and JetStream with message ids shows the
three next to each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.plots._common import empty_note, legend, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sim.results import Result

__all__ = ["jetstream_latency", "jetstream_outcomes"]

#: (column of jetstream_table, label, colour), stacked bottom to top
_PARTS = (
    ("delivered_once", "delivered once", "#2ca02c"),
    ("delivered_more_than_once", "delivered more than once", "#ff7f0e"),
    ("never_delivered", "lost (never delivered)", "#d62728"),
)


def jetstream_outcomes(result: Result) -> Figure:
    """Per workload, its messages split into delivered once / more than once / never (stacked %).

    Each bar is annotated with the counts, and with the stored duplicates
    (copies a retry without a message id made the stream keep).
    """
    from sim.analysis.jetstream import jetstream_table

    t = jetstream_table(result)
    fig, ax = new_figure((10, 4.5))
    if t.empty:
        empty_note(ax, "no JetStream workload")
        return fig
    names = [str(n) for n in t.index]
    total = t.published.where(t.published > 0, 1).to_numpy(dtype=float)
    bottom = [0.0] * len(t)
    for col, label, colour in _PARTS:
        share = t[col].to_numpy(dtype=float) / total * 100
        ax.bar(names, share, bottom=bottom, color=colour, label=label, width=0.6)
        bottom = [b + s for b, s in zip(bottom, share, strict=True)]
    for k, (_, row) in enumerate(t.iterrows()):
        text = (
            f"once {row.delivered_once:,}\ntwice+ {row.delivered_more_than_once:,}\n"
            f"lost {row.never_delivered:,}\nstored dups {row.stored_duplicates:,}"
        )
        ax.annotate(text, (k, 50), ha="center", va="center", fontsize="small", color="white")
    ax.set_ylabel("% of the messages published")
    ax.set_ylim(0, 100)
    ax.set_title(f"Delivery guarantees side by side — {result.meta.get('scenario', '')}")
    legend(ax, loc="lower right")
    return fig


def jetstream_latency(result: Result) -> Figure:
    """End-to-end latency CDF per workload: first publish attempt → first receipt (log ms)."""
    import numpy as np

    from sim.analysis.jetstream import end_to_end_latency

    lat = end_to_end_latency(result)
    fig, ax = new_figure((10, 4.5))
    lat = lat[lat.latency > 0]
    if lat.empty:
        empty_note(ax, "no message received")
        return fig
    for i, (wl, group) in enumerate(lat.groupby("workload", sort=False)):
        x = np.sort(group.latency.to_numpy(dtype=float)) * 1000
        y = np.arange(1, len(x) + 1) / len(x)
        ax.step(x, y, where="post", color=f"C{i % 10}", label=str(wl))
    ax.set_xscale("log")
    for p in (0.5, 0.99):
        ax.axhline(p, color="grey", lw=0.6, ls=":")
    ax.set_xlabel("end-to-end latency (ms): first publish attempt → first receipt")
    ax.set_ylabel("fraction of messages received")
    ax.set_title("End-to-end latency — JetStream's price")
    legend(ax, loc="lower right")
    return fig
