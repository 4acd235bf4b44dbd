#!/bin/sh
# as_postgres.sh CMD... -- runs CMD from this source tree as a user that
# PostgreSQL agrees to run as.
#
# As root, the tree is copied to a scratch directory owned by the postgres OS
# user and CMD runs there as postgres (PostgreSQL refuses to run as root, and
# the checkout may not be readable by postgres).  Logs of a failed run are
# printed, and the scratch directory is kept for inspection (also on success
# with KEEP_SCRATCH=1).  As any other
# user, CMD runs in place.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)

if [ "$(id -u)" != 0 ]; then
  cd "$top" && exec "$@"
fi

scratch=$(mktemp -d /tmp/pg_locality.XXXXXX)
(cd "$top" && tar --exclude=./build --exclude=./.git --exclude=./tmp_check -cf - .) |
  tar -xf - -C "$scratch"
chown -R postgres: "$scratch"
chmod 755 "$scratch"

cd "$scratch"
# Ctrl-C reaches CMD too; wait for it to clean up rather than dying first.
trap 'echo "as_postgres: interrupted" >&2' INT TERM
runuser -u postgres -- env HOME="$scratch" PATH="$PATH" "$@"
rc=$?

if [ $rc -ne 0 ]; then
  echo "as_postgres: '$*' failed (exit $rc); logs kept in $scratch" >&2
  for f in regression.diffs tmp_check/log/regress_log_*; do
    [ -f "$f" ] || continue
    echo "===== $f (last 80 lines) =====" >&2
    tail -n 80 "$f" >&2
  done
elif [ -n "${KEEP_SCRATCH:-}" ]; then
  echo "as_postgres: scratch directory kept: $scratch" >&2
else
  rm -rf "$scratch"
fi
exit $rc
