/*
 * pending_commits.c -- forwarded commits whose COMMIT PREPARED is in flight
 * (see shim/pending_commits.h), in shared memory: a fixed table of entries
 * {database, region, remote xid, gid, sequence number, since}.  Sequence
 * numbers grow, so a read waits only for the entries that existed when it
 * started, never for commits that came after it.
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lwlock.h"
#include "storage/procarray.h"
#include "utils/array.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "shim.h"
#include "shim/pending_commits.h"

#define PENDING_SLOTS 512
#define PENDING_GID_MAX 96

typedef struct PendingCommit
{
	Oid			dboid;			/* InvalidOid: a free slot */
	int16		region_id;
	TransactionId xid;			/* the remote transaction (its low 32 bits) */
	uint64		seq;
	TimestampTz since;
	char		gid[PENDING_GID_MAX];
} PendingCommit;

typedef struct PendingShared
{
	LWLock	   *lock;			/* first: set by shmem.c */
	uint64		next_seq;		/* 0 unused: seq starts at 1 */
	bool		ever;			/* next_seq > 0, readable without the lock */
	int			used;			/* entries in use */
	int			high;			/* slots [high, PENDING_SLOTS) are free */
	PendingCommit slots[PENDING_SLOTS];
} PendingShared;

static PendingShared *Pending = NULL;

bool
LocalityPendingCommitAdd(LocalityRegionId region, TransactionId xid, const char *gid)
{
	int			i;
	bool		added = false;

	if (Pending == NULL)
		return false;
	LWLockAcquire(Pending->lock, LW_EXCLUSIVE);
	for (i = 0; i < PENDING_SLOTS; i++)
	{
		PendingCommit *e = &Pending->slots[i];

		if (e->dboid != InvalidOid)
			continue;
		e->dboid = MyDatabaseId;
		e->region_id = region;
		e->xid = xid;
		e->seq = ++Pending->next_seq;
		Pending->ever = true;
		e->since = GetCurrentTimestamp();
		strlcpy(e->gid, gid, sizeof(e->gid));
		Pending->used++;
		Pending->high = Max(Pending->high, i + 1);
		added = true;
		break;
	}
	LWLockRelease(Pending->lock);
	return added;
}

/* Frees slot i (lock held exclusively). */
static void
FreeSlot(int i)
{
	Pending->slots[i].dboid = InvalidOid;
	Pending->used--;
	while (Pending->high > 0 && Pending->slots[Pending->high - 1].dboid == InvalidOid)
		Pending->high--;
}

void
LocalityPendingCommitDone(LocalityRegionId region, const char *gid)
{
	int			i;

	if (Pending == NULL || Pending->used == 0)
		return;
	LWLockAcquire(Pending->lock, LW_EXCLUSIVE);
	for (i = 0; i < Pending->high; i++)
	{
		PendingCommit *e = &Pending->slots[i];

		if (e->dboid == MyDatabaseId && e->region_id == region && strcmp(e->gid, gid) == 0)
		{
			FreeSlot(i);
			break;
		}
	}
	LWLockRelease(Pending->lock);
}

void
LocalityPendingCommitApplied(LocalityRegionId region, TransactionId xid)
{
	int			i;

	if (Pending == NULL || !TransactionIdIsValid(xid))
		return;
	pg_memory_barrier();
	if (Pending->used == 0)
		return;
	LWLockAcquire(Pending->lock, LW_EXCLUSIVE);
	for (i = 0; i < Pending->high; i++)
	{
		PendingCommit *e = &Pending->slots[i];

		if (e->dboid == MyDatabaseId && e->region_id == region && e->xid == xid)
			FreeSlot(i);
	}
	LWLockRelease(Pending->lock);
}

uint64
LocalityPendingCommitHorizon(bool *seen)
{
	uint64		horizon = 0;

	*seen = false;
	if (Pending == NULL)
		return 0;
	/*
	 * Nothing ever recorded (the common case, and every read of a server
	 * that never forwarded a two-phase commit): no lock.  The flag only goes
	 * up, under the lock, before the commit that recorded it returns; a read
	 * that must see that commit starts after it, and this barrier makes it
	 * see the flag.
	 */
	pg_memory_barrier();
	if (!Pending->ever)
		return 0;
	LWLockAcquire(Pending->lock, LW_SHARED);
	if (Pending->used > 0)
		horizon = Pending->next_seq + 1;
	*seen = Pending->next_seq > 0;
	LWLockRelease(Pending->lock);
	return horizon;
}

bool
LocalityPendingCommitBefore(LocalityRegionId region, uint64 horizon)
{
	bool		found = false;
	int			i;

	if (Pending == NULL || horizon == 0)
		return false;
	LWLockAcquire(Pending->lock, LW_SHARED);
	for (i = 0; i < Pending->high && !found; i++)
	{
		PendingCommit *e = &Pending->slots[i];

		found = e->dboid == MyDatabaseId && e->region_id == region && e->seq < horizon;
	}
	LWLockRelease(Pending->lock);
	return found;
}

