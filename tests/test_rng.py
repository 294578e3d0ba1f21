"""Tests for sim.rng: named random streams and distribution samplers."""

from __future__ import annotations

import doctest
import math
import random
from dataclasses import dataclass

import pytest

import sim.rng
from sim.rng import Dist, RandomStreams, as_dist, make_sampler


def test_doctests() -> None:
    """The Examples in the module's docstrings run as written."""
    assert doctest.testmod(sim.rng).failed == 0


# --- streams --------------------------------------------------------------------


def _draws(rng: random.Random, n: int = 5) -> list[float]:
    return [rng.random() for _ in range(n)]


def test_same_seed_and_name_give_same_draws() -> None:
    """Two RandomStreams with one seed give identical draws for a name."""
    assert _draws(RandomStreams(7).stream("link:A-B")) == _draws(
        RandomStreams(7).stream("link:A-B")
    )


def test_stream_values_are_pinned() -> None:
    """The seed derivation is stable across processes and releases (no salted hash)."""
    assert RandomStreams(42).stream("link:A-B").random() == 0.8500444926564007


def test_stream_is_cached_so_draws_continue() -> None:
    """stream(name) returns the same object, so a second caller continues the sequence."""
    streams = RandomStreams(1)
    first = streams.stream("x").random()
    second = streams.stream("x").random()
    fresh = RandomStreams(1).stream("x")
    assert [first, second] == [fresh.random(), fresh.random()]
    assert streams.names() == ["x"]


def test_different_names_and_seeds_differ() -> None:
    """Different names, or different root seeds, give different sequences."""
    a = _draws(RandomStreams(1).stream("a"))
    assert a != _draws(RandomStreams(1).stream("b"))
    assert a != _draws(RandomStreams(2).stream("a"))


def test_adding_a_stream_does_not_change_another() -> None:
    """Creating and drawing from a new stream leaves an existing stream's draws alone."""
    alone = RandomStreams(3)
    alone_draws = _draws(alone.stream("link"), 10)
    busy = RandomStreams(3)
    link = busy.stream("link")
    mixed = []
    for i in range(10):
        busy.stream(f"client:{i}").random()
        mixed.append(link.random())
    assert mixed == alone_draws


def test_streams_are_uncorrelated() -> None:
    """Streams with neighbouring names are statistically independent (|r| small)."""
    streams = RandomStreams(11)
    xs = _draws(streams.stream("client:1"), 5000)
    ys = _draws(streams.stream("client:2"), 5000)
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    cov = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    var = math.sqrt(sum((x - mx) ** 2 for x in xs) * sum((y - my) ** 2 for y in ys))
    assert abs(cov / var) < 0.05


@pytest.mark.parametrize("seed", ["1", 1.0, True, None])
def test_seed_must_be_an_int(seed: object) -> None:
    """A root seed that is not an int is refused rather than silently hashed."""
    with pytest.raises(ValueError, match="seed"):
        RandomStreams(seed)  # type: ignore[arg-type]


# --- distributions ---------------------------------------------------------------

_DISTS = [
    Dist.of("constant", value=0.003),
    Dist.of("uniform", low=0.001, high=0.005),
    Dist.of("normal", mean=0.002, sd=0.001),
    Dist.of("normal", mean=0.0005, sd=0.001),  # truncation matters here
    Dist.of("lognormal", median=0.002, sigma=0.3),
    Dist.of("lognormal", mean=0.002, sigma=0.5),
    Dist.of("exponential", mean=0.005),
    Dist.of("pareto", scale=0.001, alpha=3.0),
    Dist.of("empirical", values=[0.001, 0.001, 0.004]),
]


@pytest.mark.parametrize("dist", _DISTS, ids=str)
def test_sample_mean_matches_analytic_mean(dist: Dist) -> None:
    """Over 20,000 seeded draws the sample mean is within 3 % of Dist.mean()."""
    sample = make_sampler(dist, RandomStreams(2024).stream(str(dist)))
    draws = [sample() for _ in range(20_000)]
    assert math.fsum(draws) / len(draws) == pytest.approx(dist.mean(), rel=0.03)


@pytest.mark.parametrize("dist", _DISTS, ids=str)
def test_draws_are_non_negative(dist: Dist) -> None:
    """Every distribution draws values >= 0."""
    sample = make_sampler(dist, random.Random(5))
    assert min(sample() for _ in range(5000)) >= 0.0


def test_lognormal_median_and_mean_forms_agree() -> None:
    """lognormal(mean=m) equals lognormal(median=m / exp(sigma^2 / 2))."""
    by_mean = Dist.of("lognormal", mean=0.01, sigma=0.4)
    by_median = Dist.of("lognormal", median=0.01 / math.exp(0.08), sigma=0.4)
    assert by_mean.median() == pytest.approx(by_median.median())
    assert by_mean.mean() == pytest.approx(0.01)


