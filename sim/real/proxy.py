"""Userspace TCP delay proxy: emulated one-way latency for real NATS servers.

``tc netem`` is not available on the kernel natsim's real backend runs on (see
``docs/latency-emulation.md``), so inter-region latency is added by a small asyncio
proxy placed in front of a server's gateway (or route) port. Each accepted connection
is forwarded to one target; the bytes of each direction wait in an in-order queue of
``(release_time, bytes)`` and are written out when their release time comes, so

* byte order is kept exactly (one queue per direction, drained strictly in order);
* a delay change (:meth:`DelayProxy.set_delay`) applies to bytes read after it, and a
  lower delay never lets new bytes overtake old ones (release times never decrease);
* EOF is forwarded as a half-close (``shutdown(SHUT_WR)``) after the queued bytes, and a
  connection reset closes both sides (with an RST where the platform allows it);
* a proxy can be cut (:meth:`DelayProxy.cut`) — ``"reset"``: its connections are
  reset and new ones refused; ``"blackhole"``: nothing is forwarded (bytes wait, new
  connections are held before reaching the target) — and healed
  (:meth:`DelayProxy.heal`): held bytes then go out in order, like TCP retransmitting
  after a path comes back.  This is how ``link_down`` and ``partition`` faults are
  applied for real.

:class:`DelayProxy` runs in the caller's event loop (``await proxy.start()``);
:class:`ProxyThread` hosts one in a daemon thread with its own loop, for synchronous
code. :class:`ProxyMesh` (and :class:`ProxyMeshThread`) build one proxy per
(source cluster, destination server) so per region-pair delays work without network
namespaces; with namespaces (:mod:`sim.real.netns`) one proxy per destination can
tell sources apart by address instead (``source_delays``).

Only loopback targets are accepted, plus addresses the caller explicitly allows
(namespaces the run created itself).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ipaddress
import json
import socket
import struct
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DelayProxy",
    "Delays",
    "ProxyMesh",
    "ProxyMeshThread",
    "ProxyStats",
    "ProxyThread",
    "check_target",
]

READ_CHUNK = 65536
#: how a cut proxy treats its connections (see DelayProxy.cut)
CUT_MODES = ("reset", "blackhole")
#: a connection opened into a blackhole is reset after this long, healed or not:
#: what the dialler sees as a dial timeout (nats-server DEFAULT_ROUTE_DIAL, 1 s,
#: for routes and gateways; its SYN is lost and the kernel's first retransmission
#: comes only after 1 s — here the kernel has completed the handshake instead)
BLACKHOLE_DIAL_TIMEOUT = 1.0
DEFAULT_MAX_BUFFER = 16 * 1024 * 1024

# A delay as given by callers: one number (both directions) or (up, down).
DelaySpec = float | tuple[float, float]


@dataclass(frozen=True)
class Delays:
    """One-way delays in seconds: ``up`` client→target, ``down`` target→client."""

    up: float = 0.0
    down: float = 0.0

    @classmethod
    def of(cls, spec: DelaySpec | Delays) -> Delays:
        """Normalise a number, an ``(up, down)`` pair or a :class:`Delays`."""
        if isinstance(spec, Delays):
            d = spec
        elif isinstance(spec, tuple):
            d = cls(float(spec[0]), float(spec[1]))
        else:
            d = cls(float(spec), float(spec))
        if d.up < 0 or d.down < 0:
            raise ValueError(f"delays must be >= 0, got {d}")
        return d


@dataclass
class ProxyStats:
    """Counters of one proxy (forwarded bytes: written to the other side)."""

    connections_total: int = 0
    connections_active: int = 0
    connections_failed: int = 0  # target refused / unreachable
    resets: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    rejected: int = 0  # gateway connections from another source (see gateway_source)


def check_target(host: str, allow: Iterable[str] = ()) -> None:
    """Raise ``ValueError`` unless *host* is a loopback address or explicitly allowed.

    Names are not resolved except ``localhost``; pass literal addresses.
    """
    if host in set(allow):
        return
    if host == "localhost":
        return
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"refusing non-loopback target {host!r}: natsim only addresses loopback "
            "(and namespaces it created itself); pass a literal loopback address"
        ) from None
    if not ip.is_loopback:
        raise ValueError(
            f"refusing non-loopback target {host!r}: natsim only addresses loopback "
            "(and namespaces it created itself, passed via allow=)"
        )


def _set_nodelay(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close *writer*'s socket with an RST (SO_LINGER 0) — propagates a reset."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _gateway_of(line: bytes) -> str | None:
    """The ``gateway`` field of a ``CONNECT {json}`` protocol line, else None."""
    if not line.startswith(b"CONNECT "):
        return None
    try:
        info = json.loads(line[8:])
    except ValueError:
        return None
    return info.get("gateway") if isinstance(info, dict) else None


class _Pipe:
    """One direction of one connection: read → delay queue → write, in order."""

    def __init__(
        self,
        conn: _Connection,
        direction: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.conn = conn
        self.direction = direction  # "up" or "down"
        self.reader = reader
        self.writer = writer
        # (release_time, bytes) — bytes None means EOF.
        self.queue: collections.deque[tuple[float, bytes | None]] = collections.deque()
        self.buffered = 0
        self.last_release = 0.0
        self.item_ready = asyncio.Event()
        self.space = asyncio.Event()
        self.space.set()

    async def read_loop(self) -> None:
        loop = asyncio.get_running_loop()
        proxy = self.conn.proxy
        try:
            first = None
            if self.direction == "up" and proxy.gateway_source is not None:
                first = await self._connect_line()
                if first is None:
                    return
            while True:
                while self.buffered >= proxy.max_buffer:
                    self.space.clear()
                    await self.space.wait()
                if first is not None:
                    data, first = first, None
                else:
                    data = await self.reader.read(READ_CHUNK)
                delay = self.conn.delay(self.direction)
                # Release times never decrease: a lower new delay cannot let new
                # bytes overtake queued ones (they leave right after them instead).
                release = max(loop.time() + delay, self.last_release)
                self.last_release = release
                if not data:
                    self.queue.append((release, None))
                    self.item_ready.set()
                    return
                self.queue.append((release, data))
                self.buffered += len(data)
                self.item_ready.set()
        except (ConnectionError, OSError):
            self.conn.reset()

    async def _connect_line(self) -> bytes | None:
        """Read the dialler's first line; reset unless it is a CONNECT from the right gateway.

        nats-server's gateway CONNECT carries ``"gateway": <its cluster>``
        (gateway.go ``sendGatewayConnect``).  Returns the bytes read so far
        (to be forwarded), or None after a reset.
        """
        proxy = self.conn.proxy
        buf = b""
        while b"\r\n" not in buf and len(buf) < READ_CHUNK:
            data = await self.reader.read(READ_CHUNK)
            if not data:
                return buf
            buf += data
        line = buf.split(b"\r\n", 1)[0]
        if _gateway_of(line) != proxy.gateway_source:
            proxy.stats.rejected += 1
            self.conn.reset()
            return None
        return buf

    async def write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        proxy = self.conn.proxy
        stats = proxy.stats
        try:
            while True:
                while not self.queue:
                    self.item_ready.clear()
                    await self.item_ready.wait()
                release, _ = self.queue[0]
                while (wait := release - loop.time()) > 0:
                    await asyncio.sleep(wait)
                if not proxy.forwarding.is_set():
                    await proxy.forwarding.wait()
                # Everything due now goes out in one write, still in queue order.
                now = loop.time()
                parts: list[bytes] = []
                eof = False
                while self.queue and self.queue[0][0] <= now:
                    _, data = self.queue.popleft()
                    if data is None:
                        eof = True
                        break
                    parts.append(data)
                if parts:
                    blob = b"".join(parts)
                    self.writer.write(blob)
                    await self.writer.drain()
                    self.buffered -= len(blob)
                    if self.direction == "up":
                        stats.bytes_up += len(blob)
                    else:
                        stats.bytes_down += len(blob)
                    self.space.set()
                if eof:
                    if self.writer.can_write_eof():
                        self.writer.write_eof()
                    else:
                        self.writer.close()
                    return
        except (ConnectionError, OSError):
            self.conn.reset()


class _Connection:
    """One proxied connection: two pipes and their tasks."""

    def __init__(self, proxy: DelayProxy, source: str | None) -> None:
        self.proxy = proxy
        self.source = source
        self.tasks: list[asyncio.Task[None]] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.was_reset = False

    def delay(self, direction: str) -> float:
        d = self.proxy.delays_for(self.source)
        return d.up if direction == "up" else d.down

    def reset(self) -> None:
        if self.was_reset:
            return
        self.was_reset = True
        self.proxy.stats.resets += 1
        for w in self.writers:
            _abort(w)
        current = asyncio.current_task()
        for t in self.tasks:
            if t is not current:
                t.cancel()

    async def run(
        self,
        c_reader: asyncio.StreamReader,
        c_writer: asyncio.StreamWriter,
        t_reader: asyncio.StreamReader,
        t_writer: asyncio.StreamWriter,
    ) -> None:
        self.writers = [c_writer, t_writer]
        self.proxy.live.add(self)
        up = _Pipe(self, "up", c_reader, t_writer)
        down = _Pipe(self, "down", t_reader, c_writer)
        self.tasks = [
            asyncio.create_task(up.read_loop()),
            asyncio.create_task(up.write_loop()),
            asyncio.create_task(down.read_loop()),
            asyncio.create_task(down.write_loop()),
        ]
        try:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        finally:
            self.proxy.live.discard(self)
            for t in self.tasks:
                t.cancel()
            for w in self.writers:
                if not self.was_reset:
                    w.close()
            for w in self.writers:
                with contextlib.suppress(Exception):
                    await w.wait_closed()


class DelayProxy:
    """Asyncio TCP proxy adding a one-way delay per direction.

    Parameters
    ----------
    target_host, target_port
        Where accepted connections are forwarded (loopback, or a host in *allow*).
    delay
        One-way delay in seconds for both directions (default for ``delay_up`` /
        ``delay_down``).
    delay_up, delay_down
        One-way delay client→target and target→client, overriding *delay*.
    listen_host, listen_port
        Listening address; port 0 picks a free port (see :attr:`address`).
    source_delays
        Optional per-source-address delays (``{peer_ip: delay or (up, down)}``),
        for namespaces where each cluster has its own address; other sources get
        the default delays.
    allow
        Extra non-loopback addresses that may be targeted or listened on (the
        addresses of namespaces the run created itself).
    max_buffer
        Bytes queued per direction before the proxy stops reading (backpressure).
    dial_timeout
        How long a connection opened while the proxy is blackholed is held before
        it is reset (:data:`BLACKHOLE_DIAL_TIMEOUT`).
    gateway_source
        For a proxy in front of a nats-server gateway port: the only gateway
        (cluster) name its dialers may give in their CONNECT; any other is reset
        before its CONNECT is forwarded.  nats-server passes the URLs it dials
        for a remote cluster on to other clusters (gateway.go
        ``gossipGatewaysToInboundGateway``), so a proxy meant for one source
        cluster is otherwise dialled by others too, past their own proxies.
    """

    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        delay: float = 0.0,
        delay_up: float | None = None,
        delay_down: float | None = None,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
        source_delays: Mapping[str, DelaySpec] | None = None,
        allow: Iterable[str] = (),
        max_buffer: int = DEFAULT_MAX_BUFFER,
        name: str | None = None,
        dial_timeout: float = BLACKHOLE_DIAL_TIMEOUT,
        gateway_source: str | None = None,
    ) -> None:
        allow = tuple(allow)
        check_target(target_host, allow)
        check_target(listen_host, allow)
        self.target_host = target_host
        self.target_port = int(target_port)
        self.listen_host = listen_host
        self.listen_port = int(listen_port)
        self.max_buffer = int(max_buffer)
        self.name = name or f"proxy->{target_host}:{target_port}"
        self.default_delays = Delays.of(
            (
                delay if delay_up is None else delay_up,
                delay if delay_down is None else delay_down,
            )
        )
        self.source_delays: dict[str, Delays] = {
            k: Delays.of(v) for k, v in (source_delays or {}).items()
        }
        self.dial_timeout = float(dial_timeout)
        self.gateway_source = gateway_source
        self.stats = ProxyStats()
        self._server: asyncio.base_events.Server | None = None
        self._conns: set[asyncio.Task[None]] = set()
        self.live: set[_Connection] = set()
        #: None while healthy, else the CUT_MODES entry in force
        self.cut_mode: str | None = None
        self._forwarding: asyncio.Event | None = None

    @property
    def forwarding(self) -> asyncio.Event:
        """Set while bytes may flow (cleared by a ``blackhole`` cut); the proxy loop's."""
        if self._forwarding is None:
            self._forwarding = asyncio.Event()
            self._forwarding.set()
        return self._forwarding

    # -- cuts -----------------------------------------------------------------------

    def cut(self, mode: str = "reset") -> None:
        """Cut the path: ``"reset"`` or ``"blackhole"`` (see the module docstring).

        ``reset`` aborts every proxied connection with an RST now, and resets each
        new one on accept until :meth:`heal` — what both ends see when a link
        between them breaks loudly.  ``blackhole`` forwards nothing until
        :meth:`heal` — a silent path where the ends find out only by their own
        pings — and holds each new connection for ``dial_timeout`` before
        resetting it, as a dial into a blackhole times out.  Call it from the
        proxy's loop (:class:`ProxyThread` and :class:`ProxyMeshThread` do).
        """
        if mode not in CUT_MODES:
            raise ValueError(f"cut mode must be one of {CUT_MODES}, not {mode!r}")
        self.cut_mode = mode
        if mode == "blackhole":
            self.forwarding.clear()
        else:
            self.forwarding.set()
            for conn in list(self.live):
                conn.reset()

    def heal(self) -> None:
        """End a cut: new connections are forwarded, held bytes go out in order."""
        self.cut_mode = None
        self.forwarding.set()

    # -- delays ---------------------------------------------------------------------

    def delays_for(self, source: str | None) -> Delays:
        """Delays applied to connections from *source* (peer IP) right now."""
        if source is not None and source in self.source_delays:
            return self.source_delays[source]
        return self.default_delays

    def set_delay(
        self,
        delay: float | None = None,
        *,
        up: float | None = None,
        down: float | None = None,
        source: str | None = None,
    ) -> Delays:
        """Change the delays; applies to bytes read from now on, order is kept.

        ``set_delay(0.05)`` sets both directions; ``set_delay(up=0.1)`` only one;
        *source* changes that source address's delays instead of the default.
        Returns the new delays. Not thread-safe: call it from the proxy's loop
        (:class:`ProxyThread` does).
        """
        current = self.delays_for(source)
        new = Delays.of(
            (
                up if up is not None else (delay if delay is not None else current.up),
                down if down is not None else (delay if delay is not None else current.down),
            )
        )
        if source is None:
            self.default_delays = new
        else:
            self.source_delays[source] = new
        return new

    @property
    def delay_up(self) -> float:
        """Current default one-way delay client→target (seconds)."""
        return self.default_delays.up

    @property
    def delay_down(self) -> float:
        """Current default one-way delay target→client (seconds)."""
        return self.default_delays.down

    # -- lifecycle ------------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` clients should dial (valid after :meth:`start`)."""
        return (self.listen_host, self.listen_port)

    @property
    def running(self) -> bool:
        """Whether the proxy is listening."""
        return self._server is not None

    async def start(self) -> tuple[str, int]:
        """Start listening; returns :attr:`address`."""
        if self._server is not None:
            return self.address
        self._server = await asyncio.start_server(
            self._accept, self.listen_host, self.listen_port, reuse_address=True
        )
        self.listen_port = self._server.sockets[0].getsockname()[1]
        return self.address

    async def stop(self) -> None:
        """Stop listening and close every proxied connection."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for t in list(self._conns):
            t.cancel()
        if self._conns:
            await asyncio.gather(*self._conns, return_exceptions=True)
        if server is not None:
            with contextlib.suppress(Exception):
                await server.wait_closed()

    async def __aenter__(self) -> DelayProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _accept(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        self.stats.connections_total += 1
        self.stats.connections_active += 1
        peer = c_writer.get_extra_info("peername")
        source = peer[0] if peer else None
        try:
            refused = self.cut_mode is not None
            if self.cut_mode == "blackhole":
                await asyncio.sleep(self.dial_timeout)  # then reset, even if healed since
            try:
                if refused:
                    raise ConnectionRefusedError
                t_reader, t_writer = await asyncio.open_connection(
                    self.target_host, self.target_port
                )
            except OSError:
                self.stats.connections_failed += 1
                _abort(c_writer)
                return
            _set_nodelay(c_writer)
            _set_nodelay(t_writer)
            await _Connection(self, source).run(c_reader, c_writer, t_reader, t_writer)
        except asyncio.CancelledError:
            # stop() cancels connection handlers; end quietly (asyncio's stream
            # server would otherwise log the cancellation as an error).
            c_writer.close()
        finally:
            self.stats.connections_active -= 1
            self._conns.discard(task)

    def __repr__(self) -> str:
        d = self.default_delays
        return (
            f"DelayProxy({self.listen_host}:{self.listen_port} -> "
            f"{self.target_host}:{self.target_port}, up={d.up}, down={d.down})"
        )


class _LoopThread:
    """An asyncio event loop running in a daemon thread."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coro: Any, timeout: float | None = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call_sync(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        async def _do() -> Any:
            return fn(*args, **kwargs)

        return self.call(_do())

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        if not self.thread.is_alive():
            self.loop.close()


