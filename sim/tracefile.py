"""Trace files of recorded traffic (CSV or JSON Lines) and the capture converter.

A trace is one row per message a client sent, in the columns of
:data:`COLUMNS` (docs/traces.md)::

    time,client,subject,size,reply,kind,timeout
    0.000125,orders-gw,orders.eu,512,,publish,
    0.0031,checkout,svc.prices,64,,request,0.5

``time`` is seconds from the start of the trace; each client's rows must not go
back in time (rows of different clients may interleave in any order).  Files
are read lazily, row by row (:func:`iter_trace`), so a long trace is never held
in memory; :func:`scan_trace` reads one through once to check every row and
summarise it (clients in order of first appearance, their first times).

:func:`convert_capture` turns the text a ``nats sub '>'`` session prints into
a trace (the capture form is documented in docs/traces.md).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TextIO

from sim.errors import ScenarioError, SubjectError, UnitError
from sim.subjects import validate_publish_subject
from sim.units import parse_duration

__all__ = [
    "COLUMNS",
    "KINDS",
    "ConvertStats",
    "TraceFileError",
    "TraceRow",
    "TraceSummary",
    "convert_capture",
    "detect_format",
    "iter_trace",
    "scan_trace",
    "write_trace",
]

#: The columns of a trace, in the order they are written.
COLUMNS = ("time", "client", "subject", "size", "reply", "kind", "timeout")
_REQUIRED = ("time", "client", "subject", "size")
#: What a row may be.
KINDS = ("publish", "request")
_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
_BAD_NAME = re.compile(r"[\s*>]")


class TraceFileError(ScenarioError):
    """A trace file is wrong: ``file:line: column: problem`` on one line."""


@dataclass(frozen=True, slots=True)
class TraceRow:
    """One recorded message: who sent what, when (seconds from the trace start)."""

    time: float
    client: str
    subject: str
    size: int
    kind: str = "publish"
    reply: str | None = None
    timeout: float | None = None
    #: 1-based line of the row in its file (0 when not read from a file)
    line: int = 0


@dataclass
class TraceSummary:
    """What one pass over a trace found."""

    rows: int = 0
    requests: int = 0
    #: client → time of its first row, in order of first appearance
    first: dict[str, float] = field(default_factory=dict)
    #: clients that send at least one request
    requesters: set[str] = field(default_factory=set)
    #: the longest explicit ``timeout`` of a request (None: none given)
    max_timeout: float | None = None
    #: requests without a ``timeout`` (they use the workload's)
    default_timeouts: int = 0
    last_time: float = 0.0
    #: rows publishing to a wildcard token (a literal, matched by wildcards only)
    wildcard_rows: int = 0

    def count_after(self, path: str, fmt: str, offset: float, speed: float, end: float) -> int:
        """Return how many rows would fall at or after ``end`` once shifted and scaled."""
        if offset + self.last_time / speed < end:
            return 0
        return sum(1 for r in iter_trace(path, fmt) if offset + r.time / speed >= end)


def detect_format(path: str, fmt: str = "auto") -> str:
    """Return ``csv`` or ``jsonl``: ``fmt`` if given, else from the file's extension."""
    if fmt != "auto":
        return fmt
    ext = os.path.splitext(path[:-3] if path.endswith(".gz") else path)[1].lower()
    if ext not in _FORMATS:
        raise TraceFileError(
            path, "", "cannot tell the format from the extension: use .csv or .jsonl, or format:"
        )
    return _FORMATS[ext]


# ------------------------------------------------------------------ reading


def _open(path: str) -> TextIO:
    try:
        if path.endswith(".gz"):
            import gzip

            return gzip.open(path, "rt", encoding="utf-8", newline="")
        return open(path, encoding="utf-8", newline="")
    except FileNotFoundError:
        raise TraceFileError(path, "", "no such trace file") from None
    except IsADirectoryError:
        raise TraceFileError(path, "", "is a directory, not a trace file") from None
    except OSError as exc:
        raise TraceFileError(path, "", f"cannot read: {exc.strerror or exc}") from None


