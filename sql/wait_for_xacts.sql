-- locality._wait_for_xacts(xid[]): what a forwarding server runs at a home
-- before a statement when its commits to that home are in flight
-- (pending_commits.c).  Transactions no longer in progress, not handed out
-- yet, invalid or the caller's own: nothing to wait for.  Any role may run
-- it.  (The waiting itself, for a prepared transaction until COMMIT
-- PREPARED, is shown by test/t/080_forward_writes.pl.)
CREATE EXTENSION IF NOT EXISTS pg_locality;
CREATE TEMP TABLE wfx_done AS SELECT pg_current_xact_id()::xid AS x;
SELECT 'returned' AS empty FROM locality._wait_for_xacts('{}');
SELECT 'returned' AS committed FROM wfx_done, locality._wait_for_xacts(ARRAY[x]);
SELECT 'returned' AS special FROM locality._wait_for_xacts('{0,1,2,3}');
SELECT 'returned' AS not_yet_assigned
    FROM locality._wait_for_xacts(ARRAY[(pg_current_xact_id()::xid::text::bigint + 1000000)::text::xid]);
SELECT 'returned' AS strict FROM locality._wait_for_xacts(NULL);
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT 'returned' AS own FROM locality._wait_for_xacts(ARRAY[pg_current_xact_id()::xid]);
SELECT 'returned' AS committed_before_snapshot FROM wfx_done, locality._wait_for_xacts(ARRAY[x]);
COMMIT;
SELECT x AS done_xid FROM wfx_done \gset
CREATE ROLE wfx_nobody;
SET ROLE wfx_nobody;
SELECT has_function_privilege('locality._wait_for_xacts(xid[])', 'EXECUTE') AS may_run;
SELECT 'returned' AS as_any_role FROM locality._wait_for_xacts(ARRAY[:'done_xid'::xid]);
RESET ROLE;
DROP ROLE wfx_nobody;
