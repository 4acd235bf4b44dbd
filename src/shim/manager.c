/*
 * manager.c -- "pg_locality manager": one background worker per database
 * that has pg_locality installed (started by launcher.c).
 *
 * Every second it keeps one apply worker (apply_worker.c) running per other
 * region, restarting a failed one after its backoff, and cleans up after
 * dropped regions (worker, replication origin, slots feeding them).  Every
 * locality.maintenance_naptime it resolves prepared transactions this server
 * coordinated and left in doubt (dist_xact.c).  It exits when the database
 * has no pg_locality; the launcher retries later.
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "replication/origin.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "shim.h"
#include "shim/catalog.h"
#include "shim/dist_xact.h"
#include "shim/replication.h"

PGDLLEXPORT void LocalityManagerMain(Datum arg);

/* Handles of the apply workers this manager started, by slot index. */
static BackgroundWorkerHandle *Workers[LOCALITY_MAX_APPLY_WORKERS];

/* Starts the apply worker of slot index. */
static void
StartApplyWorker(int index, const char *region)
{
	if (Workers[index] != NULL)
		pfree(Workers[index]);
	if (!LocalityStartWorker("LocalityApplyWorkerMain",
							 psprintf("pg_locality apply from %s", region),
							 "pg_locality apply", Int32GetDatum(index), &Workers[index]))
		ereport(LOG,
				(errmsg("pg_locality: no background worker slot for applying region \"%s\"",
						region),
				 errhint("Raise max_worker_processes.")));
}

/* True while the worker of slot index (started by us) has not exited. */
static bool
WorkerAlive(int index)
{
	pid_t		pid;

	return Workers[index] != NULL &&
		GetBackgroundWorkerPid(Workers[index], &pid) != BGWH_STOPPED;
}

/* Drops replication origin name if it exists (its worker has exited). */
static void
DropOrigin(const char *region)
{
	char		name[NAMEDATALEN + 16];
	RepOriginId origin;

	LocalityOriginName(region, name, sizeof(name));
	origin = replorigin_by_name(name, true);
	if (origin != InvalidRepOriginId)
		replorigin_drop_by_name(name, true, false);
}

/*
 * SyncApplyWorkers keeps one apply worker per other region running (unless
 * paused or backing off after an error), and cleans up after regions that
 * left the catalog: their worker is stopped and their origin dropped.
 */
static void
SyncApplyWorkers(void)
{
	int			count;
	const LocalityRegion *regions = LocalityRegions(&count);
	const LocalityRegion *local = LocalityFindRegionByName(LocalityRegionSetting);
	TimestampTz now = GetCurrentTimestamp();
	int			i;
	int			r;

	if (local == NULL)
		count = 0;				/* our own region is not added: nothing flows */

	for (r = 0; r < count; r++)
	{
		ApplySlot  *slot;
		int			index = -1;
		bool		start;

		if (regions[r].is_local)
			continue;
		LWLockAcquire(LocalityReplication->lock, LW_EXCLUSIVE);
		slot = LocalityFindApplySlot(MyDatabaseId, regions[r].id);
		if (slot == NULL)
		{
			for (i = 0; i < LOCALITY_MAX_APPLY_WORKERS; i++)
			{
				if (!LocalityReplication->slots[i].in_use)
				{
					slot = &LocalityReplication->slots[i];
					memset(slot, 0, sizeof(*slot));
					slot->in_use = true;
					slot->dboid = MyDatabaseId;
					slot->region_id = regions[r].id;
					strlcpy(slot->region, regions[r].name, sizeof(slot->region));
					break;
				}
			}
		}
		if (slot != NULL)
			index = slot - LocalityReplication->slots;
		start = slot != NULL && !slot->paused && slot->pid == 0 && now >= slot->retry_after;
		LWLockRelease(LocalityReplication->lock);

		if (start && !WorkerAlive(index))
			StartApplyWorker(index, regions[r].name);
	}

	/* Regions gone from the catalog: stop their worker, then drop their origin. */
	for (i = 0; i < LOCALITY_MAX_APPLY_WORKERS; i++)
	{
		ApplySlot  *slot = &LocalityReplication->slots[i];
		bool		gone;
		pid_t		pid;
		char		region[LOCALITY_REGION_NAME_MAX + 1];

		LWLockAcquire(LocalityReplication->lock, LW_EXCLUSIVE);
		gone = slot->in_use && slot->dboid == MyDatabaseId &&
			(local == NULL || LocalityFindRegionById(slot->region_id) == NULL);
		pid = slot->pid;
		strlcpy(region, slot->region, sizeof(region));
		if (gone && pid == 0 && !WorkerAlive(i))
			slot->in_use = false;
		LWLockRelease(LocalityReplication->lock);

		if (!gone)
			continue;
		if (pid != 0 || WorkerAlive(i))
		{
			if (Workers[i] != NULL)
				TerminateBackgroundWorker(Workers[i]);
			else if (pid > 0)
				kill(pid, SIGTERM);
			continue;			/* drop the origin next round */
		}
		if (local != NULL)
			DropOrigin(region);
	}
}

