#!/usr/bin/env bash
# bench/crdt_tombstone_overhead.sh -- what keeping the CRDT state of deleted rows costs local
# writes (docs/conflicts.md section 5.1): one server (one region), a bulk INSERT of N rows
# into GLOBAL tables with and without CRDT columns, with the BEFORE INSERT trigger that
# continues a tombstone's state enabled and disabled (the cost of the probe), then inserts
# over N tombstones (continuing their state), and a bulk DELETE of rows with CRDT columns
# (reset state kept in each tombstone) against the same table without CRDT columns.
# Run as a user PostgreSQL runs as (as root: scripts/as_postgres.sh bench/crdt_tombstone_overhead.sh),
# after make install.  ROWS (default 100000), PORT (default 56302).
set -euo pipefail
N=${ROWS:-100000}
PORT=${PORT:-56302}
BIN=$(pg_config --bindir)
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d /tmp/crdt_tombstone_overhead.XXXXXX)
trap '"$BIN/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT

"$BIN/initdb" -D "$dir/data" -A trust >/dev/null
"$top/scripts/server_conf.sh" bench-w >> "$dir/data/postgresql.conf"
printf "port = %s\nlisten_addresses = ''\nunix_socket_directories = '%s'\n" "$PORT" "$dir" \
  >> "$dir/data/postgresql.conf"
"$BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w start >/dev/null
q() { "$BIN/psql" -XAtq -h "$dir" -p "$PORT" -d postgres -v ON_ERROR_STOP=1 "$@"; }
ms() { q -c "\\timing on" -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'; }

q -c "CREATE EXTENSION pg_locality"
q -c "SELECT locality.add_region('bench-w', 'host=$dir port=$PORT dbname=postgres')" >/dev/null
q <<SQL
CREATE TABLE t_crdt (id int PRIMARY KEY, n bigint NOT NULL, p locality.pncounter NOT NULL,
                     s locality.orset NOT NULL) WITH (locality = 'GLOBAL');
CREATE TABLE t_crdt_off (id int PRIMARY KEY, n bigint NOT NULL, p locality.pncounter NOT NULL,
                         s locality.orset NOT NULL) WITH (locality = 'GLOBAL');
DO \$\$ BEGIN  -- internal triggers' names end with their OID
  EXECUTE (SELECT format('ALTER TABLE t_crdt_off DISABLE TRIGGER %I', tgname) FROM pg_trigger
            WHERE tgrelid = 't_crdt_off'::regclass AND tgname LIKE 'locality_global_insert%');
END \$\$;
CREATE TABLE t_plain_global (id int PRIMARY KEY, n bigint NOT NULL, p bigint NOT NULL,
                             s text[] NOT NULL) WITH (locality = 'GLOBAL');
CHECKPOINT;
SQL

echo "# INSERT of $N rows in one statement, no tombstones (ms)"
for t in t_crdt t_crdt_off; do
  echo "$t $(ms "INSERT INTO $t SELECT i, 0, '5', '{a,b}' FROM generate_series(1, $N) i")"
done
echo "t_plain_global $(ms "INSERT INTO t_plain_global SELECT i, 0, 5, '{a,b}' FROM generate_series(1, $N) i")"
echo "# DELETE of the $N rows (ms): tombstones keep the CRDT state"
for t in t_crdt t_plain_global; do
  echo "$t $(ms "DELETE FROM $t")"
done
echo "# INSERT of the $N rows again, over their tombstones (ms)"
echo "t_crdt $(ms "INSERT INTO t_crdt SELECT i, 0, '5', '{a,b}' FROM generate_series(1, $N) i")"
echo "t_plain_global $(ms "INSERT INTO t_plain_global SELECT i, 0, 5, '{a,b}' FROM generate_series(1, $N) i")"
q -c "SELECT 'check: ' || sum(p::bigint) || ' ' || count(*) FROM t_crdt"
