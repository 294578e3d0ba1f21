"""Reference checks of a scenario's JetStream part: streams, consumers, jetstream workloads.

What the schema cannot see, as nats-server's stream and consumer create
requests refuse it (``checkStreamCfg`` in server/stream.go, the clustered
placement in server/jetstream_cluster.go): two streams capturing overlapping
subjects, more replicas than the cluster has servers, a consumer on a stream
that does not exist; and what the simulator needs: a jetstream workload whose
subject no stream captures, a consumer group naming an unknown consumer.
Each problem is reported through ``error(location, message)`` (see
:mod:`sim.scenario.checks`), so it becomes one line naming file, path and line.
"""

from __future__ import annotations

from collections.abc import Callable

from sim.scenario.source import MAX_LISTED, Path
from sim.scenario.spec import JetStreamWorkload, Scenario, StreamSpec
from sim.subjects import subject_matches, validate_subscribe_subject

__all__ = ["check_jetstream", "stream_for_subject", "subjects_collide"]

Report = Callable[[Path, str], None]


def subjects_collide(a: str, b: str) -> bool:
    """True if some literal subject matches both subject patterns ``a`` and ``b``.

    As nats-server's ``SubjectsCollide`` (server/sublist.go), token by token.

    Examples
    --------
    >>> subjects_collide("orders.>", "orders.eu.new")
    True
    >>> subjects_collide("orders.*", "orders.eu.new")
    False
    >>> subjects_collide("orders.*.new", "*.eu.>")
    True
    """
    ta, tb = a.split("."), b.split(".")
    for i in range(max(len(ta), len(tb))):
        x = ta[i] if i < len(ta) else None
        y = tb[i] if i < len(tb) else None
        if x == ">" or y == ">":
            return x is not None and y is not None
        if x is None or y is None:
            return False
        if x != y and x != "*" and y != "*":
            return False
    return True


def stream_for_subject(scenario: Scenario, subject: str) -> StreamSpec | None:
    """The stream whose subjects capture the literal ``subject``, if any."""
    for s in scenario.streams:
        if any(subject_matches(p, subject) for p in s.subjects):
            return s
    return None


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_LISTED])
    return shown + (", ..." if len(names) > MAX_LISTED else "")


def _check_stream(scenario: Scenario, i: int, s: StreamSpec, error: Report) -> None:
    loc: Path = ("streams", i)
    clusters = scenario.topology.clusters
    owner = scenario.topology.server_cluster()
    for k, subject in enumerate(s.subjects):
        try:
            validate_subscribe_subject(subject)
        except ValueError as exc:
            error((*loc, "subjects", k), str(exc))
    if s.servers is not None:
        unknown = [n for n in s.servers if n not in owner]
        for k, name in enumerate(s.servers):
            if name in unknown:
                error((*loc, "servers", k), f"unknown server {name!r} ({_listing(list(owner))})")
        if not unknown and len({owner[n] for n in s.servers}) > 1:
            error((*loc, "servers"), "a stream's replicas must be servers of one cluster")
        if len(set(s.servers)) != len(s.servers):
            error((*loc, "servers"), "a server is listed twice")
        return
    if s.cluster is None and len(clusters) > 1:
        error(loc, f"stream {s.name!r}: give 'cluster' or 'servers' (the scenario has several)")
        return
    cname = s.cluster if s.cluster is not None else next(iter(clusters))
    if cname not in clusters:
        error((*loc, "cluster"), f"unknown cluster {cname!r} ({_listing(list(clusters))})")
        return
    n = len(clusters[cname].server_names(cname))
    if s.replicas > n:
        error((*loc, "replicas"), f"{s.replicas} replicas, but cluster {cname!r} has {n} servers")


def _check_streams(scenario: Scenario, error: Report) -> None:
    seen: dict[str, int] = {}
    for i, s in enumerate(scenario.streams):
        if s.name in seen:
            error(("streams", i, "name"), f"duplicate stream name {s.name!r}")
        seen.setdefault(s.name, i)
        _check_stream(scenario, i, s, error)
        clash = next(
            (
                (k, other.name)
                for other in scenario.streams[:i]
                for k, subject in enumerate(s.subjects)
                if any(subjects_collide(subject, p) for p in other.subjects)
            ),
            None,
        )
        if clash is not None:
            k, other = clash
            message = f"{s.subjects[k]!r} overlaps the subjects of stream {other!r}"
            error(("streams", i, "subjects", k), message)


def _check_consumers(scenario: Scenario, error: Report) -> None:
    streams = [s.name for s in scenario.streams]
    seen: set[tuple[str, str]] = set()
    for i, c in enumerate(scenario.consumers):
        if c.stream not in streams:
            message = f"unknown stream {c.stream!r} (streams: {_listing(streams) or 'none'})"
            error(("consumers", i, "stream"), message)
        if (c.stream, c.name) in seen:
            error(("consumers", i, "name"), f"duplicate consumer {c.name!r} on {c.stream!r}")
        seen.add((c.stream, c.name))


def _check_workload(scenario: Scenario, i: int, w: JetStreamWorkload, error: Report) -> None:
    loc: Path = ("workloads", i)
    stream = stream_for_subject(scenario, w.subject)
    if w.mode == "core":
        if stream is not None:
            message = f"core mode, but stream {stream.name!r} captures {w.subject!r}"
            error((*loc, "subject"), message)
        return
    if stream is None:
        names = _listing([s.name for s in scenario.streams]) or "none"
        error((*loc, "subject"), f"no stream captures {w.subject!r} (streams: {names})")
        return
    names = [c.name for c in scenario.consumers if c.stream == stream.name]
    for j, group in enumerate(w.consumers):
        if group.consumer is None:
            error((*loc, "consumers", j), "give the 'consumer' these clients consume from")
        elif group.consumer not in names:
            listed = _listing(names) or "none"
            message = f"unknown consumer {group.consumer!r} on stream {stream.name!r} ({listed})"
            error((*loc, "consumers", j, "consumer"), message)


def check_jetstream(scenario: Scenario, error: Report) -> None:
    """Report every JetStream reference problem of ``scenario`` through ``error``."""
    _check_streams(scenario, error)
    _check_consumers(scenario, error)
    for i, w in enumerate(scenario.workloads):
        if isinstance(w, JetStreamWorkload):
            _check_workload(scenario, i, w, error)
