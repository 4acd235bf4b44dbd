#!/usr/bin/env bash
# bench/apply_drain.sh -- backlog-drain benchmark: pg_locality against PostgreSQL 15's built-in
# logical replication and pglogical, all three in the same run on the same machine.
#
# Provenance: a copy of the project's anchor script shared/anchors/apply_drain.sh (the baseline
# figures in shared/ANCHORS.md were measured with it), with the same method, workloads, timing
# and verification; added here: the "locality" mode, installing pglogical when missing, the
# "stream" rate (which leaves out worker start-up) and the ratio table at the end.
#
# Measures how fast a subscriber applies a backlog of changes, for
#   native    : CREATE PUBLICATION / CREATE SUBSCRIPTION (pgoutput + built-in apply worker)
#   pglogical : the pglogical 2.x extension (pglogical_output + pglogical apply worker)
#   locality  : pg_locality: two regions, "bench-p" (provider, the primary region) and
#               "bench-s" (subscriber); on the provider locality.add_region() for both, then
#               t and drain_marker created WITH (locality = 'GLOBAL') (the definition reaches
#               bench-s by pg_locality's DDL propagation). Output plugin pg_locality + the
#               "pg_locality apply" worker of bench-s. The slot on the provider is
#               pg_locality_r<bench-s region id>_d<bench-s oid of database bench>.
#               Pause = locality.pause_replication('bench-p') on the subscriber, enable =
#               locality.resume_replication('bench-p'). Note that pg_locality replicates in
#               both directions, so the provider also runs an apply worker streaming from the
#               subscriber (it has nothing to send: applied changes are filtered by origin).
#   locality-bigint, locality-pncounter : locality mode with column n of t a bigint, or a
#               locality.pncounter (values written as (g)::text::locality.pncounter, an initial
#               value credited to bench-p; W3's n = n + 1 is a pncounter increment, which the
#               apply worker merges with the local counter state instead of overwriting it; sums
#               read as sum(n::bigint)). Run both together for the ratio pncounter / bigint
#               (bench/crdt_drain.sh; issue 5: target >= 0.8). Ports +30 and +40.
#
# Note: a drain includes the provider side too (the walsender decodes the backlog from WAL and
# sends it while the apply worker applies), i.e. it is the end-to-end catch-up speed.
#
# Method (per mode: two fresh clusters on 127.0.0.1, provider :56101, subscriber :56102 for native,
# +10 for pglogical, +20 for locality; with ORDER=interleaved, the default here, all six run at
# once and the modes take turns per measurement, see ORDER below):
#   1. set up replication (no initial copy), wait until the walsender is streaming and a
#      marker row has round-tripped;
#   2. per measurement: VACUUM (ANALYZE) both sides, wait until the slot's
#      confirmed_flush_lsn has caught up, pause apply (native: ALTER SUBSCRIPTION .. DISABLE;
#      pglogical: pglogical.alter_subscription_disable; locality: pause_replication) and
#      wait until the provider slot is inactive, CHECKPOINT the provider;
#   3. run the workload on the provider, then insert one marker row (synchronous_commit=on)
#      and record the provider's pg_current_wal_lsn();
#   4. wait until >= wal_retrieve_retry_interval + 0.5 s has passed since the previous enable
#      (the native launcher otherwise delays the worker start by up to 5 s), CHECKPOINT both
#      sides (so every run starts the drain from the same state), re-enable the subscription
#      and poll every POLL_S seconds (default 0.02) over two persistent psql sessions until
#        applied : the marker row is visible on the subscriber. Apply is single-worker and in
#                  commit order, so everything committed before the marker is applied too
#                  (checked: count(*) and sum(n) already match the provider at that moment);
#        drained : the provider slot's confirmed_flush_lsn >= the recorded LSN. "rate" is
#                  computed from this one; it includes the subscriber's flush-feedback delay;
#      At "applied" it also reads the CPU seconds used so far by the walsender and the apply
#      worker (both are started by the enable) from /proc/PID/schedstat (nanoseconds);
#   5. verify count(*) and sum(n) of t are equal on both sides (and equal the expected values).
#
# Both clocks start at the enable, so both include worker start-up ("start_s", enable ->
# walsender active: about 30 ms for native; pg_locality's apply worker stays up while paused
# and reconnects when resume_replication sets its latch). "stream rate" = units /
# (applied_s - start_s) leaves the start-up out, for comparing the streaming apply alone.
# "apply cpu_s" of locality counts from the resume (its worker outlives the pause).
#
# Exact times ("exact ..." columns, "applied(x)" and "stream(x)" ratios): the polled times above
# are only as fine as POLL_S plus a psql round trip, which on drains of 0.2-0.35 s (W2, W3) moves a
# ratio by several percent. The exact ones use no polling, and the same method in every mode:
#   start : the instant the enable took effect on the subscriber (enable_sql: the commit timestamp
#           of the pg_subscription / pglogical.subscription row for native / pglogical, whose
#           launcher / manager acts after that commit; clock_timestamp() just before
#           resume_replication for locality, which acts at once);
#   applied : the marker transaction's local commit time on the subscriber: the xact_time of its
#           commit record in the subscriber's WAL (pg_waldump -x <marker xmin>). Not
#           pg_xact_commit_timestamp(xmin): under a replication origin (all three engines apply
#           under one) PostgreSQL records the origin's, i.e. the provider's, commit timestamp;
#   walsender start : pg_stat_activity.backend_start of the provider's walsender for the slot.
#   exact applied_s = applied - start; exact start_s = walsender start - start; exact stream rate =
#   units / (applied - walsender start). Provider and subscriber run on this one machine, so
#   walsender start and the subscriber's times share one clock.
# Start-up differs by engine: native and pglogical start a new apply worker process at the enable
# (a bgworker fork, then its connection makes the provider fork a walsender); pg_locality's worker
# outlives the pause and only reconnects (the provider forks a walsender). So "exact start_s" is
# ~10 ms for native and pglogical and ~1 ms for locality. "applied(x)" counts it (what a user
# waiting for the resume sees); "stream(x)" starts at the walsender's start, the one step all three
# share, and is the fairest comparison of the streaming itself.
#
# Workloads (table truncated between workloads via replicated TRUNCATE, outside the timing):
#   W1 bulk    : one transaction, INSERT ... SELECT g, md5(g::text), g FROM generate_series(1,W1_ROWS)
#   W2 inserts : pgbench -n -c 4 -j 2 -t 5000 = 20,000 single-row INSERT transactions,
#                ids from a provider-only sequence (unique, final count known exactly)
#   W3 updates : pgbench -n -c 4 -j 2 -t 5000 = 20,000 single-row UPDATE transactions,
#                UPDATE t SET n = n + 1 WHERE id = random(1, W1_ROWS), on W1's data present on
#                both sides (each run does W1 first, then W3, then W2)
#
# Requires: postgresql-15 (server + pgbench); for pglogical mode postgresql-15-pglogical (the
# script runs apt-get install -y postgresql-15-pglogical when it is missing; INSTALL_PGLOGICAL=0
# to refuse instead); for locality mode pg_locality installed (make install in the source
# tree; the clusters get the settings of scripts/server_conf.sh).
# PostgreSQL 15.19+ restricts logical decoding output plugins to output_plugin_libraries
# (default 'pgoutput, test_decoding'); pglogical mode appends pglogical_output to it on both
# clusters when the server has that parameter (locality mode: server_conf.sh adds pg_locality).
# Defaults also add "autovacuum = off" (every measurement runs VACUUM (ANALYZE) itself) so
# autovacuum cannot land inside a drain.
#
# Usage: run as root (servers and clients are run as OS user postgres):
#   make install            # (in the project: flock /tmp/pg_locality.lock make install)
#   bench/apply_drain.sh
# Knobs (environment): MODES="native pglogical locality"  RUNS=3  WORKLOADS="W1 W3 W2"  W1_ROWS=200000
#   PGB_CLIENTS=4 PGB_THREADS=2 PGB_TXNS_PER_CLIENT=5000  POLL_S=0.02  DRAIN_TIMEOUT_S=600
#   EXTRA_CONF="autovacuum = off" (extra postgresql.conf lines for both clusters; "" to drop)
#   NATIVE_SUB_OPTS="" (extra CREATE SUBSCRIPTION options, e.g. ", binary = true")
#   RESULTS_TSV=/path (also write raw per-run results)  KEEP_TMP=1 (keep data dirs and logs)
#   PGBIN=/usr/lib/postgresql/15/bin  PROVIDER_PORT=56101  SUBSCRIBER_PORT=56102 (pglogical +10, locality +20)
#   ORDER=interleaved (all modes' clusters up at once, each workload measured in every mode back
#     to back, mode order rotating per run) or ORDER=blocked (the anchor's: one mode after another)
#   LOCALITY_ONE_WAY=0 (1: pause the reverse stream bench-s -> bench-p, to compare one-way only)
#   LOCALITY_TABLE=GLOBAL (the locality modes' tables; 'REGIONAL BY TABLE' is one writer like the
#     anchors and pays no commit stamps; GLOBAL stamps every transaction for causal last-write-wins)
#   SETUP_LOCK=/tmp/pg_locality.lock (held while a locality mode's servers start and create the
#     extension, so a concurrent `make install` cannot swap the library or the install SQL under
#     the set-up; a running server keeps the library it loaded at start)  INSTALL=1 (make install of
#     this tree under SETUP_LOCK before each locality mode's set-up; then the installed library must
#     be this tree's build)
#   WAL_STATS_DIR=/path (diagnostic: after each drain's timing, pg_waldump --stats=record of the
#     subscriber's WAL from just before the enable to the marker's visibility, into
#     WAL_STATS_DIR/MODE.WL.RUN.txt: WAL records per applied transaction, compared across engines)
#   SUB_SNAPSHOT=0 (1: in every mode, a third session on the subscriber holds a REPEATABLE READ
#     snapshot from just before the enable until the drain is done. Its xmin keeps every row
#     version the drain creates from being pruned, so no apply worker prunes pages on access
#     (heap_page_prune_opt). Diagnostic: pglogical's manager worker holds such an xmin during
#     pglogical's drains anyway (seen in pg_stat_activity.backend_xmin), which spares its
#     apply worker the pruning the other two do; this knob gives all three the same condition)
#
# Cleanup: both servers are stopped with pg_ctl stop -m fast and the temp dir is removed on
# exit, including on failure or Ctrl-C. Only processes started by this script are touched.
# Set-up, cleanup and checks shared with lag.sh live in bench/common.sh.

