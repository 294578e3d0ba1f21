"""Request/reply: first reply wins, timeouts, no responders, stale interest, scatter-gather."""

from __future__ import annotations

import sim
from tests.conftest import scenario


def service(responders: dict | list | None, requesters: dict, name: str = "svc") -> dict:
    w = {"name": name, "kind": "request_reply", "subject": "svc.x", "requesters": requesters}
    if responders is not None:
        w["responders"] = responders
    return w


def test_requests_succeed_and_first_reply_wins():
    """With responders in a queue group each request gets exactly one reply, outcome ok."""
    sc = scenario(
        [
            service(
                {"count": 3, "queue": "q", "service_time": "1ms"},
                {"count": 2, "servers": ["c-1"], "rate": "50/s", "start": "0.5s"},
            )
        ],
        duration="3s",
    )
    r = sim.run(sc)
    assert len(r.requests) > 100
    assert (r.requests.outcome == "ok").all()
    assert (r.requests.replies == 1).all()
    # latency = request leg + service + reply leg; at least the 1 ms service time
    assert (r.requests.latency >= 0.001).all()
    assert r.requests.responder.notna().all()


def test_first_reply_wins_among_several_responders():
    """Without a queue group every responder replies; the requester keeps the first."""
    sc = scenario(
        [
            service(
                {"per_server": 1, "service_time": {"dist": "exponential", "mean": "2ms"}},
                {"count": 1, "servers": ["c-1"], "rate": "20/s", "start": "0.5s"},
            )
        ],
        duration="3s",
    )
    r = sim.run(sc)
    assert (r.requests.outcome == "ok").all()
    assert (r.requests.replies == 1).all()
    replies = r.messages[r.messages.kind == "reply"]
    assert len(replies) == 3 * len(r.requests)  # three replies sent, one counted
    first = replies.groupby("request_id").time.min()
    winner_send = replies.set_index(["request_id", "client"]).time
    req = r.requests.set_index("msg_id")
    chosen = [winner_send[(mid, req.loc[mid, "responder"])] for mid in req.index]
    # the winner is a responder whose reply reached the requester first; with
    # equal legs here that is the one that sent first
    assert (abs(first.loc[req.index].to_numpy() - chosen) < 1e-3).all()


def test_timeout_when_service_is_slower_than_timeout():
    """A reply later than the requester's timeout counts as a timeout (client-side)."""
    sc = scenario(
        [
            service(
                {"count": 1, "service_time": "300ms"},
                {"count": 1, "rate": "2/s", "timeout": "100ms", "start": "0.5s"},
            )
        ],
        duration="3s",
    )
    r = sim.run(sc)
    assert (r.requests.outcome == "timeout").all()
    assert ((r.requests.end - r.requests.start).round(6) == 0.1).all()


def test_default_timeout_is_nats_py_half_second():
    """Without a timeout the requester waits nats.py's default 0.5 s."""
    sc = scenario(
        [
            service(
                {"count": 1, "service_time": "700ms"}, {"count": 1, "rate": "1/s", "start": "0.5s"}
            )
        ],
        duration="3s",
    )
    r = sim.run(sc)
    assert ((r.requests.end - r.requests.start).round(6) == 0.5).all()


def test_no_responders_comes_back_fast():
    """With no subscriber anywhere the server answers 503 at once: outcome no_responders."""
    sc = scenario(
        [service(None, {"count": 1, "servers": ["c-1"], "rate": "20/s", "start": "0.5s"})],
        duration="2s",
        client="100us",
    )
    r = sim.run(sc)
    assert len(r.requests) > 10
    assert (r.requests.outcome == "no_responders").all()
    # settled after one client round trip, long before the 0.5 s timeout
    assert ((r.requests.end - r.requests.start) < 0.001).all()
    assert set(r.drops.reason) == {"no_interest"}


def test_stale_interest_times_out_instead_of_no_responders():
    """A request forwarded on stale route interest counts as delivered: no 503, a timeout.

    The only responder (on c-2) leaves at 1 s; c-1 learns it 1 ms + 0.1 ms
    later.  Requests reaching c-1 in between are forwarded to c-2, find
    nobody, and time out; later ones get 503 at once.
    """
    sc = scenario(
        [
            service(
                {"count": 1, "servers": ["c-2"], "stop": "1s", "service_time": "0s"},
                {
                    "count": 1,
                    "servers": ["c-1"],
                    "rate": "10k/s",
                    "arrival": "constant",
                    "start": "0.995s",
                    "stop": "1.005s",
                    "timeout": "50ms",
                },
            )
        ],
        duration="1.1s",
        route="1ms",
        client="100us",
    )
    r = sim.run(sc)
    req = r.requests
    t = req.start
    assert (req[t < 0.9989].outcome == "ok").all()
    window = req[(t > 0.99995) & (t < 1.0009)]
    assert len(window) >= 5 and (window.outcome == "timeout").all()
    assert (req[t > 1.0011].outcome == "no_responders").all()


def test_scatter_gather_collects_all_replies_in_window():
    """In gather mode a request counts every reply that arrives within the window."""
    sc = scenario(
        [
            service(
                {"per_server": 2, "service_time": "1ms"},
                {"count": 1, "rate": "10/s", "gather": "50ms", "start": "0.5s"},
            )
        ],
        duration="2s",
    )
    r = sim.run(sc)
    assert (r.requests.replies == 6).all()
    assert (r.requests.outcome == "ok").all()
    assert ((r.requests.end - r.requests.start).round(6) == 0.05).all()


def test_scatter_gather_misses_slow_responders():
    """Replies after the gather window are not counted."""
    sc = scenario(
        [
            service(
                [{"count": 2, "service_time": "1ms"}, {"count": 1, "service_time": "200ms"}],
                {"count": 1, "rate": "2/s", "gather": "50ms", "start": "0.5s"},
            )
        ],
        duration="2s",
    )
    r = sim.run(sc)
    assert (r.requests.replies == 2).all()


def test_responder_serves_one_request_at_a_time():
    """A responder is a single queue: a burst waits behind the service time."""
    sc = scenario(
        [
            service(
                {"count": 1, "service_time": "10ms"},
                {
                    "count": 1,
                    "rate": "200/s",
                    "arrival": "constant",
                    "start": "0.5s",
                    "stop": "0.6s",
                    "timeout": "5s",
                },
            )
        ],
        duration="1s",
    )
    r = sim.run(sc)
    assert (r.requests.outcome == "ok").all()
    # 20 requests, 5 ms apart, each needing 10 ms: the queue grows
    assert r.requests.latency.iloc[-1] > r.requests.latency.iloc[0] + 0.08
