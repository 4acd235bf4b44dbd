/*
 * read_your_writes.c -- locality.read_your_writes (SPEC.md section 4).
 *
 * After a forwarded write to region X commits, the forwarder records X's
 * WAL position right after that commit (read in the same round trip) in
 * shared memory: per (database, region), the highest one.  A later local
 * read on this server of a table that can hold rows homed in X waits in
 * ExecutorStart until X's apply worker has processed X's stream up to that
 * position (ApplySlot.processed_lsn), so the reader sees the write, in any
 * session: connection pools get it too.  A commit whose COMMIT PREPARED was
 * sent without waiting has no position yet: its pending entry
 * (pending_commits.c) makes the read wait until X's commit is applied here
 * or its position becomes known.  The wait is bounded by
 * locality.forward_timeout; then 55000 names the region and its lag.
 * Reads wait, and then take their snapshot again, only where READ COMMITTED
 * takes a new snapshot anyway (OwnSnapshot): never in a query that shares a
 * running statement's snapshot (a STABLE function's), never under
 * REPEATABLE READ or SERIALIZABLE.
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "tcop/pquery.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "shim.h"
#include "shim/catalog.h"
#include "shim/forward.h"
#include "shim/pending_commits.h"
#include "shim/remote.h"
#include "shim/replication.h"

#define RYW_SLOTS 256

typedef struct RywSlot
{
	Oid			dboid;
	int16		region_id;
	XLogRecPtr	lsn;			/* highest commit position forwarded to it */
} RywSlot;

typedef struct RywShared
{
	LWLock	   *lock;			/* first: set by shmem.c */
	int			used;
	RywSlot		slots[RYW_SLOTS];
} RywShared;

bool		LocalityReadYourWrites = true;
static RywShared *Ryw = NULL;
static ExecutorStart_hook_type PrevExecutorStart = NULL;

/*
 * LocalityNoteRemoteCommit records that a write forwarded to region
 * committed there at (or before) lsn.  Never raises (commit paths call it).
 */
void
LocalityNoteRemoteCommit(LocalityRegionId region, XLogRecPtr lsn)
{
	int			i;

	if (Ryw == NULL || lsn == InvalidXLogRecPtr)
		return;
	LWLockAcquire(Ryw->lock, LW_EXCLUSIVE);
	for (i = 0; i < Ryw->used; i++)
	{
		if (Ryw->slots[i].dboid == MyDatabaseId && Ryw->slots[i].region_id == region)
		{
			if (Ryw->slots[i].lsn < lsn)
				Ryw->slots[i].lsn = lsn;
			break;
		}
	}
	if (i == Ryw->used && i < RYW_SLOTS)
	{
		Ryw->slots[i].dboid = MyDatabaseId;
		Ryw->slots[i].region_id = region;
		Ryw->slots[i].lsn = lsn;
		Ryw->used++;
	}
	LWLockRelease(Ryw->lock);
}

/* The position reads must wait for at region (0: none). */
static XLogRecPtr
TargetLsn(LocalityRegionId region)
{
	XLogRecPtr	lsn = InvalidXLogRecPtr;
	int			i;

	LWLockAcquire(Ryw->lock, LW_SHARED);
	for (i = 0; i < Ryw->used; i++)
	{
		if (Ryw->slots[i].dboid == MyDatabaseId && Ryw->slots[i].region_id == region)
		{
			lsn = Ryw->slots[i].lsn;
			break;
		}
	}
	LWLockRelease(Ryw->lock);
	return lsn;
}

/*
 * Waits until no commit forwarded to region before horizon is still pending
 * (pending_commits.c: its position not known yet) and region's replica here
 * has processed the highest known commit position (or 55000); true when
 * there was anything to wait for.
 */
