"""`make bench`: measured speed and durability, against baselines taken in the same run.

    python -m bridge.bench [--quick] [--only ingest,forward,latency,reconcile,convergence]

Every server measured runs in a process of its own (`processes`, `bridgeproc`, `standins`,
`bare`); the load generator (`loadgen`) is another process, raw asyncio sockets, and reports its
own CPU share. Each section (`sections/`) returns rows, targets and raw figures (`results`),
printed as a table (`table`), written to `var/bench/latest.json` and drawn (`chart`).
"""
