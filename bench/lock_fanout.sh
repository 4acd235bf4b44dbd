#!/bin/sh
# bench/lock_fanout.sh -- fanned-out locking reads and UPDATEs over three regions, each
# remote one behind the latency proxy (see bench/lock_fanout.pl).  Needs the extension
# installed (make install).  Knobs: DELAY_MS=25 (one-way), TRANSACTIONS=50.
# Usage: bench/lock_fanout.sh     (root: runs as postgres through scripts/as_postgres.sh)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
exec scripts/as_postgres.sh env DELAY_MS="${DELAY_MS:-25}" TRANSACTIONS="${TRANSACTIONS:-50}" \
  make tap PROVE_TESTS=bench/lock_fanout.pl VERBOSE=1
