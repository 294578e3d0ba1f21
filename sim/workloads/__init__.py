"""Workload drivers, registered by the ``kind`` a scenario gives them."""

from __future__ import annotations

from sim.workloads.base import Builder
from sim.workloads.jetstream import build_jetstream
from sim.workloads.pubsub import build_pubsub
from sim.workloads.request_reply import build_request_reply
from sim.workloads.trace import build_trace

__all__ = ["WORKLOADS", "Builder"]

#: kind → builder; a scenario's ``workloads[i].kind`` selects one.
WORKLOADS: dict[str, Builder] = {
    "pubsub": build_pubsub,  # type: ignore[dict-item]
    "request_reply": build_request_reply,  # type: ignore[dict-item]
    "trace": build_trace,  # type: ignore[dict-item]
    "jetstream": build_jetstream,  # type: ignore[dict-item]
}
