"""The scenario schema: frozen pydantic models, data only.

A scenario file is parsed once into these specs (see :mod:`sim.scenario.load`);
the model is built from them and never sees a raw dict.  Units are strings in
the file (``250ms``, ``1.5KiB``, ``100/s``) and canonical floats here: seconds,
bytes, events per second.  Every model forbids unknown keys, so a typo is an
error that names the key instead of a silently ignored setting.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sim.units import parse_duration, parse_rate, parse_size, parse_speed

__all__ = [
    "CHAOS_KINDS",
    "CLIENT_PROFILES",
    "CLIENT_ROLES",
    "DEFAULT_DUPLICATE_WINDOW",
    "DEFAULT_JS_ACK_TIMEOUT",
    "DEFAULT_JS_RETRY_WAIT",
    "DEFAULT_REQUEST_TIMEOUT",
    "FAULT_ACTIONS",
    "GLOBAL_ACCOUNT",
    "AccountSpec",
    "ChaosKind",
    "ChaosSpec",
    "ClientOptions",
    "ClientProfile",
    "ClientTarget",
    "ClusterSpec",
    "ConsumerSpec",
    "DistSpec",
    "ExportSpec",
    "FaultSpec",
    "GatewaySpec",
    "ImportSource",
    "ImportSpec",
    "JetStreamWorkload",
    "JsConsumers",
    "JsPublishers",
    "LatencyChange",
    "LatencySpec",
    "LatencyTracking",
    "LinkSpec",
    "MonitorSpec",
    "Names",
    "PermissionsSpec",
    "Placement",
    "PubSubWorkload",
    "Publishers",
    "RegionSpec",
    "RequestReplyWorkload",
    "Requesters",
    "ResponderTarget",
    "Responders",
    "ResponsePermission",
    "Scenario",
    "ServerOptions",
    "StreamSpec",
    "SubjectPermission",
    "Subscribers",
    "Topology",
    "TracePlacement",
    "TraceWorkload",
    "UserSpec",
    "Workload",
    "client_profile",
]

#: nats.py ``Client.request`` default timeout (nats/aio/client.py, ``timeout: float = 0.5``).
DEFAULT_REQUEST_TIMEOUT = 0.5

Duration = Annotated[float, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]
Rate = Annotated[float, BeforeValidator(parse_rate)]
Speed = Annotated[float, BeforeValidator(parse_speed)]

MiB = 1024 * 1024


def _to_names(value: Any) -> Any:
    """Let a single name stand for a list of one."""
    return [value] if isinstance(value, str) else value


#: One or more server, cluster or region names: ``east-1`` or ``[east, eu-west]``,
#: normalised to a tuple.  :func:`sim.scenario.checks.resolve_names` turns them
#: into server names.
Names = Annotated[tuple[str, ...], BeforeValidator(_to_names), Field(min_length=1)]


class Frozen(BaseModel):
    """Base of every spec: immutable, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class DistSpec(Frozen):
    """A distribution of durations, for link latency or service time.

    Written either as a plain duration (``0.3ms``, a constant) or as a mapping
    with ``dist`` and its parameters, every parameter a duration except
    ``sigma`` and ``alpha``::

        {dist: lognormal, median: 2ms, sigma: 0.3}
        {dist: empirical, values: [1ms, 1ms, 4ms]}
    """

    dist: Literal[
        "constant", "uniform", "normal", "lognormal", "exponential", "pareto", "empirical"
    ]
    value: Duration | None = None
    low: Duration | None = None
    high: Duration | None = None
    mean: Duration | None = None
    sd: Duration | None = None
    median: Duration | None = None
    sigma: float | None = Field(default=None, ge=0)
    scale: Duration | None = None
    alpha: float | None = Field(default=None, gt=0)
    values: tuple[Duration, ...] = ()

    _required = {
        "constant": ("value",),
        "uniform": ("low", "high"),
        "normal": ("mean", "sd"),
        "lognormal": ("sigma",),
        "exponential": ("mean",),
        "pareto": ("scale", "alpha"),
        "empirical": ("values",),
    }

    @model_validator(mode="before")
    @classmethod
    def _from_duration(cls, data: Any) -> Any:
        if isinstance(data, str | int | float) and not isinstance(data, bool):
            return {"dist": "constant", "value": data}
        return data

    @model_validator(mode="after")
    def _check_params(self) -> DistSpec:
        allowed = set(self._required[self.dist])
        if self.dist == "lognormal":
            if (self.median is None) == (self.mean is None):
                raise ValueError("lognormal needs exactly one of 'median' or 'mean', and 'sigma'")
            allowed |= {"median", "mean"}
        given = {k for k in self.model_fields_set if k != "dist"}
        missing = [k for k in self._required[self.dist] if getattr(self, k) in (None, ())]
        if missing:
            raise ValueError(f"{self.dist} distribution needs {', '.join(missing)}")
        extra = sorted(given - allowed)
        if extra:
            raise ValueError(f"{self.dist} distribution takes no {', '.join(extra)}")
        if self.dist == "uniform" and (self.high or 0.0) < (self.low or 0.0):
            raise ValueError("uniform distribution needs low <= high")
        return self

    def params(self) -> dict[str, Any]:
        """Return the parameters that were given, by name (``dist`` excluded)."""
        return {k: getattr(self, k) for k in self.model_fields_set if k != "dist"}


LatencySpec = DistSpec


class LinkSpec(Frozen):
    """A latency override for the route between two named servers (both directions)."""

    between: tuple[str, str]
    latency: DistSpec


