"""The scenario schema: frozen pydantic models, data only.

A scenario file is parsed once into these specs (see :mod:`sim.scenario.load`);
the model is built from them and never sees a raw dict.  Units are strings in
the file (``250ms``, ``1.5KiB``, ``100/s``) and canonical floats here: seconds,
bytes, events per second.  Every model forbids unknown keys, so a typo is an
error that names the key instead of a silently ignored setting.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from sim.units import parse_duration, parse_rate, parse_size, parse_speed

__all__ = [
    "DEFAULT_REQUEST_TIMEOUT",
    "ClusterSpec",
    "DistSpec",
    "FaultSpec",
    "GatewaySpec",
    "LatencySpec",
    "LinkSpec",
    "Placement",
    "PubSubWorkload",
    "Publishers",
    "RegionSpec",
    "RequestReplyWorkload",
    "Requesters",
    "ResponderTarget",
    "Responders",
    "Scenario",
    "Subscribers",
    "Topology",
    "Workload",
]

#: nats.py ``Client.request`` default timeout (nats/aio/client.py, ``timeout: float = 0.5``).
DEFAULT_REQUEST_TIMEOUT = 0.5

Duration = Annotated[float, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]
Rate = Annotated[float, BeforeValidator(parse_rate)]
Speed = Annotated[float, BeforeValidator(parse_speed)]


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
    #: min(ping_interval 2 min, gwMaxPingInterval 15 s) (server/gateway.go)
    ping_interval: Duration = 15.0
    #: firstPingInterval (server/server.go), +0-20 % jitter (setFirstPingTimer)
    first_ping: Duration = 1.0


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

    def server_cluster(self) -> dict[str, str]:
        """Return server name → cluster name, in declaration order."""
        out: dict[str, str] = {}
        for cname, cluster in self.clusters.items():
            for sname in cluster.server_names(cname):
                out[sname] = cname
        return out


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

    @model_validator(mode="after")
    def _one_count(self) -> Placement:
        if (self.count is None) == (self.per_server is None):
            raise ValueError("give exactly one of 'count' or 'per_server'")
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
    publishers: Publishers
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


Workload = Annotated[PubSubWorkload | RequestReplyWorkload, Field(discriminator="kind")]


class ResponderTarget(Frozen):
    """Which responders a fault acts on: a workload's, optionally only in one cluster or servers."""

    workload: str
    cluster: str | None = None
    servers: list[str] | None = None


class FaultSpec(Frozen):
    """One scheduled fault: an action at ``at``, undone after ``for`` if given."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    at: Duration
    duration: Duration | None = Field(default=None, alias="for")
    stop_responders: ResponderTarget | None = None
    start_responders: ResponderTarget | None = None

    @model_validator(mode="after")
    def _one_action(self) -> FaultSpec:
        actions = [k for k in ("stop_responders", "start_responders") if getattr(self, k)]
        if len(actions) != 1:
            raise ValueError("give exactly one action: stop_responders or start_responders")
        return self

    @property
    def action(self) -> str:
        """The name of the fault's action."""
        return "stop_responders" if self.stop_responders else "start_responders"

    @property
    def target(self) -> ResponderTarget:
        """What the action applies to."""
        return self.stop_responders or self.start_responders  # type: ignore[return-value]


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