set -Eeuo pipefail

PROVIDER_PORT=${PROVIDER_PORT:-56101}
SUBSCRIBER_PORT=${SUBSCRIBER_PORT:-56102}
DB=bench
MODES=${MODES:-"native pglogical locality"}
RUNS=${RUNS:-3}
WORKLOADS=${WORKLOADS:-"W1 W3 W2"}
W1_ROWS=${W1_ROWS:-200000}
PGB_CLIENTS=${PGB_CLIENTS:-4}
PGB_THREADS=${PGB_THREADS:-2}
PGB_TXNS_PER_CLIENT=${PGB_TXNS_PER_CLIENT:-5000}
PGB_TXNS=$((PGB_CLIENTS * PGB_TXNS_PER_CLIENT))
POLL_S=${POLL_S:-0.02}
DRAIN_TIMEOUT_S=${DRAIN_TIMEOUT_S:-600}
NATIVE_SUB_OPTS=${NATIVE_SUB_OPTS:-}
RESULTS_TSV=${RESULTS_TSV:-}
if [[ -n $RESULTS_TSV && $RESULTS_TSV != /* ]]; then RESULTS_TSV=$PWD/$RESULTS_TSV; fi   # the script cd's to its temp dir
REGION_P=bench-p    # locality mode: the provider's region (primary region)
REGION_S=bench-s    # locality mode: the subscriber's region
LOCALITY_ONE_WAY=${LOCALITY_ONE_WAY:-0}   # 1: pause bench-s -> bench-p (the reverse stream) for the whole mode
SUB_SNAPSHOT=${SUB_SNAPSHOT:-0}           # 1: hold a snapshot on the subscriber during each drain (every mode)
LOCALITY_TABLE=${LOCALITY_TABLE:-GLOBAL}   # locality modes: the tables' locality (GLOBAL pays commit stamps for conflict resolution; 'REGIONAL BY TABLE' is one writer, like the anchors)
ORDER=${ORDER:-interleaved}   # or "blocked" (the anchor's: one mode after the other)
SETUP_LOCK=${SETUP_LOCK:-}    # lock file held during a locality mode's set-up (see the header)
INSTALL=${INSTALL:-0}         # 1: make install of this tree under SETUP_LOCK first
PERF_DIR=${PERF_DIR:-}        # diagnostic: perf record each drain into this directory (see perf_start)
WAL_STATS_DIR=${WAL_STATS_DIR:-}   # diagnostic: pg_waldump --stats=record of the subscriber's WAL of each drain
if [[ -n $WAL_STATS_DIR && $WAL_STATS_DIR != /* ]]; then WAL_STATS_DIR=$PWD/$WAL_STATS_DIR; fi
if [[ -n $PERF_DIR && $PERF_DIR != /* ]]; then PERF_DIR=$PWD/$PERF_DIR; fi

BENCH_NAME=apply_drain.sh
SYNC_COMMIT=off
# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

declare -A S_IN=() S_OUT=() S_PID=()
MK=0                # marker id counter
SLOT=""
RETRY_MS=5000       # subscriber's wal_retrieve_retry_interval
LAST_START_US=0     # when the subscription was last created/enabled

mode_index() { case $1 in native) echo 0 ;; pglogical) echo 1 ;; locality) echo 2 ;; locality-bigint) echo 3 ;;
                          locality-pncounter) echo 4 ;; *) echo 9 ;; esac; }
# each mode has its own pair of clusters: native 56101/56102, pglogical 56111/56112, locality 56121/56122,
# locality-bigint 56131/56132, locality-pncounter 56141/56142
port_of() { local off=$(( 10 * $(mode_index "$MODE") ))
            if [[ $1 == p ]]; then echo $(( PROVIDER_PORT + off )); else echo $(( SUBSCRIBER_PORT + off )); fi; }
# Column t.n: int (the anchor's), bigint in locality-bigint, locality.pncounter in locality-pncounter.
n_type() { case $MODE in locality-bigint) echo bigint ;; locality-pncounter) echo locality.pncounter ;; *) echo int ;; esac; }
# n_of EXPR: integer EXPR as a value of t.n (a pncounter takes it as its initial value, credited
# to the writing region); n_sum: the sum of t.n as a number
n_of() { if [[ $MODE == locality-pncounter ]]; then echo "($1)::text::locality.pncounter"; else echo "$1"; fi; }
n_sum() { if [[ $MODE == locality-pncounter ]]; then echo "sum(n::bigint)"; else echo "sum(n)"; fi; }
now_us() { local t=$EPOCHREALTIME; echo "${t//[.,]/}"; }

# ---------------------------------------------------------------- persistent psql sessions
proc_cpu_s() { # PID -> CPU seconds (user+system) it has used so far ("na" if unknown): from
    # /proc/PID/schedstat (nanoseconds) where the kernel has it, else /proc/PID/stat (clock ticks)
    local st fields
    if [[ $1 != 0 && -r /proc/$1/schedstat ]] && read -r st <"/proc/$1/schedstat" 2>/dev/null; then
        awk -v ns="${st%% *}" 'BEGIN { printf "%.3f", ns / 1e9 }'
    elif [[ $1 != 0 && -r /proc/$1/stat ]] && read -r st <"/proc/$1/stat" 2>/dev/null; then
        read -r -a fields <<<"${st##*) }"
        awk -v u="${fields[11]}" -v s="${fields[12]}" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (u + s) / hz }'
    else
        echo na
    fi
}
proc_alive() { # PID: exists and is not a zombie
    local st
    [[ -r /proc/$1/stat ]] && read -r st <"/proc/$1/stat" 2>/dev/null || return 1
    st=${st##*) }
    [[ ${st%% *} != Z ]]
}
# Sessions belong to the current MODE's clusters: key "$MODE.$SIDE".
sess_open() { # SIDE
    local side=$1 key="$MODE.$1" f="$TMP/sess.$MODE.$1" fdi fdo
    rm -f "$f.in" "$f.out"
    mkfifo "$f.in" "$f.out"
    (   # the child must not hold other sessions' fifo ends (psql would never see EOF)
        for fdi in "${S_IN[@]}" "${S_OUT[@]}" "$SLEEP_FD"; do eval "exec $fdi>&-"; done
        exec runuser -u "$PG_OS_USER" -- "$PGBIN/psql" -XAtq -h 127.0.0.1 -p "$(port_of "$side")" -d "$DB" \
            <"$f.in" >"$f.out" 2>>"$f.err"
    ) &
    S_PID[$key]=$!
    exec {fdi}>"$f.in"
    exec {fdo}<"$f.out"
    S_IN[$key]=$fdi
    S_OUT[$key]=$fdo
    sess_q "$side" "SET synchronous_commit = on; SET application_name = 'apply_drain_poller'; SELECT 1;"
}
sess_close() { # SIDE
    sess_close_key "$MODE.$1"
}
sess_close_key() { # MODE.SIDE
    local key=$1
    [[ -n ${S_IN[$key]:-} ]] || return 0
    local pid=${S_PID[$key]} i
    eval "exec ${S_IN[$key]}>&-"   # EOF -> psql exits
    for (( i = 0; i < 50; i++ )); do proc_alive "$pid" || break; nap 0.1; done
    if proc_alive "$pid"; then kill "$pid" 2>/dev/null || true; fi
    wait "$pid" 2>/dev/null || true
    eval "exec ${S_OUT[$key]}<&-"
    unset "S_IN[$key]" "S_OUT[$key]" "S_PID[$key]"
}
# sess_q SIDE "SQL ending in exactly one single-row, single-line result" -> $REPLY
sess_q() {
    local key="$MODE.$1"
    printf '%s\n' "$2" >&"${S_IN[$key]}"
    IFS= read -r -t 120 REPLY <&"${S_OUT[$key]}" ||
        die "no answer from session $key to: $2 -- $(tail -n 3 "$TMP/sess.$key.err" 2>/dev/null | tr '\n' ' ')"
}
# wait_for SIDE "SQL returning t/f" DESCRIPTION [TIMEOUT_S]
wait_for() {
    local side=$1 q=$2 desc=$3 to=${4:-180} start=$SECONDS
    while :; do
        sess_q "$side" "$q"
        [[ $REPLY == t ]] && return 0
        (( SECONDS - start >= to )) && die "timeout (${to}s) waiting for $desc (last answer: '$REPLY')"
        nap 0.05
    done
}

bench_cleanup() { local key; for key in "${!S_IN[@]}"; do sess_close_key "$key"; done; }

# ---------------------------------------------------------------- clusters and replication
setup_mode() {
    local dsn_p="host=127.0.0.1 port=$(port_of p) dbname=$DB user=postgres"
    local dsn_s="host=127.0.0.1 port=$(port_of s) dbname=$DB user=postgres"
    as_pg mkdir -p "$TMP/$MODE"
    local so_before="" lockfd=""
    if is_locality && [[ -n $SETUP_LOCK ]]; then
        exec {lockfd}>"$SETUP_LOCK"
        log "waiting for $SETUP_LOCK"
        flock "$lockfd"
        if [[ $INSTALL == 1 ]]; then
            make -s -C "$SRC_TOP" install >/dev/null 2>&1 || die "make install failed"
            log "installed this tree's build"
        fi
    fi
    is_locality && so_before=$(installed_so)
    if is_locality && [[ $INSTALL == 1 && $so_before != *"(= "* ]]; then die "installed pg_locality.so is not this tree's build: $so_before"; fi
    start_cluster p
    start_cluster s
    local ddl="CREATE TABLE t (id bigint PRIMARY KEY, v text NOT NULL, n $(n_type) NOT NULL)"
    local ddl_marker="CREATE TABLE drain_marker (id bigint PRIMARY KEY)"
    if ! is_locality; then
        sql p "$DB" -c "$ddl" -c "$ddl_marker"
        sql s "$DB" -c "$ddl" -c "$ddl_marker"
    fi
    sql p "$DB" -c "CREATE SEQUENCE w2_seq"
    if [[ $MODE == native ]]; then
        sql p "$DB" -c "CREATE PUBLICATION pub FOR TABLE t, drain_marker"
        sql s "$DB" -c "CREATE SUBSCRIPTION sub CONNECTION '$dsn_p' PUBLICATION pub WITH (copy_data = false $NATIVE_SUB_OPTS)"
        SLOT=sub
        log "native subscription: $(sql s "$DB" -c "SELECT 'binary=' || subbinary || ' streaming=' || substream || ' synchronous_commit=' || subsynccommit FROM pg_subscription")"
    elif is_locality; then
        # Tables are created on the provider only: DDL propagation creates them on bench-s.
        locality_join "$dsn_p" "$dsn_s"
        sql p "$DB" -c "$ddl WITH (locality = '$LOCALITY_TABLE')" -c "$ddl_marker WITH (locality = '$LOCALITY_TABLE')"
        local sid soid
        sid=$(sql s "$DB" -c "SELECT id FROM locality.region_catalog WHERE name = '$REGION_S'")
        soid=$(sql s "$DB" -c "SELECT oid FROM pg_database WHERE datname = '$DB'")
        SLOT=pg_locality_r${sid}_d${soid}
        if [[ $LOCALITY_ONE_WAY == 1 ]]; then
            sql p "$DB" -c "SELECT 1 FROM locality.pause_replication('$REGION_S')" >/dev/null
            log "locality: reverse stream $REGION_S -> $REGION_P paused (LOCALITY_ONE_WAY=1)"
        fi
        log "installed pg_locality.so: $(installed_so)"
        echo "# locality mode ran the installed pg_locality.so $(installed_so)"
        [[ $(installed_so) == "$so_before" ]] ||
            die "pg_locality.so was reinstalled while the locality clusters started ($so_before -> $(installed_so)); run again"
        if [[ -n $lockfd ]]; then flock -u "$lockfd"; exec {lockfd}>&-; log "released $SETUP_LOCK"; fi
        log "pg_locality $(sql s "$DB" -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_locality'") (source $(git -C "$SRC_TOP" describe --always --dirty 2>/dev/null || echo '?')); tables: $(sql s "$DB" -c "SELECT string_agg(table_name || '=' || locality, ' ' ORDER BY 1) FROM locality.tables")"
    else
        sql p "$DB" >/dev/null <<EOF
CREATE EXTENSION pglogical;
SELECT pglogical.create_node(node_name := 'provider', dsn := '$dsn_p');
SELECT pglogical.replication_set_add_table('default', 't', synchronize_data := false);
SELECT pglogical.replication_set_add_table('default', 'drain_marker', synchronize_data := false);
EOF
        sql s "$DB" >/dev/null <<EOF
CREATE EXTENSION pglogical;
SELECT pglogical.create_node(node_name := 'subscriber', dsn := '$dsn_s');
SELECT pglogical.create_subscription(subscription_name := 'sub', provider_dsn := '$dsn_p',
       replication_sets := ARRAY['default'], synchronize_structure := false,
       synchronize_data := false);
EOF
        SLOT=$(sql s "$DB" -c "SELECT slot_name FROM pglogical.show_subscription_status('sub')")
        log "pglogical $(sql s "$DB" -c "SELECT extversion FROM pg_extension WHERE extname = 'pglogical'"), slot $SLOT; GUCs: $(sql s "$DB" -c "SELECT string_agg(name || '=' || setting, ' ' ORDER BY name) FROM pg_settings WHERE name LIKE 'pglogical.%' AND name IN ('pglogical.batch_inserts','pglogical.use_spi','pglogical.synchronous_commit','pglogical.conflict_resolution')")"
    fi
    LAST_START_US=$(now_us)
    RETRY_MS=$(sql s "$DB" -c "SELECT setting FROM pg_settings WHERE name = 'wal_retrieve_retry_interval'")
    sess_open p
    sess_open s
    if [[ $SUB_SNAPSHOT == 1 ]]; then sess_open x; fi   # x: a second session on the subscriber
    wait_for p "SELECT count(*) = 1 FROM pg_replication_slots r JOIN pg_stat_replication w ON w.pid = r.active_pid
                WHERE r.slot_name = '$SLOT' AND w.state = 'streaming';" "walsender streaming for slot $SLOT"
    if [[ $MODE == pglogical ]]; then
        wait_for s "SELECT status = 'replicating' FROM pglogical.show_subscription_status('sub');" "pglogical status replicating"
    elif is_locality; then
        wait_for s "SELECT coalesce(bool_and(state = 'streaming'), false) FROM locality.replication_status
                    WHERE source_region = '$REGION_P';" "replication_status streaming from $REGION_P"
    fi
    catch_up
    log "$MODE: replication streaming and caught up (slot $SLOT)"
}

teardown_mode() {
    sess_close p
    sess_close s
    sess_close x
    stop_server "$TMP/$MODE/s"
    stop_server "$TMP/$MODE/p"
    [[ $KEEP_TMP == 1 ]] || rm -rf "${TMP:?}/$MODE"
}

# The per-mode state (ORDER=interleaved switches between modes between measurements).
declare -A M_SLOT=() M_LAST=() M_RETRY=()
save_mode() { M_SLOT[$MODE]=$SLOT; M_LAST[$MODE]=$LAST_START_US; M_RETRY[$MODE]=$RETRY_MS; }
use_mode() { MODE=$1; SLOT=${M_SLOT[$1]}; LAST_START_US=${M_LAST[$1]}; RETRY_MS=${M_RETRY[$1]}; }

# marker round trip: everything committed on the provider so far is applied on the subscriber
# and confirmed back to the provider's slot
catch_up() {
    MK=$((MK + 1))
    sess_q p "INSERT INTO drain_marker (id) VALUES ($MK); SELECT pg_current_wal_lsn();"
    local lsn=$REPLY
    wait_for s "SELECT count(*) = 1 FROM drain_marker WHERE id = $MK;" "marker $MK on subscriber"
    wait_for p "SELECT coalesce(confirmed_flush_lsn >= '$lsn'::pg_lsn, false) FROM pg_replication_slots
                WHERE slot_name = '$SLOT';" "slot $SLOT confirmed_flush_lsn >= $lsn"
}

restart_past() { # LSN: wait (at most 10 s) until the slot's restart_lsn >= LSN
    local i
    for (( i = 0; i < 200; i++ )); do
        sess_q p "SELECT coalesce(restart_lsn >= '$1'::pg_lsn, false) FROM pg_replication_slots WHERE slot_name = '$SLOT';"
        [[ $REPLY == t ]] && return 0
        nap 0.05
    done
    sess_q p "SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = '$SLOT';"
    log "$MODE: slot $SLOT restart_lsn $REPLY still before $1 after 10 s; the drain may re-decode older WAL"
}

pause_apply() {
    if [[ $MODE == native ]]; then
        sess_q s "ALTER SUBSCRIPTION sub DISABLE; SELECT 1;"
        wait_for s "SELECT count(*) = 0 FROM pg_stat_subscription WHERE subname = 'sub' AND pid IS NOT NULL;" "apply worker exit"
    elif is_locality; then
        # the worker stays, hangs up its stream (the provider's walsender exits: slot inactive below)
        sess_q s "SELECT 1 FROM locality.pause_replication('$REGION_P');"
        wait_for s "SELECT state = 'paused' FROM locality.replication_status WHERE source_region = '$REGION_P';" "replication_status paused"
    else
        sess_q s "SELECT pglogical.alter_subscription_disable('sub', true);"
        wait_for s "SELECT status = 'disabled' FROM pglogical.show_subscription_status('sub');" "pglogical status disabled"
    fi
    wait_for p "SELECT NOT active FROM pg_replication_slots WHERE slot_name = '$SLOT';" "slot $SLOT inactive"
}

# enable_sql: resumes apply and prints, in epoch microseconds on the subscriber's clock, the
# instant the resume took effect there:
#   native    : ALTER SUBSCRIPTION .. ENABLE acts at its commit (the launcher is woken at commit
#               and reads pg_subscription): the commit timestamp of that pg_subscription row
#               (track_commit_timestamp; a local transaction, so its own commit time);
#   pglogical : alter_subscription_enable updates pglogical.subscription, which the manager
#               worker reads after the commit: the commit timestamp of that row;
#   locality  : resume_replication sets the flag in shared memory and the worker's latch at once
#               (no catalog row): clock_timestamp() just before the call, in the same target list
#               (evaluated in order). Not after it: on this 2-core machine the woken worker can
#               reconnect, and the provider fork its walsender, before the calling backend runs
#               again (seen: a clock read after the call was up to 2 ms after the walsender's
#               backend_start). The commit timestamps of the other two are likewise taken before
#               their launcher or manager is woken (at commit).
enable_sql() {
    local us="(extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000000)::bigint"
    if [[ $MODE == native ]]; then
        echo "ALTER SUBSCRIPTION sub ENABLE; SELECT $us FROM pg_subscription WHERE subname = 'sub';"
    elif is_locality; then
        echo "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint, locality.resume_replication('$REGION_P');"   # prints "T|"
    else   # the first statement returns no row (enable returns true)
        echo "SELECT 1 FROM pglogical.alter_subscription_enable('sub', true) AS e(ok) WHERE NOT ok; SELECT $us FROM pglogical.subscription WHERE sub_name = 'sub';"
    fi
}

# marker_commit_us LSN_BEFORE LSN_AFTER XID: the local commit time (epoch microseconds) of
# transaction XID on the subscriber, read from the xact_time of its commit record in the
# subscriber's WAL (pg_waldump). Not pg_xact_commit_timestamp(): for a transaction applied under
# a replication origin PostgreSQL records the origin's commit timestamp there (the provider's),
# in all three engines. Waits until the WAL is flushed up to LSN_AFTER (apply commits
# asynchronously). Prints nothing when not found.
marker_commit_us() {
    local lsn0=$1 lsn1=$2 xid=$3 out ts
    [[ -n $xid && $xid != - ]] || return 0
    wait_for s "SELECT pg_current_wal_flush_lsn() >= '$lsn1'::pg_lsn;" "subscriber WAL flushed to $lsn1" 30
    out=$(as_pg env TZ=UTC "$PGBIN/pg_waldump" -p "$TMP/$MODE/s/pg_wal" -s "$lsn0" -r Transaction -x "$xid" -n 1 2>/dev/null) || true
    # "... desc: COMMIT 2026-11-26 17:30:01.123456 UTC; origin: node 1, lsn 0/1A2B3C4, at ..."
    ts=$(sed -n 's/.*desc: COMMIT \([0-9-]* [0-9:.]*\) UTC.*/\1/p' <<<"$out")
    [[ -n $ts ]] || { log "marker commit of xid $xid not found in the subscriber's WAL after $lsn0"; return 0; }
    sess_q s "SELECT (extract(epoch FROM '$ts+00'::timestamptz) * 1000000)::bigint;"
    echo "$REPLY"
}

# PERF_DIR: a system-wide perf record (call graphs) from just before the enable until the marker
# is seen applied, into PERF_DIR/MODE.WL.RUN.data (+ .pids: the walsender's and apply worker's pid,
# for perf report --pid). Diagnostic only: perf costs CPU, do not compare rates of such runs.
PERF_PID=""
perf_start() { # FILE_PREFIX
    mkdir -p "$PERF_DIR"
    perf record -a -g -F 1999 -q -o "$1.data" -- sleep "$DRAIN_TIMEOUT_S" </dev/null >/dev/null 2>"$1.perf.log" &
    PERF_PID=$!
    nap 0.5   # perf needs a moment to set up its events
}
perf_stop() { # PID
    kill -INT "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

counts() { # SIDE -> "count sum"
    sess_q "$1" "SELECT count(*) || ' ' || coalesce($(n_sum), 0) FROM t;"
    echo "$REPLY"
}

# ---------------------------------------------------------------- workloads
run_pgbench() { # SCRIPTFILE
    local out="$TMP/pgbench.out"
    as_pg "$PGBIN/pgbench" -n -h 127.0.0.1 -p "$(port_of p)" -c "$PGB_CLIENTS" -j "$PGB_THREADS" \
        -t "$PGB_TXNS_PER_CLIENT" -f "$1" "$DB" >"$out" 2>&1 || { cat "$out" >&2; die "pgbench failed"; }
    grep -q "number of transactions actually processed: $PGB_TXNS/$PGB_TXNS" "$out" ||
        { cat "$out" >&2; die "pgbench did not process $PGB_TXNS transactions"; }
    if grep -q "number of failed transactions" "$out"; then
        grep -q "number of failed transactions: 0 " "$out" || { cat "$out" >&2; die "pgbench had failed transactions"; }
    fi
}

base_data_present() { # W1's rows (ids 1..W1_ROWS) present on the provider?
    sess_q p "SELECT count(*) = $W1_ROWS AND min(id) = 1 AND max(id) = $W1_ROWS FROM t;"
    [[ $REPLY == t ]]
}

prepare() { # WL: bring both sides into the workload's start state (replicated, untimed)
    case $1 in
    W1|W2)
        sess_q p "SELECT count(*) FROM t;"
        if [[ $REPLY != 0 ]]; then sess_q p "TRUNCATE t; SELECT 1;"; fi
        if [[ $1 == W2 ]]; then sess_q p "ALTER SEQUENCE w2_seq RESTART; SELECT 1;"; fi
        ;;
    W3)
        if ! base_data_present; then
            log "$MODE: (re)loading W1 base data for W3 (replicated, untimed)"
            sess_q p "TRUNCATE t; SELECT 1;"
            sess_q p "INSERT INTO t SELECT g, md5(g::text), $(n_of g) FROM generate_series(1, $W1_ROWS) g; SELECT 1;"
        fi
        ;;
    esac
    catch_up
    local pc sc
    pc=$(counts p); sc=$(counts s)
    [[ $pc == "$sc" ]] || die "$1 prepare: provider ($pc) and subscriber ($sc) differ"
}

