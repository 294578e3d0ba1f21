"""Seeded, named random streams and the latency distributions drawn from them.

One root seed yields an independent :class:`random.Random` per name
(``"link:A-B"``, ``"client:pub-3"``).  Each stream's seed is a BLAKE2b hash of
the root seed and the name, so it is the same in every process (Python's own
``hash`` of a string is salted per process) and does not depend on which
other streams exist: adding a client leaves the latency draws of an
unrelated link unchanged.

:class:`Dist` describes a distribution of non-negative values (seconds, in
practice) and :func:`make_sampler` turns it into a closure that draws one
value per call, fast enough for the per-message hot path.
"""

from __future__ import annotations

import hashlib
import math
import operator
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = [
    "DIST_PARAMS",
    "NORMAL_RETRIES",
    "Affine",
    "Dist",
    "RandomStreams",
    "affine_sampler",
    "as_dist",
    "make_sampler",
]

#: Parameters of each distribution kind: (required, optional).  ``lognormal``
#: needs exactly one of ``median`` and ``mean`` besides ``sigma``.
DIST_PARAMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "constant": (("value",), ()),
    "uniform": (("low", "high"), ()),
    "normal": (("mean", "sd"), ()),
    "lognormal": (("sigma",), ("median", "mean")),
    "exponential": (("mean",), ()),
    "pareto": (("scale", "alpha"), ()),
    "empirical": ((), ()),
}

#: A truncated normal draw is retried this many times while negative, then
#: clamped to 0.  With ``mean >= 0`` a retry is needed at most half the time,
#: so a clamp happens with probability below 2**-16.
NORMAL_RETRIES = 16


class RandomStreams:
    """Independent, reproducible random streams, one per name.

    Parameters
    ----------
    seed : int
        The root seed, usually the scenario's ``seed``.

    Examples
    --------
    >>> streams = RandomStreams(42)
    >>> a = streams.stream("link:A-B")
    >>> a is streams.stream("link:A-B")  # cached: draws continue
    True
    >>> RandomStreams(42).stream("link:A-B").random() == a.random()
    True
    """

    __slots__ = ("_streams", "seed")

    def __init__(self, seed: int) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an integer, not {seed!r}")
        self.seed = seed
        self._streams: dict[str, random.Random] = {}

    def stream(self, name: str) -> random.Random:
        """Return the stream called ``name``, creating it on first use.

        The stream's seed is the 256-bit BLAKE2b digest of the root seed and
        ``name``.  The same object is returned on every call, so successive
        callers continue one sequence of draws.
        """
        rng = self._streams.get(name)
        if rng is None:
            rng = random.Random(_derive_seed(self.seed, name))
            self._streams[name] = rng
        return rng

    def fresh(self, name: str) -> random.Random:
        """Return a new, uncached stream with the seed :meth:`stream` gives ``name``.

        Components that are alike by design (the replication groups of two
        streams placed on the same servers) each take a fresh copy, so they
        draw the same numbers: a scenario comparing them compares like with like.
        """
        return random.Random(_derive_seed(self.seed, name))

    def names(self) -> list[str]:
        """Return the names of the streams created so far, in creation order."""
        return list(self._streams)

    def __repr__(self) -> str:
        return f"RandomStreams(seed={self.seed}, streams={len(self._streams)})"


def _derive_seed(seed: int, name: str) -> int:
    """Hash the root seed and a stream name into a 256-bit integer seed."""
    if not isinstance(name, str):
        raise ValueError(f"stream name must be a string, not {name!r}")
    # NUL cannot occur in str(int), so the encoding is unambiguous.
    data = b"natsim-rng\0" + str(seed).encode() + b"\0" + name.encode("utf-8")
    return int.from_bytes(hashlib.blake2b(data, digest_size=32).digest(), "big")


