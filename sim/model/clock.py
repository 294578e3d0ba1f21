"""The scheduling façade between the model and the SimPy kernel.

The model schedules work in one way only: ``clock.at(t, fn, arg)`` — call
``fn(event)`` at simulated time ``t`` with ``event._value == arg``.  There is no
generator process per message: one entry on SimPy's event queue per server
hop, as ../shared/docs/PERFORMANCE.md measured to be the fast design.  Keeping
all scheduling here means the kernel could be swapped for a hand-written heap
loop without touching the model.

The entries are tiny slotted objects that look like a triggered
:class:`simpy.events.Event` to ``Environment.step`` (``callbacks``, ``_ok``,
``_value``): the model never waits on them, it only has them called back.

The hot paths (:meth:`Link.send <sim.model.link.Link.send>`, the server's
fan-out) push entries themselves, following the rules of :meth:`Clock.at`.
They create a Call with ``object.__new__`` and set its two slots, which saves
an ``__init__`` frame; ``callbacks`` may then be a ``(handler,)`` tuple shared
by many Calls, since ``Environment.step`` only rebinds the attribute.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from heapq import heappush
from typing import Any

import simpy
from simpy.core import NORMAL

__all__ = ["NORMAL", "Call", "Clock"]

_new = object.__new__


class Call:
    """A scheduled callback; what SimPy's ``step`` sees as an already triggered event."""

    __slots__ = ("_value", "callbacks")

    #: every Call has succeeded; a class attribute saves a slot store per event
    _ok = True

    def __init__(self, fn: Callable[[Call], None], arg: Any) -> None:
        #: ``[fn]``, or a ``(fn,)`` tuple shared by many Calls; None once run
        self.callbacks: Sequence[Callable[[Call], None]] | None = [fn]
        self._value = arg

    @property
    def value(self) -> Any:
        """The argument given to :meth:`Clock.at`."""
        return self._value


class Clock:
    """Schedules callbacks on a :class:`simpy.Environment`.

    Parameters
    ----------
    env : simpy.Environment
        The kernel; control-plane processes (fault schedules, reconnect loops)
        run on it as ordinary SimPy processes.

    Attributes
    ----------
    scheduled : int
        Calls scheduled so far (the SimPy events of the model).
    """

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self._queue = env._queue
        self._eid = env._eid
        self.scheduled = 0

    @property
    def now(self) -> float:
        """The current simulated time in seconds."""
        return self.env._now

    def at(self, t: float, fn: Callable[[Call], None], arg: Any = None) -> None:
        """Call ``fn`` at absolute time ``t`` (not before now) with ``arg`` as the event value.

        Calls at equal times run in the order they were scheduled, which is what
        keeps a connection FIFO when two messages arrive at the same instant.
        """
        now = self.env._now
        if t < now:
            t = now
        self.scheduled += 1
        c = _new(Call)
        c.callbacks = [fn]
        c._value = arg
        heappush(self._queue, (t, NORMAL, next(self._eid), c))

    def after(self, delay: float, fn: Callable[[Call], None], arg: Any = None) -> None:
        """Call ``fn`` ``delay`` seconds from now."""
        self.at(self.env._now + delay, fn, arg)
