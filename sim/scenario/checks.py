"""Reference checks: what the schema cannot see.

Names that refer to each other (servers, clusters, workloads, regions),
subjects valid for how they are used, timing that makes sense.  Errors and
warnings carry the file, field path and line of the scenario they come from.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from sim.errors import ScenarioError
from sim.regions import REGIONS
from sim.scenario.account_checks import check_accounts
from sim.scenario.jetstream_checks import check_jetstream
from sim.scenario.source import INLINE, MAX_LISTED, Path, SourceInfo, apply_overrides
from sim.scenario.spec import (
    CLIENT_ROLES,
    ClientTarget,
    JetStreamWorkload,
    Placement,
    PubSubWorkload,
    RequestReplyWorkload,
    ResponderTarget,
    Scenario,
    TraceWorkload,
)
from sim.subjects import (
    expand_subject_template,
    validate_publish_subject,
    validate_subscribe_subject,
)

__all__ = ["check_references", "resolve_names", "scenario_folder"]

# ------------------------------------------------------------------ names


def resolve_names(scenario: Scenario, names: str | Iterable[str]) -> list[str]:
    """Return the servers that server, cluster or region names denote.

    A name is a server if one has it, else a cluster, else a region (the
    ``region`` of one or more clusters: all their servers).

    Parameters
    ----------
    scenario : Scenario
        The scenario whose topology the names refer to.
    names : str or iterable of str
        One name or several.

    Returns
    -------
    list of str
        Server names, in the scenario's declaration order, each once.

    Raises
    ------
    KeyError
        For a name that is no server, cluster or region of the scenario.
    """
    topo = scenario.topology
    owner = topo.server_cluster()
    wanted: set[str] = set()
    for name in [names] if isinstance(names, str) else names:
        if name in owner:
            wanted.add(name)
        elif name in topo.clusters:
            wanted.update(topo.clusters[name].server_names(name))
        else:
            found = [c for c, spec in topo.clusters.items() if spec.region == name]
            if not found:
                raise KeyError(name)
            for c in found:
                wanted.update(topo.clusters[c].server_names(c))
    return [s for s in owner if s in wanted]


def _known_names(scenario: Scenario) -> str:
    """List the names a fault may use, for an error message."""
    topo = scenario.topology
    parts = [
        f"servers: {_listing(list(topo.server_cluster()))}",
        f"clusters: {_listing(list(topo.clusters))}",
    ]
    regions = list(dict.fromkeys(c.region for c in topo.clusters.values() if c.region))
    if regions:
        parts.append(f"regions: {_listing(regions)}")
    return "; ".join(parts)


# ---------------------------------------------------------- reference checks


@dataclass
class _Findings:
    """Errors and warnings found by the reference checks, with where they are."""

    source: SourceInfo
    errors: list[ScenarioError] = field(default_factory=list)
    warnings: list[ScenarioError] = field(default_factory=list)

    def error(self, loc: Path, message: str) -> None:
        self.errors.append(self.source.error(self.source.clean(loc), message))

    def warn(self, loc: Path, message: str) -> None:
        self.warnings.append(self.source.error(self.source.clean(loc), message))


def _by_line(errors: list[ScenarioError]) -> list[ScenarioError]:
    return sorted(errors, key=lambda e: e.line if e.line is not None else 1 << 30)


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_LISTED])
    return shown + (", ..." if len(names) > MAX_LISTED else "")


def _check_servers_unique(scenario: Scenario, out: _Findings) -> None:
    owner: dict[str, str] = {}
    for cname, cluster in scenario.topology.clusters.items():
        for k, sname in enumerate(cluster.server_names(cname)):
            if sname in owner:
                loc: Path = ("topology", "clusters", cname, "servers")
                loc = (*loc, k) if isinstance(cluster.servers, list) else loc
                out.error(loc, f"server {sname!r} is also in cluster {owner[sname]!r}")
            else:
                owner[sname] = cname


def _check_links(scenario: Scenario, servers: list[str], out: _Findings) -> None:
    for i, link in enumerate(scenario.topology.links):
        for k, name in enumerate(link.between):
            if name not in servers:
                loc = ("topology", "links", i, "between", k)
                out.error(loc, f"unknown server {name!r} (servers: {_listing(servers)})")
        if link.between[0] == link.between[1]:
            out.error(("topology", "links", i, "between"), "a link joins two different servers")


def _check_routes(scenario: Scenario, out: _Findings) -> None:
    for cname, cluster in scenario.topology.clusters.items():
        if cluster.routes is None:
            continue
        members = cluster.server_names(cname)
        loc: Path = ("topology", "clusters", cname, "routes")
        for k, name in enumerate(cluster.routes):
            if name not in members:
                message = f"{name!r} is not a server of cluster {cname!r} ({_listing(members)})"
                out.error((*loc, k), message)
        if not cluster.routes and len(members) > 1:
            out.warn(loc, f"no seed routes: the servers of cluster {cname!r} never connect")


def _placements(scenario: Scenario) -> Iterator[tuple[Path, str, Placement]]:
    """Yield ``(location, role, placement)`` for every client group of every workload."""
    for i, w in enumerate(scenario.workloads):
        if isinstance(w, PubSubWorkload):
            if w.publishers is not None:
                yield ("workloads", i, "publishers"), "publish", w.publishers
            for j, s in enumerate(w.subscribers):
                yield ("workloads", i, "subscribers", j), "subscribe", s
        elif isinstance(w, JetStreamWorkload):
            yield ("workloads", i, "publishers"), "publish", w.publishers
            for j, c in enumerate(w.consumers):
                yield ("workloads", i, "consumers", j), "subscribe", c
        elif isinstance(w, TraceWorkload):
            for j, s in enumerate(w.subscribers):
                yield ("workloads", i, "subscribers", j), "subscribe", s
            for j, r in enumerate(w.responders):
                yield ("workloads", i, "responders", j), "subscribe", r
        else:
            yield ("workloads", i, "requesters"), "publish", w.requesters
            for j, r in enumerate(w.responders):
                yield ("workloads", i, "responders", j), "subscribe", r


def _check_placement_targets(
    scenario: Scenario, servers: list[str], out: _Findings, loc: Path, p: Placement
) -> None:
    for k, name in enumerate(p.servers or []):
        if name not in servers:
            message = f"unknown server {name!r} (servers: {_listing(servers)})"
            out.error((*loc, "servers", k), message)
    if p.failover is not None:
        _resolve_each(scenario, out, (*loc, "failover"), p.failover)
    clusters = list(scenario.topology.clusters)
    if p.cluster is not None and p.cluster not in clusters:
        message = f"unknown cluster {p.cluster!r} (clusters: {_listing(clusters)})"
        out.error((*loc, "cluster"), message)


def _check_timing(scenario: Scenario, out: _Findings, loc: Path, p: Placement) -> None:
    start, stop = getattr(p, "start", 0.0), getattr(p, "stop", None)
    if stop is not None and stop <= start:
        out.error((*loc, "stop"), f"stop ({stop:g}s) must be after start ({start:g}s)")
    if start >= scenario.duration:
        message = f"start ({start:g}s) is not before the end of the run ({scenario.duration:g}s)"
        out.warn((*loc, "start"), message)


def _check_queue(out: _Findings, loc: Path, p: Placement) -> None:
    queue = getattr(p, "queue", None)
    if queue is not None and (not queue or any(c.isspace() for c in queue)):
        out.error((*loc, "queue"), f"queue name {queue!r} must be non-empty, without whitespace")


def _subject_problems(template: str, role: str) -> tuple[str | None, list[str]]:
    """Return ``(error, warnings)`` for a subject template used to publish or subscribe."""
    warnings: list[str] = []
    if "\x00" in template:
        return f"{template!r} is not a valid subject: contains a NUL character", warnings
    try:
        for subject in expand_subject_template(template):
            if role == "publish":
                warnings.extend(validate_publish_subject(subject))
            else:
                validate_subscribe_subject(subject)
    except ValueError as exc:
        return str(exc), warnings
    if len(warnings) > 1:
        warnings = [f"{warnings[0]} (and {len(warnings) - 1} more like it)"]
    return None, warnings


def _check_subjects(scenario: Scenario, out: _Findings) -> None:
    done: set[tuple[Path, str]] = set()
    for loc, role, p in _placements(scenario):
        own = getattr(p, "subject", None)
        subject_loc: Path = (*loc, "subject") if own is not None else (*loc[:2], "subject")
        if (subject_loc, role) in done:
            continue
        done.add((subject_loc, role))
        template = own if own is not None else scenario.workloads[loc[1]].subject
        if template is None:
            message = "give this group a 'subject' (or the trace workload a default 'subject')"
            out.error(loc, message)
            continue
        error, warnings = _subject_problems(template, role)
        if error is not None:
            out.error(subject_loc, error)
        for w in warnings:
            out.warn(subject_loc, w)


def _check_workloads(scenario: Scenario, out: _Findings) -> None:
    first: dict[str, int] = {}
    for i, w in enumerate(scenario.workloads):
        if w.name in first:
            message = f"duplicate workload name {w.name!r} (also workloads[{first[w.name]}])"
            out.error(("workloads", i, "name"), message)
        first.setdefault(w.name, i)
        if isinstance(w, PubSubWorkload) and not w.subscribers:
            out.warn(("workloads", i), f"pubsub workload {w.name!r} has no subscribers")
        if (
            isinstance(w, RequestReplyWorkload)
            and not w.responders
            and not _imports_service(scenario, w.requesters)
        ):
            message = f"request_reply workload {w.name!r} has no responders (every request fails)"
            out.warn(("workloads", i), message)
        if isinstance(w, TraceWorkload) and not w.subscribers and not w.responders:
            message = f"trace workload {w.name!r} has no subscribers or responders"
            out.warn(("workloads", i), message)


def _imports_service(scenario: Scenario, group: Placement) -> bool:
    """Whether a requester group's account imports services (answered by another workload)."""
    account = group.account
    if group.user is not None:
        account = next((u.account for u in scenario.users if u.name == group.user), None)
    spec = scenario.accounts.get(account) if account is not None else None
    return spec is not None and any(im.service is not None for im in spec.imports)


