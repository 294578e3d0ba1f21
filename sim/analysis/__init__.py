"""Analysis: pure functions from result DataFrames to numbers, tables and text."""

from sim.analysis.metrics import (
    delivery_table,
    duplicates,
    latency_quantiles,
    loss_by_reason,
    ordering_violations,
    request_outcomes,
)
from sim.analysis.summary import format_summary, summary

__all__ = [
    "delivery_table",
    "duplicates",
    "format_summary",
    "latency_quantiles",
    "loss_by_reason",
    "ordering_violations",
    "request_outcomes",
    "summary",
]
