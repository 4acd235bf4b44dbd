/*
 * launcher.c -- the static background worker "pg_locality launcher": keeps
 * one manager worker (manager.c) running in every database that has
 * pg_locality installed.
 *
 * The launcher cannot read a database's own tables, so it starts a manager
 * in each connectable database; a manager that finds no pg_locality exits,
 * and the launcher tries that database again after
 * locality.maintenance_naptime (at once when woken by CREATE EXTENSION or
 * add_region through LocalityWakeLauncher()).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "shim.h"
#include "shim/replication.h"

/* GUC locality.maintenance_naptime. */
int			LocalityMaintenanceNaptimeMs = 30000;

PGDLLEXPORT void LocalityLauncherMain(Datum arg);

/* A database's manager, as the launcher tracks it (launcher-local memory). */
typedef struct ManagedDatabase
{
	Oid			dboid;
	BackgroundWorkerHandle *handle;
	TimestampTz next_try;
} ManagedDatabase;

static List *Databases = NIL;	/* of ManagedDatabase, in TopMemoryContext */

/* The databases a worker can connect to. */
static List *
ConnectableDatabases(void)
{
	List	   *oids = NIL;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (db->datallowconn && !db->datistemplate)
		{
			MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

			oids = lappend_oid(oids, db->oid);
			MemoryContextSwitchTo(old);
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	PopActiveSnapshot();
	CommitTransactionCommand();
	return oids;
}

static ManagedDatabase *
FindDatabase(Oid dboid)
{
	ListCell   *lc;
	ManagedDatabase *db;
	MemoryContext old;

	foreach(lc, Databases)
	{
		db = lfirst(lc);
		if (db->dboid == dboid)
			return db;
	}
	old = MemoryContextSwitchTo(TopMemoryContext);
	db = palloc0(sizeof(ManagedDatabase));
	db->dboid = dboid;
	Databases = lappend(Databases, db);
	MemoryContextSwitchTo(old);
	return db;
}

/*
 * LocalityStartWorker starts a dynamic background worker of this library
 * that connects to a database and notifies us when it stops; *handle (kept
 * in TopMemoryContext, it outlives transactions) is NULL when no worker
 * slot was free.
 */
bool
LocalityStartWorker(const char *function, const char *name, const char *type, Datum arg,
					BackgroundWorkerHandle **handle)
{
	BackgroundWorker worker;
	MemoryContext old;
	bool		started;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_locality");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(worker.bgw_name, BGW_MAXLEN, "%s", name);
	snprintf(worker.bgw_type, BGW_MAXLEN, "%s", type);
	worker.bgw_main_arg = arg;
	worker.bgw_notify_pid = MyProcPid;
	old = MemoryContextSwitchTo(TopMemoryContext);
	started = RegisterDynamicBackgroundWorker(&worker, handle);
	MemoryContextSwitchTo(old);
	if (!started)
		*handle = NULL;
	return started;
}

/* Starts dboid's manager unless it runs or tried too recently. */
static void
EnsureManager(Oid dboid, bool woken)
{
	ManagedDatabase *db = FindDatabase(dboid);
	pid_t		pid;
	TimestampTz now = GetCurrentTimestamp();

	if (db->handle != NULL)
	{
		if (GetBackgroundWorkerPid(db->handle, &pid) != BGWH_STOPPED)
			return;
		pfree(db->handle);
		db->handle = NULL;
		db->next_try = TimestampTzPlusMilliseconds(now, LocalityMaintenanceNaptimeMs);
	}
	if (!woken && now < db->next_try)
		return;

	/* No free worker slot: db->handle stays NULL, next round tries again. */
	(void) LocalityStartWorker("LocalityManagerMain",
							   psprintf("pg_locality manager of database %u", dboid),
							   "pg_locality manager", ObjectIdGetDatum(dboid), &db->handle);
	db->next_try = TimestampTzPlusMilliseconds(now, LocalityMaintenanceNaptimeMs);
}

/*
 * LocalityLauncherMain is the launcher's loop.
 */
void
LocalityLauncherMain(Datum arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	LWLockAcquire(LocalityReplication->lock, LW_EXCLUSIVE);
	LocalityReplication->launcher_latch = MyLatch;
	LWLockRelease(LocalityReplication->lock);

	for (;;)
	{
		List	   *dbs;
		ListCell   *lc;
		bool		woken;
		int			rc;

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		LWLockAcquire(LocalityReplication->lock, LW_EXCLUSIVE);
		woken = LocalityReplication->launcher_woken;
		LocalityReplication->launcher_woken = false;
		LWLockRelease(LocalityReplication->lock);

		dbs = ConnectableDatabases();
		foreach(lc, dbs)
			EnsureManager(lfirst_oid(lc), woken);
		list_free(dbs);

		rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					   1000L, PG_WAIT_EXTENSION);
		if (rc & WL_LATCH_SET)
			ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * LocalityWakeLauncher asks the launcher to (re)start every database's
 * manager now, e.g. after CREATE EXTENSION or add_region.
 */
void
LocalityWakeLauncher(void)
{
	Latch	   *latch;

	if (LocalityReplication == NULL)
		return;
	LWLockAcquire(LocalityReplication->lock, LW_EXCLUSIVE);
	LocalityReplication->launcher_woken = true;
	latch = LocalityReplication->launcher_latch;
	LWLockRelease(LocalityReplication->lock);
	if (latch)
		SetLatch(latch);
}

static bool WakeAtCommit = false;

static void
WakeAtCommitCallback(XactEvent event, void *arg)
{
	if (!WakeAtCommit)
		return;
	if (event == XACT_EVENT_COMMIT)
		LocalityWakeLauncher();
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT)
		WakeAtCommit = false;
}

/*
 * LocalityWakeLauncherAtCommit wakes the launcher once the current
 * transaction commits (a region was added: replication should start now,
 * not after the next naptime).
 */
void
LocalityWakeLauncherAtCommit(void)
{
	static bool registered = false;

	if (!registered)
	{
		RegisterXactCallback(WakeAtCommitCallback, NULL);
		registered = true;
	}
	WakeAtCommit = true;
}

/*
 * LocalityRegisterLauncher registers the launcher and its setting (called
 * from _PG_init while shared_preload_libraries is processed).
 */
void
LocalityRegisterLauncher(void)
{
	BackgroundWorker worker;

	DefineCustomIntVariable("locality.maintenance_naptime",
							"Pause between two rounds of background maintenance "
							"(resolving in-doubt prepared transactions, looking for new databases).",
							NULL,
							&LocalityMaintenanceNaptimeMs,
							30000, 100, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_locality");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "LocalityLauncherMain");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pg_locality launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "pg_locality launcher");
	RegisterBackgroundWorker(&worker);
}
