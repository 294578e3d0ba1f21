"""Same scenario + same seed ⇒ identical results; named streams ⇒ common random numbers."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pandas as pd

import sim
from sim.results import TABLES
from tests.conftest import ROOT, scenario

JITTERY = [
    {
        "name": "ticks",
        "kind": "pubsub",
        "subject": "t.{a,b,c}",
        "publishers": {"count": 2, "rate": "300/s"},
        "subscribers": [
            {"per_server": 2, "subject": "t.>"},
            {"count": 3, "queue": "q", "placement": "random"},
        ],
    },
    {
        "name": "svc",
        "kind": "request_reply",
        "subject": "svc.x",
        "requesters": {"count": 2, "rate": "40/s"},
        "responders": {
            "count": 3,
            "queue": "q",
            "service_time": {"dist": "exponential", "mean": "2ms"},
        },
    },
]


def jittery_scenario(workloads=JITTERY, seed=9):
    return scenario(
        workloads,
        duration="3s",
        seed=seed,
        route={"dist": "lognormal", "median": "400us", "sigma": 0.5},
        client={"dist": "exponential", "mean": "100us"},
    )


def digest(result: sim.Result) -> str:
    h = hashlib.sha256()
    for name in TABLES:
        h.update(pd.util.hash_pandas_object(result.frames[name], index=True).to_numpy().tobytes())
    return h.hexdigest()


def test_same_seed_same_frames():
    """Two runs with the same scenario and seed give bit-identical DataFrames."""
    a = sim.run(jittery_scenario())
    b = sim.run(jittery_scenario())
    assert digest(a) == digest(b)
    for name in TABLES:
        pd.testing.assert_frame_equal(a.frames[name], b.frames[name])


def test_different_seed_different_draws():
    """Another seed gives other draws (the seed is really used)."""
    a = sim.run(jittery_scenario(seed=1))
    b = sim.run(jittery_scenario(seed=2))
    assert digest(a) != digest(b)


def test_identical_across_processes_with_different_hash_seeds():
    """Results do not depend on Python's per-process string hashing (PYTHONHASHSEED)."""
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r});"
        "from tests.test_determinism import digest, jittery_scenario; import sim;"
        "print(digest(sim.run(jittery_scenario())))"
    )
    outs = set()
    for hs in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hs}
        out = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        outs.add(out.stdout.strip())
    assert len(outs) == 1
    assert outs == {digest(sim.run(jittery_scenario()))}


def test_unrelated_workload_leaves_draws_unchanged():
    """Adding a workload does not change another workload's publish times, subjects or placement.

    Each source draws from its own stream, named after it (common random
    numbers), so a before/after comparison isolates the change.
    """
    base = sim.run(jittery_scenario(JITTERY[:1]))
    extra = {
        "name": "other",
        "kind": "pubsub",
        "subject": "o.x",
        "publishers": {"count": 3, "rate": "500/s"},
        "subscribers": {"count": 4, "placement": "random"},
    }
    more = sim.run(jittery_scenario([JITTERY[0], extra]))
    cols = ["time", "client", "server", "subject", "size"]
    a = base.messages[base.messages.workload == "ticks"][cols].reset_index(drop=True)
    b = more.messages[more.messages.workload == "ticks"][cols].reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    subs_a = base.subscriptions[base.subscriptions.workload == "ticks"]
    subs_b = more.subscriptions[more.subscriptions.workload == "ticks"]
    cols = ["client", "server", "subject", "queue", "t_sub"]
    pd.testing.assert_frame_equal(
        subs_a[cols].reset_index(drop=True), subs_b[cols].reset_index(drop=True)
    )
    # a route carries both workloads' messages, so its latency draws (one per
    # message, in order) do move; that is a real effect of the extra traffic
