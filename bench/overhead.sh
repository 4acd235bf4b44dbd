#!/usr/bin/env bash
# bench/overhead.sh -- what pg_locality costs writes that stay local (issue 6, item 10 a and b),
# as throughput ratios of pgbench's TPC-B-like script, measured side by side in one run.
#
#   (a) unmanaged tables: a server with pg_locality in shared_preload_libraries, the extension
#       created and this server's region added (hooks, catalog cache, launcher and manager all
#       live), vs a server without pg_locality at all.  ratio_a = tps(locality) / tps(plain);
#       target >= 0.98.
#   (b) on the pg_locality server, database "regional" where pgbench_accounts is REGIONAL BY ROW
#       with every row homed here (so the safety net's trigger checks every UPDATE of it), vs
#       database "bench" of the same server with the same, unmanaged, tables.
#       ratio_b = tps(regional) / tps(unmanaged); target >= 0.95.
#
# Method: both servers run throughout (only one is loaded at a time), configured alike except
# for pg_locality's own lines (scripts/server_conf.sh; the plain server gets the same wal_level
# and track_commit_timestamp).  pgbench -i -s SCALE in each database.  Then ROUNDS rounds per
# comparison, each one run of each side, `pgbench -c CLIENTS -j THREADS -T DURATION_S` (pgbench's
# own vacuum of branches/tellers and truncation of history before each run), the order of the
# two sides alternating from round to round (ABBA...) so a drift of the shared machine hits both
# alike, a CHECKPOINT before every run.  Reported: every run's tps, each side's median, the
# ratio of medians, each round's ratio (their spread shows the noise) and the median of those
# (paired: the two runs of a round are adjacent in time, so it is the more robust figure on a
# shared machine).  The target counts as met when both figures reach it.
#
# Server CPU per transaction, beside each run's tps: the CPU time (user + system) the loaded
# server's processes used during the pgbench run (the postmaster's own and its children's: live
# ones from /proc/<pid>/stat, exited backends through the postmaster's cutime/cstime once it has
# reaped them, which the script waits for), divided by the transactions pgbench processed.
# Reported per run, as each side's median and as the ratio of medians test / base (a cost
# ratio: 1.05 matches a tps ratio of 0.95).  Its resolution is the clock tick (getconf
# CLK_TCK, 10 ms), far below a run's CPU seconds.  On a shared machine it is noisy too (other
# load slows every instruction down: caches, the other hyperthread), if less than tps.
#
# INSTRUCTIONS=1 adds the steadiest figure: instructions per transaction of the backend, counted
# by valgrind's callgrind (installed with apt-get when missing).  After the tps rounds each
# server is restarted under callgrind (its backends are followed through fork; counting only
# inside PostgresMain).  Per side, after pgbench's own clean-up (VACUUM of branches and
# tellers, TRUNCATE of history), `pgbench -n -c 1 --random-seed=1` runs INSN_TXNS_SHORT and
# then INSN_TXNS transactions, each in a new backend, so both sides run the same transactions;
# instructions per transaction = the difference of the two backends' counts / the difference
# of their transactions (connection set-up and exit cancel out).  Instructions are not time
# (cache misses, contention between clients are not counted), but they show the work a
# transaction costs without the machine's noise.  The counts move with the tables' state (the
# dead rows earlier runs left behind): ~16,000 per transaction between two counts of one side
# taken one after the other, ~2,000 in the difference between the sides.  Takes ~1 min per side
# with the defaults.

# synchronous_commit = off by default: with it on, every transaction waits for an fsync and the
# CPU the extension spends per statement hides behind that wait; off, the runs are CPU-bound and
# the ratio is the stricter one.  SYNC_COMMIT=on measures the default configuration.
#
# Usage (root; servers run as OS user postgres; uses the installed extension):
#   make -j2 && flock /tmp/pg_locality.lock make install
#   bench/overhead.sh                    # ~11 min with the defaults
# Knobs: BENCHES="a b" ROUNDS=10 DURATION_S=15 SCALE=10 CLIENTS=4 THREADS=2 SYNC_COMMIT=off
#   INSTRUCTIONS=0 INSN_TXNS=1000 INSN_TXNS_SHORT=200
#   PGBIN=/usr/lib/postgresql/15/bin PLAIN_PORT=56231 LOCALITY_PORT=56232 KEEP_TMP=1
#   SETUP_LOCK=/tmp/pg_locality.lock (held while the servers start and the extension is created,
#   so a concurrent `make install` cannot swap the library under the set-up; a server keeps the
#   library it loaded at start)  INSTALL=1 (make install of this tree first, under that lock)
# Cleanup: both servers are stopped on exit (also on failure or Ctrl-C), the temp dir removed.

