"""``natsim convert-trace CAPTURE OUT``: a capture of NATS traffic into a trace file.

The capture is the text ``nats sub '>' --timestamp`` prints (or the same
form with `` at <RFC 3339 time>`` after the subject); docs/traces.md gives the
exact form and how rows are derived from it.
"""

from __future__ import annotations

import argparse
import sys

from sim.errors import UnitError
from sim.tracefile import TraceFileError, convert_capture, write_trace
from sim.units import parse_duration

__all__ = ["add_command"]


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except UnitError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_command(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``convert-trace`` to the natsim command line."""
    p = subparsers.add_parser(
        "convert-trace",
        help="convert a capture of NATS traffic (nats sub '>' --timestamp) into a trace file",
        description=(
            "Convert the text printed by `nats sub '>' --timestamp` (docs/traces.md) into a "
            "trace file for a `kind: trace` workload.  Replies (subjects under the inbox "
            "prefix) are skipped: the simulated responders produce them."
        ),
    )
    p.add_argument("capture", help="the capture file ('-': standard input)")
    p.add_argument("out", help="the trace file to write (.csv or .jsonl; '-': standard output)")
    p.add_argument(
        "--format",
        choices=["auto", "csv", "jsonl"],
        default="auto",
        help="trace format (default: from OUT's extension; csv for '-')",
    )
    p.add_argument(
        "--client-tokens",
        type=int,
        default=1,
        metavar="N",
        help="name each row's client by the first N subject tokens (0: one client 'capture')",
    )
    p.add_argument(
        "--inbox-prefix", default="_INBOX.", help="subjects of replies (default _INBOX.)"
    )
    p.add_argument("--keep-replies", action="store_true", help="keep replies as publishes instead")
    p.add_argument(
        "--timeout", type=_duration, default=None, help="timeout written on every request (e.g. 2s)"
    )
    p.set_defaults(func=_cmd_convert)


def _cmd_convert(args: argparse.Namespace) -> int:
    if args.client_tokens < 0:
        print("natsim: --client-tokens must be >= 0", file=sys.stderr)
        return 2
    try:
        rows, stats = convert_capture(
            args.capture,
            client_tokens=args.client_tokens,
            inbox_prefix=args.inbox_prefix,
            keep_replies=args.keep_replies,
            timeout=args.timeout,
        )
    except FileNotFoundError:
        raise TraceFileError(args.capture, "", "no such capture file") from None
    except OSError as exc:
        raise TraceFileError(args.capture, "", f"cannot read: {exc.strerror or exc}") from None
    try:
        n = write_trace(args.out, rows, args.format)
    except OSError as exc:
        raise TraceFileError(args.out, "", f"cannot write: {exc.strerror or exc}") from None
    if args.out != "-":
        notes = [f"{stats.messages} messages"]
        if stats.replies_skipped:
            notes.append(f"{stats.replies_skipped} replies skipped")
        if stats.other_skipped:
            notes.append(f"{stats.other_skipped} other entries skipped")
        if stats.reordered:
            notes.append("out-of-order timestamps sorted")
        clients = len({r.client for r in rows})
        print(f"{args.out}: {n} rows, {clients} clients ({', '.join(notes)})")
    return 0