def _number(file: str, line: int, col: str, value: Any) -> float:
    if isinstance(value, bool):
        raise TraceFileError(file, col, f"expected a number of seconds, got {value!r}", line)
    if isinstance(value, int | float):
        out = float(value)
    else:
        text = str(value).strip()
        try:
            out = float(text)
        except ValueError:
            if col != "timeout":
                raise TraceFileError(
                    file, col, f"expected a number of seconds, got {text!r}", line
                ) from None
            try:
                out = parse_duration(text)
            except UnitError:
                message = f"expected seconds or a duration such as 500ms, got {text!r}"
                raise TraceFileError(file, col, message, line) from None
    if not math.isfinite(out) or out < 0:
        raise TraceFileError(file, col, f"must be a finite number >= 0, got {value!r}", line)
    return out


def _size(file: str, line: int, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        out = value
    else:
        text = str(value).strip()
        if not re.fullmatch(r"\d+", text):
            message = f"expected a whole number of bytes, got {text!r}"
            raise TraceFileError(file, "size", message, line)
        out = int(text)
    if out < 0:
        raise TraceFileError(file, "size", f"must be >= 0, got {out}", line)
    return out


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _row(file: str, line: int, raw: dict[str, Any]) -> TraceRow:
    """Validate one raw row (column → value) into a TraceRow."""
    for col in _REQUIRED:
        if _text(raw.get(col)) is None:
            raise TraceFileError(file, col, "missing value", line)
    time = _number(file, line, "time", raw["time"])
    client = str(raw["client"]).strip()
    if _BAD_NAME.search(client):
        message = f"client name {client!r} may not contain whitespace, '*' or '>'"
        raise TraceFileError(file, "client", message, line)
    subject = str(raw["subject"]).strip()
    try:
        validate_publish_subject(subject)
    except SubjectError as exc:
        raise TraceFileError(file, "subject", str(exc), line) from None
    size = _size(file, line, raw["size"])
    kind = (_text(raw.get("kind")) or "publish").lower()
    if kind not in KINDS:
        message = f"expected one of: {', '.join(KINDS)}; got {raw.get('kind')!r}"
        raise TraceFileError(file, "kind", message, line)
    reply = _text(raw.get("reply"))
    if reply is not None:
        try:
            validate_publish_subject(reply)
        except SubjectError as exc:
            raise TraceFileError(file, "reply", str(exc), line) from None
    timeout = None
    if _text(raw.get("timeout")) is not None:
        if kind != "request":
            raise TraceFileError(file, "timeout", "only a request takes a timeout", line)
        timeout = _number(file, line, "timeout", raw["timeout"])
        if timeout <= 0:
            raise TraceFileError(file, "timeout", "must be > 0", line)
    return TraceRow(time, client, subject, size, kind, reply, timeout, line)


def _csv_rows(file: str, fh: TextIO) -> Iterator[TraceRow]:
    lines = (ln for ln in fh)
    reader = csv.reader(
        (ln if not ln.lstrip().startswith("#") else "\n" for ln in lines), strict=True
    )
    header: list[str] | None = None
    try:
        for cells in reader:
            if not cells or all(not c.strip() for c in cells):
                continue
            line = reader.line_num
            if header is None:
                header = [c.strip().lower() for c in cells]
                unknown = [c for c in header if c not in COLUMNS]
                if unknown:
                    message = (
                        f"unknown column {unknown[0]!r} in the header "
                        f"(columns: {', '.join(COLUMNS)})"
                    )
                    raise TraceFileError(file, "", message, line)
                missing = [c for c in _REQUIRED if c not in header]
                if missing:
                    message = (
                        f"the header lacks column {missing[0]!r} (needs {', '.join(_REQUIRED)})"
                    )
                    raise TraceFileError(file, "", message, line)
                if len(set(header)) != len(header):
                    raise TraceFileError(file, "", "a column is named twice in the header", line)
                continue
            if len(cells) > len(header):
                message = f"{len(cells)} fields, but the header names {len(header)} columns"
                raise TraceFileError(file, "", message, line)
            yield _row(file, line, dict(zip(header, cells, strict=False)))
    except csv.Error as exc:
        raise TraceFileError(file, "", f"bad CSV: {exc}", reader.line_num) from None
    if header is None:
        raise TraceFileError(file, "", "empty trace: no header row")


def _jsonl_rows(file: str, fh: TextIO) -> Iterator[TraceRow]:
    for line, text in enumerate(fh, start=1):
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TraceFileError(
                file, "", f"bad JSON: {exc.msg} (column {exc.colno})", line
            ) from None
        if not isinstance(raw, dict):
            raise TraceFileError(file, "", "each line must be a JSON object", line)
        unknown = [k for k in raw if k not in COLUMNS]
        if unknown:
            message = f"unknown key {unknown[0]!r} (keys: {', '.join(COLUMNS)})"
            raise TraceFileError(file, "", message, line)
        yield _row(file, line, raw)


def iter_trace(path: str, fmt: str = "auto") -> Iterator[TraceRow]:
    """Yield the rows of a trace file lazily, in file order, each one checked.

    Parameters
    ----------
    path : str
        The trace file (``.gz`` is read compressed).
    fmt : {"auto", "csv", "jsonl"}
        The format; ``auto`` tells it from the extension.

    Raises
    ------
    TraceFileError
        At the first bad row: ``file:line: column: problem``.  A client's rows
        going back in time is an error too.
    """
    fmt = detect_format(path, fmt)
    last: dict[str, tuple[float, int]] = {}
    with _open(path) as fh:
        rows = _csv_rows(path, fh) if fmt == "csv" else _jsonl_rows(path, fh)
        for row in rows:
            prev = last.get(row.client)
            if prev is not None and row.time < prev[0]:
                message = (
                    f"{row.time:g} is before the previous row of client {row.client!r} "
                    f"(line {prev[1]}, time {prev[0]:g}): a client's rows must not go back in time"
                )
                raise TraceFileError(path, "time", message, row.line)
            last[row.client] = (row.time, row.line)
            yield row


def scan_trace(path: str, fmt: str = "auto") -> TraceSummary:
    """Read a trace through once, checking every row, and summarise it.

    The result is cached by path, size and modification time, so checking a
    scenario and then building it reads the file once.
    """
    fmt = detect_format(path, fmt)
    try:
        st = os.stat(path)
    except OSError:
        _open(path).close()  # raises the right TraceFileError
        raise
    return _scan(os.path.abspath(path), path, fmt, st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=16)
def _scan(abspath: str, path: str, fmt: str, size: int, mtime: int) -> TraceSummary:
    out = TraceSummary()
    for row in iter_trace(path, fmt):
        out.rows += 1
        out.first.setdefault(row.client, row.time)
        out.last_time = max(out.last_time, row.time)
        if row.kind == "request":
            out.requests += 1
            out.requesters.add(row.client)
            if row.timeout is None:
                out.default_timeouts += 1
            else:
                out.max_timeout = max(out.max_timeout or 0.0, row.timeout)
        if "*" in row.subject.split(".") or ">" in row.subject.split("."):
            out.wildcard_rows += 1
    return out


# ------------------------------------------------------------------ writing


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def write_trace(out: str | TextIO, rows: Iterable[TraceRow], fmt: str = "auto") -> int:
    """Write rows as a trace (CSV with a header, or JSON Lines); return how many.

    ``out`` is a path (``-`` for standard output) or an open text file.  Times
    are written with ``repr`` so that reading them back gives the same floats.
    """
    if isinstance(out, str):
        if out == "-":
            return write_trace(sys.stdout, rows, "csv" if fmt == "auto" else fmt)
        fmt = detect_format(out, fmt)
        with open(out, "w", encoding="utf-8", newline="") as fh:
            return write_trace(fh, rows, fmt)
    fmt = "csv" if fmt == "auto" else fmt
    n = 0
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        for r in rows:
            reply, timeout = _cell(r.reply), _cell(r.timeout)
            writer.writerow((_cell(r.time), r.client, r.subject, r.size, reply, r.kind, timeout))
            n += 1
        return n
    for r in rows:
        obj: dict[str, Any] = {"time": r.time, "client": r.client, "subject": r.subject}
        obj["size"] = r.size
        if r.reply is not None:
            obj["reply"] = r.reply
        obj["kind"] = r.kind
        if r.timeout is not None:
            obj["timeout"] = r.timeout
        out.write(json.dumps(obj) + "\n")
        n += 1
    return n


# ---------------------------------------------------------------- converter

#: ``[#12] Received on "orders.eu"``, optionally `` @ <time>`` after the counter
#: (natscli ``--timestamp`` / ``--delta-time``), `` with reply "<inbox>"`` and
#: `` at <RFC 3339 time>`` after the subject.
_HEADER = re.compile(
    r'^\[#(?P<n>\d+)\](?:\s+@\s+(?P<stamp>.+?))?\s+Received on\s+"(?P<subject>[^"]*)"'
    r'(?:\s+with reply\s+"(?P<reply>[^"]*)")?(?:\s+at\s+(?P<at>\S+))?\s*$'
)
_OTHER_HEADER = re.compile(r"^\[#\d+\]")
_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}
_GO_UNITS["h"] = 3600.0