class ClusterSpec(Frozen):
    """One cluster: its servers (a count, named ``<cluster>-1``…, or a list of names)."""

    servers: int | list[str] = Field(default=3)
    region: str | None = None
    processing: Duration | None = None
    #: The seed routes every server of the cluster is configured with (names of
    #: servers of this cluster); gossip completes the mesh (digest §3, "Gossip
    #: and auto-discovery").  ``None``: every other server of the cluster, an
    #: explicit full mesh.
    routes: list[str] | None = None

    @model_validator(mode="after")
    def _check_servers(self) -> ClusterSpec:
        if isinstance(self.servers, int) and self.servers < 1:
            raise ValueError("a cluster needs at least one server")
        if isinstance(self.servers, list):
            if not self.servers:
                raise ValueError("a cluster needs at least one server")
            if len(set(self.servers)) != len(self.servers):
                raise ValueError("server names in a cluster must be unique")
        return self

    def server_names(self, cluster: str) -> list[str]:
        """Return the server names of this cluster, generated when only a count is given."""
        if isinstance(self.servers, int):
            return [f"{cluster}-{i}" for i in range(1, self.servers + 1)]
        return list(self.servers)


class RegionSpec(Frozen):
    """A region's location, from which inter-region latency is derived."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class LatencyModel(Frozen):
    """Latencies: routes inside a cluster, client connections, and between regions.

    Every figure is a ONE-WAY delay drawn per message on each connection,
    except a ``regions`` matrix given with ``matrix: rtt``, whose entries are
    round trips (halved to get the one-way base).

    Between two clusters, the one-way gateway latency is a base plus a
    ``jitter`` draw.  The base comes from the ``regions`` matrix when one is
    given, else from the regions' coordinates: great-circle distance at the
    ``fibre`` speed (light in fibre, ~200 km/ms) plus ``overhead``
    (switching, last mile, non-straight paths).  Two clusters in one region
    are ``overhead`` apart.
    """

    intra_cluster: DistSpec = DistSpec(dist="constant", value="300us")
    client: DistSpec = DistSpec(dist="constant", value="100us")
    fibre: Speed = 200_000.0
    overhead: Duration = 1e-3
    jitter: DistSpec | None = None
    regions: dict[str, dict[str, Duration]] | None = None
    matrix: Literal["one_way", "rtt"] = "one_way"


class GatewaySpec(Frozen):
    """How the clusters of a supercluster are joined (nats-server server/gateway.go).

    ``mode: interest_only`` is what every nats-server since 2.9.0 does for
    every account; ``optimistic`` models older servers: send everything, learn
    "no interest" (RS-) replies, and switch an account to interest-only after
    ``interest_only_threshold`` of them.
    """

    mode: Literal["interest_only", "optimistic"] = "interest_only"
    #: defaultGatewayMaxRUnsubBeforeSwitch (server/gateway.go)
    interest_only_threshold: int = Field(default=1000, ge=1)
    #: defaultGatewayRecentSubExpiration (server/gateway.go): replies to
    #: subscriptions younger than this are rewritten with the _GR_. prefix
    reply_mapping_window: Duration = 2.0
    #: Gateway PING period, for RTT measurement and stale detection alike.
    #: None: min(topology.server.ping_interval, gateway_ping_max) — 2 min and
    #: gwMaxPingInterval 15 s by default (server/gateway.go).
    ping_interval: Duration | None = Field(default=None, gt=0)
    #: firstPingInterval (server/server.go), +0-20 % jitter (setFirstPingTimer)
    first_ping: Duration = 1.0


class ServerOptions(Frozen):
    """nats-server options that matter to failures (defaults: server/const.go, digest §2/§3/§13).

    Every server of the scenario uses them.
    """

    #: DEFAULT_PING_INTERVAL (2 min): client connections are pinged this often.
    ping_interval: Duration = Field(default=120.0, gt=0)
    #: DEFAULT_PING_MAX_OUT: a connection is closed as stale when one more
    #: unanswered ping would exceed this (a dead peer is found after ~3 intervals).
    max_pings_out: int = Field(default=2, ge=1)
    #: defaultRouteMaxPingInterval: routes ping at min(ping_interval, this).
    route_ping_max: Duration = Field(default=30.0, gt=0)
    #: gwMaxPingInterval: gateways ping at min(ping_interval, this).
    gateway_ping_max: Duration = Field(default=15.0, gt=0)
    #: MAX_PENDING_SIZE (64 MiB): a client whose pending outbound bytes exceed
    #: this is closed as a slow consumer (clients only, not routes or gateways).
    max_pending: Size = Field(default=64 * MiB, gt=0)
    #: DEFAULT_FLUSH_DEADLINE: a write blocked this long is a slow consumer
    #: (client closed; routes and gateways kept and retried).
    write_deadline: Duration = Field(default=10.0, gt=0)
    #: DEFAULT_LAME_DUCK_DURATION: lame duck mode closes clients over this time
    #: (0: all at once after the grace period).
    lame_duck_duration: Duration = Field(default=120.0, ge=0)
    #: DEFAULT_LAME_DUCK_GRACE_PERIOD: wait before lame duck mode starts closing clients.
    lame_duck_grace: Duration = Field(default=10.0, ge=0)
    #: DEFAULT_ROUTE_RECONNECT: delay (+0-100 ms) before redialling a lost explicit route.
    route_reconnect: Duration = Field(default=1.0, ge=0)
    #: DEFAULT_ROUTE_CONNECT / gatewayConnectDelay: wait between failed dials.
    connect_retry: Duration = Field(default=1.0, gt=0)
    #: DEFAULT_ROUTE_DIAL: a dial to a dead or unreachable server fails after this.
    dial_timeout: Duration = Field(default=1.0, gt=0)
    #: Bytes a stalled reader's socket absorbs before the server's write blocks
    #: (Linux net.ipv4.tcp_wmem max, 4 MiB); 0: none.
    tcp_buffer: Size = Field(default=4 * MiB, ge=0)


class Topology(Frozen):
    """Servers grouped into clusters, with latency defaults and per-link overrides."""

    clusters: dict[str, ClusterSpec] = Field(min_length=1)
    regions: dict[str, RegionSpec] = Field(default_factory=dict)
    latency: LatencyModel = LatencyModel()
    gateways: GatewaySpec = GatewaySpec()
    #: Server time to process one message (parse, match, enqueue); the server is a
    #: single FIFO queue, so bursts wait.  2 µs is the order of a nats-server core
    #: on a small message; set it from your own /varz figures.
    processing: Duration = 2e-6
    links: list[LinkSpec] = Field(default_factory=list)
    server: ServerOptions = ServerOptions()

    def server_cluster(self) -> dict[str, str]:
        """Return server name → cluster name, in declaration order."""
        out: dict[str, str] = {}
        for cname, cluster in self.clusters.items():
            for sname in cluster.server_names(cname):
                out[sname] = cname
        return out


@dataclass(frozen=True)
class ClientProfile:
    """A client library's connection options, fully resolved (seconds, bytes, counts)."""

    #: Sleep after a failed pass over the server pool.
    reconnect_wait: float
    #: Up to this much is added to ``reconnect_wait`` at random.
    reconnect_jitter: float
    #: Attempts per server before it leaves the pool; -1: forever.
    max_reconnect: int
    #: Bytes of publishes buffered while disconnected (sent after reconnect).
    reconnect_buffer: int
    #: A connect attempt to a server that does not answer fails after this.
    connect_timeout: float
    #: The client pings its server this often.
    ping_interval: float
    #: Unanswered pings before the client declares the connection stale.
    max_pings_out: int
    #: Per-subscription pending message limit (client-side slow consumer).
    pending_msgs: int
    #: Per-subscription pending byte limit (client-side slow consumer).
    pending_bytes: int
    #: Reconnect at all after losing the connection.
    allow_reconnect: bool
    #: Shuffle the server pool.
    randomize: bool
    #: Client-side time a (re)connect costs beyond the network round trips (the
    #: library's and application's work: 0 models a client that keeps up).
    connect_overhead: float = 0.0
    #: How the pool is walked when reconnecting: "nats.go" (doReconnect) or
    #: "nats.py" (_attempt_reconnect / _select_next_server).
    pool_walk: str = "nats.go"


