"""Each connection is FIFO: a later message never overtakes an earlier one."""

from __future__ import annotations

import random

import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

import sim
from sim.analysis import ordering_violations
from sim.model.clock import Clock
from sim.model.link import Link
from tests.conftest import scenario


@settings(max_examples=200, deadline=None)
@given(
    gaps=st.lists(st.floats(min_value=0, max_value=0.01, allow_nan=False), min_size=1, max_size=60),
    seed=st.integers(0, 2**32 - 1),
    scale=st.floats(min_value=1e-6, max_value=0.1),
)
def test_link_arrivals_keep_send_order(gaps, seed, scale):
    """Whatever the jitter, arrivals on a link are in send order and never before send + 0."""
    env = simpy.Environment()
    clock = Clock(env)
    rng = random.Random(seed)
    link = Link("l", clock, lambda: rng.expovariate(1 / scale))
    got: list[tuple[int, float]] = []
    t = 0.0
    sends = []
    for i, g in enumerate(gaps):
        t += g
        sends.append(t)
        link.send(t, lambda ev: got.append((ev.value, env.now)), i)
    env.run()
    assert [i for i, _ in got] == list(range(len(gaps)))
    times = [at for _, at in got]
    assert times == sorted(times)
    assert all(at >= s for at, s in zip(times, sends, strict=True))


def test_no_reordering_per_publisher_under_heavy_jitter():
    """Per publisher and subscriber, messages arrive in publish order (digest §2)."""
    sc = scenario(
        [
            {
                "name": "w",
                "kind": "pubsub",
                "subject": "t.{a,b}",
                "publishers": {"count": 3, "rate": "2k/s", "start": "0.2s"},
                "subscribers": [{"per_server": 2, "subject": "t.*"}],
            }
        ],
        duration="1s",
        route={"dist": "pareto", "scale": "100us", "alpha": 1.5},
        client={"dist": "exponential", "mean": "500us"},
    )
    r = sim.run(sc)
    assert len(r.deliveries) > 10_000
    assert ordering_violations(r) == 0
    # the jitter is real: latencies spread over more than an order of magnitude
    lat = r.deliveries.latency
    assert lat.quantile(0.99) > 10 * lat.quantile(0.01)