@dataclass(frozen=True)
class Dist:
    """A distribution of non-negative values, validated on construction.

    Parameters
    ----------
    kind : str
        One of ``constant(value)``, ``uniform(low, high)``,
        ``normal(mean, sd)`` (truncated at 0), ``lognormal(median | mean,
        sigma)``, ``exponential(mean)``, ``pareto(scale, alpha)`` or
        ``empirical(values)``.
    params : tuple of (str, float)
        The named parameters; stored sorted by name, as floats.
    values : tuple of float
        The sample values of ``empirical`` (empty for other kinds).

    Notes
    -----
    - ``normal`` draws again while negative (at most ``NORMAL_RETRIES``
      times, then 0), so it is the normal distribution left-truncated at 0;
      :meth:`mean` gives that truncated mean.
    - ``lognormal`` is ``median * exp(sigma * Z)``, ``Z`` standard normal:
      ``sigma`` is the standard deviation of the underlying normal and
      ``median`` its exponentiated mean.  Given ``mean`` instead, the median
      is ``mean / exp(sigma**2 / 2)``.
    - ``pareto`` is the classic (type I) Pareto, ``scale * U**(-1/alpha)``:
      ``scale`` is the minimum value.  Its mean is infinite for
      ``alpha <= 1``.

    Examples
    --------
    >>> d = Dist.of("lognormal", median=0.002, sigma=0.5)
    >>> round(d.mean(), 6)
    0.002266
    >>> Dist.of("pareto", scale=1.0, alpha=1.0).mean()
    inf
    >>> Dist.of("uniform", low=2.0)
    Traceback (most recent call last):
      ...
    ValueError: uniform distribution needs 'high'
    """

    kind: str
    params: tuple[tuple[str, float], ...] = ()
    values: tuple[float, ...] = ()

    @classmethod
    def of(cls, kind: str, values: Any = (), **params: float) -> Dist:
        """Build a distribution from keyword parameters.

        ``Dist.of("exponential", mean=0.005)`` or
        ``Dist.of("empirical", values=[0.001, 0.004])``.
        """
        return cls(kind, tuple(params.items()), tuple(values))

    def __post_init__(self) -> None:
        params = tuple(sorted((str(k), _number(self.kind, k, v)) for k, v in self.params))
        values = tuple(_number(self.kind, "values", v) for v in self.values)
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "values", values)
        _validate(self.kind, dict(params), values)

    def param(self, name: str, default: float | None = None) -> float | None:
        """Return the parameter ``name``, or ``default`` when it was not given."""
        for key, value in self.params:
            if key == name:
                return value
        return default

    def _p(self, name: str) -> float:
        """Return a parameter that validation guarantees is present."""
        value = self.param(name)
        assert value is not None
        return value

    def median(self) -> float:
        """Return the lognormal median (given, or derived from the mean)."""
        sigma = self._p("sigma")
        median = self.param("median")
        return median if median is not None else self._p("mean") / math.exp(sigma**2 / 2)

    def mean(self) -> float:
        """Return the analytic mean of what the sampler draws (``inf`` if none)."""
        kind = self.kind
        if kind == "constant":
            return self._p("value")
        if kind == "uniform":
            return (self._p("low") + self._p("high")) / 2
        if kind == "normal":
            return _truncated_normal_mean(self._p("mean"), self._p("sd"))
        if kind == "lognormal":
            return self.median() * math.exp(self._p("sigma") ** 2 / 2)
        if kind == "exponential":
            return self._p("mean")
        if kind == "pareto":
            alpha = self._p("alpha")
            return alpha * self._p("scale") / (alpha - 1) if alpha > 1 else math.inf
        return math.fsum(self.values) / len(self.values)  # empirical

    def __str__(self) -> str:
        if self.kind == "empirical":
            return f"empirical({len(self.values)} values)"
        args = ", ".join(f"{k}={v:g}" for k, v in self.params)
        return f"{self.kind}({args})"


