"""Run a scenario: build the network, drive the workloads, close the books.

:func:`simulate` is the Python entry point (``sim.run`` re-exports it for
notebooks).  After the workloads stop it lets the network drain, then checks
the accounting invariant — every delivery owed to a subscription that was
interested when a message reached its first server ended as exactly one
delivery or one drop with a reason — and raises
:class:`~sim.errors.SimulationError` if the model broke it.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from sim.errors import SimulationError
from sim.faults import schedule_faults
from sim.model.monitor import Monitor
from sim.model.network import Network
from sim.results import Result, frames_from_trace, snapshot_frames
from sim.scenario.load import load_scenario
from sim.scenario.spec import JetStreamWorkload, RequestReplyWorkload, Scenario, TraceWorkload
from sim.trace import DropReason, Trace
from sim.workloads import WORKLOADS

__all__ = ["Progress", "simulate"]

#: progress(sim_time, end_time, events_so_far, deliveries_so_far)
Progress = Callable[[float, float, int, int], None]


def _natsim_version() -> str:
    try:
        return version("natsim")
    except PackageNotFoundError:
        return "0+unknown"


def settle_time(scenario: Scenario) -> float:
    """Return how long after ``duration`` the run continues so replies and timeouts land."""
    longest = 0.0
    for w in scenario.workloads:
        if isinstance(w, RequestReplyWorkload):
            r = w.requesters
            longest = max(longest, r.gather if r.gather is not None else r.timeout)
        elif isinstance(w, TraceWorkload):
            longest = max(longest, w.timeout)  # rows may set their own (validate warns)
        elif isinstance(w, JetStreamWorkload) and w.mode == "jetstream":
            p = w.publishers
            longest = max(longest, (p.retries + 1) * p.ack_timeout + p.retries * p.retry_wait)
    return max(scenario.drain, longest + 0.5)


def simulate(
    scenario: Scenario | str | Path | Mapping[str, Any],
    seed: int | None = None,
    progress: Progress | None = None,
    steps: int = 50,
) -> Result:
    """Run ``scenario`` and return its :class:`~sim.results.Result`.

    Parameters
    ----------
    scenario : Scenario, path or mapping
        A loaded scenario, a YAML file, or the same content as a dict.
    seed : int, optional
        Root seed; defaults to the scenario's ``seed``.  Same scenario and
        seed give identical results.
    progress : callable, optional
        Called ``steps`` times during the run with (now, end, events, deliveries).

    Examples
    --------
    >>> import sim
    >>> result = sim.run("scenarios/cluster-pubsub.yaml", seed=1)  # doctest: +SKIP
    >>> result.deliveries.groupby("workload").latency.median()  # doctest: +SKIP
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    seed = scenario.seed if seed is None else seed
    wall0 = time.perf_counter()
    net = Network(scenario, seed)
    for wid, w in enumerate(scenario.workloads):
        net.trace.add_workload(w.name, w.kind)
        WORKLOADS[w.kind](net, w, wid, scenario.duration)
    end = scenario.duration + settle_time(scenario)
    schedule_faults(net, scenario, end)
    monitor = None
    if scenario.monitor is not None:
        monitor = Monitor(net, scenario.monitor.interval, end)
        monitor.start()
    net.begin()
    # The hot path allocates many short-lived objects and almost no cycles;
    # collecting the young generation every 700 allocations costs ~20 % of a run.
    thresholds = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        for i in range(1, steps + 1):
            net.env.run(until=end * i / steps)
            net.trace.flush()
            if progress is not None:
                progress(net.env.now, end, net.clock.scheduled, net.trace.n_deliveries)
    finally:
        gc.set_threshold(*thresholds)
    in_flight = len(net.env._queue)
    for settle in net.at_end:
        settle(end)
    if monitor is not None:
        monitor.finish(end)
    net.trace.apply_losses(end)
    _close_books(net.trace, end)
    run_wall = time.perf_counter() - wall0
    frames = frames_from_trace(net.trace)
    frames["servers"]["gateway_in"] = [s.gateway_in for s in net.servers.values()]
    if monitor is not None:
        frames.update(snapshot_frames(monitor.record, net.trace))
    wall = time.perf_counter() - wall0
    meta = {
        "scenario": scenario.name,
        "seed": seed,
        "natsim_version": _natsim_version(),
        "wall_seconds": round(wall, 3),
        "run_seconds": round(run_wall, 3),
        "events": net.clock.scheduled,
        "events_in_flight_at_end": in_flight,
        "sim_duration": scenario.duration,
        "sim_end": end,
        "scenario_spec": scenario.model_dump(mode="json"),
        "final_state": net.snapshot(),
    }
    result = Result(frames, meta)
    result.topology = net.graph()
    return result


def _close_books(trace: Trace, end: float) -> None:
    """Check that every owed delivery ended once; book what is still in flight."""
    import numpy as np

    n = len(trace.msg_time)
    owed = np.array(trace.msg_expected, dtype=np.int64)
    done = trace.owed_deliveries(n)
    reasons = np.array(trace.drop_reason, dtype=np.int64)
    booked = np.array(trace.drop_msg, dtype=np.int64)[reasons != DropReason.NO_INTEREST]
    # a message that owed nothing and was lost before any server routed it is
    # booked once, as itself (sub -1, no queue): a record, not an owed delivery
    booked = booked[owed[booked] > 0]
    done = done + np.bincount(booked, minlength=n)
    short = owed - done
    over = np.flatnonzero(short < 0)
    if over.size:
        raise SimulationError(
            f"message {int(over[0])} was delivered or dropped {int(done[over[0]])} times "
            f"for {int(owed[over[0]])} owed deliveries"
        )
    for mid in np.flatnonzero(short > 0):
        for _ in range(int(short[mid])):
            trace.add_drop(
                int(mid), -1, None, trace.msg_server[mid], end, DropReason.IN_FLIGHT_AT_END
            )
