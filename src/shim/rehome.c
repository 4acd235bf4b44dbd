/*
 * rehome.c -- rows of a REGIONAL BY ROW table moving to another region.
 *
 * `UPDATE t SET region = 'x'` runs at the row's old home (the router sends
 * it there like any write by its old row); region x owns the row once it has
 * applied that change.  Two things need care in between:
 *
 *   - Forwarding (forward.c): a write that reaches a region which no longer
 *     owns the row is routed again to the home its copy names.  When the
 *     old home sends it on to the new home before the new home has applied
 *     the rehoming, the new home's copy still names the old home: instead of
 *     sending it back (a loop, cut by locality.forward_depth with 40001), the
 *     new home waits until its replica of the old home has caught up with
 *     the old home's WAL (LocalityAwaitOwnership), then looks again.
 *   - Replication (apply.c): a third region may receive the new home's first
 *     writes of the row before the old home's rehoming change (two streams,
 *     no order between them).  Ownership passes causally (the new home
 *     writes only after applying the rehoming), so the causal last-write-
 *     wins of apply's conflict resolution keeps the new home's write.
 *
 * Invariant protected: a regionally homed row is only modified at its home,
 * and every region converges to the same rows.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "utils/timestamp.h"

#include "shim.h"
#include "shim/rehome.h"
#include "shim/remote.h"
#include "shim/replication.h"

/* Everything this server's replica of region has processed. */
static XLogRecPtr
ProcessedFrom(LocalityRegionId region)
{
	ApplySlot  *slot;
	XLogRecPtr	lsn = InvalidXLogRecPtr;

	LWLockAcquire(LocalityReplication->lock, LW_SHARED);
	slot = LocalityFindApplySlot(MyDatabaseId, region);
	if (slot != NULL)
		lsn = slot->processed_lsn;
	LWLockRelease(LocalityReplication->lock);
	return lsn;
}

/*
 * LocalityAwaitOwnership: a forwarded statement reached this region for a
 * row whose copy here is homed at old_home, while the sender's copy names
 * this region: the row may be being rehomed here.  Waits until the replica of old_home here has
 * processed old_home's WAL as of now (one round trip to read it), bounded
 * by half of locality.forward_timeout (55000 after it).
 */
void
LocalityAwaitOwnership(const LocalityRegion *old_home)
{
	PGconn	   *conn = LocalityRemoteConnection(old_home);
	PGresult   *res = LocalityRemoteExec(conn, "SELECT " LOCALITY_WAL_END_SQL,
										 old_home->name);
	uint32		hi,
				lo;
	XLogRecPtr	target;
	TimestampTz deadline;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
		sscanf(PQgetvalue(res, 0, 0), "%X/%X", &hi, &lo) != 2)
	{
		PQclear(res);
		elog(ERROR, "region \"%s\" did not return its WAL position", old_home->name);
	}
	PQclear(res);
	target = ((uint64) hi << 32) | lo;
	/* Half the timeout: the sender, waiting as long, then gets this error. */
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), LocalityForwardTimeoutMs / 2);
	for (;;)
	{
		XLogRecPtr	processed = ProcessedFrom(old_home->id);

		if (processed >= target)
			return;
		if (GetCurrentTimestamp() >= deadline)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the replica of region \"%s\" has not applied the rehoming of a row "
							"to this region yet", old_home->name),
					 errdetail("It is %llu bytes behind %X/%X after half of locality.forward_timeout (%d ms).",
							   (unsigned long long) (target - processed),
							   LSN_FORMAT_ARGS(target), LocalityForwardTimeoutMs / 2),
					 errhint("See locality.replication_status for region \"%s\"; retry the "
							 "statement.", old_home->name)));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}