def _number(kind: str, name: str, value: object) -> float:
    """Return ``value`` as a finite float, or raise ``ValueError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{kind} distribution: '{name}' must be a number, not {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{kind} distribution: '{name}' must be finite, not {value!r}")
    return number


def _validate(kind: str, params: dict[str, float], values: tuple[float, ...]) -> None:
    """Raise ``ValueError`` unless ``params`` and ``values`` fit ``kind``."""
    if kind not in DIST_PARAMS:
        known = ", ".join(DIST_PARAMS)
        raise ValueError(f"unknown distribution '{kind}' (known: {known})")
    required, optional = DIST_PARAMS[kind]
    for name in required:
        if name not in params:
            raise ValueError(f"{kind} distribution needs '{name}'")
    extra = sorted(set(params) - set(required) - set(optional))
    if extra:
        raise ValueError(f"{kind} distribution takes no {', '.join(map(repr, extra))}")
    if kind == "empirical" and not values:
        raise ValueError("empirical distribution needs at least one value in 'values'")
    if kind != "empirical" and values:
        raise ValueError(f"{kind} distribution takes no 'values'")
    if kind == "lognormal" and ("median" in params) == ("mean" in params):
        raise ValueError("lognormal distribution needs exactly one of 'median' or 'mean'")
    for name, value in [*params.items(), *(("values", v) for v in values)]:
        if value < 0:
            raise ValueError(f"{kind} distribution: '{name}' must be >= 0, not {value:g}")
    positive = {"lognormal": ("median", "mean"), "exponential": ("mean",)}
    for name in (*positive.get(kind, ()), *(("scale", "alpha") if kind == "pareto" else ())):
        if params.get(name, 1.0) <= 0:
            raise ValueError(f"{kind} distribution: '{name}' must be > 0")
    if kind == "uniform" and params["high"] < params["low"]:
        raise ValueError("uniform distribution needs low <= high")


def _truncated_normal_mean(mean: float, sd: float) -> float:
    """Return the mean of a normal(mean, sd) left-truncated at 0."""
    if sd == 0:
        return mean
    a = -mean / sd
    pdf = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    tail = 0.5 * math.erfc(a / math.sqrt(2))  # P(Z > a)
    return mean + sd * pdf / tail


def as_dist(spec: object) -> Dist:
    """Turn a distribution description into a :class:`Dist`.

    Accepts a :class:`Dist`; a mapping with ``kind`` (or ``dist``), its
    parameters and, for ``empirical``, ``values``; or an object with such
    attributes (a pydantic model is read through ``model_dump``).  Keys whose
    value is ``None`` or empty are ignored.  Parameters must already be
    numbers in base units: unit strings are the scenario layer's job.

    Raises
    ------
    ValueError
        If the description is incomplete or invalid.

    Examples
    --------
    >>> as_dist({"dist": "exponential", "mean": 0.005})
    Dist(kind='exponential', params=(('mean', 0.005),), values=())
    """
    if isinstance(spec, Dist):
        return spec
    if not isinstance(spec, Mapping):
        dump = getattr(spec, "model_dump", None)
        if callable(dump):
            spec = dump()
        elif hasattr(spec, "__dict__"):
            spec = vars(spec)
        else:
            raise ValueError(f"not a distribution: {spec!r}")
    assert isinstance(spec, Mapping)
    given = {k: v for k, v in spec.items() if v is not None and v != ()}
    kind = given.pop("kind", None) or given.pop("dist", None)
    if kind is None:
        raise ValueError(f"distribution needs 'kind' (or 'dist'): {dict(spec)!r}")
    values = given.pop("values", ())
    if isinstance(values, str | bytes) or not hasattr(values, "__iter__"):
        raise ValueError(f"{kind} distribution: 'values' must be a list of numbers")
    return Dist(str(kind), tuple(given.items()), tuple(values))


def make_sampler(spec: object, rng: random.Random) -> Callable[[], float]:
    """Return a closure that draws one value of ``spec`` from ``rng`` per call.

    The closure binds the ``rng`` method it needs to a local, so a draw is a
    single call.  A ``constant`` sampler never touches ``rng``, so it does not
    shift the stream.  All draws are ``>= 0``.

    Parameters
    ----------
    spec : Dist or mapping or object
        The distribution, in any form :func:`as_dist` accepts.
    rng : random.Random
        The stream to draw from, normally ``RandomStreams.stream(name)``.

    Returns
    -------
    callable
        ``sample() -> float``.

    Raises
    ------
    ValueError
        If ``spec`` is not a valid distribution.

    Examples
    --------
    >>> sample = make_sampler(Dist.of("uniform", low=1.0, high=2.0), random.Random(7))
    >>> 1.0 <= sample() < 2.0
    True
    >>> make_sampler({"kind": "constant", "value": 0.25}, random.Random(7))()
    0.25
    """
    dist = as_dist(spec)
    return _SAMPLERS[dist.kind](dist, rng)


def _constant(dist: Dist, rng: random.Random) -> Callable[[], float]:
    value = dist._p("value")

    def sample() -> float:
        return value

    return sample


class Affine(NamedTuple):
    """A sampler in the form ``low + span * draw(stream)``, for hot loops to inline.

    For a uniform distribution ``draw`` is the unbound ``random.Random.random``
    and ``stream`` the stream itself, so an inlined draw skips a Python call
    and gives exactly what :func:`make_sampler` gives.  For every other
    distribution ``draw`` is :func:`operator.call` and ``stream`` the sampler,
    with ``low = 0.0`` and ``span = 1.0`` (``0.0 + 1.0 * x == x`` for the
    non-negative draws).
    """

    low: float
    span: float
    draw: Callable[[Any], float]
    stream: Any


def affine_sampler(spec: object, rng: random.Random) -> Affine:
    """Return ``spec``'s sampler on ``rng`` as an :class:`Affine` (same draws as make_sampler)."""
    dist = as_dist(spec)
    if dist.kind == "uniform" and type(rng).random is random.Random.random:
        low = dist._p("low")
        return Affine(low, dist._p("high") - low, random.Random.random, rng)
    return Affine(0.0, 1.0, operator.call, make_sampler(dist, rng))