set -Eeuo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PG_OS_USER=${PG_OS_USER:-postgres}
PLAIN_PORT=${PLAIN_PORT:-56231}
LOCALITY_PORT=${LOCALITY_PORT:-56232}
BENCHES=${BENCHES:-"a b"}
ROUNDS=${ROUNDS:-10}
DURATION_S=${DURATION_S:-15}
SCALE=${SCALE:-10}
CLIENTS=${CLIENTS:-4}
THREADS=${THREADS:-2}
SYNC_COMMIT=${SYNC_COMMIT:-off}
KEEP_TMP=${KEEP_TMP:-0}
SETUP_LOCK=${SETUP_LOCK:-}
INSTALL=${INSTALL:-0}
INSTRUCTIONS=${INSTRUCTIONS:-0}
INSN_TXNS=${INSN_TXNS:-1000}
INSN_TXNS_SHORT=${INSN_TXNS_SHORT:-200}
SRC_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REGION=bench-home

TMP=""
STARTED=()

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }
as_pg() { runuser -u "$PG_OS_USER" -- "$@"; }
sql() { local port=$1 db=$2; shift 2
        as_pg "$PGBIN/psql" -XAtq -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -d "$db" "$@"; }

cleanup() {
    local rc=$? dir
    set +e
    trap - ERR
    trap '' INT TERM
    for dir in "${STARTED[@]}"; do
        (( rc != 0 )) && [[ -s $dir.log ]] && { log "---- tail of $dir.log"; tail -n 15 "$dir.log" >&2; }
        as_pg "$PGBIN/pg_ctl" -D "$dir" -m fast -w -t 120 stop >/dev/null 2>&1
    done
    if [[ -n $TMP && -d $TMP ]]; then
        if [[ $KEEP_TMP == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'log "error (rc=$?) at line $LINENO: $BASH_COMMAND"' ERR

start_server() { # NAME PORT WITH_LOCALITY
    local name=$1 port=$2 with=$3 dir="$TMP/$1" try
    as_pg "$PGBIN/initdb" -D "$dir" -A trust -U postgres -E UTF8 --locale=C --no-sync \
        >"$TMP/initdb.$name.log" 2>&1 || { cat "$TMP/initdb.$name.log" >&2; die "initdb failed"; }
    {
        if [[ $with == 1 ]]; then sh "$SRC_TOP/scripts/server_conf.sh" "$REGION" "$PGBIN"; fi
        echo "# ---- overhead.sh: the same on both servers ----"
        echo "port = $port"
        echo "listen_addresses = '127.0.0.1'"
        echo "unix_socket_directories = '$TMP'"
        echo "wal_level = logical"
        echo "track_commit_timestamp = on"
        echo "shared_buffers = 512MB"
        echo "max_wal_size = 4GB"
        echo "synchronous_commit = $SYNC_COMMIT"
        echo "autovacuum = off"
    } >>"$dir/postgresql.conf"
    STARTED+=("$dir")
    # 562xx lies in the ephemeral port range: retry while a TIME-WAIT socket holds it.
    for (( try = 1; ; try++ )); do
        if as_pg "$PGBIN/pg_ctl" -D "$dir" -l "$dir.log" -w -t 120 start </dev/null >/dev/null 2>&1; then
            break
        fi
        if (( try < 30 )) && grep -q "Address already in use" "$dir.log"; then
            log "port $port busy (TIME-WAIT?), retrying in 3 s"; sleep 3; continue
        fi
        die "could not start server $name"
    done
}

pgbench_init() { # PORT DB
    as_pg "$PGBIN/pgbench" -i -q -s "$SCALE" -h 127.0.0.1 -p "$1" "$2" >"$TMP/init.$1.$2.log" 2>&1 ||
        { cat "$TMP/init.$1.$2.log" >&2; die "pgbench -i failed on $1/$2"; }
}

add_own_region() { # DB
    sql "$LOCALITY_PORT" postgres -c "CREATE DATABASE $1"
    sql "$LOCALITY_PORT" "$1" -c "CREATE EXTENSION pg_locality" \
        -c "SELECT locality.add_region('$REGION', 'host=127.0.0.1 port=$LOCALITY_PORT dbname=$1')" >/dev/null
}

server_dir() { if [[ $1 == "$PLAIN_PORT" ]]; then echo "$TMP/plain"; else echo "$TMP/locality"; fi; }

# server_cpu_ticks PORT -> clock ticks of CPU (user + system) the server's processes have used:
# the postmaster's own, its reaped children's (cutime, cstime) and its live children's.
server_cpu_ticks() {
    local pm child total
    pm=$(head -n 1 "$(server_dir "$1")/postmaster.pid")
    # /proc/<pid>/stat after "pid (comm) ": utime, stime, cutime, cstime are fields 12-15.
    total=$(sed 's/^.*) //' "/proc/$pm/stat" | awk '{print $12 + $13 + $14 + $15}')
    for child in $(pgrep -P "$pm"); do
        total=$(( total + $(sed 's/^.*) //' "/proc/$child/stat" 2>/dev/null | awk '{print $12 + $13}' || true) + 0 ))
    done
    echo "$total"
}
CLK_TCK=$(getconf CLK_TCK)

# server_children PORT -> the pids of the postmaster's children, exited ones not reaped yet included
server_children() { ps -o pid= --ppid "$(head -n 1 "$(server_dir "$1")/postmaster.pid")" | sort; }

# wait_reaped PORT PIDS: waits (10 s at most) until the postmaster has reaped every child not in
# PIDS, so their CPU is in its cutime/cstime (a backend that exited but is not reaped yet is
# seen in neither place).
wait_reaped() {
    local try
    for (( try = 0; try < 100; try++ )); do
        [[ -z $(comm -13 <(echo "$2") <(server_children "$1")) ]] && return 0
        sleep 0.1
    done
}

# run_once PORT DB -> "tps server-CPU-microseconds-per-transaction"
run_once() {
    local out before after tps txns kids
    kids=$(server_children "$1")
    sql "$1" "$2" -c "CHECKPOINT"
    wait_reaped "$1" "$kids"
    before=$(server_cpu_ticks "$1")
    out=$(as_pg "$PGBIN/pgbench" -c "$CLIENTS" -j "$THREADS" -T "$DURATION_S" -h 127.0.0.1 -p "$1" "$2" 2>&1) ||
        { echo "$out" >&2; die "pgbench failed on $1/$2"; }
    wait_reaped "$1" "$kids"
    after=$(server_cpu_ticks "$1")
    tps=$(grep -oP '^tps = \K[0-9.]+(?= \(without initial connection time\))' <<<"$out") ||
        { echo "$out" >&2; die "no tps in pgbench output"; }
    txns=$(grep -oP '^number of transactions actually processed: \K[0-9]+' <<<"$out") ||
        { echo "$out" >&2; die "no transaction count in pgbench output"; }
    echo "$tps $(awk -v t=$(( after - before )) -v n="$txns" -v hz="$CLK_TCK" 'BEGIN {printf "%.1f", t * 1e6 / hz / n}')"
}

median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

# compare LABEL BASE_NAME BASE_PORT BASE_DB TEST_NAME TEST_PORT TEST_DB TARGET
compare() {
    local label=$1 bname=$2 bport=$3 bdb=$4 tname=$5 tport=$6 tdb=$7 target=$8
    local base=() test=() bcpu=() tcpu=() ratios=() r b t
    for (( r = 1; r <= ROUNDS; r++ )); do
        if (( r % 2 )); then
            b=$(run_once "$bport" "$bdb"); t=$(run_once "$tport" "$tdb")
        else
            t=$(run_once "$tport" "$tdb"); b=$(run_once "$bport" "$bdb")
        fi
        base+=("${b% *}"); test+=("${t% *}"); bcpu+=("${b#* }"); tcpu+=("${t#* }")
        ratios+=("$(awk -v t="${t% *}" -v b="${b% *}" 'BEGIN {printf "%.3f", t / b}')")
        log "($label) round $r: $bname ${b% *} tps ${b#* } us CPU/txn, $tname ${t% *} tps ${t#* } us CPU/txn, ratio ${ratios[-1]}"
    done
    local bm tm bcm tcm
    bm=$(echo "${base[*]}" | median); tm=$(echo "${test[*]}" | median)
    bcm=$(echo "${bcpu[*]}" | median); tcm=$(echo "${tcpu[*]}" | median)
    printf '\n(%s) %s vs %s, pgbench TPC-B -s %s -c %s -j %s -T %s, %s rounds, synchronous_commit = %s\n' \
        "$label" "$tname" "$bname" "$SCALE" "$CLIENTS" "$THREADS" "$DURATION_S" "$ROUNDS" "$SYNC_COMMIT"
    printf '  %-26s tps: %s  (median %.1f)\n' "$bname" "${base[*]}" "$bm"
    printf '  %-26s tps: %s  (median %.1f)\n' "$tname" "${test[*]}" "$tm"
    local pm
    pm=$(echo "${ratios[*]}" | median)
    printf '  per-round ratios: %s  (median %s)\n' "${ratios[*]}" "$pm"
    awk -v t="$tm" -v b="$bm" -v p="$pm" -v target="$target" -v label="$label" \
        'BEGIN {r = t / b; printf "  ratio_%s = %.3f as the ratio of medians, %.4f as the median of the rounds'"'"' ratios (target >= %s): %s\n",
                label, r, p, target, (r >= target && p >= target) ? "met" : "MISSED"}'
    printf '  server CPU per transaction (us), %s: %s  (median %s)\n' "$bname" "${bcpu[*]}" "$bcm"
    printf '  server CPU per transaction (us), %s: %s  (median %s)\n' "$tname" "${tcpu[*]}" "$tcm"
    awk -v t="$tcm" -v b="$bcm" -v label="$label" \
        'BEGIN {printf "  cpu_%s = %.3f: server CPU per transaction, %s / %s as the ratio of medians (a cost: 1.05 matches a tps ratio of 0.95)\n",
                label, t / b, "test", "base"}'
}

# --- instructions per transaction (INSTRUCTIONS=1) ---------------------------------------

# start_under_callgrind NAME PORT: restarts server NAME with its postmaster under callgrind.
start_under_callgrind() {
    local name=$1 port=$2 dir="$TMP/$1" try
    as_pg "$PGBIN/pg_ctl" -D "$dir" -m fast -w -t 120 stop >/dev/null
    mkdir -p "$TMP/cg.$name"; chown "$PG_OS_USER": "$TMP/cg.$name"
    as_pg valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.$name/%p" \
        --toggle-collect=PostgresMain "$PGBIN/postgres" -D "$dir" >>"$dir.valgrind.log" 2>&1 </dev/null &
    for (( try = 0; try < 600; try++ )); do
        as_pg "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$port" && return 0
        sleep 0.5
    done
    die "server $name did not start under callgrind (see $dir.valgrind.log)"
}

# insn_count PORT DB NAME TXNS -> instructions the backend of one `pgbench -n -c 1 -t TXNS` ran
insn_count() {
    local port=$1 db=$2 name=$3 n=$4 f total best=0 before kids pm try
    pm=$(head -n 1 "$TMP/$name/postmaster.pid")
    before=$(ls "$TMP/cg.$name")
    kids=$(pgrep -P "$pm" | sort || true)
    as_pg "$PGBIN/pgbench" -n -c 1 -t "$n" --random-seed=1 -h 127.0.0.1 -p "$port" "$db" >"$TMP/insn.$name.$db.$n.log" 2>&1 ||
        { cat "$TMP/insn.$name.$db.$n.log" >&2; die "pgbench failed on $port/$db under callgrind"; }
    # A backend writes its counts as it exits: wait until pgbench's backends are gone.
    for (( try = 0; try < 240; try++ )); do
        [[ -z $(comm -13 <(echo "$kids") <(pgrep -P "$pm" | sort || true)) ]] && break
        sleep 0.5
    done
    for f in $(comm -13 <(echo "$before") <(ls "$TMP/cg.$name")); do
        total=$(grep -m1 '^totals:' "$TMP/cg.$name/$f" | awk '{print $2}')
        if [[ -n $total ]] && (( total > best )); then best=$total; fi
    done
    (( best > 0 )) || die "no callgrind counts for $port/$db"
    echo "$best"
}

# insn_per_txn PORT DB NAME -> instructions per transaction
insn_per_txn() {
    local port=$1 db=$2 name=$3 short long
    sql "$port" "$db" -c "VACUUM pgbench_branches" -c "VACUUM pgbench_tellers" -c "TRUNCATE pgbench_history"
    short=$(insn_count "$port" "$db" "$name" "$INSN_TXNS_SHORT")
    long=$(insn_count "$port" "$db" "$name" "$INSN_TXNS")
    echo $(( (long - short) / (INSN_TXNS - INSN_TXNS_SHORT) ))
}

# insn_compare LABEL BASE_NAME BASE_PORT BASE_DB BASE_SERVER TEST_NAME TEST_PORT TEST_DB TEST_SERVER
insn_compare() {
    local label=$1 bname=$2 bport=$3 bdb=$4 bserver=$5 tname=$6 tport=$7 tdb=$8 tserver=$9 b t
    b=$(insn_per_txn "$bport" "$bdb" "$bserver"); t=$(insn_per_txn "$tport" "$tdb" "$tserver")
    printf '\n(%s) instructions per transaction (callgrind, backend, pgbench -n -c 1, %s - %s transactions)\n' \
        "$label" "$INSN_TXNS" "$INSN_TXNS_SHORT"
    printf '  %-26s %s\n  %-26s %s\n' "$bname" "$b" "$tname" "$t"
    awk -v t="$t" -v b="$b" -v label="$label" \
        'BEGIN {printf "  insn_%s = %.4f (test / base; %+d instructions per transaction)\n", label, t / b, t - b}'
}

if [[ $INSTRUCTIONS == 1 ]] && ! command -v valgrind >/dev/null; then
    log "installing valgrind (apt-get) for INSTRUCTIONS=1"
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q valgrind; } >&2 ||
        die "could not install valgrind"
