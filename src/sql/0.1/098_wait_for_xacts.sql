-- Run at a home by a forwarding server before a forwarded statement when
-- this server still has commits to that home in flight (pending_commits.c):
-- waits until those remote transactions (still prepared here) have
-- committed.  It only waits on transaction locks and returns nothing, so
-- every role may run it (forwarded sessions run as the calling role).
CREATE FUNCTION locality._wait_for_xacts(xids xid[]) RETURNS void
    LANGUAGE C STRICT VOLATILE AS 'MODULE_PATHNAME', 'locality_wait_for_xacts';
GRANT EXECUTE ON FUNCTION locality._wait_for_xacts(xid[]) TO PUBLIC;