@dataclass
class ConvertStats:
    """What the converter did."""

    messages: int = 0
    rows: int = 0
    replies_skipped: int = 0
    other_skipped: int = 0
    reordered: bool = False


def _go_duration(text: str) -> float | None:
    """Parse a Go ``time.Duration`` string (``1m2.5s``, ``350.1ms``); None if it is not one."""
    if text == "0s":
        return 0.0
    pos, total = 0, 0.0
    for m in _GO_DURATION.finditer(text):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _GO_UNITS[m.group(2)]
        pos = m.end()
    return total if pos == len(text) and pos > 0 else None


def _parse_stamp(text: str, file: str, line: int) -> tuple[str, float]:
    """Return ``(kind, seconds)`` for a timestamp: ``abs`` (epoch seconds) or ``delta``."""
    text = text.strip()
    delta = _go_duration(text)
    if delta is not None:
        return "delta", delta
    iso = text.replace("Z", "+00:00") if text.endswith("Z") else text
    try:
        t = datetime.fromisoformat(iso)
    except ValueError:
        t = None
    if t is not None:
        if t.tzinfo is None:
            t = t.replace(tzinfo=UTC)
        return "abs", t.timestamp()
    try:
        # Go's time.StampMicro ("Jan _2 15:04:05.000000"): no year, local time;
        # only differences matter, so any fixed year and UTC do
        t = datetime.strptime(" ".join(text.split()), "%b %d %H:%M:%S.%f")
    except ValueError:
        try:
            t = datetime.strptime(" ".join(text.split()), "%b %d %H:%M:%S")
        except ValueError:
            message = (
                f"cannot read the timestamp {text!r} (expected RFC 3339, "
                "'Jan _2 15:04:05.000000' or a Go duration such as 1.5s)"
            )
            raise TraceFileError(file, "", message, line) from None
    return "stamp", t.replace(year=2000, tzinfo=UTC).timestamp()


