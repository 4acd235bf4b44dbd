#!/bin/sh
# server_conf.sh REGION [PG_BINDIR] -- prints the postgresql.conf lines a
# pg_locality region's primary needs (SPEC.md section 1).  Used by pg_regress,
# the TAP cluster helper and the demo, so every server is set up alike.
set -eu
region=$1
bindir=${2:-$(pg_config --bindir)}

cat <<CONF
shared_preload_libraries = 'pg_locality'
wal_level = logical
track_commit_timestamp = on
max_prepared_transactions = 64
max_replication_slots = 16
max_wal_senders = 16
max_worker_processes = 32
locality.region = '$region'
CONF

# PostgreSQL 15.19 added output_plugin_libraries and refuses logical slots of
# plugins it does not list; 15.18 and older refuse to start if it is named.
if "$bindir/postgres" --describe-config 2>/dev/null | grep -q '^output_plugin_libraries'; then
  echo "output_plugin_libraries = 'pgoutput, test_decoding, pg_locality'"
fi
