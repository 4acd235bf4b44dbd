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
    --delay-ms "${delay[$r]}" --ready-file "$ready" &
  proxy_pids+=($!)
  until [ -s "$ready" ]; do sleep 0.05; done
  proxy_port[$r]=$(cut -d' ' -f1 "$ready")
  printf '  %-9s server 127.0.0.1:%s, reached by other regions through 127.0.0.1:%s (+%s ms each way)\n' \
    "$r" "${port[$r]}" "${proxy_port[$r]}" "${delay[$r]}"
done
conninfo() { echo "host=127.0.0.1 port=${proxy_port[$1]} dbname=postgres"; }

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

say "Replication, as eu-west1 sees it"
run eu-west1 "SELECT source_region, state, applied_lsn, lag_bytes, last_error FROM locality.replication_status ORDER BY 1"

say "Stopping the cluster"
