"""Queue-group distribution: deliveries per member, grouped by server and cluster."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.plots._common import empty_note, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sim.results import Result

__all__ = ["queues"]


def queues(result: Result, max_members: int = 40) -> Figure:
    """Messages per queue member, bars grouped by cluster and server, one panel per queue group.

    Bars are coloured by server; a dashed line marks the even share.  Past
    ``max_members`` members a panel shows per-server totals instead.
    """
    from sim.analysis.timeseries import queue_distribution

    members = queue_distribution(result, "member")
    groups = list(members.groupby(["workload", "queue"]).size().index)
    n = max(len(groups), 1)
    fig, axes = new_figure((10, min(3.6 * n, 14)), rows=n, squeeze=False)
    fig.suptitle(f"Queue-group distribution — {result.meta.get('scenario', '')}")
    if not groups:
        empty_note(axes[0][0], "no queue groups")
    for ax, (wl, q) in zip(axes[:, 0], groups, strict=False):
        part = members[(members.workload == wl) & (members.queue == q)]
        part = part.sort_values(["cluster", "server", "subscriber"])
        per_server = len(part) > max_members
        if per_server:
            part = part.groupby(["cluster", "server"], as_index=False)["messages"].sum()
            part["subscriber"] = part.server
        servers = list(dict.fromkeys(part.server))
        colour = {s: f"C{i % 10}" for i, s in enumerate(servers)}
        x, ticks, labels, pos = [], [], [], 0.0
        last_cluster, last_server = None, None
        spans: dict[str, list[float]] = {}
        for row in part.itertuples():
            if last_cluster is not None and row.cluster != last_cluster:
                pos += 1.0
            elif last_server is not None and row.server != last_server:
                pos += 0.4
            x.append(pos)
            spans.setdefault(row.cluster, [pos, pos])[1] = pos
            last_cluster, last_server = row.cluster, row.server
            pos += 1.0
        seen: set[str] = set()
        for xi, row in zip(x, part.itertuples(), strict=True):
            label = row.server if row.server not in seen else None
            seen.add(row.server)
            ax.bar(xi, row.messages, color=colour[row.server], label=label, width=0.85)
        ticks = x
        labels = [str(s).rsplit(".", 1)[-1] if not per_server else str(s) for s in part.subscriber]
        ax.set_xticks(ticks, labels, rotation=90 if len(ticks) > 12 else 0, fontsize="small")
        even = part.messages.sum() / max(len(part), 1)
        ax.axhline(even, color="black", ls="--", lw=1, label="even share")
        for cluster, (lo, hi) in spans.items():
            ax.annotate(
                f"cluster {cluster}",
                ((lo + hi) / 2, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize="small",
                fontweight="bold",
            )
        ax.set_ylabel("messages delivered")
        ax.set_xlabel("server" if per_server else "member (subscriber, short name)")
        ax.set_title(
            f"{wl} / queue {q!r}: {part.messages.sum():,} messages, {len(part)} "
            f"{'servers' if per_server else 'members'}",
            fontsize="medium",
            pad=16,
        )
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", title="server")
    return fig
