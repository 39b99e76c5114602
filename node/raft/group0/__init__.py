"""Group 0: the one Raft group of the cluster, whose members are the nodes (shard 0 of
each), and whose state machine is the schema, as ScyllaDB 5.2+ runs schema changes.

``commands`` (what a schema change commits), ``state_machine`` (how every node applies
it, in log order), ``service`` (the member on shard 0 and the client every coordinator
shard uses: read barrier, guarded proposal, the no-quorum error).
"""
