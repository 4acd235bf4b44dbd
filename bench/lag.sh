#!/usr/bin/env bash
# bench/lag.sh -- replication lag (p50/p99/p99.9/max, ms) under a steady write load, for pg_locality
# and, in the same run with the same method, PostgreSQL 15's built-in logical replication and
# pglogical. No simulated latency: both servers run on this machine and talk over 127.0.0.1.
#
# Per mode: two fresh clusters (provider :56151, subscriber :56152), set up like bench/apply_drain.sh
#   native    : publication/subscription (copy_data = false)
#   pglogical : pglogical node + subscription (no structure/data sync)
#   locality  : two pg_locality regions "lag-p" (provider, primary region) and "lag-s"; the
#               table is created on lag-p WITH (locality = 'GLOBAL')
# Load: pgbench -n -c CLIENTS -j 2 --rate RATE -T DURATION_S against the provider, each
# transaction one single-row INSERT into lag_probe (id from a provider-only sequence, md5 text,
# clock_timestamp()). pgbench --rate schedules transactions on a Poisson process; its own
# achieved tps and schedule lag are printed so a saturated machine is visible.
#
# What is measured, per transaction (no sampling, every row counts):
#   lag = applied_at - commit_ts
#   commit_ts  : the provider's commit timestamp of the row's transaction,
#                pg_xact_commit_timestamp(xmin) read on the provider (track_commit_timestamp = on)
#   applied_at : a column that exists only on the subscriber, DEFAULT clock_timestamp(). Every
#                apply worker (built-in, pglogical, pg_locality) fills a column the provider does
#                not send with its default, evaluated when it applies the row; for locality the
#                column is added on the subscriber alone (locality.remote_apply = on: the
#                ALTER TABLE is not propagated).
#   Both servers read the same clock, so the difference is commit -> apply on the subscriber: the
#   walsender's decode + send, the network hop, the apply worker's wait and apply. It stops just
#   before the subscriber's local commit (a single-row apply transaction commits within tens of
#   microseconds after, synchronous_commit = off as all three apply workers use), so "visible"
#   is at most that much later. It does not include the provider's own commit (the clock starts
#   at it) nor the provider-side feedback of the flush position (irrelevant to readers).
#   After the load the script waits until the subscriber holds every row, then joins the
#   provider's (id, commit_ts) into the subscriber and computes the percentiles there.
#
# Usage (root; servers run as OS user postgres):  bench/lag.sh
# Knobs: MODES="native pglogical locality" RATE=500 DURATION_S=30 CLIENTS=4 THREADS=2
#   PGBIN=/usr/lib/postgresql/15/bin PROVIDER_PORT=56151 SUBSCRIBER_PORT=56152 KEEP_TMP=1
#   EXTRA_CONF="autovacuum = off"  RESULTS_TSV=/path (per-mode results)
#   SYNC_COMMIT=on: synchronous_commit of both servers (the apply workers set off for themselves).
#     Unlike apply_drain.sh (off there) this keeps PostgreSQL's default: with off on the provider, a
#     walsender only sees WAL once the WAL writer flushes it (wal_writer_delay = 200 ms), which adds
#     0..200 ms to every mode alike (measured: p50 ~140 ms for built-in replication) and hides
#     the replication engine's own lag.
# Cleanup: every server this script started is stopped (pg_ctl -m fast) on exit, also on
# failure or Ctrl-C, and the temp dir is removed.

set -Eeuo pipefail

PROVIDER_PORT=${PROVIDER_PORT:-56151}
SUBSCRIBER_PORT=${SUBSCRIBER_PORT:-56152}
DB=bench
MODES=${MODES:-"native pglogical locality"}
RATE=${RATE:-500}
DURATION_S=${DURATION_S:-30}
CLIENTS=${CLIENTS:-4}
THREADS=${THREADS:-2}
RESULTS_TSV=${RESULTS_TSV:-}
SYNC_COMMIT=${SYNC_COMMIT:-on}
REGION_P=lag-p
REGION_S=lag-s

BENCH_NAME=lag.sh
# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

port_of() { if [[ $1 == p ]]; then echo "$PROVIDER_PORT"; else echo "$SUBSCRIBER_PORT"; fi; }
# wait_for SIDE "SQL returning t/f" DESCRIPTION [TIMEOUT_S]
wait_for() {
    local side=$1 q=$2 desc=$3 to=${4:-120} start=$SECONDS
    until [[ $(sql "$side" "$DB" -c "$q" 2>/dev/null || true) == t ]]; do
        (( SECONDS - start >= to )) && die "timeout (${to}s) waiting for $desc"
        sleep 0.1
    done
}

TABLE_DDL="CREATE TABLE lag_probe (id bigint PRIMARY KEY, v text NOT NULL, sent_at timestamptz NOT NULL)"
ADD_APPLIED_AT="ALTER TABLE lag_probe ADD COLUMN applied_at timestamptz DEFAULT clock_timestamp()"

