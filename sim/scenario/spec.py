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

from sim.units import parse_duration, parse_rate, parse_size

__all__ = [
    "DEFAULT_REQUEST_TIMEOUT",
    "ClusterSpec",
    "DistSpec",
    "LatencySpec",
    "LinkSpec",
    "Placement",
    "PubSubWorkload",
    "Publishers",
    "RequestReplyWorkload",
    "Requesters",
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


class LatencyModel(Frozen):
    """Default latencies: route links inside a cluster, and client ↔ server connections.

    All are one-way delays, drawn independently per message on each connection.
    """

    intra_cluster: DistSpec = DistSpec(dist="constant", value="300us")
    client: DistSpec = DistSpec(dist="constant", value="100us")


class Topology(Frozen):
    """Servers grouped into clusters, with latency defaults and per-link overrides."""

    clusters: dict[str, ClusterSpec] = Field(min_length=1)
    latency: LatencyModel = LatencyModel()
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
        if isinstance(data, dict) and isinstance(data.get("subscribers"), dict):
            return {**data, "subscribers": [data["subscribers"]]}
        return data


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
        if isinstance(data, dict) and isinstance(data.get("responders"), dict):
            return {**data, "responders": [data["responders"]]}
        return data


Workload = Annotated[PubSubWorkload | RequestReplyWorkload, Field(discriminator="kind")]


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