#: Library defaults (digest §2 and §8).
CLIENT_PROFILES: dict[str, ClientProfile] = {
    # nats.go: DefaultReconnectWait, DefaultReconnectJitter, DefaultMaxReconnect,
    # DefaultReconnectBufSize, DefaultTimeout, DefaultPingInterval, DefaultMaxPingOut,
    # DefaultSubPendingMsgsLimit, DefaultSubPendingBytesLimit; NoRandomize=false.
    "nats.go": ClientProfile(
        reconnect_wait=2.0,
        reconnect_jitter=0.1,
        max_reconnect=60,
        reconnect_buffer=8 * MiB,
        connect_timeout=2.0,
        ping_interval=120.0,
        max_pings_out=2,
        pending_msgs=500_000,
        pending_bytes=64 * MiB,
        allow_reconnect=True,
        randomize=True,
        connect_overhead=0.0,
        pool_walk="nats.go",
    ),
    # nats.py aio/client.py: DEFAULT_RECONNECT_TIME_WAIT, (no jitter),
    # DEFAULT_MAX_RECONNECT_ATTEMPTS, DEFAULT_PENDING_SIZE, DEFAULT_CONNECT_TIMEOUT,
    # DEFAULT_PING_INTERVAL, DEFAULT_MAX_OUTSTANDING_PINGS; subscription.py
    # DEFAULT_SUB_PENDING_MSGS_LIMIT, DEFAULT_SUB_PENDING_BYTES_LIMIT; dont_randomize=False.
    "nats.py": ClientProfile(
        reconnect_wait=2.0,
        reconnect_jitter=0.0,
        max_reconnect=60,
        reconnect_buffer=2 * MiB,
        connect_timeout=2.0,
        ping_interval=120.0,
        max_pings_out=2,
        pending_msgs=512 * 1024,
        pending_bytes=128 * MiB,
        allow_reconnect=True,
        randomize=True,
        connect_overhead=0.0,
        pool_walk="nats.py",
    ),
}


