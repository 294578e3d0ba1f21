"""Shared fixtures and helpers for natsim's tests.

Testing rules (kept here so every test file follows them):

* each test states the rule it checks in its docstring, and asserts behaviour
  a user cares about (what arrives, what is lost and why, what a requester
  sees), not internals, unless the rule is about an internal invariant;
* scenarios in tests are small dicts built with :func:`scenario`, with
  constant latencies where a test needs exact times;
* randomness is always seeded: a statistical test uses a fixed seed and a
  tolerance wide enough that it is a check of the rule, not of the seed;
* no test asserts wall-clock speed (benchmarks live in ``bench/``);
* long statistical or end-to-end checks carry ``@pytest.mark.slow``.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

# Hypothesis profiles, loaded before any test module builds its settings.  The
# default run is derandomized: the same examples every run, so CI is repeatable
# (a failure there is a real one, reproducible); ``HYPOTHESIS_PROFILE=deep``
# explores thousands of fresh random examples.
settings.register_profile(
    "default",
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "deep", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


def scenario(
    workloads: list[dict[str, Any]],
    servers: int | list[str] = 3,
    duration: str = "2s",
    route: Any = "1ms",
    client: Any = "100us",
    processing: str = "0s",
    seed: int = 1,
    **extra: Any,
) -> dict[str, Any]:
    """Return a one-cluster scenario dict (cluster ``c``: servers ``c-1``…)."""
    return {
        "name": "test",
        "seed": seed,
        "duration": duration,
        "topology": {
            "clusters": {"c": {"servers": servers}},
            "latency": {"intra_cluster": route, "client": client},
            "processing": processing,
        },
        "workloads": copy.deepcopy(workloads),
        **extra,
    }


@pytest.fixture
def make_scenario():
    """The :func:`scenario` builder, as a fixture."""
    return scenario