/*
 * DropOrphanSlots drops this server's logical slots that fed a region no
 * longer in the catalog (named pg_locality_r<id>_d<db>, see
 * LocalitySlotName), once nobody uses them.
 */
static void
DropOrphanSlots(void)
{
	int			count;
	const LocalityRegion *regions = LocalityRegions(&count);
	StringInfoData ids;
	int			i;

	if (count == 0)
		return;
	initStringInfo(&ids);
	for (i = 0; i < count; i++)
		appendStringInfo(&ids, "%s%d", i ? "," : "", regions[i].id);
	SPI_connect();
	SPI_execute(psprintf("SELECT pg_catalog.pg_drop_replication_slot(slot_name) "
						 "FROM pg_catalog.pg_replication_slots "
						 "WHERE NOT active AND database = pg_catalog.current_database() "
						 "AND slot_name ~ '^pg_locality_r[0-9]+_d[0-9]+$' "
						 "AND substring(slot_name from '^pg_locality_r([0-9]+)_')::int "
						 "    NOT IN (%s)", ids.data), false, 0);
	SPI_finish();
}

/* True when pg_locality is installed in this database. */
static bool
ExtensionInstalled(void)
{
	return OidIsValid(get_extension_oid("pg_locality", true));
}

/* True when another database's apply slot uses region's origin (names are per server). */
static bool
OriginSharedElsewhere(const char *region)
{
	bool		shared = false;

	LWLockAcquire(LocalityReplication->lock, LW_SHARED);
	for (int i = 0; i < LOCALITY_MAX_APPLY_WORKERS; i++)
	{
		ApplySlot  *slot = &LocalityReplication->slots[i];

		if (slot->in_use && slot->dboid != MyDatabaseId && strcmp(slot->region, region) == 0)
			shared = true;
	}
	LWLockRelease(LocalityReplication->lock);
	return shared;
}

/* DropSlot: pg_drop_replication_slot(name) through SPI. */
static void
DropSlot(void *name)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum((const char *) name)};

	SPI_connect();
	SPI_execute_with_args("SELECT pg_catalog.pg_drop_replication_slot($1::pg_catalog.name)",
						  1, argtypes, values, NULL, false, 0);
	SPI_finish();
}

/*
 * DropSlotIfIdle drops this server's slot name unless a walsender holds it
 * again (a region retrying: the output plugin refuses it at once, so it is
 * free again next round); false when it could not.
 */
static bool
DropSlotIfIdle(const char *name)
{
	char	   *why = LocalityTryInSubxact(DropSlot, (void *) name);

	if (why != NULL)
		ereport(DEBUG1,
				(errmsg("pg_locality could not drop slot \"%s\" yet: %s", name, why)));
	return why == NULL;
}

/*
 * CleanUpAfterDrop leaves nothing of pg_locality's replication behind in a
 * database without the extension (after DROP EXTENSION; the launcher runs a
 * manager in every database, so also after a restart): its apply workers
 * stop, their replication origins go, and the slots other regions streamed
 * from here are dropped (their walsenders ended first; the output plugin
 * refuses to serve a database without pg_locality, so no region creates
 * them again).  Returns false while something is left to retry.  Runs in a
 * transaction.
 */
