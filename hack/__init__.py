"""Developer tooling: the cluster, demo and image scripts, and the benchmark (``hack.bench``)."""
