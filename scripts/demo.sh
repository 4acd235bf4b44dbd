#!/bin/bash
# demo.sh -- the pg_locality walkthrough: starts three local regions with
# simulated WAN latency between them, shows who is where, and stops them all
# on exit (Ctrl-C included).  Run by `make demo` as the postgres OS user.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
bindir=$(pg_config --bindir)
work=$(mktemp -d "${TMPDIR:-/tmp}/pg_locality-demo.XXXXXX")
regions=(us-east1 eu-west1 ap-east1)
declare -A port proxy_port
proxy_pids=()

# One-way delay between two regions, in ms (a stand-in for real WAN figures).
delay_ms() {
  case "$1/$2" in
    us-east1/eu-west1 | eu-west1/us-east1) echo 35 ;;
    eu-west1/ap-east1 | ap-east1/eu-west1) echo 70 ;;
    *) echo 105 ;;
  esac
}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

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

# sql REGION QUERY: runs QUERY on a region's server, unaligned output.
sql() { "$bindir/psql" -X -q -At -h 127.0.0.1 -p "${port[$1]}" -d postgres -v ON_ERROR_STOP=1 -c "$2"; }

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
  sql "$r" "CREATE EXTENSION pg_locality"
done

say "Simulated WAN: a delaying proxy for every pair of regions"
for from in "${regions[@]}"; do
  for to in "${regions[@]}"; do
    [ "$from" = "$to" ] && continue
    ready="$work/proxy-$from-$to"
    perl "$top/test/perl/latency_proxy.pl" --target "127.0.0.1:${port[$to]}" \
      --delay-ms "$(delay_ms "$from" "$to")" --ready-file "$ready" &
    proxy_pids+=($!)
    until [ -s "$ready" ]; do sleep 0.05; done
    proxy_port[$from/$to]=$(cut -d' ' -f1 "$ready")
  done
done

printf '%-10s %-6s %s\n' region port "reaches the other regions through"
for from in "${regions[@]}"; do
  routes=""
  for to in "${regions[@]}"; do
    [ "$from" = "$to" ] && continue
    routes+="$to@${proxy_port[$from/$to]} ($(delay_ms "$from" "$to") ms one way)  "
  done
  printf '%-10s %-6s %s\n' "$from" "${port[$from]}" "$routes"
done

say "Who is where: each server's locality.region"
for r in "${regions[@]}"; do
  printf '  127.0.0.1:%s says %s\n' "${port[$r]}" "$(sql "$r" 'SHOW locality.region')"
done

say "Round trips from us-east1 cross the simulated WAN"
for to in eu-west1 ap-east1; do
  p=${proxy_port[us-east1/$to]}
  ms=$(printf '\\timing on\nSHOW locality.region;\n' |
    "$bindir/psql" -X -q -h 127.0.0.1 -p "$p" -d postgres | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
  printf '  us-east1 -> %s: SHOW answered in %s ms (simulated round trip %s ms)\n' \
    "$to" "$ms" "$(( 2 * $(delay_ms us-east1 "$to") ))"
done

say "Stopping the cluster"
