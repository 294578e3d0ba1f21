"""Plots of a run: each a function taking a :class:`~sim.results.Result` and returning a Figure.

Figures are made with :class:`matplotlib.figure.Figure` directly — no pyplot
state, no backend needed, nothing leaked — so they render the same in a
notebook (display ``fig``) and in a report (``fig.savefig(path)``).

:func:`figures` lists every plot that applies to a result, in report order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.plots.delivery import delivery, latency_cdf, latency_time
from sim.plots.failover import failover, failover_time, failover_workloads
from sim.plots.jetstream import jetstream_latency, jetstream_outcomes
from sim.plots.monitoring import monitoring
from sim.plots.queues import queues
from sim.plots.recovery import convergence, reconnects
from sim.plots.service_latency import service_latency
from sim.plots.sweep import sweep_plot
from sim.plots.topology import topology, topology_state

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sim.results import Result

__all__ = [
    "convergence",
    "delivery",
    "failover",
    "failover_time",
    "failover_workloads",
    "figures",
    "jetstream_latency",
    "jetstream_outcomes",
    "latency_cdf",
    "latency_time",
    "monitoring",
    "queues",
    "reconnects",
    "service_latency",
    "sweep_plot",
    "topology",
    "topology_state",
]


def figures(result: Result, at: float | None = None) -> list[tuple[str, str, Figure]]:
    """(slug, title, figure) for every plot that applies to this result, in report order.

    Slugs: ``topology``, ``delivery``, ``latency_cdf``, ``latency_time``,
    ``failover-<workload>`` (per request/reply workload, when the run had a
    fault), ``queues`` (queue-group deliveries), ``convergence``
    (``mesh_incomplete``/``converged`` or route events), ``reconnects``
    (client reconnections), ``service_latency`` (latency samples), ``jetstream``
    and ``jetstream_latency`` (when the run had JetStream workloads), ``monitor``
    (monitoring snapshots, when the run took them).  ``at`` is the time the
    topology shows failures for.
    """
    out: list[tuple[str, str, Figure]] = []
    scenario = result.meta.get("scenario", "")
    if result.topology is not None or len(result.servers):
        out.append(("topology", "Topology", topology(result, at)))
    out.append(("delivery", "Delivery over time", delivery(result)))
    d = result.deliveries
    if len(d) or len(result.requests):
        out.append(("latency_cdf", "Latency CDF", latency_cdf(result)))
        out.append(("latency_time", "Latency over time", latency_time(result)))
    for wl in failover_workloads(result):
        out.append((f"failover-{wl}", f"Failover timeline: {wl}", failover(result, wl)))
    if "queue" in d and d.queue.notna().any():
        out.append(("queues", "Queue-group distribution", queues(result)))
    ev = result.events
    if ev.kind.isin(["mesh_incomplete", "converged", "route_down", "route_up"]).any():
        out.append(("convergence", "Route-mesh convergence", convergence(result)))
    if (ev.kind == "client_reconnected").any():
        out.append(("reconnects", "Reconnect storm", reconnects(result)))
    samples = getattr(result, "frames", {}).get("service_latency")
    if samples is not None and len(samples):
        out.append(("service_latency", "Service latency samples", service_latency(result)))
    js = getattr(result, "js_publishes", None)
    if js is not None and len(js):
        out.append(("jetstream", "JetStream guarantees side by side", jetstream_outcomes(result)))
        out.append(("jetstream_latency", "End-to-end latency CDF", jetstream_latency(result)))
    if getattr(result, "monitor", None) is not None and len(result.monitor):
        out.append(("monitor", "Monitoring snapshots", monitoring(result)))
    del scenario
    return out
