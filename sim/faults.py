"""The fault schedule: actions at given times, undone after a duration.

Each fault is one scheduled callback (control plane, not hot path) and is
itself recorded in the run's event log, so analysis can shade fault windows
and measure failover from them.  Fault kinds so far:

``stop_responders`` / ``start_responders``
    every responder of a workload (optionally only in one cluster or on
    some servers) unsubscribes / subscribes again: a service instance shut
    down or brought back.  With ``for:`` a stop is undone after that long.
"""

from __future__ import annotations

from sim.model.clock import Call
from sim.model.network import Network
from sim.scenario.spec import FaultSpec, ResponderTarget

__all__ = ["schedule_faults"]


def _targets(net: Network, target: ResponderTarget) -> list:
    out = []
    for r in net.responders.get(target.workload, []):
        if target.cluster is not None and r.cluster != target.cluster:
            continue
        if target.servers is not None and r.client.server.name not in target.servers:
            continue
        out.append(r)
    return out


def _describe(target: ResponderTarget) -> str:
    where = f" in {target.cluster}" if target.cluster else ""
    where += f" on {', '.join(target.servers)}" if target.servers else ""
    return f"{target.workload}{where}"


def _act(net: Network, action: str, target: ResponderTarget) -> None:
    for r in _targets(net, target):
        if action == "stop_responders":
            r.stop()
        else:
            r.start()
    net.trace.add_event(net.clock.now, -1, action, _describe(target))


def schedule_faults(net: Network, faults: list[FaultSpec], end: float) -> None:
    """Schedule every fault (and its undo, for faults with a duration) on ``net``."""
    undo = {"stop_responders": "start_responders", "start_responders": "stop_responders"}
    for f in faults:
        action, target = f.action, f.target

        def fire(ev: Call, action: str = action, target: ResponderTarget = target) -> None:
            _act(net, action, target)

        net.clock.at(f.at, fire)
        if f.duration is not None and f.at + f.duration < end:

            def heal(
                ev: Call, action: str = undo[action], target: ResponderTarget = target
            ) -> None:
                _act(net, action, target)

            net.clock.at(f.at + f.duration, heal)
