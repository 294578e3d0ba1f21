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
from sim.analysis.summary import format_summary, summary

__all__ = [
    "convergence",
    "delivery_table",
    "duplicates",
    "fault_timeline",
    "format_summary",
    "guarantee_table",
    "latency_quantiles",
    "loss_by_fault",
    "loss_by_reason",
    "ordering_violations",
    "reconnect_storm",
    "reconnect_storm_pivot",
    "reconnect_times",
    "request_outcomes",
    "split_losses",
    "summary",
]
