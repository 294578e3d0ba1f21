"""The fault schedule: the scenario's ``faults:`` and ``chaos:`` turned into timed actions.

Each fault is one scheduled callback (control plane, not hot path) that
calls :class:`~sim.model.outages.Outages` (or the workloads' responders), and
one more for its end when it has a duration (``for:``).  Both are recorded
in the run's event log as ``fault_start`` / ``fault_end`` with the fault's
number, so analysis can shade fault windows and attribute losses.

Fault kinds (the scenario keys):

``crash``
    servers stop; with ``silent`` their TCP connections are not closed and
    peers notice by missing pings.  ``for:`` restarts them (empty).
``lame_duck``
    servers enter lame-duck mode and shut down at its end; ``for:`` restarts them.
``link_down``
    the route and gateway connections between two sets of servers reset
    (or, ``silent``, are blackholed); ``for:`` brings the path back.
``partition``
    groups of servers that cannot reach each other (blackholed, found by
    pings); clients are where their first server is.  ``for:`` heals.
``latency``
    latency between two sets of servers is scaled and increased.
``kill_clients`` / ``slow_consumer``
    client processes die (``for:`` restarts them) / stop reading (``for:``
    resumes).
``join``
    servers that are not running before ``at`` start then.
``stop_responders`` / ``start_responders``
    a workload's responders unsubscribe / subscribe again.

``chaos:`` draws faults of the given kinds as a Poisson stream at ``rate``,
targets and durations from the run's ``chaos`` random stream: the same seed
gives the same schedule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations

from sim.model.client import Client
from sim.model.clock import Call
from sim.model.network import Network
from sim.scenario.checks import resolve_names
from sim.scenario.spec import ChaosSpec, ClientTarget, FaultSpec, ResponderTarget, Scenario
from sim.trace import DropReason

__all__ = ["Fault", "chaos_faults", "planned_faults", "schedule_faults"]


@dataclass
class Fault:
    """One fault to run: when, for how long, what it does and how it is undone."""

    number: int
    at: float
    duration: float | None
    action: str
    detail: str
    start: Callable[[], None]
    end: Callable[[], None] | None = None


# ----------------------------------------------------------------- targets
def _responders(net: Network, target: ResponderTarget) -> list:
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
    for r in _responders(net, target):
        if action == "stop_responders":
            r.stop()
        else:
            r.start()
    net.trace.add_event(net.clock.now, -1, action, _describe(target))


def _clients(net: Network, target: ClientTarget) -> list[Client]:
    """The clients a target names, in creation order (their first server decides place)."""
    out = []
    for c, (_, workload, role, sid) in zip(net.clients_by_idx, net.trace.clients, strict=True):
        if workload != target.workload or (target.role and role != target.role):
            continue
        server = net.servers_by_idx[sid]
        if target.cluster is not None and server.cluster != target.cluster:
            continue
        if target.servers is not None and server.name not in target.servers:
            continue
        out.append(c)
    return out[: target.count] if target.count else out


def _ids(net: Network, scenario: Scenario, names: str | tuple[str, ...] | list[str]) -> list[int]:
    return [net.servers[n].idx for n in resolve_names(scenario, names)]


def _pairs(groups: list[list[int]]) -> set[frozenset[int]]:
    """Every pair of servers in different groups."""
    out: set[frozenset[int]] = set()
    for g1, g2 in combinations(groups, 2):
        out.update(frozenset((a, b)) for a in g1 for b in g2 if a != b)
    return out


# --------------------------------------------------------------- builders
def _fault(net: Network, scenario: Scenario, number: int, spec: FaultSpec) -> Fault:
    """Turn one ``faults:`` entry into a :class:`Fault`."""
    action, target = spec.action, spec.target
    at, dur = spec.at, spec.duration
    if action in ("stop_responders", "start_responders"):
        undo = "start_responders" if action == "stop_responders" else "stop_responders"
        return Fault(
            number,
            at,
            dur,
            action,
            _describe(target),
            lambda: _act(net, action, target),
            lambda: _act(net, undo, target),
        )
    if action in ("crash", "lame_duck", "join"):
        ids = _ids(net, scenario, target)
        if action == "crash" and spec.silent:
            action = "silent_crash"
        return _server_fault(net, number, at, dur, action, ids)
    if action in ("link_down", "partition"):
        if action == "link_down":
            groups = [_ids(net, scenario, target[0]), _ids(net, scenario, target[1])]
            reason, silent = DropReason.LINK_DOWN, spec.silent
        else:
            groups = [_ids(net, scenario, g) for g in target]
            reason, silent = DropReason.PARTITION, True
        return _cut_fault(net, number, at, dur, action, groups, reason, silent)
    if action == "latency":
        groups = [_ids(net, scenario, target.between[0]), _ids(net, scenario, target.between[1])]
        return _latency_fault(net, number, at, dur, groups, target.add, target.factor)
    clients = _clients(net, target)
    return _client_fault(net, number, at, dur, action, clients)


def _server_fault(
    net: Network, number: int, at: float, dur: float | None, action: str, ids: list[int]
) -> Fault:
    """crash, silent_crash, lame_duck (restarted after ``dur``) or join."""
    out = net.outages
    servers = net.servers_by_idx

    def start() -> None:
        for i in ids:
            if action == "join":
                out.start(servers[i], "join")
            elif action == "lame_duck":
                out.lame_duck(servers[i])
            else:
                out.crash(servers[i], silent=action == "silent_crash")

    def restart() -> None:
        for i in ids:
            if action == "lame_duck" and servers[i].up:
                out.crash(servers[i], reason=DropReason.LAME_DUCK)
            out.start(servers[i])

    if action == "join":
        return Fault(number, at, None, action, out.describe(ids), start)
    return Fault(number, at, dur, action, out.describe(ids), start, restart)


def _cut_fault(
    net: Network,
    number: int,
    at: float,
    dur: float | None,
    action: str,
    groups: list[list[int]],
    reason: DropReason,
    silent: bool,
) -> Fault:
    pairs = _pairs(groups)
    out = net.outages
    detail = " | ".join(out.describe(g) for g in groups)
    if silent and action == "link_down":
        detail += " (silent)"
    return Fault(
        number,
        at,
        dur,
        action,
        detail,
        lambda: out.cut(pairs, reason, silent),
        lambda: out.heal(pairs, reason, silent),
    )


def _latency_fault(
    net: Network,
    number: int,
    at: float,
    dur: float | None,
    groups: list[list[int]],
    add: float,
    factor: float,
) -> Fault:
    pairs = _pairs(groups)
    out = net.outages
    detail = " | ".join(out.describe(g) for g in groups) + f" +{add * 1e3:g}ms x{factor:g}"
    return Fault(
        number,
        at,
        dur,
        "latency",
        detail,
        lambda: out.change_latency(pairs, add, factor),
        lambda: out.restore_latency(pairs, add, factor),
    )


def _client_fault(
    net: Network,
    number: int,
    at: float,
    dur: float | None,
    action: str,
    clients: list[Client],
) -> Fault:
    detail = ", ".join(c.name for c in clients[:5]) + (
        f" (+{len(clients) - 5} more)" if len(clients) > 5 else ""
    )
    if action == "kill_clients":

        def start() -> None:
            net.outages.kill(clients)

        def end() -> None:
            net.outages.revive(clients)

    else:

        def start() -> None:
            for c in clients:
                c.stall()

        def end() -> None:
            for c in clients:
                c.resume()

    return Fault(number, at, dur, action, detail, start, end)


# ------------------------------------------------------------------ chaos
def chaos_faults(net: Network, scenario: Scenario, first: int, end: float) -> list[Fault]:
    """Draw the ``chaos:`` schedule: a Poisson stream of faults, numbered from ``first``."""
    spec: ChaosSpec | None = scenario.chaos
    if spec is None:
        return []
    rng = net.streams.stream("chaos")
    length = net.sampler(spec.duration, "chaos:duration")
    among = _ids(net, scenario, spec.among) if spec.among else [s.idx for s in net.servers_by_idx]
    stop = min(spec.stop if spec.stop is not None else scenario.duration, scenario.duration)
    clients = [
        c
        for c, (_, w, _, _) in zip(net.clients_by_idx, net.trace.clients, strict=True)
        # a server's internal (JetStream) client has no workload: it dies with its server
        if w is not None and (spec.workload is None or w == spec.workload)
    ]
    readers = [
        c
        for c, (_, _, role, _) in zip(net.clients_by_idx, net.trace.clients, strict=True)
        if c in clients and role in ("subscriber", "responder")
    ]
    out: list[Fault] = []
    t = spec.start
    while True:
        t += rng.expovariate(spec.rate)
        if t >= stop:
            return out
        kind = spec.kinds[rng.randrange(len(spec.kinds))]
        dur = max(0.0, length())
        number = first + len(out)
        pick = among[rng.randrange(len(among))]
        if kind in ("crash", "silent_crash", "lame_duck"):
            f = _server_fault(net, number, t, dur, kind, [pick])
        elif kind == "link_down":
            others = [i for i in among if i != pick]
            if not others:
                continue
            other = others[rng.randrange(len(others))]
            f = _cut_fault(
                net, number, t, dur, kind, [[pick], [other]], DropReason.LINK_DOWN, False
            )
        elif kind in ("partition", "latency"):
            side = _side(net, among, pick)
            rest = [i for i in among if i not in side]
            if not rest:
                continue
            if kind == "partition":
                f = _cut_fault(net, number, t, dur, kind, [side, rest], DropReason.PARTITION, True)
            else:
                f = _latency_fault(net, number, t, dur, [side, rest], spec.latency_add, 1.0)
        else:
            pool = clients if kind == "kill_clients" else readers
            if not pool:
                continue
            f = _client_fault(net, number, t, dur, kind, [pool[rng.randrange(len(pool))]])
        out.append(f)


def _side(net: Network, among: list[int], pick: int) -> list[int]:
    """The servers that go with ``pick`` in a chaos partition: its region, else cluster, else it."""
    servers = net.servers_by_idx
    regions = {net.trace.server_regions[i] for i in among}
    clusters = {servers[i].cluster for i in among}
    if len(regions) > 1:
        region = net.trace.server_regions[pick]
        return [i for i in among if net.trace.server_regions[i] == region]
    if len(clusters) > 1:
        return [i for i in among if servers[i].cluster == servers[pick].cluster]
    return [pick]


# --------------------------------------------------------------- schedule
def planned_faults(net: Network, scenario: Scenario, end: float) -> list[Fault]:
    """Every fault of the run: the scenario's, then the chaos draws."""
    faults = [_fault(net, scenario, k, f) for k, f in enumerate(scenario.faults)]
    return faults + chaos_faults(net, scenario, len(faults), end)


def schedule_faults(net: Network, scenario: Scenario, end: float) -> list[Fault]:
    """Schedule every fault (and its end, for faults with a duration) on ``net``."""
    faults = planned_faults(net, scenario, end)
    trace = net.trace
    for f in faults:

        def fire(ev: Call, f: Fault = f) -> None:
            trace.add_event(net.clock.now, -1, "fault_start", f"{f.action}: {f.detail}", f.number)
            f.start()

        net.clock.at(f.at, fire)
        if f.duration is not None and f.end is not None and f.at + f.duration < end:

            def heal(ev: Call, f: Fault = f) -> None:
                trace.add_event(net.clock.now, -1, "fault_end", f"{f.action}: {f.detail}", f.number)
                f.end()

            net.clock.at(f.at + f.duration, heal)
    return faults
