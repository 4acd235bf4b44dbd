#!/bin/sh
# bench/forward_latency.sh -- bench (c) of issue 6: forwarded write latency over the
# simulated WAN round trip (see bench/forward_latency.pl).  Needs the extension installed
# (make install).  Knobs: DELAY_MS=25 (one-way), TRANSACTIONS=200.
# Usage: bench/forward_latency.sh     (root: runs as postgres through scripts/as_postgres.sh)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
exec scripts/as_postgres.sh env DELAY_MS="${DELAY_MS:-25}" TRANSACTIONS="${TRANSACTIONS:-200}" \
  make tap PROVE_TESTS=bench/forward_latency.pl VERBOSE=1
