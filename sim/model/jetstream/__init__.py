"""JetStream on top of the core model: streams, replication groups, consumers.

Modules, in import order: :mod:`.raft` (a Raft node), :mod:`.group` (a
replication group), :mod:`.consumer` (a consumer's replicated state and its
leader), :mod:`.stream` (a stream's replicas and leader), :mod:`.service` (the
layer on one network).  See docs/jetstream.md for the model and what it leaves
out.
"""

from __future__ import annotations

from sim.model.jetstream.service import JetStream

__all__ = ["JetStream"]
