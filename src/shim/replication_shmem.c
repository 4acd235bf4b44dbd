/*
 * replication_shmem.c -- shared memory for the replication data plane: one
 * ApplySlot per (database, source region), read by the status views and
 * written by the manager and the apply workers under one LWLock.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/shmem.h"

#include "shim.h"
#include "shim/replication.h"

LocalityReplicationShared *LocalityReplication = NULL;

/*
 * LocalityReplicationShmemRequest registers the apply workers' shared
 * state (called from _PG_init while preloading).
 */
void
LocalityReplicationShmemRequest(void)
{
	LocalityShmemArea("pg_locality replication", sizeof(LocalityReplicationShared),
					  (void **) &LocalityReplication);
}

/*
 * LocalityFindApplySlot returns the slot of (dboid, region_id), or NULL.
 * The caller holds LocalityReplication->lock.
 */
ApplySlot *
LocalityFindApplySlot(Oid dboid, int16 region_id)
{
	int			i;

	for (i = 0; i < LOCALITY_MAX_APPLY_WORKERS; i++)
	{
		ApplySlot  *slot = &LocalityReplication->slots[i];

		if (slot->in_use && slot->dboid == dboid && slot->region_id == region_id)
			return slot;
	}
	return NULL;
}

/*
 * LocalityOriginName: the replication origin recording how far this
 * database has applied region's changes.
 */
void
LocalityOriginName(const char *region, char *out, size_t size)
{
	snprintf(out, size, "pg_locality_%s", region);
}

/*
 * LocalitySlotName: the logical slot on a source region that feeds the
 * target region's database target_dboid (region ids are the same on every
 * region; names would not fit a slot name).
 */
void
LocalitySlotName(int16 target_region_id, Oid target_dboid, char *out, size_t size)
{
	snprintf(out, size, "pg_locality_r%d_d%u", target_region_id, target_dboid);
}

/*
 * LocalityProcessedLsn: how far this database has processed region's
 * stream (everything sent up to there applied or not for us).
 */
XLogRecPtr
LocalityProcessedLsn(int16 region_id)
{
	ApplySlot  *slot;
	XLogRecPtr	lsn = InvalidXLogRecPtr;

	LWLockAcquire(LocalityReplication->lock, LW_SHARED);
	slot = LocalityFindApplySlot(MyDatabaseId, region_id);
	if (slot != NULL)
		lsn = slot->processed_lsn;
	LWLockRelease(LocalityReplication->lock);
	return lsn;
}

/*
 * LocalityRequestKeepalive asks region's apply worker in this database for
 * an immediate keepalive request to its source (see replication.h).
 */
void
LocalityRequestKeepalive(int16 region_id)
{
	ApplySlot  *slot;

	LWLockAcquire(LocalityReplication->lock, LW_EXCLUSIVE);
	slot = LocalityFindApplySlot(MyDatabaseId, region_id);
	if (slot != NULL)
	{
		slot->reply_wanted = true;
		if (slot->latch != NULL)
			SetLatch(slot->latch);
	}
	LWLockRelease(LocalityReplication->lock);
}
