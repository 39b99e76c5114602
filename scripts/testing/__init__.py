"""What tests, benchmarks and the simulation share: the in-process cluster (in the manner of ``trio.testing``)."""
