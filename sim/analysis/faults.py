"""Faults: when they happened, what they cost, how clients and routes recovered.

Pure functions over a result's ``events`` and ``drops`` tables.  The event
kinds they read (``time``, ``server``, ``kind``, ``detail``, ``value``):

``fault_start`` / ``fault_end``   detail ``"<action>: <target>"``, value = fault number;
                                  a start without an end lasts to the end of the run
``client_disconnected``           server = the server it was on, detail = client,
                                  value = DropReason code of the cause
``client_reconnected``            server = where it landed, detail = client,
                                  value = seconds disconnected
``client_gave_up``                detail = client
``mesh_incomplete`` / ``converged`` server None, detail = cluster; ``converged``'s
                                  value = seconds since the ``mesh_incomplete``
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from sim.analysis.metrics import split_losses

if TYPE_CHECKING:
    import pandas as pd

    from sim.results import Result

__all__ = [
    "convergence",
    "fault_timeline",
    "loss_by_fault",
    "reconnect_storm",
    "reconnect_storm_pivot",
    "reconnect_times",
]

#: DropReason codes a client_disconnected event may carry (sim.trace.DropReason)
_CAUSES = {
    7: "link_down",
    8: "server_down",
    9: "partition",
    11: "slow_consumer_server",
    14: "lame_duck",
}


def _cause(code: float) -> str | None:
    """The label of a DropReason code (None when missing)."""
    if code != code:
        return None
    from sim.trace import DropReason

    try:
        return DropReason(int(code)).label
    except ValueError:
        return _CAUSES.get(int(code), str(int(code)))


def _events(result: Result, *kinds: str) -> pd.DataFrame:
    """Events of the given kinds in time order (emission order among equal times)."""
    ev = getattr(result, "events", None)
    if ev is None:
        import pandas as pd

        return pd.DataFrame(columns=["time", "server", "kind", "detail", "value"])
    return ev[ev.kind.isin(kinds)].sort_values("time", kind="stable")


def _run_end(result: Result) -> float:
    """The simulated end of the run (``meta["sim_end"]``), inf when unknown."""
    end = getattr(result, "meta", {}).get("sim_end")
    return math.inf if end is None else float(end)


def fault_timeline(result: Result) -> pd.DataFrame:
    """One row per fault, in fault-number order.

    Columns: ``number`` (0-based; chaos faults come after the scheduled
    ones), ``action`` (crash, partition, …), ``detail`` (the target
    description), ``start``, ``end`` and ``open`` (True when no
    ``fault_end`` came: the fault lasts to the end of the run, and ``end`` is
    the run's end — ``meta["sim_end"]``, inf when unknown).  A
    ``stop_responders`` fault without ``for:`` ends at the first later
    ``start_responders`` fault of the same target (the way a scenario writes
    "stop, then start again").
    """
    import pandas as pd

    cols = ["number", "action", "detail", "start", "end", "open"]
    ev = _events(result, "fault_start", "fault_end")
    ends: dict[int, float] = {}
    for t, n in zip(ev.time[ev.kind == "fault_end"], ev.value[ev.kind == "fault_end"], strict=True):
        ends.setdefault(int(n), float(t))
    run_end = _run_end(result)
    rows: list[dict[str, Any]] = []
    starts = ev[ev.kind == "fault_start"]
    for t, detail, n in zip(starts.time, starts.detail, starts.value, strict=True):
        action, _, target = str(detail).partition(": ")
        end = ends.get(int(n))
        rows.append(
            {
                "number": int(n),
                "action": action,
                "detail": target,
                "start": float(t),
                "end": run_end if end is None else end,
                "open": end is None,
            }
        )
    for row in rows:
        if row["action"] == "stop_responders" and row["open"]:
            undo = [
                r["start"]
                for r in rows
                if r["action"] == "start_responders"
                and r["detail"] == row["detail"]
                and r["start"] >= row["start"]
            ]
            if undo:
                row["end"], row["open"] = min(undo), False
    out = pd.DataFrame(rows, columns=cols)
    out = out.astype({"number": "int64", "start": "float64", "end": "float64", "open": bool})
    return out.sort_values("number", kind="stable").reset_index(drop=True)


def loss_by_fault(result: Result, settle: float = 0.0, attribute: str = "latest") -> pd.DataFrame:
    """Lost owed copies by reason inside each fault's window, one row per fault.

    A fault's window is ``[start, end + settle]`` (drop times, inclusive);
    ``settle`` (seconds, default 0) stretches it over the recovery after the
    fault is undone — reconnects, route and interest re-propagation.  A fault
    without an end runs to the end of the run.

    Windows can overlap.  With ``attribute="latest"`` (the default) each loss
    is charged to one fault only: the one whose window contains it and that
    started last (the most recent disturbance), so the rows never count a
    loss twice.  With ``attribute="all"`` every containing window counts it.
    Losses outside every window are in no row (compare with
    :func:`~sim.analysis.guarantees.guarantee_table` for the run's totals).

    Columns: ``number`` (index), ``action``, ``detail``, ``start``, ``end``,
    ``lost`` (owed copies), one ``lost_<reason>`` per reason seen in any
    window, and ``lost_unowed`` (messages lost in flight owed to nobody).
    """
    import numpy as np

    if attribute not in ("latest", "all"):
        raise ValueError(f"attribute must be 'latest' or 'all', not {attribute!r}")
    faults = fault_timeline(result).set_index("number")
    faults = faults.drop(columns="open")
    lost, unowed = split_losses(result)
    unowed = unowed.drop_duplicates("msg_id")

    def charged(x: pd.DataFrame) -> list[pd.DataFrame]:
        """Per fault, the drops of ``x`` charged to it."""
        t = x.time.to_numpy()
        inside = [
            (t >= start) & (t <= end + settle)
            for start, end in zip(faults.start, faults.end, strict=True)
        ]
        if attribute == "all":
            return [x[m] for m in inside]
        owner = np.full(len(x), -1)
        order = sorted(range(len(faults)), key=lambda i: (faults.start.iloc[i], faults.index[i]))
        for i in order:
            owner[inside[i]] = i
        return [x[owner == i] for i in range(len(faults))]

    per_lost = charged(lost)
    per_unowed = charged(unowed)
    out = faults.copy()
    out["lost"] = [len(x) for x in per_lost]
    reasons = sorted({r for x in per_lost for r in x.reason})
    for reason in reasons:
        out[f"lost_{reason}"] = [int((x.reason == reason).sum()) for x in per_lost]
    out["lost_unowed"] = [len(x) for x in per_unowed]
    counts = ["lost", *(f"lost_{r}" for r in reasons), "lost_unowed"]
    out[counts] = out[counts].astype("int64")
    return out


def reconnect_storm(result: Result, bin: float = 1.0) -> pd.DataFrame:
    """Clients landing per server per time bin, from ``client_reconnected`` events.

    A tidy table with columns ``time`` (start of the bin, a multiple of
    ``bin`` seconds), ``server`` and ``clients`` (reconnections landing on
    that server in the bin; a client that reconnects twice in one bin counts
    twice).  Only non-empty (time, server) cells appear; see
    :func:`reconnect_storm_pivot` for the full grid.
    """
    import numpy as np
    import pandas as pd

    if not bin > 0:
        raise ValueError(f"bin must be positive, not {bin!r}")
    ev = _events(result, "client_reconnected")
    if ev.empty:
        return pd.DataFrame(
            {
                "time": pd.Series(dtype="float64"),
                "server": pd.Series(dtype=object),
                "clients": pd.Series(dtype="int64"),
            }
        )
    t = np.floor(ev.time.to_numpy() / bin) * bin
    out = (
        pd.DataFrame({"time": t, "server": ev.server.to_numpy()})
        .groupby(["time", "server"])
        .size()
        .rename("clients")
        .reset_index()
    )
    return out.astype({"time": "float64", "clients": "int64"})


def reconnect_storm_pivot(result: Result, bin: float = 1.0) -> pd.DataFrame:
    """:func:`reconnect_storm` as a grid: a row per bin, first to last; a column per server.

    Missing cells are 0; servers no client landed on have no column.
    """
    import numpy as np

    storm = reconnect_storm(result, bin)
    grid = storm.pivot_table(
        index="time", columns="server", values="clients", aggfunc="sum", fill_value=0
    )
    if len(grid):
        lo, hi = grid.index.min(), grid.index.max()
        bins = np.arange(round((hi - lo) / bin) + 1) * bin + lo
        grid = grid.reindex(bins, fill_value=0)
        grid.index.name = "time"
    grid.columns.name = "server"
    return grid.astype("int64")


def reconnect_times(result: Result) -> pd.DataFrame:
    """One row per client disconnection, paired with that client's next reconnection.

    Columns: ``client``, ``cause`` (the DropReason label of the disconnect:
    link_down, server_down, partition, slow_consumer_server, lame_duck…),
    ``from_server``, ``to_server``, ``disconnected_at``, ``reconnected_at``,
    ``gap`` (seconds disconnected) and ``gave_up`` (a ``client_gave_up``
    followed instead).  A disconnection never followed by a reconnection has
    ``to_server`` None and NaN ``reconnected_at`` and ``gap``.  A
    reconnection with no disconnection before it (not expected) gets a row
    with ``from_server`` None and ``disconnected_at`` = its time minus the
    event's value.
    """
    import pandas as pd

    ev = _events(result, "client_disconnected", "client_reconnected", "client_gave_up")
    rows: list[dict[str, Any]] = []
    open_: dict[str, dict[str, Any]] = {}
    for t, srv, kind, client, value in zip(
        ev.time, ev.server, ev.kind, ev.detail, ev.value, strict=True
    ):
        if kind == "client_disconnected":
            row = {
                "client": client,
                "cause": _cause(value),
                "from_server": srv,
                "to_server": None,
                "disconnected_at": float(t),
                "reconnected_at": math.nan,
                "gap": math.nan,
                "gave_up": False,
            }
            rows.append(row)
            open_[client] = row
        elif kind == "client_reconnected":
            row = open_.pop(client, None)
            if row is None:
                gap = float(value) if value == value else math.nan
                row = {
                    "client": client,
                    "cause": None,
                    "from_server": None,
                    "disconnected_at": float(t) - gap,
                    "gave_up": False,
                }
                rows.append(row)
            row["to_server"] = srv
            row["reconnected_at"] = float(t)
            row["gap"] = float(t) - row["disconnected_at"]
        elif client in open_:
            open_.pop(client)["gave_up"] = True
    cols = [
        "client",
        "cause",
        "from_server",
        "to_server",
        "disconnected_at",
        "reconnected_at",
        "gap",
        "gave_up",
    ]
    out = pd.DataFrame(rows, columns=cols)
    for col in ("client", "cause", "from_server", "to_server"):
        out[col] = out[col].astype(object).where(out[col].notna(), None)
    floats = ["disconnected_at", "reconnected_at", "gap"]
    return out.astype({**dict.fromkeys(floats, "float64"), "gave_up": bool})


def convergence(result: Result) -> pd.DataFrame:
    """Periods when a cluster's route mesh or interest tables were incomplete.

    One row per period: ``cluster``, ``start`` (the ``mesh_incomplete``
    that opened it; a repeat while the period is open does not open another),
    ``end`` (the ``converged`` event) and ``seconds`` = end - start.  A period
    still open at the end of the run has NaN ``end`` and ``seconds`` (not
    converged).  A ``converged`` with no open period gets ``start`` = its
    time minus its value.
    """
    import pandas as pd

    ev = _events(result, "mesh_incomplete", "converged")
    rows: list[dict[str, Any]] = []
    open_: dict[str, dict[str, Any]] = {}
    for t, kind, cluster, value in zip(ev.time, ev.kind, ev.detail, ev.value, strict=True):
        if kind == "mesh_incomplete":
            if cluster not in open_:
                open_[cluster] = {"cluster": cluster, "start": float(t), "end": math.nan}
                rows.append(open_[cluster])
        else:
            row = open_.pop(cluster, None)
            if row is None:
                start = float(t) - float(value) if value == value else math.nan
                row = {"cluster": cluster, "start": start}
                rows.append(row)
            row["end"] = float(t)
    out = pd.DataFrame(rows, columns=["cluster", "start", "end"])
    out = out.astype({"start": "float64", "end": "float64"})
    out["seconds"] = out.end - out.start
    return out