@dataclass
class _Captured:
    line: int
    stamp: tuple[str, float]
    subject: str
    reply: str | None
    body: list[str]


def _captured(file: str, fh: TextIO, stats: ConvertStats) -> Iterator[_Captured]:
    cur: _Captured | None = None
    for line, raw in enumerate(fh, start=1):
        text = raw.rstrip("\r\n")
        m = _HEADER.match(text)
        if m is None and _OTHER_HEADER.match(text):
            # JetStream or "Matched reply" headers: not a message a client published
            if cur is not None:
                yield cur
                cur = None
            stats.other_skipped += 1
            continue
        if m is None:
            if cur is not None:
                cur.body.append(text)
            elif text.strip():
                message = (
                    f"expected a message header such as '[#1] Received on \"x\"', got {text[:60]!r}"
                )
                raise TraceFileError(file, "", message, line)
            continue
        if cur is not None:
            yield cur
        stamp_text = m.group("at") or m.group("stamp")
        if stamp_text is None:
            message = (
                "the message has no timestamp: capture with `nats sub --timestamp` "
                "(or --delta-time), or add ' at <RFC 3339 time>'"
            )
            raise TraceFileError(file, "", message, line)
        stats.messages += 1
        cur = _Captured(
            line,
            _parse_stamp(stamp_text, file, line),
            m.group("subject"),
            m.group("reply") or None,
            [],
        )
    if cur is not None:
        yield cur


