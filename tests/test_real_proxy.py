"""The userspace delay proxy (sim.real.proxy) and namespace helpers (sim.real.netns)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import socketserver
import statistics
import struct
import subprocess
import sys
import threading
import time

import pytest

from sim.real import netns
from sim.real.proxy import (
    DelayProxy,
    Delays,
    ProxyMesh,
    ProxyMeshThread,
    ProxyThread,
    check_target,
)

SLACK = 0.100  # loose upper bound on the proxy's own added latency


# -- helpers ------------------------------------------------------------------------


async def _echo_server() -> tuple[asyncio.base_events.Server, int]:
    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            while data := await r.read(65536):
                w.write(data)
                await w.drain()
            w.write_eof()
        except ConnectionError:
            pass
        finally:
            w.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    return srv, srv.sockets[0].getsockname()[1]


class _Stamped:
    """Server that records the arrival time of each 16-byte (seq, t_send) record."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[int, float, float]] = []  # seq, t_send, t_arrive
        self.writer: asyncio.StreamWriter | None = None

    async def start(self) -> int:
        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            self.writer = w
            try:
                while True:
                    rec = await r.readexactly(16)
                    now = time.monotonic()
                    seq, sent = struct.unpack("!qd", rec)
                    self.arrivals.append((seq, sent, now))
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                w.close()

        self.srv = await asyncio.start_server(handle, "127.0.0.1", 0)
        return self.srv.sockets[0].getsockname()[1]


# -- byte stream integrity ------------------------------------------------------------


def test_large_random_stream_intact_and_in_order():
    async def main() -> None:
        srv, port = await _echo_server()
        rng = random.Random(7)
        payload = rng.randbytes(6 * 1024 * 1024)
        async with DelayProxy("127.0.0.1", port, delay=0.005) as proxy:
            r, w = await asyncio.open_connection(*proxy.address)

            async def send() -> None:
                i = 0
                while i < len(payload):
                    n = rng.choice([1, 7, 100, 1500, 4096, 65536, 300_000])
                    w.write(payload[i : i + n])
                    i += n
                    if rng.random() < 0.3:
                        await w.drain()
                await w.drain()
                w.write_eof()

            sender = asyncio.create_task(send())
            got = bytearray()
            while data := await r.read(1 << 20):
                got += data
            await sender
            w.close()
            assert len(got) == len(payload)
            assert bytes(got) == payload
            assert proxy.stats.bytes_up == len(payload)
            assert proxy.stats.bytes_down == len(payload)
            assert proxy.stats.connections_total == 1
        srv.close()

    asyncio.run(main())


# -- delay accuracy -------------------------------------------------------------------


def test_one_way_delay_at_least_set_and_close_to_it():
    delay = 0.020

    async def main() -> list[float]:
        stamped = _Stamped()
        port = await stamped.start()
        async with DelayProxy("127.0.0.1", port, delay_up=delay, delay_down=0.0) as proxy:
            _, w = await asyncio.open_connection(*proxy.address)
            for seq in range(40):
                w.write(struct.pack("!qd", seq, time.monotonic()))
                await w.drain()
                await asyncio.sleep(0.003)
            await asyncio.sleep(delay + 0.05)
            w.close()
        stamped.srv.close()
        assert [a[0] for a in stamped.arrivals] == list(range(40))
        return [arr - sent for _, sent, arr in stamped.arrivals]

    owd = asyncio.run(main())
    print(
        f"one-way delay set {delay * 1e3:.1f} ms: min {min(owd) * 1e3:.2f} "
        f"p50 {statistics.median(owd) * 1e3:.2f} max {max(owd) * 1e3:.2f} ms"
    )
    assert min(owd) >= delay
    assert max(owd) < delay + SLACK


def test_rtt_with_delay_each_way_and_down_direction():
    async def main() -> list[float]:
        srv, port = await _echo_server()
        async with DelayProxy("127.0.0.1", port, delay_up=0.010, delay_down=0.015) as proxy:
            r, w = await asyncio.open_connection(*proxy.address)
            rtts = []
            for _ in range(10):
                t0 = time.monotonic()
                w.write(b"ping")
                await r.readexactly(4)
                rtts.append(time.monotonic() - t0)
            w.close()
        srv.close()
        return rtts

    rtts = asyncio.run(main())
    assert min(rtts) >= 0.025
    assert max(rtts) < 0.025 + SLACK


# -- changing the delay while running -------------------------------------------------


