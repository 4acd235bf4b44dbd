#!/usr/bin/env bash
# bench/crdt_drain.sh -- apply throughput of a CRDT column (issue 5, item 8): workload W3 (20,000
# single-row UPDATE transactions, n = n + 1, pgbench -c 4) drained from a backlog into a pg_locality
# GLOBAL table whose column n is a locality.pncounter, against the same table with a bigint
# column; prints both rates (rows/s) and the ratio pncounter / bigint (target >= 0.8).
#
# This is bench/apply_drain.sh with its modes locality-bigint and locality-pncounter, measured
# interleaved (each run measures both, back to back, the order rotating): method, verification
# and every knob are that script's (see its header). Defaults here: RUNS=5, WORKLOADS=W3.
#
# Usage (root, pg_locality installed):  bench/crdt_drain.sh
MODES=${MODES:-"locality-bigint locality-pncounter"} WORKLOADS=${WORKLOADS:-W3} RUNS=${RUNS:-5} \
    exec "$(dirname "${BASH_SOURCE[0]}")/apply_drain.sh" "$@"
