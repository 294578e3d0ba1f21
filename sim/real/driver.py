"""Drive a scenario's workloads on real servers with nats-py clients (asyncio).

Clients are named, placed and timed exactly as the simulation does it, from
the same seeded random streams (:class:`sim.rng.RandomStreams` with the
stream names of :mod:`sim.workloads`): ``placement:<w>:pub`` for placement,
``pub:<client>`` for a publisher's arrival times and subject picks,
``req:<client>`` for a requester's, ``service:<client>`` for a responder's
service times.  So with the same seed the k-th message of a publisher is the
same message (time, subject) in both backends, and delivery sets can be
compared pair by pair.  Wall-clock time is simulated time: a 10 s scenario
runs 10 s.

Every message carries its id at the start of the payload (``<id>|``, padded
to the workload's size) so that deliveries are matched to publishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sim.real.record import Recorder
from sim.real.servers import LDM_MIN, ServerSet
from sim.rng import Dist, RandomStreams, make_sampler
from sim.runner import settle_time
from sim.scenario.checks import resolve_names
from sim.scenario.spec import (
    Placement,
    PubSubWorkload,
    RequestReplyWorkload,
    Scenario,
    client_profile,
)
from sim.subjects import expand_subject_template
from sim.workloads.base import client_subjects

__all__ = ["APPLIED_FAULTS", "RealClient", "arrival_schedule", "drive", "place"]

#: Fault actions the real backend applies; others are skipped with a note.
APPLIED_FAULTS = (
    "crash",
    "kill_clients",
    "stop_responders",
    "start_responders",
    "latency",
    "link_down",
    "partition",
    "join",
    "lame_duck",
)


def place(
    scenario: Scenario, streams: RandomStreams, placement: Placement, stream: str
) -> list[str]:
    """Return one server per client of ``placement``, as ``Network.place`` does."""
    if placement.servers is not None:
        cands = list(placement.servers)
    elif placement.cluster is not None:
        cands = [s for s, c in scenario.topology.server_cluster().items() if c == placement.cluster]
    else:
        cands = list(scenario.topology.server_cluster())
    if placement.per_server is not None:
        return [s for s in cands for _ in range(placement.per_server)]
    n = placement.count or 0
    if placement.placement == "random":
        rng = streams.stream(stream)
        return [cands[rng.randrange(len(cands))] for _ in range(n)]
    return [cands[i % len(cands)] for i in range(n)]


def arrival_schedule(
    rng: Any, rate: float, poisson: bool, start: float, stop: float, n_subjects: int
) -> list[tuple[float, int]]:
    """Return (time, subject index) per firing, drawn as ``sim.workloads.base.Arrivals`` does.

    The first gap (or phase) is drawn first; then at each firing the subject
    (``randrange`` when there are several), then the next gap.
    """
    out: list[tuple[float, int]] = []
    if rate <= 0:
        return out
    period = 1.0 / rate
    t = start + (rng.expovariate(rate) if poisson else rng.random() * period)
    while t < stop:
        idx = rng.randrange(n_subjects) if n_subjects > 1 else 0
        out.append((t, idx))
        t = t + (rng.expovariate(rate) if poisson else period)
    return out


def _describe(f: Any) -> str:
    t = f.target
    if isinstance(t, str):
        return t
    if isinstance(t, list | tuple):
        return " | ".join(x if isinstance(x, str) else ",".join(x) for x in t)
    if f.action == "latency":
        return f"{' | '.join(t.between)} +{t.add * 1e3:g}ms x{t.factor:g}"
    return getattr(t, "workload", "") or str(t)


def _payload(mid: int, size: int, extra: str = "") -> bytes:
    head = f"{mid}|{extra}|".encode()
    return head + b"." * max(0, size - len(head))


def _parse(data: bytes) -> list[str]:
    return [p.decode() for p in data.split(b"|", 2)[:2]]


@dataclass
class RealClient:
    """One nats-py connection standing for one scenario client."""

    name: str
    workload: str
    role: str
    server: str
    url: str
    profile: Any
    nc: Any = None
    alive: bool = True
    subs: list[Any] = field(default_factory=list)
    #: (re)subscribe: called after a (re)start
    on_start: list[Callable[[], Any]] = field(default_factory=list)
    #: other servers to try first time when ``url``'s server has not joined yet
    fallback: list[str] = field(default_factory=list)
    #: connect at the group's start, not before the run (its server joins later)
    deferred: bool = False

    async def connect(self) -> None:
        """Connect to the client's configured server."""
        import nats

        async def _quiet(*_a: Any) -> None:
            return None

        p = self.profile
        self.nc = await nats.connect(
            servers=[self.url, *self.fallback],
            name=self.name,
            allow_reconnect=p.allow_reconnect,
            max_reconnect_attempts=p.max_reconnect,
            reconnect_time_wait=p.reconnect_wait,
            connect_timeout=max(p.connect_timeout, 1.0),
            dont_randomize=not p.randomize or bool(self.fallback),
            error_cb=_quiet,
            disconnected_cb=_quiet,
            reconnected_cb=_quiet,
            closed_cb=_quiet,
        )


