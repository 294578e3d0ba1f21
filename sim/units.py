"""Unit strings in scenario files, parsed into canonical numbers.

Scenario files keep units in strings (``250ms``, ``1.5KiB``, ``100/s``) so a
reader never has to guess whether ``250`` meant seconds or milliseconds.  This
module owns the grammar and turns such strings into the canonical units the
model uses: seconds (``float``), bytes (``int``), events per second
(``float``) and kilometres per second (``float``).

A bare number is refused with a hint, because a missing unit is the most
common mistake; the only exception is ``0``, which means the same in every
unit.  Every failure raises :class:`sim.errors.UnitError` with one short line
that quotes the value and shows valid examples::

    '20/sec' is not a rate (use e.g. 20/s, 1.5k/s)
"""

from __future__ import annotations

import math
import re

from sim.errors import UnitError

__all__ = [
    "format_duration",
    "parse_duration",
    "parse_rate",
    "parse_size",
    "parse_speed",
]

#: Each unit as ``(multiplier, divisor)`` to the canonical unit.  Dividing by
#: an exact power of ten keeps ``"100us"`` at exactly ``0.0001`` where
#: multiplying by ``1e-6`` would not.

#: Duration units to seconds.  Both MICRO SIGN (U+00B5) and GREEK SMALL
#: LETTER MU (U+03BC) are accepted for microseconds: keyboards produce either.
_DURATION_UNITS: dict[str, tuple[float, float]] = {
    "ns": (1.0, 1e9),
    "us": (1.0, 1e6),
    "\u00b5s": (1.0, 1e6),
    "\u03bcs": (1.0, 1e6),
    "ms": (1.0, 1e3),
    "s": (1.0, 1.0),
    "m": (60.0, 1.0),
    "min": (60.0, 1.0),
    "h": (3600.0, 1.0),
}

#: Size units to bytes: decimal (KB = 1000) and binary (KiB = 1024) prefixes.
_SIZE_UNITS: dict[str, tuple[float, float]] = {
    "B": (1, 1),
    "KB": (1000, 1),
    "KiB": (1024, 1),
    "MB": (1000**2, 1),
    "MiB": (1024**2, 1),
    "GB": (1000**3, 1),
    "GiB": (1024**3, 1),
    "TB": (1000**4, 1),
    "TiB": (1024**4, 1),
}

#: Multipliers allowed right after a rate's number (``1.5k/s``, ``2M/min``).
_RATE_PREFIXES: dict[str, float] = {"": 1.0, "k": 1e3, "M": 1e6}

#: Rate denominators to events per second; ``m`` is a minute, as in durations.
_RATE_PER: dict[str, tuple[float, float]] = {
    "us": (1e6, 1.0),
    "\u00b5s": (1e6, 1.0),
    "\u03bcs": (1e6, 1.0),
    "ms": (1e3, 1.0),
    "s": (1.0, 1.0),
    "m": (1.0, 60.0),
    "min": (1.0, 60.0),
    "h": (1.0, 3600.0),
}

#: Kilometres per second for each speed unit.
_SPEED_UNITS: dict[str, tuple[float, float]] = {"km/ms": (1000.0, 1.0), "km/s": (1.0, 1.0)}

_NUMBER = r"([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
_NUMBER_RE = re.compile(rf"\s*{_NUMBER}\s*")
_QUANTITY_RE = re.compile(rf"\s*{_NUMBER}\s*([^\s\d.+-]\S*)\s*")
_RATE_RE = re.compile(rf"\s*{_NUMBER}\s*(k|M)?\s*/\s*([^\s/]+)\s*")

_HINTS = {
    "duration": "use e.g. 250ms, 1.5s, 2m",
    "size": "use e.g. 256B, 1.5KiB, 8MiB",
    "rate": "use e.g. 20/s, 1.5k/s",
    "speed": "use e.g. 200km/ms",
}


