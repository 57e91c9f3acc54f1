"""The benchmark of issue 7: the audit at scale, side by side with dnsperf and blackbox_exporter.

``make bench`` (or ``.venv/bin/python -m hack.bench [--scales 100x5,500x10,1000x10]`` from the
repository root) runs, for each scale N x M (N headless Services, each governing one StatefulSet
of M pods):

1. a fresh benchmark cluster of its own (``hack/cluster.sh up`` with state ``.bench-cluster/``,
   CoreDNS on 127.0.20.1/.2, and an API audit log), never the default ``.cluster``;
2. N Services + N StatefulSets (``podManagementPolicy: Parallel``; kwok makes the pods), then a
   wait until every Service's slices hold M ready endpoints (creation rate measured);
3. operator #1 (``headless-auditor run``, the two CoreDNS replicas): its cold full sweep (log line
   and ``headless_auditor_sweep_duration_seconds``), the time until every Service carries our three
   conditions (a watch on Services), the DNS questions it asked; then one steady-state sweep with
   its CPU and the API requests it made (API audit log, by userAgent/verb/resource); then a pod
   made unready, three times, until PodNamesResolvable False; peak RSS (VmHWM) and CPU;
4. the ceiling: dnsperf with the same question list (built in-process from the listed objects by
   the engine: ``snapshots.snapshots`` + ``expected.questions_for``), one dnsperf per replica at
   once, bounded by ``-l`` seconds and ``-n`` passes;
5. the peer: blackbox_exporter (Debian package) with one dns module per name of a sample, probed
   against both replicas over HTTP, bounded in count and time; probes/s and CPU s per probe;
6. operator #2 with a third, extra CoreDNS (127.0.20.3) whose hosts file serves chosen names
   before the kubernetes plugin: (a) a stale record -- the extra keeps a pod's address after the
   pod turns unready -- until DNSConsistent False, minus the grace window; (b) a wrong record
   appearing with no API change (drift) until DNSConsistent False, which only a sweep can see;
7. ``hack/cluster.sh down``.

Traffic goes only to 127.0.0.0/8 (the API server, CoreDNS, the exporter, the operator's metrics);
pod IPs are fake and never contacted. Every load is bounded in count and time. Results:
``build/bench/<time>/results.json`` and ``results.md`` (the tables of docs/benchmarks.md).

The modules: ``cli`` and ``options`` (the command line), ``scale`` (one scale, step by step),
``cluster``, ``workload``, ``watch``, ``operator_run``, ``sampling``, ``first_operator``,
``dnsperf``, ``blackbox``, ``extra_dns`` and ``scenarios`` (the stale and drift records),
``auditlog``, ``write_floor``, ``report`` (the markdown); ``engine`` is the only one that imports
the operator package.
"""