def test_pareto_minimum_and_infinite_mean() -> None:
    """Pareto draws never fall below scale; alpha <= 1 has an infinite mean."""
    sample = make_sampler(Dist.of("pareto", scale=2.0, alpha=1.5), random.Random(1))
    assert min(sample() for _ in range(5000)) >= 2.0
    assert Dist.of("pareto", scale=2.0, alpha=1.0).mean() == math.inf


def test_constant_sampler_does_not_touch_the_stream() -> None:
    """A constant sampler leaves the rng's state unchanged."""
    rng = random.Random(9)
    state = rng.getstate()
    sample = make_sampler(Dist.of("constant", value=0.5), rng)
    assert [sample() for _ in range(3)] == [0.5, 0.5, 0.5]
    assert rng.getstate() == state


def test_sampler_is_reproducible() -> None:
    """The same distribution and seed give the same draws."""
    dist = Dist.of("exponential", mean=1.0)
    a = make_sampler(dist, RandomStreams(4).stream("s"))
    b = make_sampler(dist, RandomStreams(4).stream("s"))
    assert [a() for _ in range(10)] == [b() for _ in range(10)]


def test_dist_params_are_normalised() -> None:
    """Parameter order does not matter: params are sorted and stored as floats."""
    assert Dist.of("uniform", low=1, high=2) == Dist.of("uniform", high=2.0, low=1.0)
    assert Dist.of("uniform", low=1, high=2).param("high") == 2.0
    assert Dist.of("uniform", low=1, high=2).param("sd") is None


@dataclass
class _PlainSpec:
    dist: str
    mean: float | None = None
    sigma: float | None = None
    median: float | None = None


class _PydanticLike:
    def model_dump(self) -> dict[str, object]:
        return {"dist": "empirical", "values": (1.0, 3.0), "mean": None, "value": None}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"kind": "exponential", "mean": 2.0}, Dist.of("exponential", mean=2.0)),
        ({"dist": "constant", "value": 1.0, "low": None}, Dist.of("constant", value=1.0)),
        (_PlainSpec("lognormal", median=1.0, sigma=0.5), Dist.of("lognormal", median=1, sigma=0.5)),
        (_PydanticLike(), Dist.of("empirical", values=[1.0, 3.0])),
    ],
)
def test_as_dist_accepts_mappings_and_objects(spec: object, expected: Dist) -> None:
    """make_sampler takes a Dist, a mapping or an object with the same fields."""
    assert as_dist(spec) == expected
    assert make_sampler(spec, random.Random(0))() >= 0.0


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("gamma", {"mean": 1.0}, "unknown distribution 'gamma'"),
        ("uniform", {"low": 1.0}, "needs 'high'"),
        ("uniform", {"low": 2.0, "high": 1.0}, "low <= high"),
        ("uniform", {"low": -1.0, "high": 1.0}, "'low' must be >= 0"),
        ("constant", {"value": -0.1}, "'value' must be >= 0"),
        ("constant", {"value": 1.0, "sd": 1.0}, "takes no 'sd'"),
        ("normal", {"mean": 1.0, "sd": -1.0}, "'sd' must be >= 0"),
        ("lognormal", {"sigma": 0.5}, "exactly one of 'median' or 'mean'"),
        ("lognormal", {"sigma": 0.5, "median": 1.0, "mean": 1.0}, "exactly one of"),
        ("lognormal", {"sigma": 0.5, "median": 0.0}, "'median' must be > 0"),
        ("exponential", {"mean": 0.0}, "'mean' must be > 0"),
        ("pareto", {"scale": 1.0, "alpha": 0.0}, "'alpha' must be > 0"),
        ("pareto", {"scale": 1.0}, "needs 'alpha'"),
        ("constant", {"value": "5ms"}, "must be a number"),
        ("constant", {"value": math.nan}, "must be finite"),
    ],
)
def test_bad_params_raise_value_error(kind: str, params: dict, message: str) -> None:
    """Unknown kinds and missing, extra, negative or non-numeric parameters are ValueErrors."""
    with pytest.raises(ValueError, match=message):
        Dist.of(kind, **params)


def test_bad_empirical_values_raise() -> None:
    """Empirical needs at least one value, all >= 0; other kinds take none."""
    with pytest.raises(ValueError, match="at least one value"):
        Dist.of("empirical")
    with pytest.raises(ValueError, match="'values' must be >= 0"):
        Dist.of("empirical", values=[1.0, -1.0])
    with pytest.raises(ValueError, match="takes no 'values'"):
        Dist.of("constant", value=1.0, values=[1.0])


def test_as_dist_without_kind_raises() -> None:
    """A mapping without 'kind' or 'dist' is a ValueError."""
    with pytest.raises(ValueError, match="needs 'kind'"):
        as_dist({"mean": 1.0})