def _check_regions(scenario: Scenario, out: _Findings) -> None:
    topo = scenario.topology
    matrix = topo.latency.regions
    known = {**REGIONS, **{k: (v.lat, v.lon) for k, v in topo.regions.items()}}
    used: dict[str, str] = {}
    for cname, cluster in topo.clusters.items():
        region = cluster.region
        if region is None:
            continue
        used.setdefault(region, cname)
        if matrix is None and region not in known:
            message = (
                f"unknown region {region!r}: declare it under topology.regions with lat/lon, "
                f"give a latency.regions matrix, or use one of: {_listing(sorted(REGIONS))}"
            )
            out.error(("topology", "clusters", cname, "region"), message)
    if matrix is None:
        return
    names = list(used)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if b not in matrix.get(a, {}) and a not in matrix.get(b, {}):
                out.error(("topology", "latency", "regions"), f"no latency between {a!r} and {b!r}")


def _resolve_each(
    scenario: Scenario, out: _Findings, loc: Path, names: Iterable[str], first: int = 0
) -> set[str] | None:
    """Resolve names to servers, reporting each unknown one at ``loc[first + k]``.

    Returns the servers, or None if a name was unknown.
    """
    servers: set[str] = set()
    ok = True
    for k, name in enumerate(names, start=first):
        try:
            servers.update(resolve_names(scenario, name))
        except KeyError:
            message = f"unknown server, cluster or region {name!r} ({_known_names(scenario)})"
            out.error((*loc, k), message)
            ok = False
    return servers if ok else None


