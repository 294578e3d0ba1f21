"""Queue groups inside one cluster: exactly one member per group, uniform over the cluster."""

from __future__ import annotations

import sim
from tests.conftest import scenario

# chi-square critical values at p = 0.001 (degrees of freedom → value)
CHI2_CRIT_001 = {1: 10.83, 2: 13.82, 3: 16.27, 5: 20.52}


def chi_square(counts: list[int]) -> float:
    n, k = sum(counts), len(counts)
    expected = n / k
    return sum((c - expected) ** 2 / expected for c in counts)


def jobs(*subs: dict, rate: str = "2k/s", duration_pub: str = "4.5s") -> dict:
    return {
        "name": "jobs",
        "kind": "pubsub",
        "subject": "jobs.x",
        "publishers": {
            "count": 1,
            "servers": ["c-1"],
            "rate": rate,
            "start": "0.5s",
            "stop": duration_pub,
        },
        "subscribers": list(subs),
    }


def test_each_message_reaches_exactly_one_member_of_each_group():
    """Every group gets each message exactly once; plain subscribers each get their own copy."""
    sc = scenario(
        [
            jobs(
                {"count": 1, "servers": ["c-1"], "queue": "workers"},
                {"count": 3, "servers": ["c-2"], "queue": "workers"},
                {"count": 2, "servers": ["c-3"], "queue": "audit"},
                {"count": 2},
            )
        ],
        duration="5s",
    )
    r = sim.run(sc)
    d = r.deliveries
    n = len(r.messages)
    per_group = d[d.queue.notna()].groupby(["msg_id", "queue"]).size()
    assert (per_group == 1).all()
    assert len(per_group) == 2 * n
    plain = d[d.queue.isna()]
    assert len(plain) == 2 * n
    assert r.drops.empty


def test_no_local_preference_inside_a_cluster():
    """nats-server picks uniformly over all cluster members (route weight = member count).

    The digest's check on nats-server 2.9.10: 1 member on the publisher's
    server and 3 on another; each of the 4 gets about a quarter.
    """
    sc = scenario(
        [
            jobs(
                {"count": 1, "servers": ["c-1"], "queue": "q"},
                {"count": 3, "servers": ["c-2"], "queue": "q"},
            )
        ],
        duration="5s",
        seed=3,
    )
    r = sim.run(sc)
    counts = r.deliveries.groupby("subscriber").size()
    assert len(counts) == 4
    assert chi_square(list(counts)) < CHI2_CRIT_001[3]
    local_share = counts["jobs.sub0"] / counts.sum()
    assert 0.2 < local_share < 0.3  # not 0.5, as it would be with local preference


def test_weights_follow_member_count_changes():
    """When members leave, the remaining ones share the work (RS+ carries the new weight)."""
    sc = scenario(
        [
            jobs(
                {"count": 1, "servers": ["c-1"], "queue": "q"},
                {"count": 3, "servers": ["c-2"], "queue": "q", "stop": "2s"},
                {"count": 1, "servers": ["c-2"], "queue": "q"},
            )
        ],
        duration="5s",
        seed=5,
    )
    r = sim.run(sc)
    late = r.deliveries[r.deliveries.publish_time > 2.01]
    counts = late.groupby("subscriber").size()
    assert set(counts.index) == {"jobs.sub0", "jobs.sub2.0"}
    assert chi_square(list(counts)) < CHI2_CRIT_001[1]
    assert (r.drops.reason != "queue_member_gone").all() or len(r.drops) < 5


def test_group_owed_but_unknown_is_dropped_as_not_propagated():
    """A queue group whose interest has not reached the publisher's server loses the message."""
    sc = scenario(
        [
            jobs(
                {"count": 1, "servers": ["c-2"], "queue": "q", "start": "1s"},
                rate="10k/s",
                duration_pub="1.01s",
            )
        ],
        duration="2s",
        route="1ms",
        client="100us",
    )
    sc["workloads"][0]["publishers"]["start"] = "0.99s"
    sc["workloads"][0]["publishers"]["arrival"] = "constant"
    r = sim.run(sc)
    lost = r.drops[r.drops.reason == "interest_not_yet_propagated"]
    assert len(lost) > 0
    assert set(lost.queue) == {"q"}
    assert lost.subscriber.isna().all()  # the group, not one member, was owed the copy
