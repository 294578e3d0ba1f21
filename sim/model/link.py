"""One direction of a connection: latency drawn per message, FIFO kept.

A TCP connection never reorders: a message sent later never arrives earlier,
whatever the jitter.  So each message's arrival is ``max(send + latency,
previous arrival)``.  The latency sampler draws from the link's own random
stream, so the draws of one link do not depend on traffic elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from heapq import heappush

from simpy.core import NORMAL

from sim.model.clock import Call, Clock

__all__ = ["Link"]


class Link:
    """A one-way, FIFO connection with sampled latency.

    Parameters
    ----------
    name : str
        For messages and debugging (``"route:a-1->a-2"``).
    clock : Clock
        Where arrivals are scheduled.
    sample : callable
        Returns one latency draw in seconds.
    """

    __slots__ = ("_clock", "_eid", "_queue", "_sample", "last", "name")

    def __init__(self, name: str, clock: Clock, sample: Callable[[], float]) -> None:
        self.name = name
        self._clock = clock
        self._queue = clock.env._queue
        self._eid = clock.env._eid
        self._sample = sample
        self.last = 0.0

    def arrival(self, t_send: float) -> float:
        """Return (and commit) the arrival time of a message sent at ``t_send``."""
        t = t_send + self._sample()
        if t < self.last:
            t = self.last
        self.last = t
        return t

    def send(self, t_send: float, fn: Callable[[Call], None], arg: Any) -> float:
        """Send ``arg`` at ``t_send``; ``fn`` is called at its arrival, which is returned."""
        t = t_send + self._sample()
        if t < self.last:
            t = self.last
        self.last = t
        # Clock.at inlined: this is the one scheduling call per server hop
        self._clock.scheduled += 1
        heappush(self._queue, (t, NORMAL, next(self._eid), Call(fn, arg)))
        return t
