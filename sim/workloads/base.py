"""What the workload drivers share: arrival processes and client naming.

A driver never pre-schedules a whole workload: each publisher re-arms itself
from its own callback (PERFORMANCE.md), so pending events stay near
rate × latency × hops however long the run.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Protocol

from sim.model.clock import Call, Clock
from sim.model.network import Network
from sim.subjects import expand_subject_template

__all__ = ["Arrivals", "Builder", "client_subjects"]


class Builder(Protocol):
    """Builds a workload's clients on ``net`` and schedules their activity until ``end``."""

    def __call__(self, net: Network, spec: object, wid: int, end: float) -> None: ...


def client_subjects(template: str, k: int) -> str:
    """Return the subject of the k-th subscribing client: the template's k-th expansion, cyclic."""
    subjects = expand_subject_template(template)
    return subjects[k % len(subjects)]


class Arrivals:
    """Calls ``fire`` at a constant rate or as a Poisson process, from ``start`` until ``stop``.

    A constant-rate source starts at a random phase so that several of them do
    not fire in lock-step.
    """

    __slots__ = ("_at", "_clock", "_fire", "_gap", "_stop")

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
        self._at = clock.at
        self._fire = fire
        self._stop = stop
        if rate <= 0:
            return
        if poisson:
            self._gap: Callable[[], float] = lambda: rng.expovariate(rate)
            first = start + self._gap()
        else:
            period = 1.0 / rate
            self._gap = lambda: period
            first = start + rng.random() * period
        if first < stop:
            self._at(first, self._tick)

    def _tick(self, ev: Call) -> None:
        self._fire()
        t = self._clock.env._now + self._gap()
        if t < self._stop:
            self._at(t, self._tick)