def _check_two_ends(scenario: Scenario, out: _Findings, loc: Path, ends: tuple[str, str]) -> None:
    """Check the two ends of a link_down or latency change: known, and not the same servers."""
    a, b = (_resolve_each(scenario, out, loc, [name], first=k) for k, name in enumerate(ends))
    if a is not None and b is not None and a == b:
        message = f"{ends[0]!r} and {ends[1]!r} are the same servers: name two different ends"
        out.error(loc, message)


def _check_partition(
    scenario: Scenario, out: _Findings, loc: Path, groups: list[tuple[str, ...]]
) -> None:
    """Check a partition: every name known, no server in two groups."""
    first: dict[str, int] = {}
    for g, group in enumerate(groups):
        servers = _resolve_each(scenario, out, (*loc, g), group)
        if servers is None:
            continue
        clash = [s for s in resolve_names(scenario, sorted(servers)) if s in first]
        if clash:
            message = (
                f"server {clash[0]!r} is in group {first[clash[0]]} and group {g}: "
                "groups must not overlap"
            )
            out.error((*loc, g), message)
        for s in servers:
            first.setdefault(s, g)


def _check_workload_target(
    scenario: Scenario, servers: list[str], out: _Findings, loc: Path, target: object
) -> None:
    """Check a ResponderTarget or ClientTarget: workload, role, cluster, servers."""
    assert isinstance(target, ResponderTarget | ClientTarget)
    workloads = {w.name: w for w in scenario.workloads}
    clusters = list(scenario.topology.clusters)
    w = workloads.get(target.workload)
    if w is None:
        known = _listing(list(workloads))
        out.error((*loc, "workload"), f"unknown workload {target.workload!r} ({known})")
    elif isinstance(target, ResponderTarget) and not isinstance(
        w, RequestReplyWorkload | TraceWorkload
    ):
        out.error((*loc, "workload"), f"workload {w.name!r} has no responders ({w.kind})")
    elif isinstance(target, ClientTarget) and target.role is not None:
        roles = CLIENT_ROLES[w.kind]
        if target.role not in roles:
            message = (
                f"workload {w.name!r} ({w.kind}) has no {target.role} clients "
                f"(roles: {', '.join(roles)})"
            )
            out.error((*loc, "role"), message)
    if target.cluster is not None and target.cluster not in clusters:
        message = f"unknown cluster {target.cluster!r} (clusters: {_listing(clusters)})"
        out.error((*loc, "cluster"), message)
    for k, name in enumerate(target.servers or []):
        if name not in servers:
            message = f"unknown server {name!r} (servers: {_listing(servers)})"
            out.error((*loc, "servers", k), message)