def test_set_delay_during_stream_keeps_order_increase_and_decrease():
    async def main() -> None:
        stamped = _Stamped()
        port = await stamped.start()
        async with DelayProxy("127.0.0.1", port, delay=0.0) as proxy:
            _, w = await asyncio.open_connection(*proxy.address)
            schedule = {50: 0.060, 120: 0.0, 200: 0.030, 260: 0.001, 330: 0.080, 360: 0.0}
            changed_at: dict[int, float] = {}
            for seq in range(400):
                if seq in schedule:
                    proxy.set_delay(schedule[seq])
                    changed_at[seq] = schedule[seq]
                # Several records per write, some split across writes.
                rec = struct.pack("!qd", seq, time.monotonic())
                if seq % 3 == 0:
                    w.write(rec[:5])
                    await w.drain()
                    w.write(rec[5:])
                else:
                    w.write(rec)
                if seq % 4 == 0:
                    await w.drain()
                    await asyncio.sleep(0.001)
            await w.drain()
            await asyncio.sleep(0.2)
            w.close()
        stamped.srv.close()
        seqs = [a[0] for a in stamped.arrivals]
        assert seqs == list(range(400)), "bytes reordered or lost across delay changes"
        # Arrival times never go backwards, and records sent after an increase to
        # 60 ms waited at least that long.
        arrivals = [a[2] for a in stamped.arrivals]
        assert arrivals == sorted(arrivals)
        # (records 117-119 may still sit unread when the delay drops at 120: a change
        # applies to bytes read after it).
        for seq, sent, arr in stamped.arrivals[50:117]:
            assert arr - sent >= 0.060, seq
        # After the decrease to 0 the first records still queue behind the 60 ms ones.
        first_after_drop = stamped.arrivals[120]
        last_before_drop = stamped.arrivals[119]
        assert first_after_drop[2] >= last_before_drop[2]

    asyncio.run(main())


def test_set_delay_semantics():
    p = DelayProxy("127.0.0.1", 1, delay=0.01)
    assert p.default_delays == Delays(0.01, 0.01)
    assert p.set_delay(up=0.05) == Delays(0.05, 0.01)
    assert p.set_delay(0.02) == Delays(0.02, 0.02)
    assert p.set_delay(0.02, down=0.0) == Delays(0.02, 0.0)
    p.set_delay(0.3, source="127.0.0.2")
    assert p.delays_for("127.0.0.2") == Delays(0.3, 0.3)
    assert p.delays_for("127.0.0.1") == Delays(0.02, 0.0)
    with pytest.raises(ValueError):
        p.set_delay(-1)
    q = DelayProxy("127.0.0.1", 1, delay=0.01, delay_down=0.5)
    assert (q.delay_up, q.delay_down) == (0.01, 0.5)


def test_per_source_delays():
    async def main() -> tuple[float, float]:
        srv, port = await _echo_server()
        proxy = DelayProxy("127.0.0.1", port, delay=0.0, source_delays={"127.0.0.2": (0.03, 0.0)})
        await proxy.start()

        async def rtt(local: str) -> float:
            r, w = await asyncio.open_connection(*proxy.address, local_addr=(local, 0))
            t0 = time.monotonic()
            w.write(b"x")
            await r.readexactly(1)
            dt = time.monotonic() - t0
            w.close()
            return dt

        a, b = await rtt("127.0.0.1"), await rtt("127.0.0.2")
        await proxy.stop()
        srv.close()
        return a, b

    fast, slow = asyncio.run(main())
    assert fast < 0.03
    assert 0.03 <= slow < 0.03 + SLACK


# -- close and reset ------------------------------------------------------------------


def test_half_close_and_close_propagate():
    async def main() -> None:
        got_eof = asyncio.Event()
        received = bytearray()

        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            while data := await r.read(1000):
                received.extend(data)
            got_eof.set()
            # Half-closed by the client: the server can still answer, then closes.
            w.write(b"bye after eof")
            await w.drain()
            w.close()

        srv = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        async with DelayProxy("127.0.0.1", port, delay=0.02) as proxy:
            r, w = await asyncio.open_connection(*proxy.address)
            w.write(b"last words")
            w.write_eof()
            await asyncio.wait_for(got_eof.wait(), 2)
            # EOF arrived after the queued bytes, not before them.
            assert bytes(received) == b"last words"
            assert await asyncio.wait_for(r.read(), 2) == b"bye after eof"  # then EOF
            w.close()
            for _ in range(100):
                if proxy.stats.connections_active == 0:
                    break
                await asyncio.sleep(0.01)
            assert proxy.stats.connections_active == 0
        srv.close()

    asyncio.run(main())