class _Hosted:
    """Something with async ``start()``/``stop()`` run in its own event-loop thread.

    ``start()``, ``stop()`` and the subclasses' methods (through :meth:`_call`)
    are thread-safe and block until done; usable as a context manager.
    """

    #: the hosted object, and the name its thread gets
    _inner: Any
    _thread_name: str

    def __init__(self) -> None:
        self._lt: _LoopThread | None = None

    def start(self) -> Any:
        """Start the thread and the hosted object; returns what its ``start()`` does."""
        if self._lt is None:
            self._lt = _LoopThread(self._thread_name)
        return self._lt.call(self._inner.start())

    def stop(self) -> None:
        """Stop the hosted object (closing its connections) and the thread."""
        lt, self._lt = self._lt, None
        if lt is None:
            return
        try:
            lt.call(self._inner.stop())
        finally:
            lt.close()

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Call ``fn`` on the hosted object's loop (directly before the thread runs)."""
        return fn(*args, **kwargs) if self._lt is None else self._lt.call_sync(fn, *args, **kwargs)

    def __enter__(self) -> Any:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ProxyThread(_Hosted):
    """A :class:`DelayProxy` hosted in its own event loop in a daemon thread.

    Same constructor arguments as :class:`DelayProxy`. ``start()``, ``stop()`` and
    ``set_delay()`` are thread-safe and block until done. Usable as a context manager.
    """

    def __init__(self, target_host: str, target_port: int, **kwargs: Any) -> None:
        super().__init__()
        self.proxy = self._inner = DelayProxy(target_host, target_port, **kwargs)
        self._thread_name = f"natsim-{self.proxy.name}"

    def set_delay(
        self,
        delay: float | None = None,
        *,
        up: float | None = None,
        down: float | None = None,
        source: str | None = None,
    ) -> Delays:
        """Thread-safe :meth:`DelayProxy.set_delay`."""
        return self._call(self.proxy.set_delay, delay, up=up, down=down, source=source)

    def cut(self, mode: str = "reset") -> None:
        """Thread-safe :meth:`DelayProxy.cut`."""
        self._call(self.proxy.cut, mode)

    def heal(self) -> None:
        """Thread-safe :meth:`DelayProxy.heal`."""
        self._call(self.proxy.heal)

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` to dial."""
        return self.proxy.address

    @property
    def stats(self) -> ProxyStats:
        """The proxy's counters (a live object; read-only use from other threads)."""
        return self.proxy.stats


class ProxyMesh:
    """One :class:`DelayProxy` per (source cluster, destination server).

    Parameters
    ----------
    targets
        ``{dst_server: (host, port)}`` — the real (loopback) gateway or route port of
        each destination server.
    delays
        ``{(src_cluster, dst_server): delay or (up, down)}``. ``up`` is the one-way
        delay src→dst, ``down`` dst→src (a number sets both). Every pair listed gets
        its own proxy; pairs not listed get none (dial the target directly).
    listen_host, allow, max_buffer
        Passed to each :class:`DelayProxy`.
    gateway_sources
        The pairs whose proxy fronts a gateway port: it accepts only gateway
        CONNECTs from ``src_cluster`` (``DelayProxy(gateway_source=...)``).

    After :meth:`start`, :attr:`routes` maps ``src_cluster → {dst_server: (host,
    port)}``: the address each source cluster's servers should dial for each
    destination (its own proxy, or the target itself where no delay was given).
    """

    def __init__(
        self,
        targets: Mapping[str, tuple[str, int]],
        delays: Mapping[tuple[str, str], DelaySpec],
        *,
        listen_host: str = "127.0.0.1",
        allow: Iterable[str] = (),
        max_buffer: int = DEFAULT_MAX_BUFFER,
        gateway_sources: Iterable[tuple[str, str]] = (),
    ) -> None:
        gateway_sources = set(gateway_sources)
        self.targets = {k: (h, int(p)) for k, (h, p) in targets.items()}
        allow = tuple(allow)
        self.proxies: dict[tuple[str, str], DelayProxy] = {}
        for (src, dst), spec in delays.items():
            if dst not in self.targets:
                raise KeyError(f"no target address for destination {dst!r}")
            d = Delays.of(spec)
            host, port = self.targets[dst]
            self.proxies[(src, dst)] = DelayProxy(
                host,
                port,
                delay_up=d.up,
                delay_down=d.down,
                listen_host=listen_host,
                allow=allow,
                max_buffer=max_buffer,
                name=f"{src}->{dst}",
                gateway_source=src if (src, dst) in gateway_sources else None,
            )

    def dial(self, src_cluster: str, dst_server: str) -> tuple[str, int]:
        """Address *src_cluster*'s servers should dial to reach *dst_server*."""
        p = self.proxies.get((src_cluster, dst_server))
        return p.address if p is not None else self.targets[dst_server]

    @property
    def routes(self) -> dict[str, dict[str, tuple[str, int]]]:
        """``{src_cluster: {dst_server: (host, port)}}`` for every proxied pair."""
        out: dict[str, dict[str, tuple[str, int]]] = {}
        for src, dst in self.proxies:
            out.setdefault(src, {})[dst] = self.dial(src, dst)
        return out

    async def start(self) -> dict[str, dict[str, tuple[str, int]]]:
        """Start every proxy; returns :attr:`routes`."""
        try:
            for p in self.proxies.values():
                await p.start()
        except BaseException:
            await self.stop()
            raise
        return self.routes

    async def stop(self) -> None:
        """Stop every proxy."""
        for p in self.proxies.values():
            await p.stop()

    def set_delay(
        self,
        src_cluster: str,
        dst_server: str,
        delay: float | None = None,
        *,
        up: float | None = None,
        down: float | None = None,
    ) -> Delays:
        """Change one pair's delays (call from the mesh's loop)."""
        return self.proxies[(src_cluster, dst_server)].set_delay(delay, up=up, down=down)

    def cut(self, src_cluster: str, dst_server: str, mode: str = "reset") -> None:
        """Cut one pair's proxy (call from the mesh's loop); see :meth:`DelayProxy.cut`."""
        self.proxies[(src_cluster, dst_server)].cut(mode)

    def heal(self, src_cluster: str, dst_server: str) -> None:
        """Heal one pair's proxy (call from the mesh's loop)."""
        self.proxies[(src_cluster, dst_server)].heal()

    def stats(self) -> dict[tuple[str, str], ProxyStats]:
        """Counters per (source cluster, destination server)."""
        return {k: p.stats for k, p in self.proxies.items()}


class ProxyMeshThread(_Hosted):
    """A :class:`ProxyMesh` hosted in a daemon thread; blocking, thread-safe methods."""

    def __init__(
        self,
        targets: Mapping[str, tuple[str, int]],
        delays: Mapping[tuple[str, str], DelaySpec],
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.mesh = self._inner = ProxyMesh(targets, delays, **kwargs)
        self._thread_name = "natsim-proxy-mesh"

    def set_delay(
        self,
        src_cluster: str,
        dst_server: str,
        delay: float | None = None,
        *,
        up: float | None = None,
        down: float | None = None,
    ) -> Delays:
        """Thread-safe :meth:`ProxyMesh.set_delay`."""
        return self._call(self.mesh.set_delay, src_cluster, dst_server, delay, up=up, down=down)

    def cut(self, src_cluster: str, dst_server: str, mode: str = "reset") -> None:
        """Thread-safe :meth:`ProxyMesh.cut`."""
        self._call(self.mesh.cut, src_cluster, dst_server, mode)

    def heal(self, src_cluster: str, dst_server: str) -> None:
        """Thread-safe :meth:`ProxyMesh.heal`."""
        self._call(self.mesh.heal, src_cluster, dst_server)

    def dial(self, src_cluster: str, dst_server: str) -> tuple[str, int]:
        """Address *src_cluster*'s servers should dial to reach *dst_server*."""
        return self.mesh.dial(src_cluster, dst_server)

    @property
    def routes(self) -> dict[str, dict[str, tuple[str, int]]]:
        """See :attr:`ProxyMesh.routes`."""
        return self.mesh.routes

    def stats(self) -> dict[tuple[str, str], ProxyStats]:
        """Counters per pair."""
        return self.mesh.stats()
