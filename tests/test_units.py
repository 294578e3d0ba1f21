"""Tests for sim.units: duration, size, rate and speed strings."""

from __future__ import annotations

import doctest
import math
import re

import pytest

import sim.units
from sim.errors import NatsimError, UnitError
from sim.units import format_duration, parse_duration, parse_rate, parse_size, parse_speed


def test_doctests() -> None:
    """The Examples in the module's docstrings run as written."""
    assert doctest.testmod(sim.units).failed == 0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("1.5s", 1.5),
        ("2m", 120.0),
        ("2min", 120.0),
        ("1h", 3600.0),
        ("100us", 1e-4),
        ("100µs", 1e-4),
        ("100μs", 1e-4),
        ("10ns", 1e-8),
        ("0s", 0.0),
        ("250 ms", 0.25),
        (" 3s ", 3.0),
        (".5s", 0.5),
        ("1e3ms", 1.0),
        ("0", 0.0),
        (0, 0.0),
        (0.0, 0.0),
    ],
)
def test_parse_duration_valid(text: str | float, seconds: float) -> None:
    """A number with a known duration unit (or a bare zero) becomes seconds."""
    assert parse_duration(text) == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize(
    "text", ["250", 250, 1.5, "", "ms", "5 sec", "5S", "-5ms", "5ms5s", "1e999s", "nan", "inf"]
)
def test_parse_duration_invalid(text: object) -> None:
    """Missing or unknown units, negatives and non-finite values are refused."""
    with pytest.raises(UnitError, match="is not a duration"):
        parse_duration(text)  # type: ignore[arg-type]


def test_duration_message_is_exact() -> None:
    """A bare number gets the value and a hint with examples."""
    with pytest.raises(UnitError) as info:
        parse_duration("250")
    assert str(info.value) == "'250' is not a duration (use e.g. 250ms, 1.5s, 2m)"


@pytest.mark.parametrize("value", [[1], {"a": 1}, True, False, None, (1, "s")])
def test_non_scalar_inputs_are_unit_errors(value: object) -> None:
    """Lists, dicts, bools and None are UnitErrors in the same form, for every parser."""
    for parse, what in [
        (parse_duration, "duration"),
        (parse_size, "size"),
        (parse_rate, "rate"),
        (parse_speed, "speed"),
    ]:
        with pytest.raises(UnitError, match="^" + re.escape(f"'{value}' is not a {what} (")):
            parse(value)  # type: ignore[arg-type]


def test_unit_error_is_natsim_and_value_error() -> None:
    """UnitError can be caught as NatsimError (CLI) or ValueError (pydantic)."""
    with pytest.raises(NatsimError):
        parse_size("5")
    with pytest.raises(ValueError):
        parse_size("5")


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("256B", 256),
        ("1KB", 1000),
        ("1.5KiB", 1536),
        ("8MiB", 8 * 1024**2),
        ("2MB", 2_000_000),
        ("1GB", 10**9),
        ("1GiB", 1024**3),
        ("1 KiB", 1024),
        ("0.4B", 0),
        ("0.6B", 1),
        ("0", 0),
        (0, 0),
    ],
)
def test_parse_size_valid(text: str | int, size: int) -> None:
    """Decimal and binary prefixes give whole bytes, rounded."""
    result = parse_size(text)
    assert result == size
    assert isinstance(result, int)


@pytest.mark.parametrize("text", ["256", 256, "1.5XB", "1kb", "1kib", "-1KiB", "KiB"])
def test_parse_size_invalid(text: object) -> None:
    """Sizes need a known, case-exact unit and must not be negative."""
    with pytest.raises(UnitError, match="is not a size"):
        parse_size(text)  # type: ignore[arg-type]


def test_size_message_is_exact() -> None:
    """An unknown size unit names the value and shows valid examples."""
    with pytest.raises(UnitError) as info:
        parse_size("1.5XB")
    assert str(info.value) == "'1.5XB' is not a size (use e.g. 256B, 1.5KiB, 8MiB)"


@pytest.mark.parametrize(
    ("text", "per_second"),
    [
        ("100/s", 100.0),
        ("1.5k/s", 1500.0),
        ("2M/min", 2e6 / 60),
        ("10/ms", 10_000.0),
        ("30/h", 30 / 3600),
        ("5/m", 5 / 60),
        ("1/us", 1e6),
        ("20 / s", 20.0),
        ("0/s", 0.0),
        ("0", 0.0),
        (0, 0.0),
    ],
)
def test_parse_rate_valid(text: str | int, per_second: float) -> None:
    """Count (with optional k/M) per time unit becomes events per second."""
    assert parse_rate(text) == pytest.approx(per_second, rel=1e-12)


@pytest.mark.parametrize(
    "text", ["20/sec", "20", 20, "20/", "/s", "20/2s", "20k", "-1/s", "1.5K/s", "20 per s"]
)
def test_parse_rate_invalid(text: object) -> None:
    """Rates need the <number>[k|M]/<unit> form with a known unit."""
    with pytest.raises(UnitError, match="is not a rate"):
        parse_rate(text)  # type: ignore[arg-type]


def test_rate_message_is_exact() -> None:
    """'20/sec' gets exactly the message the scenario docs show."""
    with pytest.raises(UnitError) as info:
        parse_rate("20/sec")
    assert str(info.value) == "'20/sec' is not a rate (use e.g. 20/s, 1.5k/s)"


@pytest.mark.parametrize(("text", "km_per_s"), [("200km/ms", 200_000.0), ("300000km/s", 300_000.0)])
def test_parse_speed_valid(text: str, km_per_s: float) -> None:
    """Fibre speeds in km/ms or km/s become km per second."""
    assert parse_speed(text) == km_per_s


@pytest.mark.parametrize("text", ["200", "200m/ms", "0km/ms", 0, "-1km/s"])
def test_parse_speed_invalid(text: object) -> None:
    """A speed needs a km unit and must be positive (latency divides by it)."""
    with pytest.raises(UnitError, match="is not a speed"):
        parse_speed(text)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.25, "250ms"),
        (1.5, "1.5s"),
        (12e-6, "12µs"),
        (5e-9, "5ns"),
        (0.000999999, "1ms"),
        (150, "2m30s"),
        (59.99999, "1m0s"),
        (3725, "1h2m5s"),
        (7200, "2h0m"),
        (-0.002, "-2ms"),
        (math.inf, "inf"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    """Durations print in the largest readable unit, minutes and hours split."""
    assert format_duration(seconds) == text


@pytest.mark.parametrize("seconds", [3e-9, 4.5e-7, 0.0123, 0.25, 1.5, 42.0])
def test_format_duration_round_trips_below_a_minute(seconds: float) -> None:
    """Below a minute, the formatted text parses back to the same duration."""
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, rel=1e-3)
