"""What the workload drivers share: arrival processes and client naming.

A driver never pre-schedules a whole workload: each publisher re-arms itself
from its own callback (PERFORMANCE.md), so pending events stay near
rate × latency × hops however long the run.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import lru_cache
from heapq import heappush
from typing import Protocol

from sim.model.clock import NORMAL, Call, Clock
from sim.model.network import Network
from sim.subjects import expand_subject_template

__all__ = ["Arrivals", "Builder", "client_subjects"]

_new = object.__new__


class Builder(Protocol):
    """Builds a workload's clients on ``net`` and schedules their activity until ``end``."""

    def __call__(self, net: Network, spec: object, wid: int, end: float) -> None:
        """Build the workload ``spec`` (id ``wid``) on ``net``, active until ``end``."""


@lru_cache(maxsize=64)
def _expansions(template: str) -> tuple[str, ...]:
    """Expand ``template`` once for all the clients of a group (it is part of the timed build)."""
    return tuple(expand_subject_template(template))


def client_subjects(template: str, k: int) -> str:
    """Return the subject of the k-th subscribing client: the template's k-th expansion, cyclic."""
    subjects = _expansions(template)
    return subjects[k % len(subjects)]


class Arrivals:
    """Calls ``fire`` at a constant rate or as a Poisson process, from ``start`` until ``stop``.

    A constant-rate source starts at a random phase so that several of them do
    not fire in lock-step.
    """

    __slots__ = ("_cbs", "_clock", "_fire", "_gap", "_period", "_stop")

    def __init__(
        self,
        clock: Clock,
        rng: random.Random,
        rate: float,
        poisson: bool,
        start: float,
        stop: float,
        fire: Callable[[], None],
    ) -> None:
        self._clock = clock
        self._fire = fire
        self._stop = stop
        #: the callbacks of every tick's Call (see Clock)
        self._cbs = (self._tick,)
        self._gap: Callable[[], float] | None = None
        self._period = 0.0
        if rate <= 0:
            return
        if poisson:
            self._gap = lambda: rng.expovariate(rate)
            first = start + self._gap()
        else:
            self._period = 1.0 / rate
            first = start + rng.random() * self._period
        if first < stop:
            clock.at(first, self._tick)

    def _tick(self, ev: Call) -> None:
        self._fire()
        clock = self._clock
        t = clock.env._now + (self._period if self._gap is None else self._gap())
        if t < self._stop:
            # Clock.at inlined (t is not in the past): one tick per message published
            clock.scheduled += 1
            c = _new(Call)
            c.callbacks = self._cbs
            c._value = None
            heappush(clock._queue, (t, NORMAL, next(clock._eid), c))