List *
LocalityPendingCommitGids(LocalityRegionId region)
{
	List	   *gids = NIL;
	int			i;

	if (Pending == NULL)
		return NIL;
	LWLockAcquire(Pending->lock, LW_SHARED);
	for (i = 0; i < Pending->high; i++)
	{
		PendingCommit *e = &Pending->slots[i];

		if (e->dboid == MyDatabaseId && e->region_id == region)
			gids = lappend(gids, pstrdup(e->gid));
	}
	LWLockRelease(Pending->lock);
	return gids;
}

bool
LocalityPendingCommitInFlight(LocalityRegionId region, const char *gid, int max_age_ms)
{
	TimestampTz cutoff = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), -max_age_ms);
	bool		found = false;
	int			i;

	if (Pending == NULL)
		return false;
	LWLockAcquire(Pending->lock, LW_SHARED);
	for (i = 0; i < Pending->high && !found; i++)
	{
		PendingCommit *e = &Pending->slots[i];

		found = e->dboid == MyDatabaseId && e->region_id == region &&
			strcmp(e->gid, gid) == 0 && e->since > cutoff;
	}
	LWLockRelease(Pending->lock);
	return found;
}

char *
LocalityPendingCommitXidArray(LocalityRegionId region)
{
	StringInfoData buf;
	int			i;

	if (Pending == NULL)
		return NULL;
	/* The common case costs this one read: nothing in flight anywhere. */
	pg_memory_barrier();
	if (Pending->used == 0)
		return NULL;
	buf.data = NULL;
	LWLockAcquire(Pending->lock, LW_SHARED);
	for (i = 0; i < Pending->high; i++)
	{
		PendingCommit *e = &Pending->slots[i];

		if (e->dboid != MyDatabaseId || e->region_id != region ||
			!TransactionIdIsNormal(e->xid))
			continue;
		if (buf.data == NULL)
		{
			initStringInfo(&buf);
			appendStringInfoChar(&buf, '{');
		}
		else
			appendStringInfoChar(&buf, ',');
		appendStringInfo(&buf, "%u", e->xid);
	}
	LWLockRelease(Pending->lock);
	if (buf.data == NULL)
		return NULL;
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

PG_FUNCTION_INFO_V1(locality_wait_for_xacts);

/*
 * locality_wait_for_xacts is locality._wait_for_xacts(xid[]), run at a home
 * by a forwarding server before a statement (see
 * LocalityPendingCommitXidArray): waits until each transaction still in
 * progress here has ended.  A prepared transaction holds its xid's lock
 * until COMMIT PREPARED, so this waits exactly until a commit in flight
 * lands.  It only waits on transaction locks (interruptible, bounded by the
 * caller's timeouts) and returns nothing, so any role may run it.  In a
 * transaction block whose snapshot is the transaction's (REPEATABLE READ,
 * SERIALIZABLE), the snapshot was taken before waiting could help: a
 * transaction the snapshot does not see as committed raises 40001 instead (the forwarding server
 * waits in a transaction of its own before such a block begins; this only
 * happens when that wait failed).
 */
Datum
locality_wait_for_xacts(PG_FUNCTION_ARGS)
{
	ArrayType  *xids = PG_GETARG_ARRAYTYPE_P(0);
	TransactionId next = XidFromFullTransactionId(ReadNextFullTransactionId());
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;

	deconstruct_array(xids, XIDOID, sizeof(TransactionId), true, TYPALIGN_INT,
					  &elems, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		TransactionId xid = DatumGetTransactionId(elems[i]);

		/* Not an xid this server has handed out: nothing to wait for. */
		if (nulls[i] || !TransactionIdIsNormal(xid) || !TransactionIdPrecedes(xid, next) ||
			TransactionIdIsCurrentTransactionId(xid))
			continue;
		if (IsTransactionBlock() && IsolationUsesXactSnapshot())
		{
			if (XidInMVCCSnapshot(xid, GetTransactionSnapshot()))
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to a forwarded commit in flight"),
						 errdetail("Transaction %u had not committed here when this transaction's snapshot was taken.",
								   xid),
						 errhint("Retry the transaction.")));
			continue;
		}
		if (TransactionIdIsInProgress(xid))
			XactLockTableWait(xid, NULL, NULL, XLTW_None);
	}
	PG_RETURN_VOID();
}

void
LocalityInitPendingCommits(void)
{
	if (process_shared_preload_libraries_in_progress)
		LocalityShmemArea("pg_locality pending commits", sizeof(PendingShared),
						  (void **) &Pending);
}
