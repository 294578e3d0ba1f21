"""Subject patterns as sets: intersection, subset, and wildcard-preserving mappings.

Account imports need more than matching one subject against one pattern
(:func:`sim.subjects.subject_matches`): a subscription in an importing
account must be turned into a *shadow* subscription in the exporting
account's subject space (nats-server ``addShadowSubscriptions`` and
``addShadowSub`` in ``server/client.go``), and a service request must be
mapped from the importer's subject to the exporter's.  Both are built from
three operations on patterns, each a set of literal subjects:

* :func:`intersect` — the pattern matching exactly the subjects both match;
* :func:`is_subset` — whether every subject one matches the other matches
  (nats-server ``isSubsetMatch``);
* :class:`Mapping` — a map from one pattern's space to another's that keeps
  the tokens the wildcards matched (``weather.>`` → ``wx.>`` sends
  ``weather.nyc.temp`` to ``wx.nyc.temp``), the positional form of
  nats-server's ``SubjectTransform`` that imports with ``to``/``prefix`` use.
"""

from __future__ import annotations

from sim.errors import SubjectError

__all__ = ["Mapping", "intersect", "is_subset", "wildcards"]

PWC = "*"
FWC = ">"


def wildcards(pattern: str) -> tuple[str, ...]:
    """The wildcard tokens of ``pattern``, in order (``("*", ">")`` for ``a.*.b.>``)."""
    return tuple(t for t in pattern.split(".") if t in (PWC, FWC))


def _meet(a: list[str], b: list[str]) -> list[str] | None:
    """Token-wise intersection of two token lists, or None when they share no subject."""
    out: list[str] = []
    i = 0
    while i < len(a) and i < len(b):
        x, y = a[i], b[i]
        if x == FWC:
            rest = b[i:]
            return out + rest
        if y == FWC:
            return out + a[i:]
        if x == PWC:
            out.append(y)
        elif y == PWC or x == y:
            out.append(x)
        else:
            return None
        i += 1
    return out if len(a) == len(b) else None


def intersect(a: str, b: str) -> str | None:
    """The pattern matching exactly the subjects matched by both ``a`` and ``b``.

    Literal tokens win over ``*``; ``>`` takes the other side's remaining
    tokens (at least one).  ``None`` when no subject matches both.

    >>> intersect("*.nyc", "wx.>")
    'wx.nyc'
    >>> intersect(">", "wx.>")
    'wx.>'
    >>> intersect("a.b", "a.c") is None
    True
    """
    out = _meet(a.split("."), b.split("."))
    return None if out is None else ".".join(out)


def is_subset(a: str, b: str) -> bool:
    """True when every subject ``a`` matches, ``b`` matches too (nats-server ``isSubsetMatch``).

    >>> is_subset("wx.nyc", "wx.>")
    True
    >>> is_subset("wx.>", "wx.*")
    False
    """
    return intersect(a, b) == a


class Mapping:
    """Maps subjects (or sub-patterns) of ``src`` to the subject space of ``dst``.

    ``src`` and ``dst`` must have the same wildcard tokens in the same order;
    their literal tokens may differ in number and value.  A subject matched
    by ``src`` is cut at ``src``'s tokens: what each ``*`` matched (one token)
    and what ``>`` matched (the rest) fill ``dst``'s wildcards in turn.  A
    pattern that is a subset of ``src`` maps the same way, its own wildcards
    carried along, which is how a subscription's shadow subject is computed.

    >>> Mapping("wx.>", "weather.>")("wx.nyc.temp")
    'weather.nyc.temp'
    >>> Mapping("a.*.x", "b.c.*")("a.7.x")
    'b.c.7'
    """

    __slots__ = ("dst", "src")

    def __init__(self, src: str, dst: str) -> None:
        if wildcards(src) != wildcards(dst):
            raise SubjectError(
                f"'{dst}' must have the same wildcards as '{src}' in the same order "
                f"({' '.join(wildcards(src)) or 'none'})"
            )
        self.src = src.split(".")
        self.dst = dst.split(".")

    def __call__(self, subject: str) -> str:
        """Map ``subject`` (a subject or a pattern that is a subset of ``src``)."""
        toks = subject.split(".")
        caps: list[list[str]] = []
        for i, t in enumerate(self.src):
            if t == FWC:
                caps.append(toks[i:])
                break
            if t == PWC:
                caps.append([toks[i]])
        out: list[str] = []
        k = 0
        for t in self.dst:
            if t in (PWC, FWC):
                out.extend(caps[k])
                k += 1
            else:
                out.append(t)
        return ".".join(out)

    def reverse(self) -> Mapping:
        """The mapping from ``dst``'s space back to ``src``'s."""
        return Mapping(".".join(self.dst), ".".join(self.src))
