"""A replication group: Raft leader election, log replication and commit, over routes.

Each stream has one group of ``replicas`` nodes, one per server, as
nats-server's ``raft.go`` runs a group per stream (and per consumer; here the
consumer's state rides in its stream's log, see :mod:`.stream`).  The rules
are Raft's, with nats-server's timing:

* the leader sends an append (its new entries, or none: a heartbeat) to every
  follower at once on each proposal and every ``hbIntervalDefault`` = 1 s;
* a follower that hears nothing from a leader for its election timeout —
  drawn uniformly in [``minElectionTimeoutDefault`` 4 s,
  ``maxElectionTimeoutDefault`` 9 s] from the run's seeded stream, anew each
  time it is armed — becomes a candidate: new term, votes for itself, asks the
  others; a vote goes to a candidate of a newer term whose log is at least as
  up to date, once per term; a majority makes it leader; a node that refuses
  a stale candidate's request stands itself after a campaign timeout of
  100–800 ms (``minCampaignTimeoutDefault`` / ``maxCampaignTimeoutDefault``);
* an entry is committed once a majority of the group has written it and it
  (or a later entry) belongs to the leader's term; committed entries are
  applied in order on every node that learns the commit index;
* a leader that has not heard from a quorum for ``lostQuorumIntervalDefault``
  = 10 s steps down (so a partitioned minority stops taking writes).

Messages travel on the route :class:`~sim.model.link.Link` between the two
servers (latency, partitions and crashes apply; :mod:`sim.model.wire` holds,
releases or loses them like any route traffic); with no route there is no
send, and the next heartbeat tries again.  Each write costs ``write_time`` on
the writing node's store, in turn.  The log is on disk: a crashed node keeps
it and its term, and rejoins as a follower when its server restarts.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from sim.model.clock import Call, Clock

if TYPE_CHECKING:
    from sim.model.jetstream.group import RaftGroup
    from sim.model.server import Server

__all__ = [
    "CAMPAIGN_TIMEOUT",
    "ELECTION_TIMEOUT",
    "HEARTBEAT",
    "LOST_QUORUM",
    "Entry",
    "RaftNode",
]

#: raft.go ``minElectionTimeoutDefault`` / ``maxElectionTimeoutDefault``
ELECTION_TIMEOUT = (4.0, 9.0)
#: raft.go ``minCampaignTimeoutDefault`` / ``maxCampaignTimeoutDefault``
CAMPAIGN_TIMEOUT = (0.1, 0.8)
#: raft.go ``hbIntervalDefault``
HEARTBEAT = 1.0
#: raft.go ``lostQuorumIntervalDefault`` (hbIntervalDefault * 10)
LOST_QUORUM = 10.0

FOLLOWER, CANDIDATE, LEADER = "follower", "candidate", "leader"


class Entry:
    """One log entry: the term it was proposed in and what it carries."""

    __slots__ = ("data", "term")

    def __init__(self, term: int, data: Any) -> None:
        self.term = term
        self.data = data


class RaftNode:
    """One member of a replication group, on one server.

    ``apply(node, index, entry)`` is called for each committed entry in order;
    the group's ``on_role(node, leader)`` when the node becomes or stops being
    the leader.
    """

    def __init__(self, group: RaftGroup, server: Server, rng: random.Random) -> None:
        self.group = group
        self.server = server
        self.idx = server.idx
        self.rng = rng
        self.clock: Clock = group.clock
        self.term = 0
        self.voted: int | None = None
        self.log: list[Entry] = []
        self.commit = 0
        self.applied = 0
        self.role = FOLLOWER
        self.leader: int | None = None
        self.votes: set[int] = set()
        #: leader state: per peer the highest index known written there, the next to send,
        #: and when it last answered
        self.match: dict[int, int] = {}
        self.next: dict[int, int] = {}
        self.heard: dict[int, float] = {}
        self.became_leader = 0.0
        #: the store's next free moment (writes take turns)
        self.disk = 0.0
        #: the election timeout in force, and when it started running
        self.timeout = 0.0
        self.heard_at = 0.0
        #: bumped to cancel the armed election timer / heartbeat loop
        self._etok = 0
        self._htok = 0

    def __repr__(self) -> str:
        return f"<RaftNode {self.group.name}@{self.server.name} {self.role} t{self.term}>"

    @property
    def up(self) -> bool:
        """True while the node's server runs."""
        return self.server.up

    @property
    def is_leader(self) -> bool:
        """True if this node leads its group now."""
        return self.role == LEADER and self.server.up

    # ------------------------------------------------------------- timers
    def arm_election(self, campaign: bool = False) -> None:
        """Restart the election timer with a fresh random timeout (``campaign``: a short one).

        Hearing from the leader afterwards only moves the timer's start
        (:meth:`touch`); a new timeout is drawn when the node's role or term
        changes.  raft.go draws one at every reset; drawing per change keeps
        the number of draws independent of the traffic, so groups placed on
        the same servers elect alike (common random numbers).
        """
        self._etok += 1
        low, high = CAMPAIGN_TIMEOUT if campaign else ELECTION_TIMEOUT
        self.timeout = self.rng.uniform(low, high)
        self.heard_at = self.clock.now
        self.clock.after(self.timeout, self._on_election_timeout, self._etok)

    def touch(self) -> None:
        """The leader was heard (or a vote granted): the election timeout starts again.

        A short campaign timeout armed meanwhile gives way to a full one.
        """
        if self.timeout < ELECTION_TIMEOUT[0]:
            self.arm_election()
        else:
            self.heard_at = self.clock.now

    def _on_election_timeout(self, ev: Call) -> None:
        if ev._value != self._etok or not self.up or self.role == LEADER:
            return
        due = self.heard_at + self.timeout
        if self.clock.now < due:
            self.clock.at(due, self._on_election_timeout, self._etok)
            return
        self.campaign()

    def campaign(self) -> None:
        """Stand for election: a new term, a vote for itself, a vote request to every peer."""
        self.term += 1
        self.role = CANDIDATE
        self.voted = self.idx
        self.votes = {self.idx}
        self.leader = None
        self.arm_election()
        last = len(self.log)
        last_term = self.log[-1].term if self.log else 0
        for peer in self.group.peers_of(self):
            self.group.send(self, peer, RaftNode.on_vote_request, (self.term, last, last_term))
        self._check_votes()

    def _heartbeat(self, ev: Call) -> None:
        if ev._value != self._htok or not self.is_leader:
            return
        now = self.clock.now
        alive = 1 + sum(1 for p in self.group.peers_of(self) if now - self.heard[p] <= LOST_QUORUM)
        if alive < self.group.quorum and now - self.became_leader >= LOST_QUORUM:
            self.step_down(self.term)
            return
        self.replicate()
        self.clock.after(HEARTBEAT, self._heartbeat, self._htok)

    # --------------------------------------------------------------- roles
    def _become_leader(self) -> None:
        self.role = LEADER
        self.leader = self.idx
        now = self.clock.now
        self.became_leader = now
        peers = self.group.peers_of(self)
        self.match = {p: 0 for p in peers}
        self.next = {p: len(self.log) + 1 for p in peers}
        self.heard = dict.fromkeys(peers, now)
        self._etok += 1
        self._htok += 1
        # a no-op of the new term lets entries of earlier terms commit (Raft §5.4.2)
        self.log.append(Entry(self.term, None))
        self._written(len(self.log))
        self.group.on_role(self, True)
        self.replicate()
        self.clock.after(HEARTBEAT, self._heartbeat, self._htok)

    def step_down(self, term: int, leader: int | None = None) -> None:
        """Follow ``term`` (newer, or lost quorum): stop leading, re-arm the election timer."""
        was = self.role == LEADER
        if term > self.term:
            self.term = term
            self.voted = None
        self.role = FOLLOWER
        self.leader = leader
        self._htok += 1
        self.arm_election()
        if was:
            self.group.on_role(self, False)

    def crashed(self) -> None:
        """The server stopped: the node stops (its log and term survive on disk)."""
        was = self.role == LEADER
        self.role = FOLLOWER
        self.leader = None
        self._etok += 1
        self._htok += 1
        if was:
            self.group.on_role(self, False)

    def restarted(self) -> None:
        """The server runs again: the node rejoins as a follower (an R1 node leads at once)."""
        self.role = FOLLOWER
        self.disk = self.clock.now
        if self.group.quorum == 1:
            self.campaign()  # a group of one has nobody to wait for
        else:
            self.arm_election()

    # -------------------------------------------------------------- writes
    def propose(self, data: Any) -> int:
        """Append ``data`` to the leader's log and replicate it; return its index (0: refused)."""
        if not self.is_leader:
            return 0
        self.log.append(Entry(self.term, data))
        index = len(self.log)
        done = self._write_done(1)
        if done > self.clock.now:
            self.clock.at(done, self._on_self_written, index)
        else:
            self._written(index)
        self.replicate()
        return index

    def _write_done(self, n: int) -> float:
        """Queue ``n`` entry writes on the store; return when they are done."""
        now = self.clock.now
        self.disk = max(self.disk, now) + n * self.group.write_time
        return self.disk

    def _on_self_written(self, ev: Call) -> None:
        if self.is_leader:
            self._written(ev._value)

    def _written(self, index: int) -> None:
        self.match[self.idx] = max(self.match.get(self.idx, 0), index)
        self._advance_commit()

    def replicate(self) -> None:
        """Send every follower what it lacks (empty: a heartbeat) and the commit index."""
        for peer in self.group.peers_of(self):
            self.replicate_to(peer)

    def _advance_commit(self) -> None:
        group = self.group
        ranks = sorted((self.match.get(p, 0) for p in group.members), reverse=True)
        n = ranks[group.quorum - 1]
        if n > self.commit and self.log[n - 1].term == self.term:
            self.commit = n
            self._apply()

    def _apply(self) -> None:
        while self.applied < self.commit:
            self.applied += 1
            self.group.apply(self, self.applied, self.log[self.applied - 1])

    # ------------------------------------------------------------ messages
    def on_append(self, ev: Call) -> None:
        """An append (or heartbeat) from a leader arrives."""
        src, (term, prev, prev_term, entries, commit) = ev._value
        if not self.up:
            return
        if term < self.term:
            self.group.send(self, src, RaftNode.on_append_reply, (self.term, False, 0))
            return
        if term > self.term or self.role != FOLLOWER:
            self.step_down(term, src)
        self.leader = src
        self.touch()
        if prev > len(self.log) or (prev > 0 and self.log[prev - 1].term != prev_term):
            hint = min(len(self.log), prev - 1)
            self.group.send(self, src, RaftNode.on_append_reply, (self.term, False, hint))
            return
        for k, e in enumerate(entries):
            i = prev + k
            if i < len(self.log):
                if self.log[i].term == e.term:
                    continue
                del self.log[i:]
            self.log.extend(entries[k:])
            break
        last = prev + len(entries)
        if commit > self.commit:
            self.commit = min(commit, last)
            self._apply()
        done = self._write_done(len(entries)) if entries else self.clock.now
        self.group.send(self, src, RaftNode.on_append_reply, (self.term, True, last), done)

    def on_append_reply(self, ev: Call) -> None:
        """A follower answers an append: it wrote up to ``index``, or refused."""
        src, (term, ok, index) = ev._value
        if not self.up:
            return
        if term > self.term:
            self.step_down(term)
            return
        if self.role != LEADER or term != self.term:
            return
        self.heard[src] = self.clock.now
        if ok:
            if index > self.match[src]:
                self.match[src] = index
                self._advance_commit()
            self.next[src] = max(self.next[src], index + 1)
        else:
            self.next[src] = min(self.next[src], index + 1)
            self.replicate_to(src)

    def replicate_to(self, peer: int) -> None:
        """Send ``peer`` the entries from its next index on (none: a heartbeat)."""
        prev = self.next[peer] - 1
        prev_term = self.log[prev - 1].term if prev > 0 else 0
        entries = self.log[prev:]
        arg = (self.term, prev, prev_term, entries, self.commit)
        if self.group.send(self, peer, RaftNode.on_append, arg) and entries:
            self.next[peer] = len(self.log) + 1  # pipelined; a refusal rewinds it

    def on_vote_request(self, ev: Call) -> None:
        """A candidate asks for this node's vote."""
        src, (term, last, last_term) = ev._value
        if not self.up:
            return
        if term > self.term:
            self.step_down(term)
        mine = self.log[-1].term if self.log else 0
        fresh = last_term > mine or (last_term == mine and last >= len(self.log))
        grant = term == self.term and self.voted in (None, src) and fresh
        if grant:
            self.voted = src
            self.touch()
        elif self.voted is None and self.role == FOLLOWER and term == self.term:
            # a stale candidate: this node, more up to date, stands soon (processVoteRequest)
            self.arm_election(campaign=True)
        self.group.send(self, src, RaftNode.on_vote, (self.term, grant))

    def on_vote(self, ev: Call) -> None:
        """A peer answers this candidate's vote request."""
        src, (term, grant) = ev._value
        if not self.up:
            return
        if term > self.term:
            self.step_down(term)
            return
        if self.role == CANDIDATE and term == self.term and grant:
            self.votes.add(src)
            self._check_votes()

    def _check_votes(self) -> None:
        if self.role == CANDIDATE and len(self.votes) >= self.group.quorum:
            self._become_leader()