static bool
WaitForRegion(const LocalityRegion *region, uint64 horizon)
{
	bool		waited = false;
	TimestampTz last_request = 0;

	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   LocalityForwardTimeoutMs);

	for (;;)
	{
		bool		pending;
		XLogRecPtr	target;
		XLogRecPtr	processed;

		/* This session's own commits in flight: their answers, if they came. */
		LocalityRemotePollCommits();
		/* Pending first: an entry is cleared only once its position is known. */
		pending = LocalityPendingCommitBefore(region->id, horizon);
		target = TargetLsn(region->id);
		processed = LocalityProcessedLsn(region->id);
		/*
		 * Anything to wait for counts as a wait: the statement's snapshot
		 * may predate an apply that finished just before this check.
		 */
		if (pending || target != InvalidXLogRecPtr)
			waited = true;
		if (!pending && processed >= target)
			return waited;
		if (GetCurrentTimestamp() >= deadline)
		{
			if (pending)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("the replica of region \"%s\" has not applied this server's "
								"forwarded writes yet", region->name),
						 errdetail("A forwarded commit there is neither confirmed nor applied "
								   "here after locality.forward_timeout (%d ms).",
								   LocalityForwardTimeoutMs),
						 errhint("See locality.replication_status for region \"%s\", or set "
								 "locality.read_your_writes = off.", region->name)));
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the replica of region \"%s\" has not applied this server's "
							"forwarded writes yet", region->name),
					 errdetail("It is %llu bytes behind the last forwarded commit (%X/%X) after "
							   "locality.forward_timeout (%d ms).",
							   (unsigned long long) (target - processed),
							   LSN_FORMAT_ARGS(target), LocalityForwardTimeoutMs),
					 errhint("See locality.replication_status for region \"%s\", or set "
							 "locality.read_your_writes = off.", region->name)));
		}
		/* Have the stream's position brought up to date now, then every 100 ms. */
		if (TimestampDifferenceExceeds(last_request, GetCurrentTimestamp(), 100))
		{
			LocalityRequestKeepalive(region->id);
			last_request = GetCurrentTimestamp();
		}
		waited = true;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Waits for the regions whose rows table can hold (every other region when
 * table is NULL: a statement calling functions may read any table); true
 * when one of them had a forwarded commit to wait for, even one applied
 * already: it may have been applied after the statement's snapshot was
 * taken (its position is often only known now, when the commit's answer is
 * read), so the snapshot must be taken again either way.
 */
static bool
WaitForTable(const LocalityTable *table, uint64 horizon)
{
	bool		waited = false;
	int			count;
	const LocalityRegion *regions = LocalityRegions(&count);
	int			i;

	for (i = 0; i < count; i++)
	{
		if (regions[i].is_local)
			continue;
		if (table != NULL && table->spec.kind == LOCALITY_REGIONAL_BY_TABLE)
		{
			const LocalityRegion *primary = LocalityPrimaryRegion();
			const char *home = table->spec.in_primary_region ?
				(primary ? primary->name : "") : table->spec.region;

			if (strcmp(home, regions[i].name) != 0)
				continue;
		}
		if (WaitForRegion(&regions[i], horizon))
			waited = true;
	}
	return waited;
}

/*
 * Marks the snapshots this hook takes, in a field MVCC snapshots do not use
 * (only dirty snapshots set it).  A copy of another snapshot made later in
 * the same memory overwrites it.
 */
#define RYW_SNAPSHOT_MARK 0x52595721

/*
 * OwnSnapshot: true when queryDesc runs with a snapshot READ COMMITTED took
 * for this very statement (a top-level statement's, a cursor's, each
 * statement's of a VOLATILE function): it is the active snapshot and only
 * this QueryDesc has registered it.  The queries of a STABLE function, and
 * any query run inside a running statement with that statement's snapshot,
 * share a snapshot its QueryDesc has registered too (or one this hook took
 * for the statement): they must see what the statement sees, so they neither
 * wait nor take a new one.  Under REPEATABLE READ and SERIALIZABLE every
 * statement has the transaction's snapshot: never.
 */
static bool
OwnSnapshot(QueryDesc *queryDesc)
{
	Snapshot	snap = queryDesc->snapshot;
	uint32		owners = 1;

	if (snap == NULL || IsolationUsesXactSnapshot() || !ActiveSnapshotSet() ||
		GetActiveSnapshot() != snap || snap->speculativeToken == RYW_SNAPSHOT_MARK)
		return false;
	/* EXPLAIN ANALYZE: its portal holds the statement's snapshot too. */
	if (ActivePortal != NULL && ActivePortal->holdSnapshot == snap)
		owners++;
	return snap->regd_count == owners;
}

