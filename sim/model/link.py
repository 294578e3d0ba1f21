"""One direction of a connection: latency drawn per message, FIFO kept.

A TCP connection never reorders: a message sent later never arrives earlier,
whatever the jitter.  So each message's arrival is ``max(send + latency,
previous arrival)``.  The latency sampler draws from the link's own random
stream, so the draws of one link do not depend on traffic elsewhere.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from heapq import heappush
from typing import Any

from simpy.core import NORMAL

from sim.model.clock import Call, Clock
from sim.rng import Affine

__all__ = ["Link"]

_new = object.__new__


class Link:
    """A one-way, FIFO connection with sampled latency.

    Parameters
    ----------
    name : str
        For messages and debugging (``"route:a-1->a-2"``).
    clock : Clock
        Where arrivals are scheduled.
    sample : callable or Affine
        Returns one latency draw in seconds; an :class:`~sim.rng.Affine` form
        (from :func:`sim.rng.affine_sampler`) lets the hot paths inline it.

    Attributes
    ----------
    low, span, draw, stream
        A latency draw is ``low + span * draw(stream)`` (see
        :class:`~sim.rng.Affine`), which the hot paths inline.
    last : float
        Arrival time of the latest message; the next one never arrives earlier.
    """

    __slots__ = (
        "_clock",
        "_eid",
        "_queue",
        "_sample",
        "draw",
        "last",
        "low",
        "name",
        "span",
        "stream",
    )

    def __init__(self, name: str, clock: Clock, sample: Callable[[], float] | Affine) -> None:
        self.name = name
        self._clock = clock
        self._queue = clock.env._queue
        self._eid = clock.env._eid
        self._sample = sample
        if not isinstance(sample, Affine):
            sample = Affine(0.0, 1.0, operator.call, sample)
        self.low, self.span, self.draw, self.stream = sample
        self.last = 0.0

    def __repr__(self) -> str:
        return f"<Link {self.name}>"

    def arrival(self, t_send: float) -> float:
        """Return (and commit) the arrival time of a message sent at ``t_send``."""
        t = t_send + (self.low + self.span * self.draw(self.stream))
        if t < self.last:
            t = self.last
        self.last = t
        return t

    def send(self, t_send: float, fn: Callable[[Call], None], arg: Any) -> float:
        """Send ``arg`` at ``t_send``; ``fn`` is called at its arrival, which is returned."""
        t = t_send + (self.low + self.span * self.draw(self.stream))
        if t < self.last:
            t = self.last
        self.last = t
        # Clock.at inlined: this is the one scheduling call per server hop
        self._clock.scheduled += 1
        c = _new(Call)
        c.callbacks = [fn]
        c._value = arg
        heappush(self._queue, (t, NORMAL, next(self._eid), c))
        return t