setup_mode() {
    local dsn_p="host=127.0.0.1 port=$PROVIDER_PORT dbname=$DB user=postgres"
    local dsn_s="host=127.0.0.1 port=$SUBSCRIBER_PORT dbname=$DB user=postgres"
    as_pg mkdir -p "$TMP/$MODE"
    local so_before=""
    is_locality && so_before=$(installed_so)
    start_cluster p
    start_cluster s
    sql p "$DB" -c "CREATE SEQUENCE probe_seq"
    case $MODE in
    native)
        sql p "$DB" -c "$TABLE_DDL"
        sql s "$DB" -c "$TABLE_DDL" -c "$ADD_APPLIED_AT"
        sql p "$DB" -c "CREATE PUBLICATION pub FOR TABLE lag_probe"
        sql s "$DB" -c "CREATE SUBSCRIPTION sub CONNECTION '$dsn_p' PUBLICATION pub WITH (copy_data = false)"
        wait_for s "SELECT count(*) = 1 FROM pg_stat_subscription WHERE subname = 'sub' AND pid IS NOT NULL" "apply worker"
        ;;
    pglogical)
        sql p "$DB" -c "$TABLE_DDL"
        sql s "$DB" -c "$TABLE_DDL" -c "$ADD_APPLIED_AT"
        sql p "$DB" >/dev/null <<EOF
CREATE EXTENSION pglogical;
SELECT pglogical.create_node(node_name := 'provider', dsn := '$dsn_p');
SELECT pglogical.replication_set_add_table('default', 'lag_probe', synchronize_data := false);
EOF
        sql s "$DB" >/dev/null <<EOF
CREATE EXTENSION pglogical;
SELECT pglogical.create_node(node_name := 'subscriber', dsn := '$dsn_s');
SELECT pglogical.create_subscription(subscription_name := 'sub', provider_dsn := '$dsn_p',
       replication_sets := ARRAY['default'], synchronize_structure := false, synchronize_data := false);
EOF
        wait_for s "SELECT status = 'replicating' FROM pglogical.show_subscription_status('sub')" "pglogical replicating"
        ;;
    locality)
        locality_join "$dsn_p" "$dsn_s"
        sql p "$DB" -c "$TABLE_DDL WITH (locality = 'GLOBAL')"
        [[ $(installed_so) == "$so_before" ]] ||
            die "pg_locality.so was reinstalled while the locality clusters started ($so_before -> $(installed_so)); run again"
        echo "# locality mode ran the installed pg_locality.so $so_before"
        wait_for s "SELECT count(*) = 1 FROM locality.tables WHERE table_name = 'lag_probe'::regclass" "lag_probe on $REGION_S"
        # The subscriber-only column: not propagated (remote_apply marks the DDL as already
        # distributed). Added once the table's initial sync from lag-p is done: the initial copy
        # selects the receiver's column list on the source, so a column only the receiver has
        # makes it fail (the streaming apply fills such a column with its default).
        wait_for s "SELECT count(*) = 1 FROM locality.sync_state WHERE relid = 'lag_probe'::regclass
                    AND source_region = '$REGION_P' AND phase = 'done'" "initial sync of lag_probe done"
        sql s "$DB" -c "SET locality.remote_apply = on" -c "$ADD_APPLIED_AT"
        sql p "$DB" -c "SELECT count(*) = 0 FROM information_schema.columns WHERE table_name = 'lag_probe' AND column_name = 'applied_at'" |
            grep -qx t || die "applied_at reached the provider: the ALTER TABLE was propagated"
        wait_for s "SELECT coalesce(bool_and(state = 'streaming'), false) FROM locality.replication_status
                    WHERE source_region = '$REGION_P'" "streaming from $REGION_P"
        ;;
    esac
    # round trip of one probe row: the stream is up and the relation is known to the apply side
    sql p "$DB" -c "INSERT INTO lag_probe VALUES (0, 'warm-up', clock_timestamp())"
    wait_for s "SELECT count(*) = 1 FROM lag_probe WHERE id = 0" "warm-up row on the subscriber" 60
    sql p "$DB" -c "DELETE FROM lag_probe"
    wait_for s "SELECT count(*) = 0 FROM lag_probe" "warm-up delete on the subscriber" 60
    sql p "$DB" -c "VACUUM ANALYZE lag_probe"
    sql s "$DB" -c "VACUUM ANALYZE lag_probe"
}