def test_reset_closes_both_sides():
    async def main() -> None:
        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await r.read(10)
            sock = w.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            w.transport.abort()  # RST

        srv = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        async with DelayProxy("127.0.0.1", port, delay=0.005) as proxy:
            r, w = await asyncio.open_connection(*proxy.address)
            w.write(b"hi")
            await w.drain()
            with pytest.raises(ConnectionResetError):
                # The RST is propagated: a read fails (or at the latest a write does).
                for _ in range(50):
                    data = await asyncio.wait_for(r.read(100), 2)
                    if not data:
                        raise AssertionError("got EOF instead of a reset")
            assert proxy.stats.resets == 1
        srv.close()

    asyncio.run(main())


def test_unreachable_target_closes_client_and_stop_closes_connections():
    async def main() -> None:
        free = socket.socket()
        free.bind(("127.0.0.1", 0))
        dead_port = free.getsockname()[1]
        free.close()
        async with DelayProxy("127.0.0.1", dead_port) as proxy:
            r, _ = await asyncio.open_connection(*proxy.address)
            with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)):
                await asyncio.wait_for(r.readexactly(1), 2)
            assert proxy.stats.connections_failed == 1

        srv, port = await _echo_server()
        proxy = DelayProxy("127.0.0.1", port)
        await proxy.start()
        r, w = await asyncio.open_connection(*proxy.address)
        w.write(b"a")
        assert await r.readexactly(1) == b"a"
        await proxy.stop()
        with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)):
            await asyncio.wait_for(r.readexactly(1), 2)
        srv.close()

    asyncio.run(main())


# -- cuts (link_down / partition) -----------------------------------------------------


async def _reset_or_eof(r: asyncio.StreamReader) -> None:
    """Wait until the connection ends (reset or EOF); fail if bytes arrive instead."""
    with contextlib.suppress(ConnectionResetError, asyncio.IncompleteReadError):
        data = await asyncio.wait_for(r.read(100), 2)
        assert not data, data


def test_cut_reset_aborts_connections_and_refuses_new_until_healed():
    """A reset cut ends every connection and each new one; after heal they work again."""

    async def main() -> None:
        srv, port = await _echo_server()
        async with DelayProxy("127.0.0.1", port) as proxy:
            r, w = await asyncio.open_connection(*proxy.address)
            w.write(b"a")
            assert await r.readexactly(1) == b"a"
            proxy.cut("reset")
            await _reset_or_eof(r)
            r2, _ = await asyncio.open_connection(*proxy.address)
            await _reset_or_eof(r2)
            assert proxy.stats.connections_failed == 1
            proxy.heal()
            r3, w3 = await asyncio.open_connection(*proxy.address)
            w3.write(b"b")
            assert await asyncio.wait_for(r3.readexactly(1), 2) == b"b"
            w3.close()
        srv.close()

    asyncio.run(main())


def test_cut_blackhole_holds_bytes_and_releases_them_in_order_on_heal():
    """Blackholed: nothing passes, the connection stays open; heal delivers all, in order.

    A connection opened during the cut never gets through: it is reset after
    ``dial_timeout``, as a dial into a blackhole times out.
    """

    async def main() -> None:
        srv, port = await _echo_server()
        async with DelayProxy("127.0.0.1", port, delay=0.002, dial_timeout=0.3) as proxy:
            r, w = await asyncio.open_connection(*proxy.address)
            proxy.cut("blackhole")
            for i in range(50):
                w.write(b"%03d" % i)
                await w.drain()
            r2, w2 = await asyncio.open_connection(*proxy.address)
            w2.write(b"x")
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(r.read(1), 0.2)
            assert proxy.stats.bytes_up == 0
            proxy.heal()
            got = await asyncio.wait_for(r.readexactly(150), 2)
            assert got == b"".join(b"%03d" % i for i in range(50))
            assert proxy.stats.resets == 0
            await _reset_or_eof(r2)
            assert proxy.stats.connections_failed == 1
            w.close()
            w2.close()
        srv.close()

    asyncio.run(main())