def _check_join(
    scenario: Scenario, servers: list[str], out: _Findings, i: int, joined: dict[str, int]
) -> None:
    f = scenario.faults[i]
    for k, name in enumerate(f.join or ()):
        loc: Path = ("faults", i, "join", k)
        if name not in servers:
            what = "a cluster" if name in scenario.topology.clusters else "not a server"
            message = f"join names servers; {name!r} is {what} (servers: {_listing(servers)})"
            out.error(loc, message)
        elif name in joined:
            out.error(loc, f"server {name!r} already joins in faults[{joined[name]}]")
        else:
            joined[name] = i


def _check_faults(scenario: Scenario, servers: list[str], out: _Findings) -> None:
    joined: dict[str, int] = {}
    for i, f in enumerate(scenario.faults):
        loc: Path = ("faults", i, f.action)
        action = f.action
        if action in ("stop_responders", "start_responders", "kill_clients", "slow_consumer"):
            _check_workload_target(scenario, servers, out, loc, f.target)
        elif action in ("crash", "lame_duck"):
            _resolve_each(scenario, out, loc, f.target)
        elif action == "link_down":
            _check_two_ends(scenario, out, loc, f.target)
        elif action == "latency":
            _check_two_ends(scenario, out, (*loc, "between"), f.target.between)
        elif action == "partition":
            _check_partition(scenario, out, loc, f.target)
        elif action == "join":
            _check_join(scenario, servers, out, i, joined)
        if f.at >= scenario.duration:
            out.warn(("faults", i, "at"), f"fault at {f.at:g}s is after the end of the run")


def _check_chaos(scenario: Scenario, out: _Findings) -> None:
    chaos = scenario.chaos
    if chaos is None:
        return
    if chaos.among is not None:
        _resolve_each(scenario, out, ("chaos", "among"), chaos.among)
    if chaos.workload is not None:
        names = [w.name for w in scenario.workloads]
        if chaos.workload not in names:
            message = f"unknown workload {chaos.workload!r} ({_listing(names)})"
            out.error(("chaos", "workload"), message)
        elif not {"kill_clients", "slow_consumer"} & set(chaos.kinds):
            message = "workload is used by kill_clients and slow_consumer only, not in kinds"
            out.warn(("chaos", "workload"), message)
    if chaos.stop is not None and chaos.stop <= chaos.start:
        message = f"stop ({chaos.stop:g}s) must be after start ({chaos.start:g}s)"
        out.error(("chaos", "stop"), message)
    if chaos.start >= scenario.duration:
        end = scenario.duration
        message = f"start ({chaos.start:g}s) is not before the end of the run ({end:g}s)"
        out.warn(("chaos", "start"), message)