measure() {
    local out="$TMP/$MODE/pgbench.out" n_p tps sched
    log "$MODE: pgbench --rate $RATE -T $DURATION_S -c $CLIENTS"
    as_pg "$PGBIN/pgbench" -n -h 127.0.0.1 -p "$PROVIDER_PORT" -c "$CLIENTS" -j "$THREADS" \
        --rate "$RATE" -T "$DURATION_S" -f "$TMP/probe.sql" "$DB" >"$out" 2>&1 || { cat "$out" >&2; die "pgbench failed"; }
    n_p=$(sql p "$DB" -c "SELECT count(*) FROM lag_probe")
    wait_for s "SELECT count(*) = $n_p FROM lag_probe" "all $n_p rows on the subscriber" 300
    tps=$(awk '/^tps = / { printf "%.1f", $3 }' "$out")
    sched=$(awk '/rate limit schedule lag: avg/ { gsub(/[()]/, ""); print $6 "/" $8 }' "$out")
    # provider commit timestamps -> subscriber, then percentiles of applied_at - commit_ts
    sql p "$DB" -c "\\copy (SELECT id, pg_xact_commit_timestamp(xmin) FROM lag_probe) TO '$TMP/$MODE/commit_ts.csv' CSV"
    sql s "$DB" >/dev/null <<EOF
CREATE UNLOGGED TABLE lag_commit_ts (id bigint PRIMARY KEY, commit_ts timestamptz NOT NULL);
\\copy lag_commit_ts FROM '$TMP/$MODE/commit_ts.csv' CSV
EOF
    local stats
    stats=$(sql s "$DB" -F $'\t' -c "
        WITH l AS (SELECT extract(epoch FROM p.applied_at - c.commit_ts) * 1000 AS ms
                   FROM lag_probe p JOIN lag_commit_ts c USING (id))
        SELECT count(*),
               round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2),
               round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 2),
               round(percentile_cont(0.999) WITHIN GROUP (ORDER BY ms)::numeric, 2),
               round(max(ms)::numeric, 2), round(avg(ms)::numeric, 2), round(min(ms)::numeric, 3)
        FROM l")
    local cnt p50 p99 p999 mx avg mn
    IFS=$'\t' read -r cnt p50 p99 p999 mx avg mn <<<"$stats"
    [[ $cnt == "$n_p" ]] || die "$MODE: joined $cnt rows of $n_p"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$MODE" "$cnt" "$tps" "$sched" "$p50" "$p99" "$p999" "$mx" "$avg" "$mn" \
        >>"$TMP/results.tsv"
    printf 'RESULT mode=%-9s txns=%s pgbench_tps=%s sched_lag_avg/max_ms=%s | lag_ms p50=%s p99=%s p99.9=%s max=%s avg=%s min=%s\n' \
        "$MODE" "$cnt" "$tps" "$sched" "$p50" "$p99" "$p999" "$mx" "$avg" "$mn"
}

teardown_mode() {
    stop_server "$TMP/$MODE/s"
    stop_server "$TMP/$MODE/p"
    [[ $KEEP_TMP == 1 ]] || rm -rf "${TMP:?}/$MODE"
}

main() {
    preflight lag_bench
    cat >"$TMP/probe.sql" <<'EOF'
INSERT INTO lag_probe (id, v, sent_at) SELECT s, md5(s::text), clock_timestamp() FROM nextval('probe_seq') AS s;
EOF
    chmod 644 "$TMP/probe.sql"

    print_header
    echo "# modes: $MODES | pgbench -n -c $CLIENTS -j $THREADS --rate $RATE -T $DURATION_S -f: $(tr '\n' ' ' <"$TMP/probe.sql")"
    echo "# synchronous_commit = $SYNC_COMMIT on both servers | extra conf: $(printf '%s' "$EXTRA_CONF" | tr '\n' ';')"
    echo "# lag = subscriber applied_at (column only there, DEFAULT clock_timestamp()) - provider commit timestamp, every transaction"

    for MODE in $MODES; do
        case $MODE in native|pglogical|locality) ;; *) die "unknown mode $MODE" ;; esac
        log "== mode $MODE: creating clusters"
        setup_mode
        measure
        teardown_mode
    done
    MODE=""
    echo
    echo "SUMMARY: replication lag, commit on the provider -> applied on the subscriber (ms)"
    awk -F'\t' '
        BEGIN { printf "%-9s %7s %9s %-16s %8s %8s %8s %8s %8s\n", "mode", "txns", "tps", "sched lag avg/max", "p50", "p99", "p99.9", "max", "avg" }
        { printf "%-9s %7s %9s %-16s %8s %8s %8s %8s %8s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9
          p50[$1] = $5; p99[$1] = $6 }
        END {
            if ("locality" in p50) for (m in p50) if (m != "locality")
                printf "locality/%s: p50 %.2fx, p99 %.2fx (< 1 means pg_locality has less lag)\n", m,
                       p50["locality"] / p50[m], p99["locality"] / p99[m]
        }' "$TMP/results.tsv"
    if [[ -n $RESULTS_TSV ]]; then
        { printf 'mode\ttxns\ttps\tsched_lag_avg_max_ms\tp50_ms\tp99_ms\tp999_ms\tmax_ms\tavg_ms\tmin_ms\n'
          cat "$TMP/results.tsv"; } >"$RESULTS_TSV"
    fi
    echo "# total wall time: $(( SECONDS - T_START )) s"
}

main "$@"
