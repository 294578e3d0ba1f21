"""Hot-path benchmark: the reference workload through the real simulator.

Reference workload (../shared/docs/PERFORMANCE.md): 9 servers (one 9-server
cluster, standing in for three 3-server clusters until superclusters exist),
1,000 subscribers on 100 subjects (fan-out 10), 100,000 published messages,
recording and accounting on.  Prints, from one process:

1. simulated deliveries per wall-second (network build + event loop + books;
   the DataFrame build at the end is shown apart);
2. the bare SimPy ``timeout`` + callback rate with ~1,000 pending events;
3. their ratio — the figure to track (target >= 0.6);
4. SimPy events per delivery (target <= 1.0).

Run: ``python bench/bench_hotpath.py`` (or ``pytest -m bench bench/``).
"""

from __future__ import annotations

import argparse
import statistics
import time

import simpy

from sim.runner import simulate

REFERENCE = {
    "name": "bench-hotpath",
    "seed": 1,
    "duration": "10s",
    "drain": "1s",
    "topology": {
        "clusters": {"bench": {"servers": 9}},
        "latency": {
            "intra_cluster": {"dist": "uniform", "low": "250us", "high": "350us"},
            "client": {"dist": "uniform", "low": "50us", "high": "150us"},
        },
    },
    "workloads": [
        {
            "name": "fanout",
            "kind": "pubsub",
            "subject": "bench.{0..99}",
            "publishers": {"count": 10, "rate": "1000/s", "arrival": "constant", "size": "128B"},
            "subscribers": {"count": 1000, "placement": "random"},
        }
    ],
}


def simpy_floor(pending: int = 1000, events: int = 300_000) -> float:
    """Bare SimPy: ``pending`` re-arming timeouts with one callback each; events per second."""
    env = simpy.Environment()
    left = [events]

    def fire(ev: simpy.Event) -> None:
        left[0] -= 1
        if left[0] > 0:
            env.timeout(0.001 + (left[0] % 7) * 1e-4).callbacks.append(fire)

    for i in range(pending):
        env.timeout(i * 1e-6).callbacks.append(fire)
    t0 = time.perf_counter()
    env.run()
    return events / (time.perf_counter() - t0)


def measure(repeats: int) -> dict[str, float]:
    """Run floor and simulator alternately ``repeats`` times; return medians."""
    floors, rates, frames = [], [], []
    per_delivery = 0.0
    deliveries = 0
    for _ in range(repeats):
        floors.append(simpy_floor())
        result = simulate(REFERENCE)
        deliveries = len(result.deliveries)
        rates.append(deliveries / result.meta["run_seconds"])
        frames.append(result.meta["wall_seconds"] - result.meta["run_seconds"])
        per_delivery = result.meta["events"] / deliveries
        assert result.messages.shape[0] == 100_000, result.messages.shape
    floor, rate = statistics.median(floors), statistics.median(rates)
    return {
        "deliveries": deliveries,
        "deliveries_per_s": rate,
        "simpy_floor_per_s": floor,
        "ratio": rate / floor,
        "events_per_delivery": per_delivery,
        "frames_seconds": statistics.median(frames),
    }


def main() -> None:
    """Print the benchmark figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    m = measure(args.repeats)
    print(f"deliveries per run            {m['deliveries']:,}")
    print(f"simulated deliveries / wall-s {m['deliveries_per_s']:,.0f}")
    print(f"bare SimPy timeout+callback/s {m['simpy_floor_per_s']:,.0f}  (~1,000 pending)")
    print(f"ratio                         {m['ratio']:.2f}  (target >= 0.6)")
    print(f"SimPy events per delivery     {m['events_per_delivery']:.3f}  (target <= 1.0)")
    print(f"DataFrame build (not in rate) {m['frames_seconds']:.2f} s")


if __name__ == "__main__":
    main()
