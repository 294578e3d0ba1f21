"""Publish/subscribe fan-out: publishers at a rate, plain and queue subscribers."""

from __future__ import annotations

import random
from collections.abc import Callable

from sim.model.client import Client
from sim.model.clock import Call
from sim.model.network import Network
from sim.scenario.spec import PubSubWorkload, Subscribers
from sim.subjects import expand_subject_template
from sim.trace import MsgKind
from sim.workloads.base import Arrivals, client_subjects

__all__ = ["build_pubsub"]

_PUBLISH = MsgKind.PUBLISH


def build_pubsub(net: Network, spec: PubSubWorkload, wid: int, end: float) -> None:
    """Create the workload's subscribers and publishers and schedule them."""
    for g, group in enumerate(spec.subscribers):
        _build_subscribers(net, spec, wid, g, group, end)
    pubs = spec.publishers
    if pubs is None:
        return
    subjects = expand_subject_template(pubs.subject or spec.subject)
    stop = end if pubs.stop is None else min(pubs.stop, end)
    servers = net.place(pubs, f"placement:{spec.name}:pub")
    for i, server in enumerate(servers):
        name = f"{spec.name}.pub{i}"
        client = net.add_client(name, spec.name, wid, "publisher", server, pubs)
        rng = net.streams.stream(f"pub:{name}")
        Arrivals(
            net.clock,
            rng,
            pubs.rate,
            pubs.arrival == "poisson",
            pubs.start,
            stop,
            _publisher(client, rng, subjects, pubs.size),
        )


def _publisher(
    client: Client, rng: random.Random, subjects: list[str], size: int
) -> Callable[[], None]:
    """Return the function that publishes one message on a random subject of ``subjects``."""
    n = len(subjects)
    if n == 1 or type(rng)._randbelow is not random.Random._randbelow_with_getrandbits:

        def fire() -> None:
            client.publish(subjects[rng.randrange(n)] if n > 1 else subjects[0], size, _PUBLISH)

        return fire
    getrandbits, k = rng.getrandbits, n.bit_length()

    def fire_fast() -> None:
        # rng.randrange(n) as CPython computes it (Random._randbelow_with_getrandbits),
        # same draws without its two Python calls: one message per call
        i = getrandbits(k)
        while i >= n:
            i = getrandbits(k)
        client.publish(subjects[i], size, _PUBLISH)

    return fire_fast


def _build_subscribers(
    net: Network, spec: PubSubWorkload, wid: int, g: int, group: Subscribers, end: float
) -> None:
    template = group.subject or spec.subject
    servers = net.place(group, f"placement:{spec.name}:sub{g}")
    for k, server in enumerate(servers):
        suffix = f"sub{k}" if g == 0 else f"sub{g}.{k}"
        client = net.add_client(
            f"{spec.name}.{suffix}", spec.name, wid, "subscriber", server, group
        )
        subject = client_subjects(template, k)
        client.read_rate = group.read_rate

        def start(ev: Call, client=client, subject=subject) -> None:
            sub = client.subscribe(subject, group.queue)
            if group.stop is not None and group.stop < end:
                net.clock.at(group.stop, lambda _ev: client.unsubscribe(sub))

        net.clock.at(group.start, start)