_VARIANT_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def _check_variants(scenario: Scenario, out: _Findings, raw: bool = True) -> None:
    """Each variant's overrides must resolve and give a valid scenario.

    A variant is applied the way ``natsim diff --variant`` applies it: its
    dotted overrides on the raw scenario data (``variants`` itself left out),
    then the whole load — schema and reference checks — runs on the result.
    Without the raw data (a built scenario) only the override paths are checked.
    """
    if not scenario.variants:
        return
    from sim.scenario.load import load_scenario  # load imports this module

    data = out.source.data if isinstance(out.source.data, dict) else scenario.model_dump()
    for name, overrides in scenario.variants.items():
        loc: Path = ("variants", name)
        if not _VARIANT_NAME.match(name):
            out.error(loc, f"variant name {name!r} must match [A-Za-z0-9_.-]+")
            continue
        if not overrides:
            out.error(loc, "a variant needs at least one override (dotted.path: value)")
            continue
        own = [k for k in overrides if re.match(r"variants(\.|\[|$)", k)]
        if own:
            out.error((*loc, own[0]), "a variant cannot override variants")
            continue
        base = copy.deepcopy(data)
        base.pop("variants", None)
        try:
            if raw:
                load_scenario(base, overrides=overrides)
            else:
                apply_overrides(out.source.file, base, overrides)
        except ScenarioError as exc:
            key = next((k for k in overrides if exc.path == k), None)
            where = (*loc, key) if key is not None else loc
            what = f"{exc.path}: {exc.message}" if exc.path and key is None else exc.message
            out.error(where, f"variant {name!r}: {what}")


def _check_expect(scenario: Scenario, out: _Findings) -> None:
    """Each expectation must parse and name metrics, labels and names that exist."""
    from sim.expect import ExpectError, validate

    for i, text in enumerate(scenario.expect):
        try:
            validate(scenario, text)
        except ExpectError as exc:
            out.error(("expect", i), str(exc))


def check_references(scenario: Scenario, source: SourceInfo | None = None) -> list[str]:
    """Check what the schema cannot: names that refer to each other, and subjects.

    Server names must be unique across clusters; every server, cluster and
    link named in a placement or link must exist; workload names must be
    unique; subjects must be valid for how they are used (a subscriber may use
    wildcards, a publisher gets a warning for a literal ``*``); queue names
    must be non-empty without whitespace; ``stop`` must come after ``start``.

    Parameters
    ----------
    scenario : Scenario
        A schema-valid scenario.
    source : SourceInfo, optional
        Where it came from, for file, path and line in messages.

    Returns
    -------
    list of str
        Warnings, each one line ``file[:line]: path: message``, in file order.

    Raises
    ------
    ScenarioError
        For the first problem in file order.
    """
    raw = source is not None  # raw file data (a built scenario has canonical numbers)
    if source is None:
        source = SourceInfo(data=scenario.model_dump())
    out = _Findings(source)
    servers = list(scenario.topology.server_cluster())
    _check_servers_unique(scenario, out)
    _check_links(scenario, servers, out)
    _check_routes(scenario, out)
    _check_workloads(scenario, out)
    for loc, _role, p in _placements(scenario):
        _check_placement_targets(scenario, servers, out, loc, p)
        _check_queue(out, loc, p)
        _check_timing(scenario, out, loc, p)
    _check_subjects(scenario, out)
    check_accounts(scenario, _placements(scenario), out.error)
    _check_regions(scenario, out)
    _check_faults(scenario, servers, out)
    _check_chaos(scenario, out)
    _check_variants(scenario, out, raw=raw)
    with scenario_folder(_folder_of(source)):
        traces = _check_traces(scenario, servers, out)
    _check_expect(scenario, out)
    check_jetstream(scenario, out.error)
    _check_monitor(scenario, out)
    if out.errors:
        raise _by_line(out.errors)[0]
    for i, w in traces:
        _check_trace_rows(scenario, i, w, out)
    return [str(w) for w in _by_line(out.warnings)]


#: The most monitoring samples a run may take (each is one row per server).
MAX_MONITOR_SAMPLES = 100_000


def _check_monitor(scenario: Scenario, out: _Findings) -> None:
    """A monitoring interval must give a bounded number of samples over the run."""
    spec = scenario.monitor
    if spec is None:
        return
    samples = (scenario.duration + scenario.drain) / spec.interval
    if samples > MAX_MONITOR_SAMPLES:
        out.error(
            ("monitor", "interval"),
            f"{spec.interval:g}s gives {samples:,.0f} samples over the run; "
            f"at most {MAX_MONITOR_SAMPLES:,} (use a longer interval)",
        )


