/*
 * staleness.c -- locality.max_staleness: a local read of rows other regions
 * write fails (55000) when this server's replica of such a region is older
 * than the setting, instead of silently returning old data (SPEC.md §1, §7).
 *
 * A replica's age is the time since its apply worker last knew it had
 * applied everything the source had sent (ApplySlot.caught_up_at): data
 * read now is at most that old, plus the source's own in-flight commits.
 * Checked in ExecutorStart only when the setting is on and the statement
 * reads a managed table: no cost otherwise.
 */
#include "postgres.h"

#include <limits.h>

#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "shim.h"
#include "shim/catalog.h"
#include "shim/replication.h"

static int	MaxStalenessMs = 0;
static ExecutorStart_hook_type PrevExecutorStart = NULL;

/* Raises 55000 when region's replica here is older than the setting. */
static void
CheckRegion(const LocalityRegion *region, TimestampTz now)
{
	ApplySlot  *slot;
	TimestampTz caught_up_at = 0;
	long		age_ms;

	LWLockAcquire(LocalityReplication->lock, LW_SHARED);
	slot = LocalityFindApplySlot(MyDatabaseId, region->id);
	if (slot != NULL)
		caught_up_at = slot->caught_up_at;
	LWLockRelease(LocalityReplication->lock);

	if (caught_up_at == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the replica of region \"%s\" has not caught up yet", region->name),
				 errdetail("locality.max_staleness is %d ms.", MaxStalenessMs),
				 errhint("Wait for replication (locality.replication_status) or raise "
						 "locality.max_staleness.")));
	age_ms = TimestampDifferenceMilliseconds(caught_up_at, now);
	if (age_ms > MaxStalenessMs)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the replica of region \"%s\" is %ld ms behind", region->name, age_ms),
				 errdetail("locality.max_staleness is %d ms; the replica last caught up at %s.",
						   MaxStalenessMs, timestamptz_to_str(caught_up_at)),
				 errhint("See locality.replication_status for region \"%s\".", region->name)));
}

/* Checks the regions whose rows table holds (other than this one). */
static void
CheckTable(const LocalityTable *table, TimestampTz now)
{
	int			count;
	const LocalityRegion *regions = LocalityRegions(&count);
	int			i;

	for (i = 0; i < count; i++)
	{
		if (regions[i].is_local)
			continue;
		/* A REGIONAL BY TABLE table only holds rows of its home. */
		if (table->spec.kind == LOCALITY_REGIONAL_BY_TABLE)
		{
			const LocalityRegion *primary = LocalityPrimaryRegion();
			const char *home = table->spec.in_primary_region ?
				(primary ? primary->name : "") : table->spec.region;

			if (strcmp(home, regions[i].name) != 0)
				continue;
		}
		CheckRegion(&regions[i], now);
	}
}

static void
StalenessExecutorStart(QueryDesc *queryDesc, int eflags)
{
	if (MaxStalenessMs > 0 && !(eflags & EXEC_FLAG_EXPLAIN_ONLY) && !IsBackgroundWorker &&
		LocalityIsInstalled())
	{
		ListCell   *lc;
		TimestampTz now = GetCurrentTimestamp();

		foreach(lc, queryDesc->plannedstmt->rtable)
		{
			RangeTblEntry *rte = lfirst(lc);
			const LocalityTable *table;

			if (rte->rtekind != RTE_RELATION || !LocalityIsManagedTable(rte->relid))
				continue;
			table = LocalityFindTable(rte->relid);
			if (table != NULL)
				CheckTable(table, now);
		}
	}
	if (PrevExecutorStart)
		PrevExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

/*
 * LocalityInitStaleness registers locality.max_staleness and the hook.
 */
void
LocalityInitStaleness(void)
{
	DefineCustomIntVariable("locality.max_staleness",
							"A local read of other regions' rows fails when their replica here is "
							"older than this (0: off).",
							NULL,
							&MaxStalenessMs,
							0, 0, INT_MAX,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	PrevExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = StalenessExecutorStart;
}