class ClientOptions(Frozen):
    """Client library options: a ``profile`` and any field of it overridden.

    Unset fields come from a base (the scenario's ``clients`` for a group's
    ``client``), then from the profile (``nats.go`` unless one is named).
    """

    profile: Literal["nats.go", "nats.py"] | None = None
    reconnect_wait: Duration | None = Field(default=None, ge=0)
    reconnect_jitter: Duration | None = Field(default=None, ge=0)
    #: -1: reconnect forever.
    max_reconnect: int | None = Field(default=None, ge=-1)
    #: 0: publishes while disconnected fail (nothing buffered).
    reconnect_buffer: Size | None = Field(default=None, ge=0)
    connect_timeout: Duration | None = Field(default=None, gt=0)
    ping_interval: Duration | None = Field(default=None, gt=0)
    max_pings_out: int | None = Field(default=None, ge=1)
    pending_msgs: int | None = Field(default=None, ge=1)
    pending_bytes: Size | None = Field(default=None, ge=1)
    allow_reconnect: bool | None = None
    randomize: bool | None = None
    #: e.g. ``3ms``: nats-py took 1-5 ms per reconnect on loopback (docs/conformance.md).
    connect_overhead: Duration | None = Field(default=None, ge=0)
    pool_walk: Literal["nats.go", "nats.py"] | None = None

    def resolve(self, base: ClientOptions | None = None) -> ClientProfile:
        """Return the options in force: each field from self, else ``base``, else the profile."""
        profile = self.profile or (base.profile if base is not None else None) or "nats.go"
        defaults = CLIENT_PROFILES[profile]
        values: dict[str, Any] = {}
        for f in fields(ClientProfile):
            value = getattr(self, f.name)
            if value is None and base is not None:
                value = getattr(base, f.name)
            values[f.name] = value if value is not None else getattr(defaults, f.name)
        return ClientProfile(**values)


# ------------------------------------------------------------------ accounts

#: nats-server's account for users given none (``DEFAULT_GLOBAL_ACCOUNT``, server/const.go).
GLOBAL_ACCOUNT = "$G"


def _percent(value: Any) -> Any:
    """Accept ``50%`` as well as ``50`` for a sampling percentage."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return float(value.strip()[:-1])
        except ValueError:
            raise ValueError(f"{value!r} is not a percentage (use e.g. 50%)") from None
    return value


class LatencyTracking(Frozen):
    """Service latency tracking on a service export (nats-server ``parseServiceLatency``).

    Written ``{sampling: 50%, subject: latency.weather}`` or just the results
    subject (sampling then 100 %, ``DEFAULT_SERVICE_LATENCY_SAMPLING``).  The
    "headers" sampling mode needs tracing headers, which simulated requests
    do not carry, so only 1-100 % is accepted.
    """

    sampling: Annotated[float, BeforeValidator(_percent)] = Field(default=100.0, ge=1, le=100)
    subject: str = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _from_subject(cls, data: Any) -> Any:
        return {"subject": data} if isinstance(data, str) else data


class ExportSpec(Frozen):
    """A stream or service an account offers to others (``exports`` in the account config).

    ``accounts`` limits who may import it (nats-server's ``accounts`` list on an
    export); without it the export is public.  ``latency`` (services only)
    turns on service latency tracking.
    """

    stream: str | None = None
    service: str | None = None
    accounts: list[str] | None = None
    latency: LatencyTracking | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ExportSpec:
        if (self.stream is None) == (self.service is None):
            raise ValueError("give exactly one of 'stream' or 'service'")
        if self.latency is not None and self.service is None:
            raise ValueError("'latency' applies to service exports only")
        return self

    @property
    def subject(self) -> str:
        """The exported subject (stream or service)."""
        return self.stream if self.stream is not None else self.service  # type: ignore[return-value]


class ImportSource(Frozen):
    """The account and subject an import takes (``{account: WEATHER, subject: weather.>}``)."""

    account: str = Field(min_length=1)
    subject: str = Field(min_length=1)


class ImportSpec(Frozen):
    """A stream or service imported from another account.

    ``to`` is the subject in the importing account: for a stream, where the
    exporter's messages are delivered (``prefix: p`` is ``to: p.<subject>``);
    for a service, what requesters publish on.  It must have the same
    wildcards as the imported subject.  Without it the subject is unchanged.
    """

    stream: ImportSource | None = None
    service: ImportSource | None = None
    to: str | None = None
    prefix: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ImportSpec:
        if (self.stream is None) == (self.service is None):
            raise ValueError("give exactly one of 'stream' or 'service'")
        if self.prefix is not None and (self.service is not None or self.to is not None):
            raise ValueError("'prefix' applies to stream imports without 'to'")
        return self

    @property
    def source(self) -> ImportSource:
        """What is imported (stream or service)."""
        return self.stream if self.stream is not None else self.service  # type: ignore[return-value]

    @property
    def local(self) -> str:
        """The subject in the importing account."""
        if self.to is not None:
            return self.to
        if self.prefix is not None:
            return f"{self.prefix}.{self.source.subject}"
        return self.source.subject


class AccountSpec(Frozen):
    """One account: a separate subject space with what it exports and imports."""

    exports: list[ExportSpec] = Field(default_factory=list)
    imports: list[ImportSpec] = Field(default_factory=list)


def _allow_list(value: Any) -> Any:
    """``publish: foo`` and ``publish: [a, b]`` are allow lists."""
    if isinstance(value, str):
        return {"allow": [value]}
    if isinstance(value, list):
        return {"allow": value}
    return value


class SubjectPermission(Frozen):
    """Allow and deny lists of subjects (wildcards allowed); deny wins.

    Subscribe entries may be ``"subject queue"`` to name queue groups.
    ``allow`` absent: everything not denied is allowed.
    """

    allow: list[str] | None = None
    deny: list[str] = Field(default_factory=list)


class ResponsePermission(Frozen):
    """``allow_responses``: replies to requests received are allowed (server/auth.go).

    Defaults ``DEFAULT_ALLOW_RESPONSE_MAX_MSGS`` = 1 and
    ``DEFAULT_ALLOW_RESPONSE_EXPIRATION`` = 2 min (server/const.go).
    """

    max: int = Field(default=1, ge=1)
    expires: Duration = Field(default=120.0, gt=0)


class PermissionsSpec(Frozen):
    """A user's publish and subscribe permissions (nats-server ``permissions``)."""

    publish: Annotated[SubjectPermission, BeforeValidator(_allow_list)] | None = None
    subscribe: Annotated[SubjectPermission, BeforeValidator(_allow_list)] | None = None
    allow_responses: bool | ResponsePermission = False

    @property
    def responses(self) -> ResponsePermission | None:
        """The response permission in force, or None."""
        if isinstance(self.allow_responses, ResponsePermission):
            return self.allow_responses
        return ResponsePermission() if self.allow_responses else None