measure() { # WL RUN
    local wl=$1 run=$2 units unit exp pc sc lsn0 lsn1 wal_mb g0 g1 t0 ta="" tapp="" tconf="" now act conf before
    local cpu_ws=na cpu_ap=na ap_pid0=0 ap_cpu0=0
    prepare "$wl"
    sess_q p "VACUUM (ANALYZE) t; VACUUM drain_marker; SELECT 1;"
    sess_q s "VACUUM (ANALYZE) t; VACUUM drain_marker; SELECT 1;"
    # A CHECKPOINT logs a running-xacts record, from which the slot can restart decoding once the
    # subscriber confirms past it (the catch-up marker): wait for restart_lsn to move there, so the
    # drain does not re-decode what came before (e.g. W1's 200,000-row transaction before W3: seen
    # as 0.3-0.5 s more walsender CPU in some W3 drains, in any engine, depending on whether its
    # feedback had moved restart_lsn before the pause). Not fatal if it does not move in 10 s.
    local ck
    sess_q p "SELECT pg_current_wal_lsn(); CHECKPOINT;"
    ck=$REPLY
    catch_up
    restart_past "$ck"
    pause_apply
    before=$(counts p)
    sess_q p "CHECKPOINT; SELECT pg_current_wal_lsn();"
    lsn0=$REPLY

    # ---- workload on the provider (subscriber paused)
    g0=$(now_us)
    case $wl in
    W1) sql p "$DB" -c "INSERT INTO t SELECT g, md5(g::text), $(n_of g) FROM generate_series(1, $W1_ROWS) g"
        units=$W1_ROWS; unit=rows
        exp="$W1_ROWS $(( W1_ROWS * (W1_ROWS + 1) / 2 ))" ;;
    W2) run_pgbench "$TMP/w2.$MODE.sql"
        units=$PGB_TXNS; unit=txns
        exp="$PGB_TXNS $(( PGB_TXNS * (PGB_TXNS + 1) / 2 ))" ;;
    W3) run_pgbench "$TMP/w3.sql"
        units=$PGB_TXNS; unit=txns
        exp="${before% *} $(( ${before#* } + PGB_TXNS ))" ;;
    *) die "unknown workload $wl" ;;
    esac
    g1=$(now_us)
    MK=$((MK + 1))
    sess_q p "INSERT INTO drain_marker (id) VALUES ($MK); SELECT pg_current_wal_lsn();"   # sync commit
    lsn1=$REPLY
    pc=$(counts p)
    [[ $pc == "$exp" ]] || die "$wl: provider has '$pc' (count sum), expected '$exp'"
    sess_q p "SELECT round(pg_wal_lsn_diff('$lsn1', '$lsn0') / 1048576.0, 1);"
    wal_mb=$REPLY
    # The native launcher starts workers at most once per wal_retrieve_retry_interval (an earlier
    # wakeup re-arms that wait), so an ENABLE sooner than that after the previous start is delayed
    # by up to 5 s. Keep enables further apart (outside the timing) so the drain measures apply.
    local gap_us=$(( (RETRY_MS + 500) * 1000 - ($(now_us) - LAST_START_US) ))
    if (( gap_us > 0 )); then nap "$(awk -v u="$gap_us" 'BEGIN { printf "%.3f", u / 1e6 }')"; fi
    sess_q p "CHECKPOINT; SELECT 1;"
    sess_q s "CHECKPOINT; SELECT 1;"

    # ---- drain: re-enable apply and poll
    local q_slot="SELECT (active OR confirmed_flush_lsn >= '$lsn1'::pg_lsn)::int || ' ' || coalesce(confirmed_flush_lsn >= '$lsn1'::pg_lsn, false)::int FROM pg_replication_slots WHERE slot_name = '$SLOT';"
    # the marker's xmin once it is visible, and the subscriber's WAL insert position then
    local q_mark="SELECT coalesce((SELECT xmin::text FROM drain_marker WHERE id = $MK), '-') || ' ' || pg_current_wal_insert_lsn();"
    local slsn0 slsn1="" mxid="" ws_pid=0 ws_start="" te="" tm="" perf_pid=""
    if is_locality; then
        # the pg_locality apply worker outlives a pause: count only the CPU it uses from here on
        sess_q s "SELECT coalesce(min(pid), 0) FROM pg_stat_activity WHERE backend_type = 'pg_locality apply';"
        ap_pid0=$REPLY
        ap_cpu0=$(proc_cpu_s "$ap_pid0")
    fi
    if [[ $SUB_SNAPSHOT == 1 ]]; then
        sess_q x "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM drain_marker;"
    fi
    sess_q s "SELECT pg_current_wal_insert_lsn();"   # the marker's local commit record lies after this
    slsn0=$REPLY
    if [[ -n $PERF_DIR ]]; then perf_start "$PERF_DIR/$MODE.$wl.$run"; perf_pid=$PERF_PID; fi
    t0=$(now_us)
    LAST_START_US=$t0
    sess_q s "$(enable_sql)"
    te=${REPLY%%|*}   # the instant the enable took effect, on the subscriber's clock (see enable_sql)
    while :; do
        if [[ -z $tconf ]]; then
            sess_q p "$q_slot"; now=$(now_us)
            read -r act conf <<<"$REPLY"
            if [[ -z $ta && $act == 1 ]]; then ta=$now; fi
            if [[ $conf == 1 ]]; then tconf=$now; fi
        fi
        if [[ -z $tapp ]]; then
            sess_q s "$q_mark"; now=$(now_us)
            if [[ ${REPLY%% *} != - ]]; then
                tapp=$now
                mxid=${REPLY%% *}; slsn1=${REPLY#* }
                if [[ -n $perf_pid ]]; then perf_stop "$perf_pid"; perf_pid=""; fi
                # sanity check of the commit-order argument: all rows are there when the marker is
                sc=$(counts s)
                [[ $sc == "$pc" ]] || die "$MODE $wl run $run: marker visible but subscriber has '$sc', provider '$pc'"
                # CPU used so far by the walsender and the apply worker (both started at enable),
                # and when the walsender started (pg_stat_activity.backend_start)
                sess_q p "SELECT coalesce(r.active_pid, 0) || ' ' || coalesce((extract(epoch FROM a.backend_start) * 1000000)::bigint::text, '')
                          FROM pg_replication_slots r LEFT JOIN pg_stat_activity a ON a.pid = r.active_pid WHERE r.slot_name = '$SLOT';"
                ws_pid=${REPLY%% *}; ws_start=${REPLY#* }
                cpu_ws=$(proc_cpu_s "$ws_pid")
                sess_q s "SELECT coalesce(min(pid), 0) FROM pg_stat_activity WHERE backend_type ~ '^(logical replication worker|pglogical apply|pg_locality apply)';"
                cpu_ap=$(proc_cpu_s "$REPLY")
                if [[ -n $PERF_DIR ]]; then echo "walsender $ws_pid apply $REPLY" >"$PERF_DIR/$MODE.$wl.$run.pids"; fi
                if [[ $REPLY == "$ap_pid0" && $ap_pid0 != 0 && $cpu_ap != na && $ap_cpu0 != na ]]; then
                    cpu_ap=$(awk -v a="$cpu_ap" -v b="$ap_cpu0" 'BEGIN { printf "%.3f", a - b }')
                fi
            fi
        fi
        if [[ -n $tapp && -n $tconf ]]; then break; fi
        if (( now - t0 > DRAIN_TIMEOUT_S * 1000000 )); then die "$MODE $wl run $run: drain did not finish in ${DRAIN_TIMEOUT_S}s"; fi
        nap "$POLL_S"
    done

    if [[ $SUB_SNAPSHOT == 1 ]]; then sess_q x "COMMIT; SELECT 1;"; fi
    sc=$(counts s)
    [[ $sc == "$pc" ]] || die "$MODE $wl run $run: subscriber has '$sc', provider '$pc' (count sum)"
    tm=$(marker_commit_us "$slsn0" "$slsn1" "$mxid")
    if [[ -n $WAL_STATS_DIR && -n $slsn1 ]]; then   # diagnostic, after the timing (WAL flushed above)
        mkdir -p "$WAL_STATS_DIR"
        as_pg "$PGBIN/pg_waldump" -p "$TMP/$MODE/s/pg_wal" -s "$slsn0" -e "$slsn1" --stats=record \
            >"$WAL_STATS_DIR/$MODE.$wl.$run.txt" 2>&1 || true
    fi

    local line
    line=$(awk -v m="$MODE" -v w="$wl" -v r="$run" -v u="$units" -v un="$unit" -v g0="$g0" -v g1="$g1" \
               -v t0="$t0" -v ta="${ta:-$tconf}" -v tapp="$tapp" -v tc="$tconf" -v wal="$wal_mb" -v cnt="${sc% *}" -v sum="${sc#* }" \
               -v cws="$cpu_ws" -v cap="$cpu_ap" -v te="$te" -v tw="$ws_start" -v tm="$tm" 'BEGIN {
        gen = (g1 - g0) / 1e6; st = (ta - t0) / 1e6; ap = (tapp - t0) / 1e6; dr = (tc - t0) / 1e6
        sa = ap - st; if (sa < 0.001) sa = 0.001
        # exact: enable -> walsender start, enable -> marker committed on the subscriber
        if (te != "" && tw != "" && tm != "") {
            xs = (tw - te) / 1e6; xa = (tm - te) / 1e6; xsa = xa - xs; if (xsa < 0.000001) xsa = 0.000001
            x = sprintf("%.6f\t%.6f\t%.0f\t%.0f", xs, xa, u / xa, u / xsa)
        } else x = "na\tna\t0\t0"
        printf "%s\t%s\t%d\t%d\t%s\t%.3f\t%s\t%.3f\t%.3f\t%.3f\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t%.0f\t%s\n",
               m, w, r, u, un, gen, wal, st, ap, dr, u / dr, u / ap, cnt, sum, cws, cap, u / sa, x }')
    printf '%s\n' "$line" >>"$TMP/results.tsv"
    printf '%s\n' "$line" | awk -F'\t' '{
        printf "RESULT mode=%-9s wl=%s run=%s %s=%-6s drain_s=%-6s rate=%s %s/s | applied_s=%-6s applied_rate=%s %s/s | start_s=%s stream_rate=%s %s/s | exact: start_s=%s applied_s=%s applied_rate=%s %s/s stream_rate=%s %s/s | gen_s=%s wal_mb=%s cpu_s walsender=%s apply=%s | verified count=%s sum(n)=%s\n",
               $1, $2, $3, $5, $4, $10, $11, $5, $9, $12, $5, $8, $17, $5, $18, $19, $20, $5, $21, $5, $6, $7, $15, $16, $13, $14 }'
}

