# bench/common.sh -- what the benchmark scripts share (sourced by apply_drain.sh and lag.sh,
# not run): logging, psql as the postgres OS user, throw-away clusters configured alike in every
# mode, the pre-flight checks, and the cleanup that stops every server the script started.
#
# The sourcing script sets, before calling these functions:
#   BENCH_NAME (its file name, for logs and conf comments), DB, MODES, SYNC_COMMIT
#   (synchronous_commit of every server), REGION_P / REGION_S (pg_locality regions of the
#   provider and the subscriber), and defines port_of SIDE (p|s -> port of the current MODE).
#   It may define bench_cleanup (run first on exit, e.g. to close its psql sessions).
# Modes: native (publication/subscription), pglogical, and locality or locality-<variant>
# (pg_locality; a variant changes the tables, not the set-up).
# Knobs shared by every script (environment): PGBIN PG_OS_USER EXTRA_CONF KEEP_TMP
#   INSTALL_PGLOGICAL (see each script's header).

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PG_OS_USER=${PG_OS_USER:-postgres}
EXTRA_CONF=${EXTRA_CONF-"autovacuum = off"}
KEEP_TMP=${KEEP_TMP:-0}
INSTALL_PGLOGICAL=${INSTALL_PGLOGICAL:-1}
SRC_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)   # the pg_locality source tree

