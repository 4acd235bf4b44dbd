/*
 * maintenance.c -- background workers that finish what crashes leave
 * behind: prepared transactions this server coordinated and never resolved
 * (dist_xact.c) are committed or rolled back without a DBA.
 *
 * One static worker ("pg_locality maintenance") wakes at start and then every
 * locality.maintenance_naptime, and for each database that allows connections runs a
 * short-lived worker there; that worker resolves in-doubt transactions when
 * pg_locality is installed and has other regions, then exits.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "shim.h"
#include "shim/catalog.h"
#include "shim/dist_xact.h"

/* GUC locality.maintenance_naptime: pause between two rounds. */
static int	MaintenanceNaptimeMs = 30000;

PGDLLEXPORT void LocalityMaintenanceMain(Datum arg);
PGDLLEXPORT void LocalityMaintenanceDatabaseMain(Datum arg);

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

/* Runs the per-database worker for dboid and waits for it to finish. */
static void
RunInDatabase(Oid dboid)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	pid_t		pid;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_locality");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "LocalityMaintenanceDatabaseMain");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pg_locality maintenance of database %u", dboid);
	snprintf(worker.bgw_type, BGW_MAXLEN, "pg_locality maintenance");
	worker.bgw_main_arg = ObjectIdGetDatum(dboid);
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		return;					/* no free slot: try again next round */
	if (WaitForBackgroundWorkerStartup(handle, &pid) == BGWH_STARTED)
		(void) WaitForBackgroundWorkerShutdown(handle);
	pfree(handle);
}

/*
 * LocalityMaintenanceMain is the static worker's loop.
 */
void
LocalityMaintenanceMain(Datum arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	for (;;)
	{
		List	   *dbs;
		ListCell   *lc;

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		dbs = ConnectableDatabases();
		foreach(lc, dbs)
			RunInDatabase(lfirst_oid(lc));
		list_free(dbs);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 MaintenanceNaptimeMs, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * LocalityMaintenanceDatabaseMain resolves in-doubt prepared transactions
 * in one database, then exits.  Errors (a region down) are logged; the next
 * round tries again.
 */
void
LocalityMaintenanceDatabaseMain(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);

	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (OidIsValid(get_extension_oid("pg_locality", true)) &&
		LocalityRegionSetting != NULL && LocalityRegionSetting[0] != '\0')
	{
		int			count;

		(void) LocalityRegions(&count);
		if (count > 1)
		{
			int			resolved = LocalityRecoverPreparedTransactions();

			if (resolved > 0)
				ereport(LOG,
						(errmsg("pg_locality resolved %d in-doubt prepared transaction(s)",
								resolved)));
		}
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	proc_exit(0);
}

/*
 * LocalityRegisterMaintenanceWorker registers the static worker (called
 * from _PG_init while shared_preload_libraries is processed).
 */
void
LocalityRegisterMaintenanceWorker(void)
{
	BackgroundWorker worker;

	DefineCustomIntVariable("locality.maintenance_naptime",
							"Pause between two rounds of resolving in-doubt prepared transactions.",
							NULL,
							&MaintenanceNaptimeMs,
							30000, 100, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_locality");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "LocalityMaintenanceMain");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pg_locality maintenance");
	snprintf(worker.bgw_type, BGW_MAXLEN, "pg_locality maintenance");
	RegisterBackgroundWorker(&worker);
}
