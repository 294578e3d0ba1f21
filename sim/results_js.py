"""The JetStream tables of a run, built from :class:`sim.jstrace.JsTrace` (see its docstring).

Kept apart from :mod:`sim.results` (which calls :func:`js_frames`) because
they exist only for runs with JetStream workloads; a results folder saved
before they existed loads with them empty.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.jstrace import JsPubOutcome, JsStoreOutcome

if TYPE_CHECKING:
    import pandas as pd

    from sim.trace import Trace

__all__ = ["JS_TABLES", "empty_js_frames", "js_frames"]

JS_TABLES = ("js_publishes", "js_captures", "js_stored", "js_deliveries", "js_acks")

_COLUMNS = {
    "js_publishes": ("msg_id workload client app attempt with_msg_id publish_time end outcome seq"),
    "js_captures": "msg_id workload stream server time outcome seq",
    "js_stored": "stream seq msg_id app workload publish_time time server index in_log",
    "js_deliveries": "client workload stream consumer seq delivery app msg_id receive_time",
    "js_acks": "stream consumer seq time server",
}


def empty_js_frames() -> dict[str, pd.DataFrame]:
    """The JetStream tables with their columns and no rows."""
    import pandas as pd

    return {name: pd.DataFrame(columns=cols.split()) for name, cols in _COLUMNS.items()}


def _labels(enum: Any) -> Any:
    import numpy as np

    return np.array([None, *(e.name.lower() for e in enum)], dtype=object)


def js_frames(
    trace: Trace, c_name: Any, c_wl: Any, server_names: Any, m_client: Any, m_time: Any
) -> dict[str, pd.DataFrame]:
    """Build the JetStream tables; the arrays map ids to names (as in ``frames_from_trace``)."""
    import numpy as np
    import pandas as pd

    js = trace.js
    i64, f64 = np.int64, np.float64

    def col(arr: Any, dtype: Any) -> Any:
        return np.array(arr, dtype=dtype)

    def named(table: list[str], idx: Any) -> Any:
        names = np.array([*table, None], dtype=object)
        return names[np.where(idx >= 0, idx, len(table))]

    p_msg = col(js.pub_msg, i64)
    publishes = pd.DataFrame(
        {
            "msg_id": p_msg,
            "workload": c_wl[m_client[p_msg]],
            "client": c_name[m_client[p_msg]],
            "app": col(js.pub_app, i64),
            "attempt": col(js.pub_attempt, i64),
            "with_msg_id": col(js.pub_msg_id, bool),
            "publish_time": m_time[p_msg],
            "end": col(js.pub_end, f64),
            "outcome": _labels(JsPubOutcome)[col(js.pub_outcome, i64)],
            "seq": col(js.pub_seq, i64),
        }
    )
    c_msg = col(js.cap_msg, i64)
    captures = pd.DataFrame(
        {
            "msg_id": c_msg,
            "workload": c_wl[m_client[c_msg]],
            "stream": named(js.streams, col(js.cap_stream, i64)),
            "server": server_names[col(js.cap_server, i64)],
            "time": col(js.cap_time, f64),
            "outcome": _labels(JsStoreOutcome)[col(js.cap_outcome, i64)],
            "seq": col(js.cap_seq, i64),
        }
    )
    s_msg = col(js.st_msg, i64)
    stored = pd.DataFrame(
        {
            "stream": named(js.streams, col(js.st_stream, i64)),
            "seq": col(js.st_seq, i64),
            "msg_id": s_msg,
            "app": col(js.st_app, i64),
            "workload": c_wl[m_client[s_msg]],
            "publish_time": m_time[s_msg],
            "time": col(js.st_time, f64),
            "server": server_names[col(js.st_server, i64)],
            "index": col(js.st_index, i64),
            "in_log": col(js.st_in_log, bool),
        }
    )
    d_client = col(js.dl_client, i64)
    deliveries = pd.DataFrame(
        {
            "client": c_name[d_client],
            "workload": c_wl[d_client],
            "stream": named(js.streams, col(js.dl_stream, i64)),
            "consumer": named(js.consumers, col(js.dl_consumer, i64)),
            "seq": col(js.dl_seq, i64),
            "delivery": col(js.dl_count, i64),
            "app": col(js.dl_app, i64),
            "msg_id": col(js.dl_msg, i64),
            "receive_time": col(js.dl_time, f64),
        }
    )
    acks = pd.DataFrame(
        {
            "stream": named(js.streams, col(js.ack_stream, i64)),
            "consumer": named(js.consumers, col(js.ack_consumer, i64)),
            "seq": col(js.ack_seq, i64),
            "time": col(js.ack_time, f64),
            "server": server_names[col(js.ack_server, i64)],
        }
    )
    return {
        "js_publishes": publishes,
        "js_captures": captures,
        "js_stored": stored,
        "js_deliveries": deliveries,
        "js_acks": acks,
    }