def test_gateway_source_rejects_other_clusters_before_their_connect_is_forwarded():
    """A gateway proxy forwards a CONNECT naming its source cluster, resets any other."""

    async def main() -> None:
        seen: list[bytes] = []

        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            w.write(b'INFO {"gateway":"east"}\r\n')
            with contextlib.suppress(ConnectionError):
                while data := await r.read(1000):
                    seen.append(data)
                    w.write(b"PONG\r\n")
            w.close()

        srv = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        async with DelayProxy("127.0.0.1", port, gateway_source="west") as proxy:
            for cluster, ok in (("eu", False), ("west", True)):
                r, w = await asyncio.open_connection(*proxy.address)
                assert (await r.readline()).startswith(b"INFO")
                w.write(b'CONNECT {"gateway":"%s","name":"X"}\r\nPING\r\n' % cluster.encode())
                if ok:
                    assert await asyncio.wait_for(r.readline(), 2) == b"PONG\r\n"
                else:
                    await _reset_or_eof(r)
                w.close()
            assert proxy.stats.rejected == 1
            assert all(b'"eu"' not in x for x in seen) and any(b'"west"' in x for x in seen)
        srv.close()

    asyncio.run(main())


def test_mesh_thread_cut_and_heal_one_pair():
    """ProxyMeshThread.cut resets one pair only; heal lets it connect again."""
    echo = _SyncEcho()
    try:
        with ProxyMeshThread(
            {"x": ("127.0.0.1", echo.port)}, {("A", "x"): 0.0, ("B", "x"): 0.0}
        ) as mesh:
            mesh.cut("A", "x", "reset")
            assert _sync_rtt(mesh.dial("B", "x"), 1)
            with (
                contextlib.suppress(ConnectionResetError),
                socket.create_connection(mesh.dial("A", "x"), timeout=5) as s,
            ):
                assert s.recv(10) == b""
            mesh.heal("A", "x")
            assert _sync_rtt(mesh.dial("A", "x"), 1)
            assert mesh.stats()[("A", "x")].connections_failed == 1
    finally:
        echo.close()


# -- loopback only --------------------------------------------------------------------


@pytest.mark.parametrize("host", ["192.0.2.1", "10.0.0.1", "8.8.8.8", "example.com", "::ffff:1"])
def test_non_loopback_target_refused(host):
    with pytest.raises(ValueError, match="non-loopback"):
        DelayProxy(host, 4222)


def test_loopback_accepted_and_allow_list():
    for host in ["127.0.0.1", "127.0.0.5", "::1", "localhost"]:
        check_target(host)
    with pytest.raises(ValueError, match="non-loopback"):
        DelayProxy("127.0.0.1", 4222, listen_host="0.0.0.0")
    DelayProxy("10.231.1.2", 4222, allow=["10.231.1.2"])  # a namespace the run made
    with pytest.raises(ValueError):
        ProxyMesh({"s1": ("192.0.2.9", 7222)}, {("A", "s1"): 0.01})


# -- thread-hosted forms --------------------------------------------------------------


