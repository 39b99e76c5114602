"""The storage engine of one shard: mutations in, fragment streams out.

Public surface (import from the modules named):

- ``engine.ShardStorage``: the facade a shard builds once (open, apply, make_reader,
  flush, compact, truncate, statistics, aclose).
- ``settings.StorageSettings``: its configuration.

What it stores and yields is defined below it: the data model and its reconciliation
rules in ``node/mutation/``; the fragment stream, positions and query ranges in
``node/readers/``.

Inside: ``commitlog``, ``memtable``, ``sstable_writer``/``sstable`` (file format),
``bloom``, ``compaction``, ``table`` (one table's memtables and SSTables), ``reader``,
``validation``, ``disk`` (the fault-injection seam), ``statistics``.
"""