summary() {
    echo
    echo "SUMMARY (median [min..max] over runs; rate = units / drain_s; drain = slot confirmed_flush_lsn >= target,"
    echo "         applied = marker row visible on subscriber; start = enable -> walsender active;"
    echo "         stream rate = units / (applied_s - start_s))"
    awk -F'\t' '
    function st(k, col,    i, j, c, tmp, v, med) {
        c = n[k]
        for (i = 1; i <= c; i++) v[i] = val[k, i, col] + 0
        for (i = 2; i <= c; i++) { tmp = v[i]; j = i - 1; while (j >= 1 && v[j] > tmp) { v[j + 1] = v[j]; j-- } v[j + 1] = tmp }
        med = (c % 2) ? v[(c + 1) / 2] : (v[c / 2] + v[c / 2 + 1]) / 2
        if (col == 11 || col == 12 || col == 17 || col == 20 || col == 21) return sprintf("%.0f [%.0f..%.0f]", med, v[1], v[c])
        if (col == 15 || col == 16) return sprintf("%.3f [%.3f..%.3f]", med, v[1], v[c])
        return sprintf("%.3f [%.3f..%.3f]", med, v[1], v[c])
    }
    {
        k = $1 SUBSEP $2
        if (!(k in n)) { order[++nk] = k; mode[k] = $1; wl[k] = $2; units[k] = $4; unit[k] = $5 }
        i = ++n[k]
        for (c = 6; c <= 21; c++) val[k, i, c] = $c
    }
    END {
        printf "%-18s %-3s %-13s %-4s %-24s %-24s %-24s %-24s %-24s %-20s %-24s %-24s %-24s %-24s %-24s %-24s\n", "mode", "wl", "units", "runs",
               "drain_s", "rate (units/s)", "applied_s", "applied rate (units/s)", "stream rate (units/s)", "start_s",
               "exact applied_s", "exact applied rate", "exact stream rate", "exact start_s",
               "walsender cpu_s", "apply cpu_s"
        for (o = 1; o <= nk; o++) {
            k = order[o]
            printf "%-18s %-3s %-13s %-4d %-24s %-24s %-24s %-24s %-24s %-20s %-24s %-24s %-24s %-24s %-24s %-24s\n", mode[k], wl[k], units[k] " " unit[k], n[k],
                   st(k, 10), st(k, 11), st(k, 9), st(k, 12), st(k, 17), st(k, 8),
                   st(k, 19), st(k, 20), st(k, 21), st(k, 18), st(k, 15), st(k, 16)
        }
    }' "$TMP/results.tsv"
    if [[ " $MODES " =~ \ (native|pglogical|locality)\  ]]; then ratios; fi
    if [[ " $MODES " == *" locality-bigint "* && " $MODES " == *" locality-pncounter "* ]]; then crdt_ratios; fi
}