class _SyncEcho(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        class H(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                while data := self.request.recv(65536):
                    self.request.sendall(data)

        super().__init__(("127.0.0.1", 0), H)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()


def _sync_rtt(addr: tuple[str, int], n: int = 5) -> list[float]:
    with socket.create_connection(addr, timeout=5) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        out = []
        for _ in range(n):
            t0 = time.monotonic()
            s.sendall(b"ping")
            buf = b""
            while len(buf) < 4:
                buf += s.recv(4 - len(buf))
            out.append(time.monotonic() - t0)
        return out


def test_proxy_thread_from_sync_code():
    echo = _SyncEcho()
    try:
        with ProxyThread("127.0.0.1", echo.port, delay=0.010) as pt:
            rtts = _sync_rtt(pt.address)
            assert min(rtts) >= 0.020
            assert max(rtts) < 0.020 + SLACK
            assert pt.set_delay(0.025) == Delays(0.025, 0.025)
            rtts = _sync_rtt(pt.address)
            assert min(rtts) >= 0.050
            assert pt.stats.connections_total == 2
        # Stopped: nothing listens any more.
        with pytest.raises(OSError):
            socket.create_connection(pt.address, timeout=1).close()
    finally:
        echo.close()


def test_proxy_mesh_per_source_cluster():
    e1, e2 = _SyncEcho(), _SyncEcho()
    targets = {"s1": ("127.0.0.1", e1.port), "s2": ("127.0.0.1", e2.port)}
    delays = {("A", "s2"): 0.030, ("B", "s1"): (0.005, 0.005), ("C", "s1"): 0.0}
    try:
        with ProxyMeshThread(targets, delays) as mesh:
            routes = mesh.routes
            assert set(routes) == {"A", "B", "C"}
            assert routes["A"]["s2"] != routes["B"]["s1"] != routes["C"]["s1"]
            assert mesh.dial("A", "s1") == targets["s1"]  # no delay given: direct
            assert min(_sync_rtt(routes["A"]["s2"], 3)) >= 0.060
            b = _sync_rtt(routes["B"]["s1"], 3)
            assert 0.010 <= min(b) < 0.060
            mesh.set_delay("B", "s1", 0.030)
            assert min(_sync_rtt(routes["B"]["s1"], 3)) >= 0.060
            assert mesh.stats()[("A", "s2")].connections_total == 1
    finally:
        e1.close()
        e2.close()


def test_proxy_mesh_async():
    async def main() -> None:
        srv, port = await _echo_server()
        mesh = ProxyMesh({"s1": ("127.0.0.1", port)}, {("A", "s1"): 0.01, ("B", "s1"): 0.0})
        routes = await mesh.start()
        try:
            r, w = await asyncio.open_connection(*routes["A"]["s1"])
            t0 = time.monotonic()
            w.write(b"x")
            await r.readexactly(1)
            assert time.monotonic() - t0 >= 0.02
            w.close()
        finally:
            await mesh.stop()
            srv.close()

    asyncio.run(main())


# -- network namespaces ---------------------------------------------------------------


def _netns_list() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return [line.split()[0] for line in out.stdout.splitlines() if line.strip()]


def test_netns_availability_detection(monkeypatch):
    reason = netns.netns_unavailable_reason()
    assert netns.netns_available() == (reason is None)
    if reason is None:
        netns.require_netns()
    else:
        with pytest.raises(netns.NetnsUnavailable):
            netns.require_netns()
    # The clear error paths, whatever this machine is.
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    assert not netns.netns_available()
    with pytest.raises(netns.NetnsUnavailable, match="root"):
        netns.require_netns()
    with pytest.raises(netns.NetnsUnavailable, match="root"):
        netns.create_namespace("A", 1)
    monkeypatch.setattr(netns.os, "geteuid", lambda: 0)
    monkeypatch.setattr(netns.shutil, "which", lambda _: None)
    with pytest.raises(netns.NetnsUnavailable, match="iproute2"):
        netns.require_netns()
    monkeypatch.setattr(netns.sys, "platform", "darwin")
    with pytest.raises(netns.NetnsUnavailable, match="Linux"):
        netns.require_netns()


def test_netns_subnets():
    assert netns._subnet("10.231.0.0/16", 3) == ("10.231.3.1", "10.231.3.2")
    assert netns._subnet("169.254.0.0/16", 1) == ("169.254.1.1", "169.254.1.2")
    with pytest.raises(ValueError):
        netns._subnet("8.8.0.0/16", 1)
    with pytest.raises(ValueError):
        netns._subnet("10.231.0.0/24", 5)


def test_netns_create_connect_delete():
    """As root with iproute2: one namespace + veth pair, TCP across it, then gone."""
    if not netns.netns_available():
        with pytest.raises(netns.NetnsUnavailable):
            netns.create_namespace("A", 1)
        return
    prefix = f"nt{random.randrange(16**4):04x}"
    ns = None
    listener = socket.socket()
    try:
        ns = netns.create_namespace("A", 1, prefix=prefix)
        assert ns.netns in _netns_list()
        # A proxy in the root namespace, listening on the host side of the veth pair
        # and classifying by source address, reached from inside the namespace.
        listener.bind((ns.host_addr, 0))
        listener.listen()
        port = listener.getsockname()[1]
        code = (
            "import socket,sys;s=socket.create_connection((sys.argv[1],int(sys.argv[2])),5);"
            "s.sendall(b'hello');print(s.getsockname()[0])"
        )
        proc = subprocess.run(
            ns.exec_argv([sys.executable, "-c", code, ns.host_addr, str(port)]),
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == ns.ns_addr  # its own source address
        listener.settimeout(5)
        conn, peer = listener.accept()
        assert peer[0] == ns.ns_addr
        assert conn.recv(5) == b"hello"
        conn.close()
    finally:
        listener.close()
        if ns is not None:
            assert netns.delete_namespace(ns)
    assert ns.netns not in _netns_list()


def test_netns_context_manager_cleans_up_on_failure():
    if not netns.netns_available():
        with pytest.raises(netns.NetnsUnavailable), netns.cluster_namespaces(["A"]):
            pass
        return
    prefix = f"nt{random.randrange(16**4):04x}"
    seen: dict[str, netns.ClusterNamespace] = {}
    with (
        pytest.raises(RuntimeError, match="boom"),
        netns.cluster_namespaces(["A", "B"], prefix=prefix) as made,
    ):
        seen.update(made)
        assert made["A"].ns_addr != made["B"].ns_addr
        raise RuntimeError("boom")
    listed = _netns_list()
    for ns in seen.values():
        assert ns.netns not in listed