def _payload_size(body: list[str]) -> int:
    """Bytes of a printed payload: its lines joined by newlines, minus separator blank lines."""
    while body and not body[-1]:
        body = body[:-1]
    return len("\n".join(body).encode("utf-8"))


def convert_capture(
    capture: str | TextIO,
    *,
    client_tokens: int = 1,
    inbox_prefix: str = "_INBOX.",
    keep_replies: bool = False,
    timeout: float | None = None,
    file: str | None = None,
) -> tuple[list[TraceRow], ConvertStats]:
    """Convert a capture of NATS traffic (docs/traces.md) into trace rows.

    Parameters
    ----------
    capture : str or file
        A capture file path (``-``: standard input) or open text.
    client_tokens : int
        A capture does not say who published; each row's client is named by
        the first ``client_tokens`` tokens of its subject (``0``: one client,
        ``capture``).
    inbox_prefix : str
        Messages on subjects with this prefix are replies, which the simulated
        responders produce: they are skipped unless ``keep_replies``.
    keep_replies : bool
        Keep replies as plain publishes.
    timeout : float, optional
        Written as the ``timeout`` of every request (else left empty: the
        workload's timeout applies).
    file : str, optional
        The name used in error messages.

    Returns
    -------
    tuple
        ``(rows, stats)``; rows sorted by time (stably), time 0 at the first message.
    """
    if isinstance(capture, str):
        if capture == "-":
            return convert_capture(
                sys.stdin,
                client_tokens=client_tokens,
                inbox_prefix=inbox_prefix,
                keep_replies=keep_replies,
                timeout=timeout,
                file="<stdin>",
            )
        with open(capture, encoding="utf-8", errors="replace") as fh:
            return convert_capture(
                fh,
                client_tokens=client_tokens,
                inbox_prefix=inbox_prefix,
                keep_replies=keep_replies,
                timeout=timeout,
                file=capture,
            )
    if isinstance(capture, io.StringIO) and file is None:
        file = "<capture>"
    name = file or getattr(capture, "name", "<capture>")
    stats = ConvertStats()
    rows: list[TraceRow] = []
    kinds: set[str] = set()
    prev = -math.inf
    day = 0.0
    for msg in _captured(name, capture, stats):
        kind, t = msg.stamp
        kinds.add(kind)
        if len(kinds) > 1:
            message = "timestamps of different kinds in one capture (absolute and relative)"
            raise TraceFileError(name, "", message, msg.line)
        if kind == "stamp" and t + day < prev - 86400 * 300:
            day += 366 * 86400  # a year boundary in a capture without years (a leap year: 2000)
        t += day
        if t < prev:
            stats.reordered = True
        prev = max(prev, t)
        if msg.subject.startswith(inbox_prefix) and not keep_replies:
            stats.replies_skipped += 1
            continue
        tokens = msg.subject.split(".")
        client = ".".join(tokens[:client_tokens]) if client_tokens > 0 else "capture"
        is_request = msg.reply is not None and not msg.subject.startswith(inbox_prefix)
        row = {
            "time": t,
            "client": client or "capture",
            "subject": msg.subject,
            "size": _payload_size(msg.body),
            "reply": msg.reply,
            "kind": "request" if is_request else "publish",
            "timeout": timeout if is_request else None,
        }
        rows.append(_row(name, msg.line, row))
    if rows:
        origin = min(r.time for r in rows)
        # microsecond resolution, as captured; rounding keeps repr() short
        rows = [
            TraceRow(
                round(r.time - origin, 6),
                r.client,
                r.subject,
                r.size,
                r.kind,
                r.reply,
                r.timeout,
                r.line,
            )
            for r in rows
        ]
        rows.sort(key=lambda r: r.time)
    stats.rows = len(rows)
    return rows, stats
