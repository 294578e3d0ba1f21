"""The exception tree of natsim.

Every error natsim raises on purpose derives from :class:`NatsimError`, so the
command line can catch that one class and print a single line.  The message
always carries the offending value.
"""

from __future__ import annotations

__all__ = [
    "NatsimError",
    "ScenarioError",
    "SimulationError",
    "SubjectError",
    "UnitError",
]


class NatsimError(Exception):
    """Base class of every error natsim raises deliberately."""


class UnitError(NatsimError, ValueError):
    """A duration, size or rate string could not be parsed (``'20/sec'``)."""


class SubjectError(NatsimError, ValueError):
    """A NATS subject is not valid where it is used (``'foo..bar'``)."""


class ScenarioError(NatsimError):
    """A scenario file is wrong: bad YAML, unknown key, bad value or reference.

    ``str()`` of the error is the one-line message the CLI prints::

        scenarios/x.yaml:27: workloads[0].requesters.rate: '20/sec' is not a rate

    Parameters
    ----------
    file : str
        The scenario file (or ``"<scenario>"`` for an in-memory dict).
    path : str
        The field path in the scenario, dotted with ``[i]`` for list items;
        empty when the whole file is at fault (a YAML syntax error).
    message : str
        What is wrong, with the offending value.
    line : int or None
        1-based line in the file, when known.
    """

    def __init__(self, file: str, path: str, message: str, line: int | None = None) -> None:
        self.file = file
        self.path = path
        self.message = message
        self.line = line
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """Return ``file[:line]: [path: ]message`` on a single line."""
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = " ".join(self.message.split())
        return f"{where}: {self.path}: {text}" if self.path else f"{where}: {text}"


class SimulationError(NatsimError):
    """An invariant broke during a run (for example a message not accounted for)."""