class _Run:
    def __init__(
        self, scenario: Scenario, servers: ServerSet, seed: int, control: Any = None
    ) -> None:
        self.scenario = scenario
        self.control = control
        self.servers = servers
        self.streams = RandomStreams(seed)
        topo = scenario.topology
        self.cluster = topo.server_cluster()
        region = {c: spec.region for c, spec in topo.clusters.items()}
        self.rec = Recorder(self.cluster, {s: region[c] for s, c in self.cluster.items()})
        self.clients: list[RealClient] = []
        self.responders: dict[str, list[tuple[RealClient, Callable, Callable]]] = {}
        self.tasks: list[asyncio.Task] = []
        self.t0 = 0.0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.notes: list[str] = []
        self.end = scenario.duration
        #: proxy keys a running latency / cut fault changed, by id(fault)
        self._keys: dict[int, Any] = {}

    def now(self) -> float:
        assert self.loop is not None
        return self.loop.time() - self.t0

    async def at(self, t: float) -> None:
        delay = t - self.now()
        if delay > 0:
            await asyncio.sleep(delay)

    async def ensure(self, c: RealClient) -> None:
        """Connect a deferred client now (its server, else the live ones of its cluster)."""
        if c.nc is not None or not c.deferred:
            return
        c.fallback = [
            p.url
            for p in self.servers.servers.values()
            if p.cluster == self.cluster[c.server] and p.name != c.server and not p.stopped
        ]
        await c.connect()
        c.fallback = []

    def server_of(self, c: RealClient) -> str | None:
        if c.nc is None or not c.nc.is_connected:
            return None
        return self.servers.server_of_url(c.nc.connected_url) or c.server

    def _schedule(self, group: Any, stream: str, n_subjects: int) -> Any:
        """A publisher's or requester's firing times and subjects, drawn as the simulation does."""
        stop = self.end if group.stop is None else min(group.stop, self.end)
        return arrival_schedule(
            self.streams.stream(stream),
            group.rate,
            group.arrival == "poisson",
            group.start,
            stop,
            n_subjects,
        )

    def new_client(
        self, name: str, wl: str, role: str, server: str, group: Placement
    ) -> RealClient:
        c = RealClient(
            name,
            wl,
            role,
            server,
            self.servers.servers[server].url,
            client_profile(self.scenario, group),
        )
        # its server joins later: it connects when its group starts (to that
        # server if it has joined by then, else to another of its cluster), as
        # in the simulation
        c.deferred = self.servers.servers[server].stopped
        self.clients.append(c)
        self.rec.clients.append((name, wl, role, server))
        return c

    # ------------------------------------------------------------ pubsub
    def build_pubsub(self, w: PubSubWorkload) -> None:
        for g, group in enumerate(w.subscribers):
            template = group.subject or w.subject
            for k, server in enumerate(
                place(self.scenario, self.streams, group, f"placement:{w.name}:sub{g}")
            ):
                suffix = f"sub{k}" if g == 0 else f"sub{g}.{k}"
                c = self.new_client(f"{w.name}.{suffix}", w.name, "subscriber", server, group)
                subject = client_subjects(template, k)
                self.tasks_later.append(self._subscriber(c, subject, group.queue, group))
        pubs = w.publishers
        if pubs is None:
            return
        subjects = expand_subject_template(pubs.subject or w.subject)
        for i, server in enumerate(
            place(self.scenario, self.streams, pubs, f"placement:{w.name}:pub")
        ):
            name = f"{w.name}.pub{i}"
            c = self.new_client(name, w.name, "publisher", server, pubs)
            sched = self._schedule(pubs, f"pub:{name}", len(subjects))
            self.tasks_later.append(self._publisher(c, sched, subjects, pubs.size))

    async def _subscriber(self, c: RealClient, subject: str, queue: str | None, group: Any) -> None:
        state: dict[str, Any] = {}

        async def subscribe() -> None:
            sid = self.rec.subscription(
                c.name, c.workload, self.server_of(c), subject, queue, self.now()
            )

            async def cb(msg: Any) -> None:
                t = self.now()
                if not c.alive:
                    return
                with contextlib.suppress(ValueError, IndexError):
                    self.rec.delivery(int(_parse(msg.data)[0]), sid, self.server_of(c), t)

            state["sub"] = await c.nc.subscribe(subject, queue=queue or "", cb=cb)
            state["sid"] = sid

        await self.at(group.start)
        await self.ensure(c)
        c.on_start.append(subscribe)
        await subscribe()
        if group.stop is not None and group.stop < self.end:
            await self.at(group.stop)
            c.on_start.remove(subscribe)
            with contextlib.suppress(Exception):
                await state["sub"].unsubscribe()
            self.rec.unsubscribed(state["sid"], self.now())

    async def _publisher(
        self, c: RealClient, sched: list[tuple[float, int]], subjects: list[str], size: int
    ) -> None:
        if sched:
            await self.at(sched[0][0])
            await self.ensure(c)
        for t, idx in sched:
            await self.at(t)
            if not c.alive:
                continue
            subject = subjects[idx]
            mid = self.rec.message(
                self.now(), c.workload, "publish", c.name, self.server_of(c), subject, size
            )
            with contextlib.suppress(Exception):
                await c.nc.publish(subject, _payload(mid, size))

    # ------------------------------------------------------------ request/reply
    def build_request_reply(self, w: RequestReplyWorkload) -> None:
        for g, group in enumerate(w.responders):
            template = group.subject or w.subject
            for k, server in enumerate(
                place(self.scenario, self.streams, group, f"placement:{w.name}:rsp{g}")
            ):
                suffix = f"rsp{k}" if g == 0 else f"rsp{g}.{k}"
                c = self.new_client(f"{w.name}.{suffix}", w.name, "responder", server, group)
                self.tasks_later.append(self._responder(w, c, client_subjects(template, k), group))
        req = w.requesters
        if req.gather is not None:
            self.notes.append(
                f"{w.name}: gather (scatter-gather) not run for real: first reply only"
            )
        subjects = expand_subject_template(req.subject or w.subject)
        for i, server in enumerate(
            place(self.scenario, self.streams, req, f"placement:{w.name}:req")
        ):
            name = f"{w.name}.req{i}"
            c = self.new_client(name, w.name, "requester", server, req)
            sched = self._schedule(req, f"req:{name}", len(subjects))
            self.tasks_later.append(self._requester(c, sched, subjects, req))

    async def _responder(self, w: Any, c: RealClient, subject: str, group: Any) -> None:
        st = group.service_time
        service = make_sampler(
            Dist.of(st.dist, **st.params()), self.streams.stream(f"service:{c.name}")
        )
        state: dict[str, Any] = {"sub": None}

        async def on_request(msg: Any) -> None:
            if not c.alive:
                return
            try:
                req_id = int(_parse(msg.data)[0])
            except (ValueError, IndexError):
                req_id = -1
            if req_id >= 0 and "sid" in state:
                self.rec.delivery(req_id, state["sid"], self.server_of(c), self.now())
            await asyncio.sleep(service())
            if not c.alive or not msg.reply:
                return
            rid = self.rec.message(
                self.now(), c.workload, "reply", c.name, self.server_of(c), msg.reply,
                group.size, req_id,
            )  # fmt: skip
            with contextlib.suppress(Exception):
                await msg.respond(_payload(rid, group.size, c.name))

        async def start() -> None:
            if state["sub"] is None and c.alive:
                state["sub"] = await c.nc.subscribe(subject, queue=group.queue or "", cb=on_request)
                state["sid"] = self.rec.subscription(
                    c.name, c.workload, self.server_of(c), subject, group.queue, self.now()
                )

        async def stop() -> None:
            if state["sub"] is not None:
                sub, state["sub"] = state["sub"], None
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
                self.rec.unsubscribed(state["sid"], self.now())

        async def restarted() -> None:
            state["sub"] = None
            await start()

        self.responders.setdefault(w.name, []).append((c, start, stop))
        await self.at(group.start)
        await self.ensure(c)
        c.on_start.append(restarted)
        await start()
        if group.stop is not None and group.stop < self.end:
            await self.at(group.stop)
            c.on_start.remove(restarted)
            await stop()

    async def _requester(
        self, c: RealClient, sched: list[tuple[float, int]], subjects: list[str], spec: Any
    ) -> None:
        import nats.errors

        inflight: set[asyncio.Task] = set()

        async def one(subject: str) -> None:
            mid = self.rec.message(
                self.now(), c.workload, "request", c.name, self.server_of(c), subject, spec.size
            )
            try:
                r = await c.nc.request(subject, _payload(mid, spec.size), timeout=spec.timeout)
            except nats.errors.NoRespondersError:
                self.rec.request(mid, self.now(), "no_responders", math.nan, None, 0)
                return
            except (TimeoutError, nats.errors.TimeoutError):
                self.rec.request(mid, self.now(), "timeout", math.nan, None, 0)
                return
            except Exception:
                self.rec.request(mid, self.now(), "client_gone", math.nan, None, 0)
                return
            t = self.now()
            parts = _parse(r.data)
            self.rec.request(mid, t, "ok", t, parts[1] if len(parts) > 1 else None, 1)

        if sched:
            await self.at(sched[0][0])
            await self.ensure(c)
        for t, idx in sched:
            await self.at(t)
            if not c.alive:
                continue
            task = asyncio.ensure_future(one(subjects[idx]))
            inflight.add(task)
            task.add_done_callback(inflight.discard)
        if inflight:
            await asyncio.gather(*inflight, return_exceptions=True)

    # ------------------------------------------------------------ faults
    async def _fault(self, f: Any) -> None:
        action = f.action
        if action not in APPLIED_FAULTS:
            self.notes.append(f"fault {action} at {f.at}s not applied on real servers (skipped)")
            return
        await self.at(f.at)
        number = self.scenario.faults.index(f)
        label = f"{action}: {_describe(f)}"
        self.rec.event(self.now(), None, "fault_start", label, number)
        await self._apply(f, action)
        if f.duration is not None and f.at + f.duration < self.end:
            await self.at(f.at + f.duration)
            self.rec.event(self.now(), None, "fault_end", label, number)
            await self._undo(f, action)

    async def _apply(self, f: Any, action: str) -> None:
        loop = asyncio.get_running_loop()
        if action == "latency":
            ch = f.latency
            groups = [resolve_names(self.scenario, g) for g in ch.between]
            keys = self.control.keys_between(groups) if self.control is not None else []
            if not keys:
                self.notes.append(
                    f"latency fault at {f.at}s not applied: no delay proxy between "
                    f"{ch.between[0]} and {ch.between[1]} (latency emulation off, or a "
                    "route without latency: see --intra-cluster-latency)"
                )
                return
            self.control.change(keys, ch.add, ch.factor)
            self._keys[id(f)] = keys
            for src, dst in keys:
                self.rec.event(self.now(), dst[3:], "latency", f"{src}->{dst}", ch.add)
        elif action in ("link_down", "partition"):
            self._cut(f, action)
        elif action == "join":
            names = resolve_names(self.scenario, f.join)
            for n in names:
                await loop.run_in_executor(None, self.servers.restart, n)
                self.rec.event(self.now(), n, "join", "")
        elif action == "lame_duck":
            ldm = self.scenario.topology.server.lame_duck_duration
            if ldm < LDM_MIN:
                self.notes.append(
                    f"lame_duck_duration {ldm:g}s raised to nats-server's minimum "
                    f"{LDM_MIN:g}s (clients are closed at most 1 s apart after the grace period)"
                )
            for n in resolve_names(self.scenario, f.lame_duck):
                self.servers.lame_duck(n)
                self.rec.event(self.now(), n, "lame_duck", "")
        if action in ("crash", "stop_responders", "start_responders", "kill_clients"):
            await self._apply_old(f, action)

    def _cut(self, f: Any, action: str) -> None:
        """Cut the proxies on the routes and gateways between the fault's groups.

        ``link_down`` resets them (``silent``: blackholes), ``partition``
        blackholes them, as the model does (sim/faults.py).  Client connections
        do not go through proxies, so they are never cut.
        """
        groups = [resolve_names(self.scenario, g) for g in f.target]
        keys = self.control.keys_between(groups) if self.control is not None else []
        if not keys:
            self.notes.append(f"{action} at {f.at}s not applied: no proxy between the groups")
            return
        mode = "blackhole" if action == "partition" or f.silent else "reset"
        self.control.cut(keys, mode)
        self._keys[id(f)] = (keys, mode)
        for src, dst in keys:
            self.rec.event(self.now(), dst[3:], action, f"{src}->{dst} {mode}")

    async def _undo(self, f: Any, action: str) -> None:
        loop = asyncio.get_running_loop()
        if action in ("link_down", "partition"):
            keys, mode = self._keys.pop(id(f), ([], ""))
            if keys:
                self.control.heal(keys, mode)
                self.rec.event(self.now(), None, "heal", f"{action}: {len(keys)} proxies")
        if action == "latency":
            keys = self._keys.pop(id(f), [])
            if keys:
                self.control.restore(keys, f.latency.add, f.latency.factor)
        elif action == "lame_duck":
            for n in resolve_names(self.scenario, f.lame_duck):
                await loop.run_in_executor(None, self.servers.kill, n)
                await loop.run_in_executor(None, self.servers.restart, n)
                self.rec.event(self.now(), n, "restart", "")

    async def _apply_old(self, f: Any, action: str) -> None:
        if action == "crash":
            names = resolve_names(self.scenario, f.crash)
            for n in names:
                self.servers.kill(n, silent=f.silent)
                self.rec.event(self.now(), n, "crash", "silent" if f.silent else "loud")
            if f.duration is not None:
                await self.at(f.at + f.duration)
                loop = asyncio.get_running_loop()
                for n in names:
                    await loop.run_in_executor(None, self.servers.restart, n)
                    self.rec.event(self.now(), n, "restart", "")
        elif action in ("stop_responders", "start_responders"):
            tgt = f.target
            for c, start, stop in self._responders_of(tgt):
                await (stop() if action == "stop_responders" else start())
                self.rec.event(self.now(), self.server_of(c), action, c.name)
            if f.duration is not None and action == "stop_responders":
                await self.at(f.at + f.duration)
                for c, start, _stop in self._responders_of(tgt):
                    await start()
                    self.rec.event(self.now(), self.server_of(c), "start_responders", c.name)
        elif action == "kill_clients":
            victims = self._clients_of(f.target)
            for c in victims:
                c.alive = False
                self.rec.event(self.now(), self.server_of(c), "kill_client", c.name)
                with contextlib.suppress(Exception):
                    await c.nc.close()
            if f.duration is not None:
                await self.at(f.at + f.duration)
                for c in victims:
                    with contextlib.suppress(Exception):
                        await c.connect()
                        c.alive = True
                        for fn in list(c.on_start):
                            await fn()
                        self.rec.event(self.now(), self.server_of(c), "restart_client", c.name)

    def _responders_of(self, tgt: Any) -> list[tuple[RealClient, Callable, Callable]]:
        out = []
        for c, start, stop in self.responders.get(tgt.workload, []):
            srv = self.server_of(c) or c.server
            if tgt.cluster is not None and self.cluster.get(srv) != tgt.cluster:
                continue
            if tgt.servers is not None and srv not in tgt.servers:
                continue
            out.append((c, start, stop))
        return out

    def _clients_of(self, tgt: Any) -> list[RealClient]:
        out = []
        for c in self.clients:
            srv = self.server_of(c) or c.server
            if c.workload != tgt.workload or (tgt.role is not None and c.role != tgt.role):
                continue
            if tgt.cluster is not None and self.cluster.get(srv) != tgt.cluster:
                continue
            if tgt.servers is not None and srv not in tgt.servers:
                continue
            out.append(c)
        return out[: tgt.count] if tgt.count is not None else out

    # ------------------------------------------------------------ run
    async def run(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.tasks_later: list[Any] = []
        for w in self.scenario.workloads:
            if isinstance(w, PubSubWorkload):
                self.build_pubsub(w)
            elif isinstance(w, RequestReplyWorkload):
                self.build_request_reply(w)
            else:
                self.notes.append(f"workload {w.name} ({w.kind}) not run on real servers")
        if self.scenario.chaos is not None:
            self.notes.append("chaos: not applied on real servers")
        await asyncio.gather(*(c.connect() for c in self.clients if not c.deferred))
        self.t0 = self.loop.time()
        coros = [*self.tasks_later, *(self._fault(f) for f in self.scenario.faults)]
        tasks = [asyncio.ensure_future(co) for co in coros]
        try:
            await self.at(self.end + settle_time(self.scenario))
            done, pending = await asyncio.wait(tasks, timeout=1.0)
            for t in pending:
                t.cancel()
            for t in done:
                if t.exception() is not None:
                    raise t.exception()
        finally:
            for t in tasks:
                t.cancel()
            self._check_client_proxies()
            for c in self.clients:
                if c.nc is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(c.nc.close(), 2.0)

    def _check_client_proxies(self) -> None:
        """Note every client left on a server's real client port while client proxies are on."""
        proxied = {p.port for p in self.servers.servers.values() if p.client_addr is not None}
        for c in self.clients:
            if c.nc is not None and c.nc.is_connected and c.nc.connected_url.port in proxied:
                self.notes.append(f"client {c.name} bypassed its client proxy (a real port)")


def drive(
    scenario: Scenario, servers: ServerSet, seed: int, control: Any = None
) -> tuple[Recorder, list[str]]:
    """Run ``scenario``'s workloads and faults on ``servers``; return the recorder and notes.

    ``control`` (a :class:`sim.real.latency.ProxyControl`) applies ``latency``,
    ``link_down`` and ``partition`` faults.
    """
    run = _Run(scenario, servers, seed, control)
    asyncio.run(run.run())
    return run.rec, run.notes
