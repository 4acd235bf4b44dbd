#!/bin/sh
# bench/wait_after_idle.sh -- wait_for_replication / read-your-writes latency right after a
# forwarded two-phase commit on an idle cluster (see bench/wait_after_idle.pl).  Needs the
# extension installed (make install).  Knobs: ITERATIONS=10, IDLE_S=3, BOUNDARY_ITERATIONS=3.
# Usage: bench/wait_after_idle.sh     (root: runs as postgres through scripts/as_postgres.sh)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
exec scripts/as_postgres.sh env ITERATIONS="${ITERATIONS:-10}" IDLE_S="${IDLE_S:-3}" \
  BOUNDARY_ITERATIONS="${BOUNDARY_ITERATIONS:-3}" \
  make tap PROVE_TESTS=bench/wait_after_idle.pl VERBOSE=1
