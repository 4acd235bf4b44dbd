#!/usr/bin/env bash
# bench/conflict_overhead.sh -- what conflict resolution costs local writes: one server (one
# region), single-row UPDATEs (pgbench, 1 client) and a bulk DELETE, on a GLOBAL table
# (commit stamp per transaction, tombstone per deleted row), a REGIONAL BY TABLE table
# (managed, no stamps) and an unmanaged table.  Run it as a user PostgreSQL runs as
# (as root: scripts/as_postgres.sh bench/conflict_overhead.sh), after make install.
#   SECONDS_PER_RUN (default 10), ROWS_DELETED (default 100000), PORT (default 56301).
set -euo pipefail
T=${SECONDS_PER_RUN:-10}
N=${ROWS_DELETED:-100000}
PORT=${PORT:-56301}
BIN=$(pg_config --bindir)
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d /tmp/conflict_overhead.XXXXXX)
trap '"$BIN/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT

"$BIN/initdb" -D "$dir/data" -A trust >/dev/null
"$top/scripts/server_conf.sh" bench-w >> "$dir/data/postgresql.conf"
printf "port = %s\nlisten_addresses = ''\nunix_socket_directories = '%s'\n" "$PORT" "$dir" \
  >> "$dir/data/postgresql.conf"
"$BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w start >/dev/null
q() { "$BIN/psql" -XAtq -h "$dir" -p "$PORT" -d postgres -v ON_ERROR_STOP=1 "$@"; }

q -c "CREATE EXTENSION pg_locality"
q -c "SELECT locality.add_region('bench-w', 'host=$dir port=$PORT dbname=postgres')" >/dev/null
q <<SQL
CREATE TABLE t_global (id int PRIMARY KEY, n bigint NOT NULL) WITH (locality = 'GLOBAL');
CREATE TABLE t_regional (id int PRIMARY KEY, n bigint NOT NULL) WITH (locality = 'REGIONAL BY TABLE');
CREATE TABLE t_plain (id int PRIMARY KEY, n bigint NOT NULL);
INSERT INTO t_global SELECT i, 0 FROM generate_series(1, 10000) i;
INSERT INTO t_regional SELECT i, 0 FROM generate_series(1, 10000) i;
INSERT INTO t_plain SELECT i, 0 FROM generate_series(1, 10000) i;
SQL

echo "# single-row UPDATE, 1 client, ${T}s each (tps)"
for t in t_global t_regional t_plain; do
  printf '\\set id random(1, 10000)\nUPDATE %s SET n = n + 1 WHERE id = :id;\n' "$t" > "$dir/$t.sql"
  tps=$("$BIN/pgbench" -n -c 1 -T "$T" -h "$dir" -p "$PORT" -f "$dir/$t.sql" postgres 2>/dev/null |
        sed -n 's/^tps = \([0-9.]*\).*/\1/p')
  echo "$t $tps"
done

echo "# DELETE of $N rows in one statement (ms)"
for t in t_global t_regional t_plain; do
  q -c "INSERT INTO $t SELECT i, 0 FROM generate_series(100001, 100000 + $N) i"
  ms=$(q -c "\\timing on" -c "DELETE FROM $t WHERE id > 100000" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
  echo "$t $ms"
done
q -c "SELECT 'tombstones ' || count(*) FROM locality.tombstones"
q -c "SELECT 'commit_stamps ' || count(*) FROM locality.commit_stamps"
