"""Raft consensus for group 0: one group whose members are the nodes of the cluster
(one member per node, on shard 0).

``fsm.RaftFsm`` is the algorithm as a deterministic state machine (messages, ticks and
proposals in; messages, things to persist and commits out); ``server.RaftServer`` runs
it on a shard over the messaging service and a ``LogStore``.
"""