class UserSpec(Frozen):
    """A user clients connect as: its account and permissions."""

    name: str = Field(min_length=1)
    account: str = GLOBAL_ACCOUNT
    permissions: PermissionsSpec | None = None


class Placement(Frozen):
    """Where a group of clients connects: how many, and on which servers.

    ``count`` clients spread over the candidate servers (``round_robin`` or
    seeded ``random``), or ``per_server`` clients on each candidate.  The
    candidates are ``servers`` if given, else the servers of ``cluster``, else
    every server.
    """

    count: int | None = Field(default=None, ge=0)
    per_server: int | None = Field(default=None, ge=0)
    servers: list[str] | None = None
    cluster: str | None = None
    placement: Literal["round_robin", "random"] = "round_robin"
    latency: DistSpec | None = None
    #: Client library options of this group, over the scenario's ``clients``.
    client: ClientOptions | None = None
    #: More servers the clients are configured with (server, cluster or region
    #: names): where they reconnect when no server of their cluster answers.
    #: Without it they know their cluster only (INFO ``connect_urls``).
    failover: list[str] | None = None
    #: The user the clients connect as (``users:``): its account and permissions.
    user: str | None = None
    #: The account the clients belong to, when no ``user`` is given (``$G`` if neither).
    account: str | None = None

    @model_validator(mode="after")
    def _one_count(self) -> Placement:
        if (self.count is None) == (self.per_server is None):
            raise ValueError("give exactly one of 'count' or 'per_server'")
        if self.user is not None and self.account is not None:
            raise ValueError("give 'user' or 'account', not both (a user names its account)")
        if self.servers is not None and self.cluster is not None:
            raise ValueError("give 'servers' or 'cluster', not both")
        return self


class Publishers(Placement):
    """Clients that publish at a rate, each message to one subject of the template."""

    rate: Rate
    arrival: Literal["poisson", "constant"] = "poisson"
    size: Size = 128
    subject: str | None = None
    start: Duration = 0.0
    stop: Duration | None = None


class Subscribers(Placement):
    """Clients that subscribe; the k-th takes the k-th subject of the template (cyclically)."""

    subject: str | None = None
    queue: str | None = None
    start: Duration = 0.0
    stop: Duration | None = None
    #: Messages per second the subscribing application handles (``None``:
    #: instantly); a slower reader builds a backlog (slow consumer).
    read_rate: Rate | None = Field(default=None, gt=0)


class Responders(Placement):
    """Clients that answer requests, one at a time, after a service time."""

    subject: str | None = None
    queue: str | None = None
    service_time: DistSpec = DistSpec(dist="constant", value="1ms")
    size: Size = 128
    start: Duration = 0.0
    stop: Duration | None = None


class Requesters(Placement):
    """Clients that send requests and wait for the first reply (or gather replies)."""

    rate: Rate
    arrival: Literal["poisson", "constant"] = "poisson"
    size: Size = 128
    subject: str | None = None
    timeout: Duration = DEFAULT_REQUEST_TIMEOUT
    #: Scatter-gather: keep collecting replies for this window after the request
    #: instead of taking the first one (Choria-style discovery).
    gather: Duration | None = None
    start: Duration = 0.0
    stop: Duration | None = None


def _one_or_many(data: Any, key: str) -> Any:
    """Let ``key`` be one client group (a mapping) as well as a list of them."""
    if isinstance(data, dict) and isinstance(data.get(key), dict):
        return {**data, key: [data[key]]}
    return data


class PubSubWorkload(Frozen):
    """Publishers fanning out to subscribers (plain or queue groups)."""

    kind: Literal["pubsub"]
    name: str = Field(min_length=1)
    subject: str
    #: None: subscribers only, receiving what others publish (e.g. latency samples).
    publishers: Publishers | None = None
    subscribers: list[Subscribers] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _single_to_list(cls, data: Any) -> Any:
        return _one_or_many(data, "subscribers")


class RequestReplyWorkload(Frozen):
    """Requesters calling a service answered by responders."""

    kind: Literal["request_reply"]
    name: str = Field(min_length=1)
    subject: str
    requesters: Requesters
    responders: list[Responders] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _single_to_list(cls, data: Any) -> Any:
        return _one_or_many(data, "responders")


class TracePlacement(Frozen):
    """Where the clients of a trace connect when ``clients:`` does not name them.

    The candidates are ``servers`` if given, else the servers of ``cluster``,
    else every server; clients are spread over them ``round_robin`` in order of
    first appearance in the trace, or at ``random`` (seeded).
    """

    servers: list[str] | None = None
    cluster: str | None = None
    placement: Literal["round_robin", "random"] = "round_robin"
    latency: DistSpec | None = None
    client: ClientOptions | None = None
    failover: list[str] | None = None

    @model_validator(mode="after")
    def _one_target(self) -> TracePlacement:
        if self.servers is not None and self.cluster is not None:
            raise ValueError("give 'servers' or 'cluster', not both")
        return self


