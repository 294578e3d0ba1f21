"""One direction of a connection: latency drawn per message, FIFO kept.

A TCP connection never reorders: a message sent later never arrives earlier,
whatever the jitter.  So each message's arrival is ``max(send + latency,
previous arrival)``.  The latency sampler draws from the link's own random
stream, so the draws of one link do not depend on traffic elsewhere.
"""

from __future__ import annotations

import operator
import random
from collections.abc import Callable
from heapq import heappush
from typing import Any

from simpy.core import NORMAL

from sim.model.clock import Call, Clock
from sim.rng import Dist, make_sampler

__all__ = ["Link"]

_new = object.__new__


def _closure_vars(fn: Callable[[], float]) -> dict[str, Any]:
    """Return the free variables of the closure ``fn`` by name."""
    cells = fn.__closure__ or ()
    return dict(zip(fn.__code__.co_freevars, (c.cell_contents for c in cells), strict=True))


def _uniform_code() -> Any:
    """Return the code of :func:`sim.rng.make_sampler`'s uniform sampler, if it can be inlined.

    That sampler is ``low + span * rv()`` with ``rv`` the stream's ``random``.
    The check draws a few values both ways; if the formula ever changes, the
    links simply keep calling the sampler.
    """
    sample = make_sampler(Dist.of("uniform", low=0.25, high=1.75), random.Random(7))
    try:
        v = _closure_vars(sample)
        low, span, rv = v["low"], v["span"], v["rv"]
        check = random.Random(7).random
        if all(sample() == low + span * check() for _ in range(8)) and rv is not None:
            return sample.__code__
    except (AttributeError, KeyError, TypeError, ValueError):
        pass
    return None


_UNIFORM = _uniform_code()

#: ``random.Random.random``, unbound
_RANDOM = random.Random.random

#: float parameters of the links, one object per value
_FLOATS: dict[float, float] = {}


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

    Attributes
    ----------
    low, span, draw, stream
        A latency draw is ``low + span * draw(stream)``, which the hot paths
        inline.  For :mod:`sim.rng`'s uniform sampler that is the sampler's
        own formula without its Python call: ``stream`` is its
        :class:`random.Random` and ``draw`` the unbound ``random`` method
        (one object fewer to touch per draw than a bound method).  Otherwise
        ``draw(stream)`` is ``operator.call(sample)``, with ``low = 0.0`` and
        ``span = 1.0``, which leave the draw unchanged (``0.0 + 1.0 * x == x``
        for the non-negative draws of every sampler).  Equal ``low`` and
        ``span`` values are shared float objects, which keeps them in cache.
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

    def __init__(self, name: str, clock: Clock, sample: Callable[[], float]) -> None:
        self.name = name
        self._clock = clock
        self._queue = clock.env._queue
        self._eid = clock.env._eid
        self._sample = sample
        self.low, self.span = 0.0, 1.0
        self.draw: Callable[[Any], float] = operator.call
        self.stream: Any = sample
        if _UNIFORM is not None and getattr(sample, "__code__", None) is _UNIFORM:
            v = _closure_vars(sample)
            rng = getattr(v["rv"], "__self__", None)
            if isinstance(rng, random.Random) and type(rng).random is _RANDOM:
                self.low = _FLOATS.setdefault(v["low"], v["low"])
                self.span = _FLOATS.setdefault(v["span"], v["span"])
                self.draw, self.stream = _RANDOM, rng
        self.last = 0.0

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