static bool
CleanUpAfterDrop(void)
{
	List	   *slots = NIL;
	ListCell   *lc;
	int			removed = 0;
	bool		done = true;
	MemoryContext outer = CurrentMemoryContext;

	for (int i = 0; i < LOCALITY_MAX_APPLY_WORKERS; i++)
	{
		ApplySlot  *slot = &LocalityReplication->slots[i];
		char		region[LOCALITY_REGION_NAME_MAX + 1];
		bool		mine;
		pid_t		pid;

		LWLockAcquire(LocalityReplication->lock, LW_SHARED);
		mine = slot->in_use && slot->dboid == MyDatabaseId;
		pid = slot->pid;
		strlcpy(region, slot->region, sizeof(region));
		LWLockRelease(LocalityReplication->lock);
		if (!mine)
			continue;

		/* Stop the worker; its origin can go once it has let go of it. */
		if (Workers[i] != NULL)
		{
			TerminateBackgroundWorker(Workers[i]);
			(void) WaitForBackgroundWorkerShutdown(Workers[i]);
		}
		else if (pid > 0)
		{
			kill(pid, SIGTERM);
			done = false;		/* not ours to wait for: next round */
			continue;
		}
		if (!OriginSharedElsewhere(region))
			DropOrigin(region);

		LWLockAcquire(LocalityReplication->lock, LW_EXCLUSIVE);
		if (slot->dboid == MyDatabaseId)
			slot->in_use = false;
		LWLockRelease(LocalityReplication->lock);
		removed++;
	}

	SPI_connect();
	SPI_execute("SELECT pg_catalog.pg_terminate_backend(active_pid, 10000) "
				"FROM pg_catalog.pg_replication_slots "
				"WHERE active AND database = pg_catalog.current_database() "
				"AND slot_name ~ '^pg_locality_r[0-9]+_d[0-9]+$'", false, 0);
	SPI_execute("SELECT slot_name::text FROM pg_catalog.pg_replication_slots "
				"WHERE database = pg_catalog.current_database() "
				"AND slot_name ~ '^pg_locality_r[0-9]+_d[0-9]+$'", true, 0);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		/* Copied out of SPI's memory, which SPI_finish frees. */
		MemoryContext spi = MemoryContextSwitchTo(outer);

		slots = lappend(slots, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	foreach(lc, slots)
	{
		if (DropSlotIfIdle((char *) lfirst(lc)))
			removed++;
		else
			done = false;
	}

	if (removed > 0)
		ereport(LOG,
				(errmsg("pg_locality is not installed in database \"%s\": removed %d of its "
						"apply workers and replication slots",
						get_database_name(MyDatabaseId), removed)));
	return done;
}

/* ResolveInDoubt: one round of the resolver, in RecoverInDoubt's subtransaction. */
static void
ResolveInDoubt(void *arg)
{
	int			count;
	int			resolved = 0;

	(void) LocalityRegions(&count);
	if (count > 1)
		resolved = LocalityRecoverPreparedTransactions();
	if (resolved > 0)
		ereport(LOG,
				(errmsg("pg_locality resolved %d in-doubt prepared transaction(s)",
						resolved)));
}

/*
 * RecoverInDoubt resolves in-doubt prepared transactions; an error (a
 * region down) is logged and retried next round, never fatal.
 */
static void
RecoverInDoubt(void)
{
	char	   *why = LocalityTryInSubxact(ResolveInDoubt, NULL);

	if (why != NULL)
		ereport(LOG,
				(errmsg("pg_locality could not resolve in-doubt prepared transactions: %s",
						why)));
}

/*
 * LocalityManagerMain is a database manager's loop.
 */
void
LocalityManagerMain(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);
	TimestampTz next_recovery = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);

	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();
		int			rc;

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			next_recovery = 0;	/* the naptime may have changed */
		}

		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		if (!ExtensionInstalled())
		{
			bool		done = CleanUpAfterDrop();

			PopActiveSnapshot();
			CommitTransactionCommand();
			if (done)
				proc_exit(0);
			goto wait;			/* something to retry: stay a moment */
		}
		if (LocalityRegionSetting && LocalityRegionSetting[0])
		{
			SyncApplyWorkers();
			if (now >= next_recovery)
			{
				RecoverInDoubt();
				DropOrphanSlots();
				next_recovery = TimestampTzPlusMilliseconds(now, LocalityMaintenanceNaptimeMs);
			}
		}
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_stat(false);

wait:
		rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					   1000L, PG_WAIT_EXTENSION);
		if (rc & WL_LATCH_SET)
			ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}