def _uniform(dist: Dist, rng: random.Random) -> Callable[[], float]:
    low, span, rv = dist._p("low"), dist._p("high") - dist._p("low"), rng.random

    def sample() -> float:
        return low + span * rv()

    return sample


def _normal(dist: Dist, rng: random.Random) -> Callable[[], float]:
    mean, sd, gauss = dist._p("mean"), dist._p("sd"), rng.gauss

    def sample() -> float:
        for _ in range(NORMAL_RETRIES):
            x = gauss(mean, sd)
            if x >= 0.0:
                return x
        return 0.0

    return sample


def _lognormal(dist: Dist, rng: random.Random) -> Callable[[], float]:
    median, sigma, gauss, exp = dist.median(), dist._p("sigma"), rng.gauss, math.exp

    def sample() -> float:
        return median * exp(sigma * gauss(0.0, 1.0))

    return sample


def _exponential(dist: Dist, rng: random.Random) -> Callable[[], float]:
    mean, rv, log = dist._p("mean"), rng.random, math.log

    def sample() -> float:
        return -mean * log(1.0 - rv())  # 1 - U is in (0, 1]: log never fails

    return sample


def _pareto(dist: Dist, rng: random.Random) -> Callable[[], float]:
    scale, power, rv = dist._p("scale"), -1.0 / dist._p("alpha"), rng.random

    def sample() -> float:
        return scale * (1.0 - rv()) ** power

    return sample


def _empirical(dist: Dist, rng: random.Random) -> Callable[[], float]:
    values, n, rv = dist.values, len(dist.values), rng.random

    def sample() -> float:
        # int(U * n) < n for every U < 1 (see float rounding); unlike
        # rng.choice, this formula is fixed across Python versions.
        return values[int(rv() * n)]

    return sample


_SAMPLERS: dict[str, Callable[[Dist, random.Random], Callable[[], float]]] = {
    "constant": _constant,
    "uniform": _uniform,
    "normal": _normal,
    "lognormal": _lognormal,
    "exponential": _exponential,
    "pareto": _pareto,
    "empirical": _empirical,
}