/*
 * Replaces the statement's snapshot by a new one, as the QueryDesc's and as
 * the active snapshot (what functions the statement calls run with), so the
 * whole statement sees what was applied while it waited.
 */
static void
RefreshSnapshot(QueryDesc *queryDesc)
{
	Snapshot	old = queryDesc->snapshot;
	Snapshot	fresh = RegisterSnapshot(GetTransactionSnapshot());
	/* A utility's portal (EXPLAIN ANALYZE, CREATE TABLE AS) remembers its own. */
	bool		portal_owns = ActivePortal != NULL && ActivePortal->portalSnapshot == old &&
		old->active_count == 1;

	fresh->speculativeToken = RYW_SNAPSHOT_MARK;
	PopActiveSnapshot();
	PushActiveSnapshotWithLevel(fresh, portal_owns ? ActivePortal->createLevel :
								GetCurrentTransactionNestLevel());
	if (portal_owns)
		ActivePortal->portalSnapshot = fresh;
	UnregisterSnapshot(old);
	queryDesc->snapshot = fresh;
}

/*
 * True when the plan calls a function that is not built in: its plan
 * depends on it.  (The router marks local reads with an item for function 0.)
 */
static bool
CallsFunctions(PlannedStmt *stmt)
{
	static uint32 marker = 0;
	ListCell   *lc;

	foreach(lc, stmt->invalItems)
	{
		PlanInvalItem *item = lfirst(lc);

		if (item->cacheId != PROCOID)
			continue;
		if (marker == 0)
			marker = GetSysCacheHashValue1(PROCOID, ObjectIdGetDatum(InvalidOid));
		if (item->hashValue != marker)
			return true;
	}
	return false;
}

/* A function that may run queries: SQL or a procedural language, not built in. */
static bool
IsQueryingFunction(Oid funcid, void *context)
{
	HeapTuple	tuple;
	Oid			lang;

	if (funcid < FirstNormalObjectId)
		return false;
	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	if (!HeapTupleIsValid(tuple))
		return false;
	lang = ((Form_pg_proc) GETSTRUCT(tuple))->prolang;
	ReleaseSysCache(tuple);
	return lang != INTERNALlanguageId && lang != ClanguageId;
}

static bool
ExprCallsQuerying(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (check_functions_in_node(node, IsQueryingFunction, context))
		return true;
	return expression_tree_walker(node, ExprCallsQuerying, context);
}

static bool PlanCallsQuerying(Plan *plan);

static bool
PlansCallQuerying(List *plans)
{
	ListCell   *lc;

	foreach(lc, plans)
	{
		if (PlanCallsQuerying(lfirst(lc)))
			return true;
	}
	return false;
}

/*
 * True when plan calls a function that may read tables with the statement's
 * snapshot: in its target lists and quals, function scans, VALUES, join
 * quals (not index quals).
 */
static bool
PlanCallsQuerying(Plan *plan)
{
	Node	   *extra = NULL;

	if (plan == NULL)
		return false;
	if (ExprCallsQuerying((Node *) plan->targetlist, NULL) ||
		ExprCallsQuerying((Node *) plan->qual, NULL))
		return true;
	switch (nodeTag(plan))
	{
		case T_Result:
			extra = ((Result *) plan)->resconstantqual;
			break;
		case T_FunctionScan:
			extra = (Node *) ((FunctionScan *) plan)->functions;
			break;
		case T_ValuesScan:
			extra = (Node *) ((ValuesScan *) plan)->values_lists;
			break;
		case T_NestLoop:
		case T_MergeJoin:
		case T_HashJoin:
			extra = (Node *) ((Join *) plan)->joinqual;
			break;
		case T_Append:
			return PlansCallQuerying(((Append *) plan)->appendplans);
		case T_MergeAppend:
			return PlansCallQuerying(((MergeAppend *) plan)->mergeplans);
		case T_SubqueryScan:
			return PlanCallsQuerying(((SubqueryScan *) plan)->subplan);
		case T_CustomScan:
			if (PlansCallQuerying(((CustomScan *) plan)->custom_plans))
				return true;
			break;
		default:
			break;
	}
	return ExprCallsQuerying(extra, NULL) || PlanCallsQuerying(plan->lefttree) ||
		PlanCallsQuerying(plan->righttree);
}