def _fail(value: object, what: str, why: str = "") -> UnitError:
    """Build the one-line error: the quoted value, what it is not, and a hint."""
    hint = f"{why}; {_HINTS[what]}" if why else _HINTS[what]
    return UnitError(f"'{value}' is not a {what} ({hint})")


def _is_zero(text: str) -> bool:
    """Tell whether ``text`` is a bare number equal to zero (``"0"``, ``" 0.0 "``)."""
    m = _NUMBER_RE.fullmatch(text)
    return m is not None and float(m.group(1)) == 0


def _split(value: object, what: str, units: dict[str, tuple[float, float]]) -> float:
    """Parse ``<number><unit>`` and return the number times the unit's scale.

    Bare ``0`` (number or string) is accepted; every other number needs a
    unit.  The result must be finite and non-negative.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _fail(value, what)
    if not isinstance(value, str):
        if value == 0:
            return 0.0
        raise _fail(value, what)
    if _is_zero(value):
        return 0.0
    m = _QUANTITY_RE.fullmatch(value)
    if m is None or m.group(2) not in units:
        raise _fail(value, what)
    number = float(m.group(1))
    if number < 0:
        raise _fail(value, what, "must not be negative")
    mul, div = units[m.group(2)]
    result = number * mul / div
    if not math.isfinite(result):
        raise _fail(value, what, "too large")
    return result


def parse_duration(text: str | int | float) -> float:
    """Parse a duration such as ``"250ms"`` into seconds.

    Units are ``ns``, ``us`` (or ``µs``), ``ms``, ``s``, ``m`` or ``min``
    (minutes) and ``h``; a space may separate the number and the unit.  A
    bare number is refused, except ``0``, so that ``250`` cannot be silently
    read as 250 seconds.

    Parameters
    ----------
    text : str or int or float
        The value from the scenario file.

    Returns
    -------
    float
        The duration in seconds, ``>= 0``.

    Raises
    ------
    UnitError
        If the unit is missing or unknown, the value is negative, or the
        input is not a string or number.

    Examples
    --------
    >>> parse_duration("250ms")
    0.25
    >>> parse_duration("2m")
    120.0
    >>> parse_duration("100 us")
    0.0001
    >>> parse_duration(0)
    0.0
    >>> parse_duration("250")
    Traceback (most recent call last):
      ...
    sim.errors.UnitError: '250' is not a duration (use e.g. 250ms, 1.5s, 2m)
    """
    return _split(text, "duration", _DURATION_UNITS)


def parse_size(text: str | int | float) -> int:
    """Parse a size such as ``"1.5KiB"`` into bytes.

    Units are ``B``, the decimal ``KB``/``MB``/``GB``/``TB`` (powers of 1000)
    and the binary ``KiB``/``MiB``/``GiB``/``TiB`` (powers of 1024).  A bare
    number is refused, except ``0``.  Fractional results are rounded to the
    nearest byte.

    Parameters
    ----------
    text : str or int or float
        The value from the scenario file.

    Returns
    -------
    int
        The size in bytes, ``>= 0``.

    Raises
    ------
    UnitError
        If the unit is missing or unknown, the value is negative, or the
        input is not a string or number.

    Examples
    --------
    >>> parse_size("256B")
    256
    >>> parse_size("1.5KiB")
    1536
    >>> parse_size("8MiB")
    8388608
    >>> parse_size("1.5XB")
    Traceback (most recent call last):
      ...
    sim.errors.UnitError: '1.5XB' is not a size (use e.g. 256B, 1.5KiB, 8MiB)
    """
    return round(_split(text, "size", _SIZE_UNITS))


def parse_rate(text: str | int | float) -> float:
    """Parse a rate such as ``"1.5k/s"`` into events per second.

    The form is ``<number>[k|M]/<unit>`` with unit ``us``, ``ms``, ``s``,
    ``m`` or ``min`` (a minute) or ``h``.  ``0/s`` (and a bare ``0``) mean no
    events at all.

    Parameters
    ----------
    text : str or int or float
        The value from the scenario file.

    Returns
    -------
    float
        Events per second, ``>= 0``.

    Raises
    ------
    UnitError
        If the form or unit is wrong (``20/sec``, ``20``), the value is
        negative, or the input is not a string or number.

    Examples
    --------
    >>> parse_rate("100/s")
    100.0
    >>> parse_rate("1.5k/s")
    1500.0
    >>> parse_rate("30/h")
    0.008333333333333333
    >>> parse_rate("20/sec")
    Traceback (most recent call last):
      ...
    sim.errors.UnitError: '20/sec' is not a rate (use e.g. 20/s, 1.5k/s)
    """
    if not isinstance(text, str):
        return _split(text, "rate", {})  # only a bare 0 passes
    m = _RATE_RE.fullmatch(text)
    if m is None or m.group(3) not in _RATE_PER:
        if _is_zero(text):
            return 0.0
        raise _fail(text, "rate")
    number = float(m.group(1)) * _RATE_PREFIXES[m.group(2) or ""]
    if number < 0:
        raise _fail(text, "rate", "must not be negative")
    mul, div = _RATE_PER[m.group(3)]
    result = number * mul / div
    if not math.isfinite(result):
        raise _fail(text, "rate", "too large")
    return result


def parse_speed(text: str | int | float) -> float:
    """Parse a propagation speed such as ``"200km/ms"`` into km per second.

    Used for the signal speed in fibre, from which one-way latency follows
    distance.  Units are ``km/ms`` and ``km/s``.  The speed must be positive
    since latency is distance divided by it.

    Parameters
    ----------
    text : str or int or float
        The value from the scenario file.

    Returns
    -------
    float
        Kilometres per second, ``> 0``.

    Raises
    ------
    UnitError
        If the unit is missing or unknown, or the speed is not positive.

    Examples
    --------
    >>> parse_speed("200km/ms")
    200000.0
    >>> parse_speed("3e5 km/s")
    300000.0
    """
    result = _split(text, "speed", _SPEED_UNITS)
    if result <= 0:
        raise _fail(text, "speed", "must be positive")
    return result


#: Units for :func:`format_duration` below a minute: name, seconds, and the
#: value at which the next larger unit takes over.
_DISPLAY_UNITS = (("ns", 1e-9, 1000), ("µs", 1e-6, 1000), ("ms", 1e-3, 1000), ("s", 1.0, 60))


def _trim(number: float) -> str:
    """Format with up to four significant digits and no trailing zeros."""
    return f"{number:.4g}"


def format_duration(seconds: float) -> str:
    """Format seconds for people: ``250ms``, ``1.5s``, ``12µs``, ``2m30s``.

    Below a minute the largest unit that keeps the number at least 1 is used,
    with up to four significant digits, so the text parses back with
    :func:`parse_duration`.  From a minute on, the value is split into
    minutes and seconds, and from an hour on into whole hours, minutes and
    seconds (zero seconds left out).

    Parameters
    ----------
    seconds : float
        A duration in seconds; negative values get a leading ``-``.

    Returns
    -------
    str
        The readable duration.

    Examples
    --------
    >>> format_duration(0.25)
    '250ms'
    >>> format_duration(1.5)
    '1.5s'
    >>> format_duration(12e-6)
    '12µs'
    >>> format_duration(150)
    '2m30s'
    >>> format_duration(7200)
    '2h0m'
    >>> format_duration(0)
    '0s'
    """
    if not math.isfinite(seconds):
        return str(seconds)
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds == 0:
        return "0s"
    for unit, scale, limit in _DISPLAY_UNITS:
        text = _trim(seconds / scale)
        if float(text) < limit:
            return f"{text}{unit}"
    minutes, rest = divmod(seconds, 60.0)
    text = _trim(rest)
    if float(text) >= 60:  # 59.9999s would print as "60s"
        minutes, text = minutes + 1, "0"
    if minutes < 60:
        return f"{int(minutes)}m{text}s"
    hours, rest_s = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest_s, 60)
    return f"{hours}h{minutes}m{secs}s" if secs else f"{hours}h{minutes}m"