fi
TMP=$(mktemp -d /tmp/pg_locality_overhead.XXXXXX)
chown "$PG_OS_USER": "$TMP"
log "installed pg_locality.so $(md5sum <"$("$PGBIN/pg_config" --pkglibdir)/pg_locality.so" | cut -c1-12)," \
    "this tree's build $(md5sum <"$SRC_TOP/pg_locality.so" 2>/dev/null | cut -c1-12)"

if [[ -n $SETUP_LOCK ]]; then exec {lockfd}>"$SETUP_LOCK"; flock "$lockfd"; fi
if [[ $INSTALL == 1 ]]; then
    make -s -C "$SRC_TOP" install >/dev/null || die "make install failed"
    log "installed this tree's build"
fi
start_server plain "$PLAIN_PORT" 0
start_server locality "$LOCALITY_PORT" 1
add_own_region bench
[[ $BENCHES == *b* ]] && add_own_region regional
if [[ -n $SETUP_LOCK ]]; then flock -u "$lockfd"; fi

log "pgbench -i -s $SCALE"
pgbench_init "$LOCALITY_PORT" bench
if [[ $BENCHES == *a* ]]; then
    sql "$PLAIN_PORT" postgres -c "CREATE DATABASE bench"
    pgbench_init "$PLAIN_PORT" bench