class TraceWorkload(Frozen):
    """Recorded traffic replayed from a trace file (CSV or JSON Lines, docs/traces.md).

    Each row is published by its trace client at ``time_offset + time / speed``;
    requests wait for a reply as a requester does.  ``subscribers`` and
    ``responders`` receive the replayed traffic (their ``subject`` defaults to
    the workload's ``subject``).  ``file`` is relative to the scenario file's
    folder (resolved when the scenario is loaded from a file; relative to the
    working directory for a scenario given as a mapping).
    """

    kind: Literal["trace"]
    name: str = Field(min_length=1)
    file: str = Field(min_length=1)
    format: Literal["auto", "csv", "jsonl"] = "auto"
    #: Added to every trace time.
    time_offset: Duration = Field(default=0.0, ge=0)
    #: Replay speed: 2 plays the trace twice as fast (times divided by 2).
    speed: float = Field(default=1.0, gt=0)
    #: Timeout of the trace's requests that give none.
    timeout: Duration = Field(default=DEFAULT_REQUEST_TIMEOUT, gt=0)
    #: Trace client → server, cluster or region name(s) it connects to.
    clients: dict[str, Names] = Field(default_factory=dict)
    #: Where the other trace clients connect.
    placement: TracePlacement = TracePlacement()
    #: Default subject of the subscriber and responder groups.
    subject: str | None = None
    subscribers: list[Subscribers] = Field(default_factory=list)
    responders: list[Responders] = Field(default_factory=list)
    #: The folder ``file`` is relative to, set when loaded from a scenario file.
    _base_dir: str | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _single_to_list(cls, data: Any) -> Any:
        return _one_or_many(_one_or_many(data, "subscribers"), "responders")

    def trace_path(self) -> str:
        """Return the trace file's path: ``file`` under the scenario's folder if relative."""
        if os.path.isabs(self.file) or self._base_dir is None:
            return self.file
        return os.path.join(self._base_dir, self.file)


# ----------------------------------------------------------------- JetStream
#: nats.go ``defaultAPITimeout`` (jetstream/jetstream.go, js.go): how long
#: ``js.Publish`` waits for its PubAck.
DEFAULT_JS_ACK_TIMEOUT = 5.0
#: nats-server ``StreamDefaultDuplicatesWindow`` (server/stream.go).
DEFAULT_DUPLICATE_WINDOW = 120.0
#: nats.go ``DefaultPubRetryWait`` (jetstream/publish.go): the wait before a
#: publish is tried again after a 503 "no responders".
DEFAULT_JS_RETRY_WAIT = 0.25


class StreamSpec(Frozen):
    """A JetStream stream: the subjects it captures, where it lives, its limits.

    Defaults as nats-server's ``StreamConfig`` (server/stream.go): no limits
    (``None`` / 0 here), ``discard: old``, a 2 min duplicate window
    (``StreamDefaultDuplicatesWindow``).  ``servers`` pins the replicas (the
    simulator's stand-in for placement tags; the first is the initial leader),
    otherwise ``replicas`` servers of ``cluster`` are drawn from the run's seed.
    """

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$")
    subjects: list[str] = Field(min_length=1)
    #: Replication factor: R1, R3 or R5 in practice (nats-server caps it at 5).
    replicas: int = Field(default=1, ge=1, le=5)
    cluster: str | None = None
    servers: list[str] | None = None
    #: Most messages kept (``None``: no limit, nats-server's -1).
    max_msgs: int | None = Field(default=None, ge=1)
    #: Most bytes kept (``None``: no limit).
    max_bytes: Size | None = Field(default=None, ge=1)
    #: Oldest message kept (0: no limit).
    max_age: Duration = Field(default=0.0, ge=0)
    discard: Literal["old", "new"] = "old"
    #: ``None``: 2 min (``StreamDefaultDuplicatesWindow``), or ``max_age`` if shorter
    #: (``checkStreamCfg``); see :attr:`dedupe_window`.
    duplicate_window: Duration | None = Field(default=None, ge=0)
    #: Time a replica spends writing one message to its store (per-message cost).
    write_time: Duration = Field(default=0.0, ge=0)

    @property
    def dedupe_window(self) -> float:
        """The duplicate window in force, as nats-server's ``checkStreamCfg`` sets it."""
        if self.duplicate_window is not None:
            return self.duplicate_window
        if 0 < self.max_age < DEFAULT_DUPLICATE_WINDOW:
            return self.max_age
        return DEFAULT_DUPLICATE_WINDOW

    @model_validator(mode="after")
    def _where(self) -> StreamSpec:
        if self.duplicate_window is not None and 0 < self.max_age < self.duplicate_window:
            # checkStreamCfg: "duplicates window can not be larger then max age"
            raise ValueError("duplicate_window can not be larger than max_age")
        if self.servers is not None and self.cluster is not None:
            raise ValueError("give 'servers' or 'cluster', not both")
        if self.servers is not None and len(self.servers) != self.replicas:
            raise ValueError(f"'servers' lists {len(self.servers)}, replicas is {self.replicas}")
        return self