TMP=""
MODE=""
STARTED=()          # data directories of servers this script started
SLEEP_FD=""         # a fifo nobody writes: read -t on it sleeps without a process
OPL_DEFAULT=""      # default of output_plugin_libraries (PostgreSQL 15.19+), empty if the GUC does not exist
T_START=$SECONDS

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; diag; exit 1; }
diag() { # locality modes: what the engine says about its streams (both sides), on failure
    is_locality && [[ -n $TMP ]] || return 0
    local side
    for side in s p; do
        log "---- $side: locality.replication_status"
        sql "$side" "$DB" -c "SELECT source_region, state, received_lsn, applied_lsn, lag_bytes, lag, last_error
                              FROM locality.replication_status" >&2 2>/dev/null || true
        log "---- $side: pg_replication_slots"
        sql "$side" "$DB" -c "SELECT slot_name, plugin, active, active_pid, confirmed_flush_lsn FROM pg_replication_slots" >&2 2>/dev/null || true
    done
}
as_pg() { runuser -u "$PG_OS_USER" -- "$@"; }
is_locality() { [[ $MODE == locality || $MODE == locality-* ]]; }
# one-off psql: sql SIDE DBNAME -c ...
sql() { local side=$1 db=$2; shift 2
        as_pg "$PGBIN/psql" -XAtq -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(port_of "$side")" -d "$db" "$@"; }
nap() { read -r -t "$1" -u "$SLEEP_FD" _ || true; }

# ---------------------------------------------------------------- cleanup
stop_server() { # DATADIR
    local dir=$1 i
    if as_pg "$PGBIN/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
        as_pg "$PGBIN/pg_ctl" -D "$dir" -m fast -w -t 120 stop >/dev/null 2>&1 ||
            log "WARNING: could not stop server in $dir"
    fi
    for i in "${!STARTED[@]}"; do [[ ${STARTED[$i]} == "$dir" ]] && unset "STARTED[$i]"; done
    return 0
}
cleanup() {
    local rc=$? dir logf
    set +e
    trap - ERR
    trap '' INT TERM
    if declare -F bench_cleanup >/dev/null; then bench_cleanup; fi
    if (( rc != 0 )) && [[ -n $TMP && -d $TMP ]]; then
        for logf in "$TMP"/*/p.log "$TMP"/*/s.log "$TMP"/sess.*.err; do
            [[ -s $logf ]] || continue
            log "---- tail of $logf"; tail -n 15 "$logf" >&2
        done
    fi
    for dir in "${STARTED[@]}"; do stop_server "$dir"; done
    if [[ -n $TMP && -d $TMP ]]; then
        if [[ $KEEP_TMP == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'log "SIGPIPE"; exit 141' PIPE
trap 'log "error (rc=$?) at line $LINENO: $BASH_COMMAND"' ERR

# md5 of the installed pg_locality.so, and whether it is this tree's build. Other people may
# run make install while a bench runs: each mode's servers load the library once, at start.
installed_so() {
    local lib inst tree
    lib=$("$PGBIN/pg_config" --pkglibdir)/pg_locality.so
    inst=$(md5sum <"$lib" 2>/dev/null | cut -c1-12)
    tree=$(md5sum <"$SRC_TOP/pg_locality.so" 2>/dev/null | cut -c1-12)
    if [[ -n $tree && $inst == "$tree" ]]; then echo "$inst (= $SRC_TOP/pg_locality.so, mtime $(date -r "$SRC_TOP/pg_locality.so" +%H:%M:%S))"
    else echo "$inst (differs from this tree's build ${tree:-none})"; fi
}

# ---------------------------------------------------------------- pre-flight and temp dir
# preflight NAME: root, binaries, pglogical (installed with apt-get when a mode needs it),
# pg_locality installed, every mode's ports free; then the temp dir $TMP (owned by the
# postgres OS user, the current directory from here on) and the sleep fifo.
preflight() {
    local name=$1 sharedir port rc side
    [[ $(id -u) == 0 ]] || die "run as root (servers and clients are run as OS user $PG_OS_USER via runuser)"
    [[ -x $PGBIN/postgres && -x $PGBIN/pgbench ]] || die "PostgreSQL binaries not found in $PGBIN"
    id "$PG_OS_USER" >/dev/null 2>&1 || die "OS user $PG_OS_USER missing"
    sharedir=$("$PGBIN/pg_config" --sharedir)
    if [[ " $MODES " == *" pglogical "* && ! -f $sharedir/extension/pglogical.control ]]; then
        [[ $INSTALL_PGLOGICAL == 1 ]] ||
            die "pglogical not installed: apt-get update && apt-get install -y postgresql-15-pglogical"
        log "installing postgresql-15-pglogical (apt-get)"
        { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql-15-pglogical; } >&2 ||
            die "could not install postgresql-15-pglogical"
        [[ -f $sharedir/extension/pglogical.control ]] || die "pglogical.control still missing in $sharedir/extension"
    fi
    if [[ " $MODES " == *" locality"* ]]; then
        [[ -f $sharedir/extension/pg_locality.control ]] ||
            die "pg_locality is not installed: run make install in $SRC_TOP first"
        [[ -r $SRC_TOP/scripts/server_conf.sh ]] || die "$SRC_TOP/scripts/server_conf.sh not found"
    fi
    for MODE in $MODES; do
        case $MODE in native|pglogical|locality|locality-*) ;; *) die "unknown mode $MODE" ;; esac
        for side in p s; do
            port=$(port_of "$side")
            # pg_isready exit status 2 = no response, i.e. the port is free
            if "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$port" -t 3; then rc=0; else rc=$?; fi
            (( rc == 2 )) || die "something already answers on 127.0.0.1:$port (pg_isready status $rc)"
        done
    done
    MODE=""
    OPL_DEFAULT=$(as_pg "$PGBIN/postgres" --describe-config 2>/dev/null |
                  awk -F'\t' '$1 == "output_plugin_libraries" { print $5 }')
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXXXX")
    chown "$PG_OS_USER:" "$TMP"
    chmod 755 "$TMP"
    cd "$TMP"
    mkfifo "$TMP/sleep.fifo"
    exec {SLEEP_FD}<>"$TMP/sleep.fifo"
    : >"$TMP/results.tsv"
}

# The first lines of every bench output: machine, versions, load.
print_header() {
    echo "# $BENCH_NAME  $(date -u +%Y-%m-%dT%H:%M:%SZ)  host: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
    echo "# $("$PGBIN/postgres" --version); pglogical package: $(dpkg-query -W -f='${Version}' postgresql-15-pglogical 2>/dev/null || echo n/a); pg_locality source: $(git -C "$SRC_TOP" log -1 --format='%h %cs' 2>/dev/null || echo n/a)$(git -C "$SRC_TOP" diff --quiet HEAD -- src 2>/dev/null || echo ' (src modified)')"
    echo "# load at start: $(cut -d' ' -f1-3 /proc/loadavg) (other processes share this machine: compare ratios from one run, not absolute rates)"
}

# ---------------------------------------------------------------- clusters
# start_cluster SIDE(p|s): initdb + start one server of the current MODE in $TMP/$MODE/SIDE,
# with database $DB. Locality modes get scripts/server_conf.sh's region lines first; then every
# mode gets the same settings.
start_cluster() {
    local side=$1 dir="$TMP/$MODE/$1" port region
    port=$(port_of "$side")
    as_pg "$PGBIN/initdb" -D "$dir" -A trust -U postgres -E UTF8 --locale=C --no-sync \
        >"$TMP/$MODE/initdb.$side.log" 2>&1 || { cat "$TMP/$MODE/initdb.$side.log" >&2; die "initdb failed"; }
    {
        if is_locality; then
            if [[ $side == p ]]; then region=$REGION_P; else region=$REGION_S; fi
            echo "# ---- scripts/server_conf.sh $region (pg_locality region settings) ----"
            sh "$SRC_TOP/scripts/server_conf.sh" "$region" "$PGBIN"
        fi
        echo "# ---- $BENCH_NAME (after server_conf.sh: same values in every mode) ----"
        echo "port = $port"
        echo "listen_addresses = '127.0.0.1'"
        echo "unix_socket_directories = '$TMP'"
        echo "wal_level = logical"
        echo "track_commit_timestamp = on"
        echo "max_replication_slots = 10"
        echo "max_wal_senders = 10"
        echo "max_worker_processes = 16"
        echo "shared_buffers = 256MB"
        echo "synchronous_commit = $SYNC_COMMIT"
        if [[ $MODE == pglogical ]]; then
            echo "shared_preload_libraries = 'pglogical'"
            # PostgreSQL 15.19+ only lets listed libraries be used as logical decoding output plugins
            if [[ -n $OPL_DEFAULT ]]; then echo "output_plugin_libraries = '$OPL_DEFAULT, pglogical_output'"; fi
        fi
        printf '%s\n' "$EXTRA_CONF"
    } >>"$dir/postgresql.conf"
    STARTED+=("$dir")
    # Ports 561xx lie in Linux's ephemeral range (32768-60999): a client connection that used
    # the port as its local end holds it in TIME-WAIT for 60 s ("Address already in use", as
    # libpq sockets have no SO_REUSEADDR); retry for up to 90 s.
    local try
    for (( try = 1; ; try++ )); do
        if runuser -u "$PG_OS_USER" -- "$PGBIN/pg_ctl" -D "$dir" -l "$TMP/$MODE/$side.log" -w -t 120 start \
            </dev/null >/dev/null {SLEEP_FD}<&- 2>&1; then
            break
        fi
        if (( try < 30 )) && grep -q "Address already in use" "$TMP/$MODE/$side.log"; then
            log "port $port busy (TIME-WAIT?), retrying in 3 s"
            sleep 3
            continue
        fi
        die "could not start $side cluster"
    done
    sql "$side" postgres -c "CREATE DATABASE $DB"
}

# locality_join DSN_P DSN_S: on the provider, pg_locality's own region first (it becomes the
# primary region), then the subscriber's; add_region installs the extension on the subscriber
# and starts replication both ways.
locality_join() {
    sql p "$DB" -c "CREATE EXTENSION pg_locality"
    sql p "$DB" -c "SELECT locality.add_region('$REGION_P', '$1')" >/dev/null
    sql p "$DB" -c "SELECT locality.add_region('$REGION_S', '$2')" >/dev/null
}