# ------------------------------------------------------------------- traces

#: The folder relative trace files are resolved against while a scenario is
#: checked (None: the working directory).
_FOLDER: contextvars.ContextVar[str | None] = contextvars.ContextVar("_FOLDER", default=None)


@contextlib.contextmanager
def scenario_folder(folder: str | None) -> Iterator[None]:
    """Resolve relative trace files of scenarios loaded inside against ``folder``.

    Loading a scenario file does this by itself (its own folder); use it when
    loading a scenario *mapping* derived from a file (a variant, a sweep
    point) so that its ``file:`` still means the file's folder.  ``None``
    keeps the folder already in force.
    """
    if folder is None:
        yield
        return
    token = _FOLDER.set(folder)
    try:
        yield
    finally:
        _FOLDER.reset(token)


def _folder_of(source: SourceInfo) -> str | None:
    if source.file == INLINE:
        return None
    return os.path.dirname(os.path.abspath(source.file))


def _check_traces(
    scenario: Scenario, servers: list[str], out: _Findings
) -> list[tuple[int, TraceWorkload]]:
    """Resolve each trace file against the scenario's folder and check its placement.

    The folder is kept on the spec (``TraceWorkload.trace_path``).  Returns the
    trace workloads whose file exists, for the row checks.
    """
    found: list[tuple[int, TraceWorkload]] = []
    folder = _FOLDER.get()
    for i, w in enumerate(scenario.workloads):
        if not isinstance(w, TraceWorkload):
            continue
        loc: Path = ("workloads", i)
        if folder is not None and w._base_dir is None:
            w._base_dir = folder
        p = w.placement
        for k, name in enumerate(p.servers or []):
            if name not in servers:
                message = f"unknown server {name!r} (servers: {_listing(servers)})"
                out.error((*loc, "placement", "servers", k), message)
        clusters = list(scenario.topology.clusters)
        if p.cluster is not None and p.cluster not in clusters:
            message = f"unknown cluster {p.cluster!r} (clusters: {_listing(clusters)})"
            out.error((*loc, "placement", "cluster"), message)
        if p.failover is not None:
            _resolve_each(scenario, out, (*loc, "placement", "failover"), p.failover)
        for name, target in w.clients.items():
            _resolve_each(scenario, out, (*loc, "clients", name), target)
        path = w.trace_path()
        if not os.path.isfile(path):
            out.error((*loc, "file"), f"no such trace file {w.file!r} (looked for {path})")
            continue
        if w.format == "auto":
            from sim.tracefile import TraceFileError, detect_format

            try:
                detect_format(path)
            except TraceFileError:
                message = f"cannot tell the format of {w.file!r}: name it .csv or .jsonl"
                out.error((*loc, "format"), message + ", or give format")
                continue
        found.append((i, w))
    return found


def _check_trace_rows(scenario: Scenario, i: int, w: TraceWorkload, out: _Findings) -> None:
    """Read the trace through (a bad row raises ``trace:line: column: problem``); warn."""
    from sim.tracefile import scan_trace

    path = w.trace_path()
    summary = scan_trace(path, w.format)
    loc: Path = ("workloads", i)
    if summary.rows == 0:
        out.warn((*loc, "file"), f"trace {w.file!r} has no rows: nothing is replayed")
    for name in w.clients:
        if name not in summary.first:
            out.warn((*loc, "clients", name), f"client {name!r} does not appear in the trace")
    late = summary.count_after(path, w.format, w.time_offset, w.speed, scenario.duration)
    if late:
        message = (
            f"{late} of {summary.rows} trace rows fall at or after the end of the run "
            f"({scenario.duration:g}s) and are not replayed"
        )
        out.warn((*loc, "file"), message)
    longest = max(summary.max_timeout or 0.0, w.timeout if summary.default_timeouts else 0.0)
    if summary.requests and longest + 0.5 > scenario.drain:
        message = (
            f"trace requests wait up to {longest:g}s but the run drains {scenario.drain:g}s "
            f"after its end: set drain to at least {longest + 0.5:g}s"
        )
        out.warn(loc, message)
    if summary.wildcard_rows:
        message = (
            f"{summary.wildcard_rows} trace rows publish to a '*' or '>' token "
            "(a literal: only wildcard subscriptions match it)"
        )
        out.warn((*loc, "file"), message)
