"""Every owed delivery ends as exactly one delivery or one drop with a reason.

Checked on every bundled scenario: for each message, the copies owed when it
reached its first server equal the owed copies delivered plus the copies
dropped; no (message, subscription) is delivered twice; nothing is left in
flight when the books close.
"""

from __future__ import annotations

import pytest

import sim
from sim.analysis import duplicates, ordering_violations
from tests.conftest import SCENARIOS, scenario


def _records(r: sim.Result) -> object:
    """Drops that record a message owing nothing (no subscription, no queue, nothing owed).

    Such a message has one row: ``no_interest``, or the reason it was lost
    before a server routed it.  Rows without a subscription for a message that
    did owe copies (``in_flight_at_end`` at the close) book those copies.
    """
    owed = r.messages.set_index("msg_id").expected
    whole = r.drops.sub_id.lt(0) & r.drops.queue.isna()
    return whole & r.drops.msg_id.map(owed).eq(0)


def check_balance(r: sim.Result) -> None:
    """Each message's owed copies = its owed deliveries + its drops (no_interest aside)."""
    owed = r.messages.set_index("msg_id").expected
    got = r.deliveries[r.deliveries.expected].groupby("msg_id").size()
    lost = r.drops[~_records(r)].groupby("msg_id").size()
    booked = got.reindex(owed.index, fill_value=0) + lost.reindex(owed.index, fill_value=0)
    assert (booked == owed).all(), owed[booked != owed].head()


def check_books(r: sim.Result) -> None:
    check_balance(r)
    owed = r.messages.set_index("msg_id").expected
    # every message without any interest has exactly one message-level row:
    # no_interest, or why it was lost before a server routed it
    none = r.drops.msg_id[_records(r)]
    assert none.is_unique
    assert set(none) == set(owed[owed == 0].index) - set(r.deliveries.msg_id)
    assert duplicates(r) == 0
    per_sub = r.drops[r.drops.sub_id >= 0]
    assert not per_sub.duplicated(["msg_id", "sub_id"]).any()
    assert "in_flight_at_end" not in set(r.drops.reason)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_bundled_scenarios_account_for_every_message(path):
    """Each bundled scenario keeps the books: delivered or dropped with a reason, once."""
    r = sim.run(path)
    assert len(r.messages) > 0
    check_books(r)
    assert ordering_violations(r) == 0


def test_books_balance_through_interest_churn():
    """Subscriptions coming and going mid-traffic still leave the books balanced."""
    subs = [
        {
            "count": 3,
            "start": f"{0.1 * i:.1f}s",
            "stop": f"{0.1 * i + 0.35:.2f}s",
            "placement": "random",
        }
        for i in range(1, 9)
    ]
    subs += [{"count": 2, "queue": "q", "start": "0.3s", "stop": "0.7s"}]
    sc = scenario(
        [
            {
                "name": "w",
                "kind": "pubsub",
                "subject": "t.x",
                "publishers": {"count": 2, "rate": "2k/s"},
                "subscribers": subs,
            }
        ],
        duration="1.2s",
        route={"dist": "exponential", "mean": "1ms"},
    )
    r = sim.run(sc)
    assert {"interest_not_yet_propagated", "unsubscribed"} <= set(r.drops.reason)
    check_books(r)


def test_queue_fallback_hop_keeps_books():
    """The rsub fallback re-sends a queue message to another server; its plain copies are extra.

    Queue members leave mid-traffic while plain subscribers stay: messages
    routed on stale queue interest take one more hop, and the server there
    hands them to its plain subscribers again (an ordinary RMSG to
    nats-server).  Those copies are duplicates, not owed deliveries.
    """
    sc = scenario(
        [
            {
                "name": "w",
                "kind": "pubsub",
                "subject": "a.{0..19}",
                "publishers": {"count": 5, "rate": "2k/s"},
                "subscribers": [
                    {"count": 200, "placement": "random", "start": "0.5ms", "stop": "2s"},
                    {
                        "count": 50,
                        "placement": "random",
                        "queue": "q1",
                        "start": "1ms",
                        "stop": "1.5s",
                    },
                ],
            }
        ],
        servers=9,
        duration="3s",
        seed=5,
        route="300us",
        client="100us",
    )
    r = sim.run(sc)
    check_books_allowing_duplicates(r)
    assert (r.deliveries.hops == 2).any()  # the fallback hop happened


def check_books_allowing_duplicates(r: sim.Result) -> None:
    owed = r.messages.set_index("msg_id").expected
    got = r.deliveries[r.deliveries.expected].groupby("msg_id").size()
    lost = r.drops[r.drops.reason != "no_interest"].groupby("msg_id").size()
    booked = got.reindex(owed.index, fill_value=0) + lost.reindex(owed.index, fill_value=0)
    assert (booked == owed).all()
    owed_copies = r.deliveries[r.deliveries.expected]
    assert not owed_copies.duplicated(["msg_id", "sub_id"]).any()
