"""Analysis: pure functions from result DataFrames to numbers, tables and text."""

from sim.analysis.faults import (
    convergence,
    fault_timeline,
    loss_by_fault,
    reconnect_storm,
    reconnect_storm_pivot,
    reconnect_times,
)
from sim.analysis.guarantees import guarantee_table
from sim.analysis.metrics import (
    delivery_table,
    duplicates,
    latency_quantiles,
    loss_by_reason,
    ordering_violations,
    request_outcomes,
    split_losses,
)
from sim.analysis.monitoring import monitor_peaks, monitor_rates
from sim.analysis.service_latency import latency_breakdown, latency_samples_over_time
from sim.analysis.summary import format_summary, summary
from sim.analysis.timeseries import (
    delivery_over_time,
    latency_by_path,
    latency_histogram,
    latency_over_time,
    path_kind,
    queue_distribution,
    request_outcomes_over_time,
    route_mesh,
    server_counters,
    subscriber_table,
)

__all__ = [
    "convergence",
    "delivery_over_time",
    "delivery_table",
    "duplicates",
    "fault_timeline",
    "format_summary",
    "guarantee_table",
    "latency_breakdown",
    "latency_by_path",
    "latency_histogram",
    "latency_over_time",
    "latency_quantiles",
    "latency_samples_over_time",
    "loss_by_fault",
    "loss_by_reason",
    "monitor_peaks",
    "monitor_rates",
    "ordering_violations",
    "path_kind",
    "queue_distribution",
    "reconnect_storm",
    "reconnect_storm_pivot",
    "reconnect_times",
    "request_outcomes",
    "request_outcomes_over_time",
    "route_mesh",
    "server_counters",
    "split_losses",
    "subscriber_table",
    "summary",
]