# A pncounter column against a bigint column, same table otherwise, both pg_locality GLOBAL
# tables (modes locality-pncounter and locality-bigint): rates and the ratio pncounter / bigint
# (issue 5: target >= 0.8). W3's transactions update one row each, so txn/s = rows/s there.
crdt_ratios() { # [RESULTS_FILE]
    echo
    echo "PNCOUNTER vs BIGINT column (ratio = locality-pncounter rate / locality-bigint rate; target >= 0.80)"
    awk -F'\t' '
    function msort(v, c,    i, j, tmp) { # sorts v[1..c], returns the median (also sets LO, HI)
        for (i = 2; i <= c; i++) { tmp = v[i]; j = i - 1; while (j >= 1 && v[j] > tmp) { v[j + 1] = v[j]; j-- } v[j + 1] = tmp }
        LO = v[1]; HI = v[c]
        return (c % 2) ? v[(c + 1) / 2] : (v[c / 2] + v[c / 2 + 1]) / 2
    }
    function med(m, wl, col,    i, v) { for (i = 1; i <= n[m SUBSEP wl]; i++) v[i] = val[m SUBSEP wl, i, col] + 0; return msort(v, n[m SUBSEP wl]) }
    $1 == "mode" { next }
    $1 == "locality-bigint" || $1 == "locality-pncounter" {
        k = $1 SUBSEP $2
        if (!($2 in seen)) { seen[$2] = 1; wls[++nw] = $2 }
        unit[$2] = ($5 == "txns" && $2 == "W3") ? "rows" : $5
        i = ++n[k]
        val[k, i, 11] = $11; val[k, i, 12] = $12; val[k, i, 17] = $17; val[k, i, 20] = $20; val[k, i, 21] = $21
    }
    END {
        split("12 applied 11 catch-up 17 stream 20 applied(x) 21 stream(x)", what, " ")
        printf "%-3s %-10s %-7s %12s %12s | %-10s | %-22s | %s\n", "wl", "measure", "unit", "bigint", "pncounter", "of medians", "paired [min..max]", "target"
        for (w = 1; w <= nw; w++) {
            b = "locality-bigint" SUBSEP wls[w]; p = "locality-pncounter" SUBSEP wls[w]
            if (!(b in n) || !(p in n)) continue
            for (m = 1; m <= 10; m += 2) {
                col = what[m]
                mb = med("locality-bigint", wls[w], col); mp = med("locality-pncounter", wls[w], col)
                c = 0; delete v
                for (i = 1; i <= n[b] && i <= n[p]; i++)
                    if (val[b, i, col] + 0 > 0) v[++c] = val[p, i, col] / val[b, i, col]
                pr = (c > 0) ? sprintf("%.2fx [%.2f..%.2f]", msort(v, c), LO, HI) : "n/a"
                r = (mb > 0) ? mp / mb : 0
                printf "%-3s %-10s %-7s %12.0f %12.0f | %-10s | %-22s | %s\n", wls[w], what[m + 1], unit[wls[w]] "/s", mb, mp,
                       sprintf("%.2fx", r), pr, (what[m + 1] == "applied") ? ((r >= 0.8) ? "met (>= 0.80)" : "NOT met (< 0.80)") : ""
            }
        }
    }' "${1:-$TMP/results.tsv}"
}

