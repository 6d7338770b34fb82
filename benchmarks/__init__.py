"""Benchmark: the engine floor against Dagster orchestration, in one command.

Run from the repository root::

    .venv/bin/python -m benchmarks --parts 100 --events 100000 --repeats 3
    .venv/bin/python -m benchmarks --quick          # smoke run: 4 parts x 20,000 events
    .venv/bin/python -m benchmarks --quick --only floor,backfill --storages sqlite

The full run writes ``benchmarks/results.md`` (``--output`` to change; ``--quick`` writes no file
unless ``--output`` is given) and prints the same report. Text below the line
``<!-- analysis (kept across runs) -->`` in an existing results file is kept.

Data
    N + 10 % parts of M events from the project's generator (``trading_runtime.data.generate``,
    seeded), plus one large part (``--large-events``, default 1.1 M) for engine throughput. Parts
    are cached by spec under ``--cache-dir`` (default ``$TMPDIR/trading-runtime-bench``) and
    reused by later runs. The port runs once over all of them (``screen``): parts it fails on are
    listed in the report and left out, and the first N that succeed (symlinked) are the
    benchmark's parts, since a single-run backfill fails whole on one failed part. Everything
    else (results, Dagster instances, 10,000 synthetic results) lives in a temporary work
    directory that is removed at the end (``--keep-work`` keeps it).

Isolation
    Every scenario runs in a fresh child process (``python -m benchmarks --child``; killed with
    its process group past ``--child-timeout``), so "cold" really means a fresh process: Python and
    Dagster imports, engine workers spawned, numba compiling the strategy once per worker. Each
    child reports its own peak RSS (``RUSAGE_SELF``) and that of its largest finished descendant
    (``RUSAGE_CHILDREN``: the engine workers, reaped when the pool closes). ``--repeats R`` runs R
    children per scenario; tables show the median and min-max over them.

Scenarios
    1. floor: ``backtest_tasks(config, tasks, timeout_s=..., workers=W, chart=False)`` with the
       packaged hftbacktest example config, no Dagster: the engine port alone (the per-part
       chart is the runtime's cost and counts in the backfill). *cold* = the first call in a
       fresh process (pool spawn, worker imports, numba compile once per worker, then all N
       parts); *warm* = a second call on the same, already compiled pool. W = cores and W = 1.
    2. single-run backfill, on SQLite and on PostgreSQL side by side (``--storages``, default
       both): jobs ``validate_parts`` then ``backtest_parts`` executed in process with the
       partition-range tags over a fresh instance holding the N dynamic partitions, as
       ``trading-runtime materialize --single-run`` does (``RuntimeSettings(parts_dir, results,
       workers)``, ``build_definitions``, the instance opened by ``open_instance``). The instance
       is a new ``DAGSTER_HOME`` per backfill: Dagster's defaults (SQLite files in it), or every
       storage in a new database on one throw-away PostgreSQL server that the parent starts for
       the run as the tests do (``postgres``: ``scripts/postgres-test-server.sh``; or
       ``--postgres-url``) and stops at the end. A server that cannot start leaves PostgreSQL
       out, and the report says so and why. Same parts and worker counts on both; the storages
       take turns going first. Timed: the two ``execute_in_process`` calls only (definitions,
       instance and partition registration are reported separately). *cold* = first run in the
       process, *warm* = a second run over a new instance and results directory (same warm
       worker pool). The step breakdown comes from the run's event log. Then the ``aggregate``
       job over the N results. Overhead (orchestration) per partition = (backfill - floor) / N,
       cold against cold and warm against warm. Every backfill row, ratio, breakdown and memory
       line is per storage.
    3. per-partition runs: (a) N runs of one partition in one process (``execute_in_process`` per
       partition, as ``trading-runtime materialize`` does; the first is cold); (b) a sample of
       fresh processes ``dagster asset materialize --select backtest_results --partition KEY -m
       trading_runtime.definitions``. The worker time (result metadata ``startup_s`` +
       ``wall_time_s``: validation and the numba compile of a fresh worker, then the backtest) is
       measured inside the engine worker, so orchestration = run wall - worker time, and compile =
       worker time - the warm per-part time of the floor. (b) is split further with the event-log
       timestamps: before the run starts (interpreter, imports, loading definitions), inside the
       run, after it ends.
    4. aggregate: over the N results after each backfill, and over ``--many`` (10,000) results
       synthesized cheaply: one real result directory is copied into ``--many`` partition
       directories (``curve.parquet`` and ``stats.npz`` hard-linked, ``result.json`` rewritten with
       its partition's ``part``), the partitions are registered with one
       ``add_dynamic_partitions`` call and each gets a materialization event through
       ``instance.report_runless_asset_event`` (what a backfill would have left in the event log;
       the aggregate itself does not need them: with >= 100 upstream partitions Dagster reads one
       latest record for data versions, and the IO manager lists result directories). The
       ``aggregate`` job is timed in a fresh process, with its RSS high-water mark before and after
       the run, and again over the same results with curves (and records) 10x longer.
    5. definitions load with ``--many`` partitions registered, in fresh processes: ``python -c``
       importing ``trading_runtime.definitions`` and building what a code server serves
       (``defs.get_repository_def()``, ``RepositorySnap.from_def``) plus the partition keys the UI
       reads (``get_dynamic_partitions``, ``get_materialized_partitions``); and ``dagster
       definitions validate -m trading_runtime.definitions`` (loads the workspace like ``dagster
       dev``). Import costs of the pieces are timed alone as context.
    6. engine throughput on the large part in one process after warm-up (per core): hftbacktest
       replaying the whole part with the config's ``interval_ns`` and recording (no orders), and
       the configured market maker through the adapter (``backtest_in_process``), with the share
       of the part it consumed. Also a per-part time breakdown of the port's worker task on one
       standard part.

``--profile`` (default on) adds one cProfile'd warm single-run backfill and one warm per-partition
run (extra runs, not in the timings) and lists their top functions.

Targets (2 cores), the backfill's per storage, cold and warm: backfill <= 1.15 x floor and >= 1.8
x faster with W = cores than W = 1; orchestration per partition in a backfill <= 0.02 s on SQLite,
<= 0.05 s on PostgreSQL. Then: numba compiled at most once per worker;
aggregate over 10,000 partitions <= 10 s with memory flat in curve rows; definitions load with
10,000 partitions <= 3 s; one-partition CLI/UI run <= 2.5 s of orchestration; engine >= 2 M
events/s per core.

Layout
    ``cli`` the command line; ``options`` what it parses; ``harness`` the work directory and
    ``run_all``, which calls ``phases`` (each scenario's child processes and their specs) in
    order; ``launcher`` starts each child process and records the contention around it;
    ``scenarios/`` what a ``--child`` process runs; ``measure`` memory, CPU, idle and logged
    commands; ``report`` (with ``report_format``, ``report_rows``, ``report_targets``,
    ``report_sections``; ``report_backfill`` scenario 2 per storage) the markdown; ``postgres``
    the throw-away server, a database per instance and its ``dagster.yaml`` (shared with
    ``storage_levers``). Imports go one way (``cli`` > ``harness`` > ``phases`` >
    ``launcher`` > ``options``, ``measure``; ``tests/test_import_graph.py``).
"""
