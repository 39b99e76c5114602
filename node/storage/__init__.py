"""The storage engine of one shard: mutations in, fragment streams out.

Public surface (import from the modules named):

- ``engine.ShardStorage``: the facade a shard builds once (open, apply, make_reader,
  flush, compact, truncate, statistics, aclose).
- ``settings.StorageSettings``: its configuration.
- ``mutation``: ``Mutation``, ``Row``, ``Cell``, ``Tombstone``, ``RangeTombstone`` and
  their wire forms (RPC, hints).
- ``fragments``: the fragment stream grammar and fragment wire forms.
- ``ranges``: ``PartitionRange``, ``ClusteringSlice``, ``ClusteringRange``.
- ``position.Position``: where a reader stands (the querier cache's key check).
- ``reconcile``: the reconciliation rules, also for coordinators merging replicas.

Inside: ``commitlog``, ``memtable``, ``sstable_writer``/``sstable`` (file format),
``bloom``, ``compaction``, ``table`` (one table's memtables and SSTables), ``reader``,
``validation``, ``disk`` (the fault-injection seam), ``statistics``.
"""