# The medians side by side and the ratios locality/native and locality/pglogical (> 1: locality faster).
ratios() { # [RESULTS_FILE]
    echo
    echo "RATIOS (ratio = locality rate / other mode's rate, > 1.00 means pg_locality is faster; 'of medians' = ratio of"
    echo "        the medians over runs; 'paired' = median [min..max] of the per-run ratios (ORDER=interleaved measures"
    echo "        the modes of one run back to back, so a run's ratio shares that moment's machine load))"
    awk -F'\t' '
    function med(k, col,    i, j, c, tmp, v) {
        c = n[k]
        for (i = 1; i <= c; i++) v[i] = val[k, i, col] + 0
        return msort(v, c)
    }
    function msort(v, c,    i, j, tmp) { # sorts v[1..c], returns the median (also sets LO, HI)
        for (i = 2; i <= c; i++) { tmp = v[i]; j = i - 1; while (j >= 1 && v[j] > tmp) { v[j + 1] = v[j]; j-- } v[j + 1] = tmp }
        LO = v[1]; HI = v[c]
        return (c % 2) ? v[(c + 1) / 2] : (v[c / 2] + v[c / 2 + 1]) / 2
    }
    function ratio(a, b) { return (a == "" || b == "" || b + 0 == 0) ? "n/a" : sprintf("%.2fx", a / b) }
    function paired(wl, other, col,    i, c, v, m) {
        if (!(("locality" SUBSEP wl) in n) || !((other SUBSEP wl) in n)) return "n/a"
        c = 0
        for (i = 1; i <= n["locality" SUBSEP wl] && i <= n[other SUBSEP wl]; i++)
            if (val[other SUBSEP wl, i, col] + 0 > 0) v[++c] = val["locality" SUBSEP wl, i, col] / val[other SUBSEP wl, i, col]
        if (c == 0) return "n/a"
        m = msort(v, c)
        return sprintf("%.2fx [%.2f..%.2f]", m, LO, HI)
    }
    $1 == "mode" { next }
    {
        k = $1 SUBSEP $2
        if (!($2 in seenwl)) { seenwl[$2] = 1; wls[++nw] = $2; unit[$2] = $5 }
        i = ++n[k]
        val[k, i, 11] = $11; val[k, i, 12] = $12; val[k, i, 17] = $17; val[k, i, 20] = $20; val[k, i, 21] = $21
        val[k, i, 15] = $15; val[k, i, 16] = $16
        has[$1] = 1
    }
    END {
        split("12 applied 11 catch-up 17 stream 20 applied(x) 21 stream(x)", what, " ")
        printf "%-3s %-10s %-6s %10s %10s %10s | %-10s %-10s | %-22s %-22s\n", "wl", "measure", "unit", "native", "pglogical", "locality",
               "loc/native", "loc/pglog", "paired loc/native", "paired loc/pglog"
        printf "%-3s %-10s %-6s %10s %10s %10s | %-21s | %s\n", "", "", "", "(median)", "(median)", "(median)", "of medians", ""
        for (w = 1; w <= nw; w++) {
            for (m = 1; m <= 10; m += 2) {
                col = what[m]; name = what[m + 1]
                nat = ("native" in has) ? med("native" SUBSEP wls[w], col) : ""
                pgl = ("pglogical" in has) ? med("pglogical" SUBSEP wls[w], col) : ""
                loc = ("locality" in has) ? med("locality" SUBSEP wls[w], col) : ""
                printf "%-3s %-10s %-6s %10s %10s %10s | %-10s %-10s | %-22s %-22s\n", wls[w], name, unit[wls[w]] "/s",
                       nat == "" ? "-" : sprintf("%.0f", nat), pgl == "" ? "-" : sprintf("%.0f", pgl),
                       loc == "" ? "-" : sprintf("%.0f", loc), ratio(loc, nat), ratio(loc, pgl),
                       paired(wls[w], "native", col), paired(wls[w], "pglogical", col)
            }
        }
        printf "\nCPU seconds over the drain (enable -> marker applied; median over runs; /proc/PID/schedstat)\n"
        printf "%-3s %-10s %10s %10s %10s | %-10s %-10s\n", "wl", "process", "native", "pglogical", "locality", "loc/native", "loc/pglog"
        for (w = 1; w <= nw; w++) {
            for (col = 15; col <= 16; col++) {
                nat = ("native" in has) ? med("native" SUBSEP wls[w], col) : ""
                pgl = ("pglogical" in has) ? med("pglogical" SUBSEP wls[w], col) : ""
                loc = ("locality" in has) ? med("locality" SUBSEP wls[w], col) : ""
                printf "%-3s %-10s %10s %10s %10s | %-10s %-10s\n", wls[w], (col == 15) ? "walsender" : "apply",
                       nat == "" ? "-" : sprintf("%.3f", nat), pgl == "" ? "-" : sprintf("%.3f", pgl),
                       loc == "" ? "-" : sprintf("%.3f", loc), ratio(loc, nat), ratio(loc, pgl)
            }
        }
    }' "${1:-$TMP/results.tsv}"
}