fi
if [[ $BENCHES == *b* ]]; then
    pgbench_init "$LOCALITY_PORT" regional
    sql "$LOCALITY_PORT" regional -c "SELECT locality.set_locality('pgbench_accounts', 'REGIONAL BY ROW')" \
        -c "VACUUM ANALYZE pgbench_accounts" >/dev/null
    got=$(sql "$LOCALITY_PORT" regional -c "SELECT count(*) FILTER (WHERE region = '$REGION') || '/' || count(*)
        || ' rows homed here, safety-net triggers: ' || (SELECT count(*) FROM pg_trigger
        WHERE tgrelid = 'pgbench_accounts'::regclass AND tgfoid = 'locality._home_guard()'::regprocedure)
        FROM pgbench_accounts")
    log "regional pgbench_accounts: $got"
    [[ $got == *"triggers: 2" ]] || die "pgbench_accounts does not carry the safety net"
fi

[[ $BENCHES == *a* ]] && compare a "plain server" "$PLAIN_PORT" bench "pg_locality, unmanaged" "$LOCALITY_PORT" bench 0.98
[[ $BENCHES == *b* ]] && compare b "unmanaged accounts" "$LOCALITY_PORT" bench "REGIONAL BY ROW accounts" "$LOCALITY_PORT" regional 0.95
if [[ $INSTRUCTIONS == 1 ]]; then
    log "instructions per transaction under callgrind"
    start_under_callgrind locality "$LOCALITY_PORT"
    if [[ $BENCHES == *a* ]]; then
        start_under_callgrind plain "$PLAIN_PORT"
        insn_compare a "plain server" "$PLAIN_PORT" bench plain "pg_locality, unmanaged" "$LOCALITY_PORT" bench locality
    fi
    [[ $BENCHES == *b* ]] && insn_compare b "unmanaged accounts" "$LOCALITY_PORT" bench locality \
        "REGIONAL BY ROW accounts" "$LOCALITY_PORT" regional locality
fi
exit 0