/*
 * StartHorizon, once per statement: the answers of forwarded commits that
 * arrived are taken in, and the horizon of those still pending is returned
 * (*seen: whether any commit was ever tracked here).
 */
static uint64
StartHorizon(bool *started, bool *seen)
{
	LocalityRemotePollCommits();
	*started = true;
	return LocalityPendingCommitHorizon(seen);
}

static void
RywExecutorStart(QueryDesc *queryDesc, int eflags)
{
	LocalityStatementStarts();
	/*
	 * Reads only: a write of rows homed elsewhere goes to their home anyway.
	 * Only where READ COMMITTED takes a new snapshot anyway (OwnSnapshot).
	 */
	if (LocalityReadYourWrites && Ryw != NULL &&
		queryDesc->plannedstmt->commandType == CMD_SELECT &&
		!(eflags & EXEC_FLAG_EXPLAIN_ONLY) && !IsBackgroundWorker && OwnSnapshot(queryDesc) &&
		LocalityIsInstalled())
	{
		ListCell   *lc;
		bool		waited = false;
		uint64		horizon = 0;
		bool		started = false;
		bool		seen = false;

		foreach(lc, queryDesc->plannedstmt->rtable)
		{
			RangeTblEntry *rte = lfirst(lc);
			const LocalityTable *table;

			if (rte->rtekind != RTE_RELATION || !LocalityIsManagedTable(rte->relid))
				continue;
			table = LocalityFindTable(rte->relid);
			if (table == NULL || (table->spec.kind != LOCALITY_REGIONAL_BY_ROW &&
								  table->spec.kind != LOCALITY_REGIONAL_BY_TABLE))
				continue;
			/* Commits forwarded before this read: those it must see. */
			if (!started)
				horizon = StartHorizon(&started, &seen);
			if ((Ryw->used > 0 || horizon != 0) && WaitForTable(table, horizon))
				waited = true;
		}

		/*
		 * The SQL and PL functions it calls may read any table, the STABLE
		 * ones with its snapshot: wait for every region.
		 */
		if (CallsFunctions(queryDesc->plannedstmt))
		{
			bool		ever = seen || Ryw->used > 0;

			if (!ever && !started)
				(void) LocalityPendingCommitHorizon(&ever);
			if (ever && (PlanCallsQuerying(queryDesc->plannedstmt->planTree) ||
						 PlansCallQuerying(queryDesc->plannedstmt->subplans)))
			{
				if (!started)
					horizon = StartHorizon(&started, &seen);
				if ((Ryw->used > 0 || horizon != 0) && WaitForTable(NULL, horizon))
					waited = true;
			}
		}

		/*
		 * The statement's snapshot was taken before the checks: take a new
		 * one that sees what was applied meanwhile, whenever forwarded
		 * commits were ever tracked here (an apply that cleared its pending
		 * entry between the snapshot and the checks leaves nothing to wait
		 * for, yet the old snapshot misses it).
		 */
		if (started && (Ryw->used > 0 || seen))
			waited = true;
		if (waited)
			RefreshSnapshot(queryDesc);
	}
	if (PrevExecutorStart)
		PrevExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

/*
 * LocalityInitReadYourWrites registers locality.read_your_writes; when
 * preloading, its shared memory and the ExecutorStart hook.
 */
void
LocalityInitReadYourWrites(void)
{
	DefineCustomBoolVariable("locality.read_your_writes",
							 "Local reads wait until this server's replica has applied the "
							 "writes it forwarded to other regions.",
							 NULL,
							 &LocalityReadYourWrites,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
	if (!process_shared_preload_libraries_in_progress)
		return;
	LocalityShmemArea("pg_locality read your writes", sizeof(RywShared), (void **) &Ryw);
	PrevExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = RywExecutorStart;
}