# ---------------------------------------------------------------- main
main() {
    [[ $ORDER == interleaved || $ORDER == blocked ]] || die "ORDER must be interleaved or blocked"
    preflight apply_drain
    local m
    for m in $MODES; do   # W2's INSERT, with n written as the mode's column type
        printf '%s\n' "INSERT INTO t (id, v, n) SELECT s, md5(s::text), $(MODE=$m n_of s::int) FROM nextval('w2_seq') AS s;" \
            >"$TMP/w2.$m.sql"
    done
    cat >"$TMP/w3.sql" <<EOF
\set id random(1, $W1_ROWS)
UPDATE t SET n = n + 1 WHERE id = :id;
EOF
    chmod 644 "$TMP"/w2.*.sql "$TMP"/w3.sql

    print_header
    echo "# order: $ORDER | modes: $MODES | runs: $RUNS | workloads: $WORKLOADS | W1_ROWS=$W1_ROWS | pgbench -c $PGB_CLIENTS -j $PGB_THREADS -t $PGB_TXNS_PER_CLIENT (= $PGB_TXNS txns) | poll ${POLL_S}s | LOCALITY_ONE_WAY=$LOCALITY_ONE_WAY SUB_SNAPSHOT=$SUB_SNAPSHOT LOCALITY_TABLE=$LOCALITY_TABLE"
    echo "# locality mode: scripts/server_conf.sh REGION lines first (shared_preload_libraries=pg_locality, max_prepared_transactions=64, locality.region, output_plugin_libraries), then the conf below"
    echo "# conf (both): wal_level=logical track_commit_timestamp=on max_replication_slots=10 max_wal_senders=10 max_worker_processes=16 shared_buffers=256MB synchronous_commit=off fsync=on(default) | extra: $(printf '%s' "$EXTRA_CONF" | tr '\n' ';')"
    echo "# W1: one txn: INSERT INTO t SELECT g, md5(g::text), g FROM generate_series(1, $W1_ROWS) g"
    echo "# t.n is int; bigint in mode locality-bigint; locality.pncounter in locality-pncounter (written as (g)::text::locality.pncounter, summed as sum(n::bigint))"
    echo "# W2: pgbench -n -c $PGB_CLIENTS -j $PGB_THREADS -t $PGB_TXNS_PER_CLIENT -f: $(tr '\n' ' ' <"$TMP/w2.${MODES%% *}.sql")"
    echo "# W3: pgbench -n -c $PGB_CLIENTS -j $PGB_THREADS -t $PGB_TXNS_PER_CLIENT -f: $(tr '\n' ' ' <"$TMP/w3.sql")(on W1's rows)"
    if [[ -n $OPL_DEFAULT ]]; then
        echo "# this server has output_plugin_libraries (default '$OPL_DEFAULT'); pglogical mode adds pglogical_output to it"
    fi

    local run wl
    local -a modes order
    read -r -a modes <<<"$MODES"
    if [[ $ORDER == blocked ]]; then
        # the anchor's order: one mode at a time, all its runs, then the next mode
        for MODE in "${modes[@]}"; do
            log "== mode $MODE: creating clusters"
            setup_mode
            for (( run = 1; run <= RUNS; run++ )); do
                for wl in $WORKLOADS; do
                    log "$MODE run $run $wl"
                    measure "$wl" "$run"
                done
            done
            teardown_mode
        done
    else
        # interleaved: every mode's clusters up at once; each workload of each run is measured
        # in every mode back to back (the mode order rotating from run to run), so a burst of
        # load from other processes on this machine hits the modes alike
        for MODE in "${modes[@]}"; do
            log "== mode $MODE: creating clusters"
            setup_mode
            save_mode
        done
        for (( run = 1; run <= RUNS; run++ )); do
            order=("${modes[@]:$(( (run - 1) % ${#modes[@]} ))}" "${modes[@]:0:$(( (run - 1) % ${#modes[@]} ))}")
            for wl in $WORKLOADS; do
                for m in "${order[@]}"; do
                    use_mode "$m"
                    log "$MODE run $run $wl"
                    measure "$wl" "$run"
                    save_mode
                done
            done
        done
        for m in "${modes[@]}"; do use_mode "$m"; teardown_mode; done
    fi
    MODE=""
    summary
    if [[ -n $RESULTS_TSV ]]; then
        { printf 'mode\twl\trun\tunits\tunit\tgen_s\twal_mb\tstart_s\tapplied_s\tdrain_s\trate\tapplied_rate\tcount\tsum_n\twalsender_cpu_s\tapply_cpu_s\tstream_rate\tx_start_s\tx_applied_s\tx_applied_rate\tx_stream_rate\n'
          cat "$TMP/results.tsv"; } >"$RESULTS_TSV"
    fi
    echo "# total wall time: $(( SECONDS - T_START )) s"
}

main "$@"
