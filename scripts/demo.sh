#!/bin/bash
# demo.sh -- the pg_locality walkthrough: three local regions with simulated
# WAN latency, joined into one cluster, a table of each locality, and rows
# written in every region arriving in every other one.  Stops every server
# and proxy on exit (Ctrl-C included).  Run by `make demo` as the postgres
# OS user.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
bindir=$(pg_config --bindir)
work=$(mktemp -d "${TMPDIR:-/tmp}/pg_locality-demo.XXXXXX")
regions=(us-east1 eu-west1 ap-east1)
declare -A port proxy_port delay
# One-way delay of the simulated WAN into each region, in ms.  Every call
# into a region crosses its proxy both ways, so its round trip is twice that.
delay=([us-east1]=35 [eu-west1]=70 [ap-east1]=105)
proxy_pids=()

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '\033[2m%s=> %s\033[0m\n' "$1" "$2"; sql "$1" "$2"; }

cleanup() {
  set +e
  for r in "${regions[@]}"; do
    [ -f "$work/$r/postmaster.pid" ] && "$bindir/pg_ctl" -D "$work/$r" -m fast -w stop >/dev/null 2>&1
  done
  for p in "${proxy_pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$work"
  echo "demo: every server and proxy stopped"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port: a TCP port on 127.0.0.1 nobody listens on.
next_port=$((50000 + RANDOM % 10000))
free_port() {
  while (exec 3<>"/dev/tcp/127.0.0.1/$next_port") 2>/dev/null; do next_port=$((next_port + 1)); done
  echo $next_port
  next_port=$((next_port + 1))
}

# sql REGION QUERY: runs QUERY on a region's server (aligned output).
sql() { "$bindir/psql" -X -q -h 127.0.0.1 -p "${port[$1]}" -d postgres -v ON_ERROR_STOP=1 -P footer=off -c "$2"; }
value() { "$bindir/psql" -X -q -At -h 127.0.0.1 -p "${port[$1]}" -d postgres -v ON_ERROR_STOP=1 -c "$2"; }

say "Starting three regions: ${regions[*]}"
for r in "${regions[@]}"; do
  port[$r]=$(free_port)
  "$bindir/initdb" -D "$work/$r" -A trust -U postgres >/dev/null
  {
    "$top/scripts/server_conf.sh" "$r" "$bindir"
    echo "listen_addresses = '127.0.0.1'"
    echo "port = ${port[$r]}"
    echo "unix_socket_directories = '$work'"
  } >>"$work/$r/postgresql.conf"
  "$bindir/pg_ctl" -D "$work/$r" -l "$work/$r.log" -w start >/dev/null
done

say "Simulated WAN: a delaying proxy in front of every region"
for r in "${regions[@]}"; do
  ready="$work/proxy-$r"
  perl "$top/test/perl/latency_proxy.pl" --target "127.0.0.1:${port[$r]}" \
    --delay-ms "${delay[$r]}" --ready-file "$ready" 2>>"$work/proxy-$r.log" &
  proxy_pids+=($!)
  until [ -s "$ready" ]; do sleep 0.05; done
  proxy_port[$r]=$(cut -d' ' -f1 "$ready")
  printf '  %-9s server 127.0.0.1:%s, reached by other regions through 127.0.0.1:%s (+%s ms each way)\n' \
    "$r" "${port[$r]}" "${proxy_port[$r]}" "${delay[$r]}"
done
conninfo() { echo "host=127.0.0.1 port=${proxy_port[$1]} dbname=postgres"; }

# A short breaker pause, so the demo can show a region coming back quickly.
for r in "${regions[@]}"; do
  echo "locality.breaker_reset_timeout = '3s'" >>"$work/$r/postgresql.conf"
  "$bindir/pg_ctl" -D "$work/$r" reload >/dev/null
done

say "One cluster: us-east1 adds itself (the primary region), then the others"
run us-east1 "CREATE EXTENSION pg_locality"
for r in "${regions[@]}"; do
  run us-east1 "SELECT locality.add_region('$r', '$(conninfo "$r")')" >/dev/null
done
echo "add_region installed pg_locality on eu-west1 and ap-east1 and copied the catalog there:"
run ap-east1 "SELECT region, is_primary, is_local FROM locality.regions"

say "A round trip from us-east1 into each region crosses the simulated WAN"
for to in eu-west1 ap-east1; do
  ms=$(printf '\\timing on\nSELECT 1;\n' |
    "$bindir/psql" -X -q -h 127.0.0.1 -p "${proxy_port[$to]}" -d postgres | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
  printf '  us-east1 -> %s: SELECT 1 answered in %s ms (simulated round trip %s ms)\n' \
    "$to" "$ms" "$((2 * ${delay[$to]}))"
done

say "Three tables, three localities, three doors (each change runs on every region)"
run us-east1 "CREATE TABLE users (id bigint PRIMARY KEY, name text) WITH (locality = 'REGIONAL BY ROW')"
run eu-west1 "CREATE TABLE promotions (code text PRIMARY KEY, percent int); ALTER TABLE promotions SET (locality = 'REGIONAL BY TABLE IN \"eu-west1\"')"
run ap-east1 "CREATE TABLE currencies (code text PRIMARY KEY, rate numeric)"
run ap-east1 "SELECT locality.execute('ALTER TABLE currencies SET LOCALITY GLOBAL')" >/dev/null
echo "locality.tables, as every region sees it:"
run us-east1 "SELECT * FROM locality.tables ORDER BY table_name::text"

say "Writes in every region; every region ends up with every row"
run us-east1 "INSERT INTO users VALUES (1, 'Ada in Virginia')"
run ap-east1 "INSERT INTO users VALUES (2, 'Kenji in Hong Kong')"
run eu-west1 "INSERT INTO promotions VALUES ('WINTER', 15)"
run ap-east1 "INSERT INTO currencies VALUES ('HKD', 7.8)"
run eu-west1 "INSERT INTO currencies VALUES ('EUR', 0.92)"
for r in "${regions[@]}"; do
  value "$r" "SELECT locality.wait_for_replication(NULL, '60s')" >/dev/null
done
for r in "${regions[@]}"; do
  printf '  %-9s users: %s | promotions: %s | currencies: %s\n' "$r" \
    "$(value "$r" "SELECT string_agg(id || ' ' || name || ' (home ' || region || ')', ', ' ORDER BY id) FROM users")" \
    "$(value "$r" "SELECT string_agg(code, ', ') FROM promotions")" \
    "$(value "$r" "SELECT string_agg(code || '=' || rate, ', ' ORDER BY code) FROM currencies")"
done
echo "Each row of users is homed where it was written (its region column)."

# session REGION: runs the psql script on stdin in one session (so the
# connections it opens to other regions are reused), echoing each statement;
# errors are shown, not fatal.
session() {
  { "$bindir/psql" -X -q -e -h 127.0.0.1 -p "${port[$1]}" -d postgres -P footer=off 2>&1 || true; } |
    sed -e "s/^/  $1=> /" -e "s/^  $1=> psql:<stdin>:[0-9]*: /  $1=> /"
}
# ms_since T0: milliseconds since T0 (from now_ns).
now_ns() { date +%s%N; }
ms_since() { echo $((($(now_ns) - $1) / 1000000)); }

say "A local write, then a forwarded one: a row is written only at its home"
echo "eu-west1 inserts a row homed in eu-west1: it commits there, no WAN on the way."
session eu-west1 <<'SQL'
\timing on
INSERT INTO users VALUES (3, 'Amelie in Paris');
SQL
echo "us-east1 updates that row: the statement is forwarded to eu-west1 and runs there,"
echo "in the caller's transaction, as the caller's role. Simulated round trip to eu-west1:"
echo "$((2 * ${delay[eu-west1]})) ms. The session's first forwarded statement also opens the connection"
echo "(TCP, startup, authentication: several round trips); the next one costs one round trip."
echo "The SELECT right after reads the local copy, which has already applied the write"
echo "(read-your-writes: it waits for the replica if it must)."
session us-east1 <<'SQL'
\timing on
UPDATE users SET name = 'Amelie in Lyon' WHERE id = 3;
UPDATE users SET name = 'Amelie in Nice' WHERE id = 3;
SELECT id, name, region FROM users WHERE id = 3;
SQL

say "EXPLAIN shows where a write goes and what runs there"
session us-east1 <<'SQL'
EXPLAIN (COSTS OFF) INSERT INTO users VALUES (4, 'Zoe in Berlin', 'eu-west1');
EXPLAIN (COSTS OFF) UPDATE users SET name = 'Amelie' WHERE id = 3;
SQL

say "A region goes down: ap-east1's server stops"
"$bindir/pg_ctl" -D "$work/ap-east1" -m fast -w stop >/dev/null
echo "us-east1 writes rows homed in ap-east1; each call fails (08006), and after"
echo "$(value us-east1 "SHOW locality.breaker_failure_threshold") failures in a row ap-east1's circuit breaker opens:"
for i in 1 2 3; do
  t0=$(now_ns)
  err=$("$bindir/psql" -X -q -h 127.0.0.1 -p "${port[us-east1]}" -d postgres \
    -c "INSERT INTO users VALUES (1$i, 'Mei in Hong Kong', 'ap-east1')" 2>&1 | sed -n 's/^.*ERROR:  //p' || true)
  printf '  attempt %s: %s (%s ms)\n' "$i" "$err" "$(ms_since "$t0")"
done
run us-east1 "SELECT region, reachable, breaker, split_part(last_error, E'\\n', 1) AS last_error FROM locality.region_status ORDER BY region"
echo "While it is open, a forwarded write fails at once, saying since when and why:"
t0=$(now_ns)
"$bindir/psql" -X -q -h 127.0.0.1 -p "${port[us-east1]}" -d postgres \
  -c "INSERT INTO users VALUES (14, 'Mei in Hong Kong', 'ap-east1')" 2>&1 | sed -e 's/^psql:[^ ]* //' -e 's/^/  /' || true
echo "  (answered in $(ms_since "$t0") ms without trying ap-east1: the attempts above each tried to"
echo "  connect, which fails fast here but waits up to locality.forward_timeout in a real outage)"
echo "Local reads and writes in us-east1 never wait for ap-east1:"
session us-east1 <<'SQL'
\timing on
INSERT INTO users VALUES (5, 'Linus in Boston');
SELECT count(*) AS users_here FROM users;
SQL

say "ap-east1 comes back"
"$bindir/pg_ctl" -D "$work/ap-east1" -l "$work/ap-east1.log" -w start >/dev/null
echo "After locality.breaker_reset_timeout one trial call goes through; its success closes the breaker."
t0=$(now_ns)
until value us-east1 "INSERT INTO users VALUES (15, 'Mei in Hong Kong', 'ap-east1')" >/dev/null 2>&1; do
  [ "$(ms_since "$t0")" -lt 30000 ] || { echo "demo: ap-east1 did not come back" >&2; exit 1; }
  sleep 0.2
done
echo "  the forwarded INSERT succeeded $(ms_since "$t0") ms after the restart"
run us-east1 "SELECT region, reachable, breaker FROM locality.region_status ORDER BY region"
for r in "${regions[@]}"; do
  value "$r" "SELECT locality.wait_for_replication(NULL, '60s')" >/dev/null
done
for r in "${regions[@]}"; do
  printf '  %-9s users: %s\n' "$r" "$(value "$r" "SELECT string_agg(id || ' (' || region || ')', ', ' ORDER BY id) FROM users")"
done
echo "Every region holds the same rows again."

say "Replication, as eu-west1 sees it"
run eu-west1 "SELECT source_region, state, applied_lsn, lag_bytes, last_error FROM locality.replication_status ORDER BY 1"

say "Stopping the cluster"