class ConsumerSpec(Frozen):
    """A JetStream consumer on a stream (nats-server ``ConsumerConfig``, server/consumer.go).

    Defaults: ``ack_wait`` 30 s (``JsAckWaitDefault``), ``max_deliver`` -1 =
    unlimited, ``max_ack_pending`` 1,000 (``JsDefaultMaxAckPending``).  A pull
    consumer's clients ask for ``batch`` messages at a time, each request
    waiting at most ``expires``.
    """

    stream: str = Field(min_length=1)
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$")
    durable: bool = True
    ack_policy: Literal["explicit", "all", "none"] = "explicit"
    ack_wait: Duration = Field(default=30.0, gt=0)
    max_deliver: int = Field(default=-1, ge=-1)
    max_ack_pending: int = Field(default=1000, ge=1)
    backoff: list[Duration] = Field(default_factory=list)
    mode: Literal["push", "pull"] = "push"
    batch: int = Field(default=10, ge=1)
    expires: Duration = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _backoff(self) -> ConsumerSpec:
        # nats-server: "max deliver is required to be > length of backoff values"
        if self.backoff and 0 < self.max_deliver <= len(self.backoff):
            raise ValueError("max_deliver must be greater than the number of backoff values")
        if self.max_deliver == 0:
            raise ValueError("max_deliver is -1 (unlimited) or at least 1")
        return self


class JsPublishers(Publishers):
    """Publishers using ``js.Publish``: wait for the PubAck, retry on timeout or 503."""

    ack_timeout: Duration = Field(default=DEFAULT_JS_ACK_TIMEOUT, gt=0)
    #: Further attempts after a timeout or a "no responders" (0: give up at once);
    #: the default is nats.go's ``DefaultPubRetryAttempts`` (jetstream/publish.go),
    #: which the library applies to "no responders" only — here the application
    #: retries a timeout the same way.
    retries: int = Field(default=2, ge=0)
    retry_wait: Duration = Field(default=DEFAULT_JS_RETRY_WAIT, ge=0)
    #: Send a ``Nats-Msg-Id`` header (the same on every retry) for de-duplication.
    msg_id: bool = False


class JsConsumers(Placement):
    """Clients consuming through a JetStream consumer (or, in core mode, subscribing)."""

    consumer: str | None = None
    #: Time the application takes per message before it acks.
    process_time: DistSpec = DistSpec(dist="constant", value="0s")
    start: Duration = 0.0


class JetStreamWorkload(Frozen):
    """Publishers and consumers of one subject, over JetStream or (``mode: core``) core NATS.

    The same clients in core mode publish and subscribe plainly, so a scenario
    can run one workload both ways under one fault schedule and compare them.
    """

    kind: Literal["jetstream"]
    name: str = Field(min_length=1)
    mode: Literal["jetstream", "core"] = "jetstream"
    subject: str
    publishers: JsPublishers
    consumers: list[JsConsumers] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _single_to_list(cls, data: Any) -> Any:
        return _one_or_many(data, "consumers")


Workload = Annotated[
    PubSubWorkload | RequestReplyWorkload | TraceWorkload | JetStreamWorkload,
    Field(discriminator="kind"),
]


class ResponderTarget(Frozen):
    """Which responders a fault acts on: a workload's, optionally only in one cluster or servers."""

    workload: str
    cluster: str | None = None
    servers: list[str] | None = None


#: Client roles by workload kind (what a :class:`ClientTarget` ``role`` may name).
CLIENT_ROLES: dict[str, tuple[str, ...]] = {
    "pubsub": ("publisher", "subscriber"),
    "request_reply": ("requester", "responder"),
    "trace": ("publisher", "requester", "subscriber", "responder"),
    "jetstream": ("publisher", "consumer"),
}


class ClientTarget(Frozen):
    """Which clients a fault acts on: a workload's, narrowed by role, place and count."""

    workload: str
    role: Literal["publisher", "subscriber", "requester", "responder", "consumer"] | None = None
    cluster: str | None = None
    servers: list[str] | None = None
    #: Only the first ``count`` matching clients, in creation order.
    count: int | None = Field(default=None, ge=1)


class LatencyChange(Frozen):
    """Extra latency on the routes and gateways between two names: ``x * factor + add``."""

    between: tuple[str, str]
    add: Duration = Field(default=0.0, ge=0)
    factor: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _changes_something(self) -> LatencyChange:
        if self.add <= 0 and self.factor == 1.0:
            raise ValueError("give 'add' > 0 or a 'factor' other than 1")
        return self


#: Fault actions, in the order they are documented.
FAULT_ACTIONS = (
    "stop_responders",
    "start_responders",
    "crash",
    "lame_duck",
    "link_down",
    "partition",
    "latency",
    "kill_clients",
    "slow_consumer",
    "join",
)

_SILENT_ACTIONS = ("crash", "link_down")


