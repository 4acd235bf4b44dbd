/*
 * pending_commits.c -- forwarded commits whose COMMIT PREPARED is in flight
 * (see shim/pending_commits.h), in shared memory: a fixed table of entries
 * {database, region, remote xid, gid, sequence number, since}.  Sequence
 * numbers grow, so a read waits only for the entries that existed when it
 * started, never for commits that came after it.
 */
#include "postgres.h"

#include "access/transam.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
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
LocalityPendingCommitHorizon(void)
{
	uint64		horizon = 0;

	if (Pending == NULL)
		return 0;
	LWLockAcquire(Pending->lock, LW_SHARED);
	if (Pending->used > 0)
		horizon = Pending->next_seq + 1;
	LWLockRelease(Pending->lock);
	return horizon;
}

bool
LocalityPendingCommitsSeen(void)
{
	bool		seen;

	if (Pending == NULL)
		return false;
	LWLockAcquire(Pending->lock, LW_SHARED);
	seen = Pending->next_seq > 0;
	LWLockRelease(Pending->lock);
	return seen;
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

void
LocalityInitPendingCommits(void)
{
	if (process_shared_preload_libraries_in_progress)
		LocalityShmemArea("pg_locality pending commits", sizeof(PendingShared),
						  (void **) &Pending);
}