class FaultSpec(Frozen):
    """One scheduled fault: an action at ``at``, undone after ``for`` if given.

    Names in ``crash``, ``lame_duck``, ``link_down``, ``partition``,
    ``latency.between`` are servers, clusters or regions (a cluster's
    ``region``).  ``for:`` means: restart (crash, lame_duck, kill_clients),
    link up (link_down), heal (partition), back to normal (latency), resume
    reading (slow_consumer), start again (stop_responders); ``join`` takes none.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    at: Duration = Field(ge=0)
    stop_responders: ResponderTarget | None = None
    start_responders: ResponderTarget | None = None
    #: Servers die (with ``silent``: without closing their TCP connections).
    crash: Names | None = None
    #: Servers enter lame duck mode, then shut down.
    lame_duck: Names | None = None
    #: The route and gateway connections between two names break (with
    #: ``silent``: blackholed, found by missing pings; else reset).
    link_down: tuple[str, str] | None = None
    #: Groups of names that cannot reach each other (each group a name or a list).
    partition: list[Names] | None = Field(default=None, min_length=2)
    latency: LatencyChange | None = None
    #: The clients' processes die (no close), and restart after ``for``.
    kill_clients: ClientTarget | None = None
    #: The clients stop reading from their sockets, and resume after ``for``.
    slow_consumer: ClientTarget | None = None
    #: Servers not running before ``at``, started then.
    join: Names | None = None
    #: crash and link_down only: nothing is closed, peers notice by missing pings.
    silent: bool = False
    # Declared after the actions so that its validator can see which one is given.
    duration: Duration | None = Field(default=None, alias="for", ge=0)

    @field_validator("silent")
    @classmethod
    def _silent_where_allowed(cls, value: bool, info: ValidationInfo) -> bool:
        given = [k for k in FAULT_ACTIONS if info.data.get(k) is not None]
        if given and given[0] not in _SILENT_ACTIONS:
            raise ValueError(f"'silent' applies to crash and link_down only, not {given[0]}")
        return value

    @field_validator("duration")
    @classmethod
    def _no_for_with_join(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is not None and info.data.get("join") is not None:
            raise ValueError("join takes no 'for' (a joined server stays up)")
        return value

    @model_validator(mode="after")
    def _one_action(self) -> FaultSpec:
        actions = [k for k in FAULT_ACTIONS if getattr(self, k) is not None]
        if len(actions) != 1:
            raise ValueError(f"give exactly one action: {', '.join(FAULT_ACTIONS)}")
        return self

    @property
    def action(self) -> str:
        """The name of the fault's action."""
        return next(k for k in FAULT_ACTIONS if getattr(self, k) is not None)

    @property
    def target(self) -> Any:
        """What the action applies to: the value of the action's field."""
        return getattr(self, self.action)


#: A fault kind chaos draws from (``silent_crash`` is a crash with ``silent``).
ChaosKind = Literal[
    "crash",
    "silent_crash",
    "lame_duck",
    "link_down",
    "partition",
    "latency",
    "kill_clients",
    "slow_consumer",
]
CHAOS_KINDS: tuple[str, ...] = get_args(ChaosKind)


class ChaosSpec(Frozen):
    """Random faults: a Poisson stream of ``kinds`` at ``rate``, each lasting a ``for`` draw."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    #: Faults per second (e.g. ``1/min``).
    rate: Rate = Field(gt=0)
    kinds: list[ChaosKind] = Field(min_length=1)
    duration: DistSpec = Field(default=DistSpec(dist="uniform", low="5s", high="30s"), alias="for")
    start: Duration = Field(default=0.0, ge=0)
    #: No new fault after this (``None``: the end of the run).
    stop: Duration | None = None
    #: Server, cluster or region names to draw targets from (``None``: all servers).
    among: list[str] | None = Field(default=None, min_length=1)
    #: Added one-way latency for a ``latency`` fault.
    latency_add: Duration = Field(default=0.1, gt=0)
    #: The workload whose clients kill_clients/slow_consumer act on (``None``: any).
    workload: str | None = None


class MonitorSpec(Frozen):
    """Monitoring snapshots: sample every server's /varz-style counters every ``interval``.

    Off unless the scenario has a ``monitor:`` key (``monitor: {}`` samples
    every second).  Sampling reads counters the servers keep anyway, so it
    changes nothing else in the run (see :mod:`sim.model.monitor`).
    """

    #: Simulated time between two samples (the first is at 0, the last at the run's end).
    interval: Duration = Field(default=1.0, gt=0)


class Scenario(Frozen):
    """A whole scenario: topology, workloads and run settings."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    seed: int = 1
    duration: Duration
    #: Extra simulated time after ``duration`` (publishers stopped) so that
    #: messages in flight, replies and timeouts settle before the books close.
    drain: Duration = 2.0
    topology: Topology
    workloads: list[Workload] = Field(default_factory=list)
    faults: list[FaultSpec] = Field(default_factory=list)
    #: Client library options of every client (a group's ``client`` overrides them).
    clients: ClientOptions = ClientOptions()
    chaos: ChaosSpec | None = None
    #: Named variants of this scenario for ``natsim diff SCENARIO --variant NAME``:
    #: variant name → {dotted.path: value} overrides (the form ``load_scenario``'s
    #: ``overrides`` take), e.g. ``{"topology.clusters.east.servers": 2}``.
    variants: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: Expectations over the run's metrics, one expression each
    #: (``delivery_ratio{workload=ticks} >= 99.9%``; see :mod:`sim.expect`).
    expect: list[str] = Field(default_factory=list)
    #: Accounts by name: separate subject spaces, with exports and imports.
    accounts: dict[str, AccountSpec] = Field(default_factory=dict)
    #: Users clients connect as (a client group's ``user``).
    users: list[UserSpec] = Field(default_factory=list)
    #: JetStream streams (see docs/jetstream.md).
    streams: list[StreamSpec] = Field(default_factory=list)
    #: JetStream consumers, each on one of ``streams``.
    consumers: list[ConsumerSpec] = Field(default_factory=list)
    #: Monitoring snapshots (``None``: off); see :class:`MonitorSpec`.
    monitor: MonitorSpec | None = None


def client_profile(scenario: Scenario, placement: Placement) -> ClientProfile:
    """Return the client options in force for a client group of ``scenario``."""
    if placement.client is None:
        return scenario.clients.resolve()
    return placement.client.resolve(scenario.clients)
