/*
 * manager.c -- "pg_locality manager": one background worker per database
 * that has pg_locality installed (started by launcher.c).
 *
 * It resolves prepared transactions this server coordinated and left in
 * doubt (dist_xact.c) every locality.maintenance_naptime.  It exits when the
 * database has no pg_locality; the launcher retries later.
 */
#include "postgres.h"

#include "access/xact.h"
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
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "shim.h"
#include "shim/catalog.h"
#include "shim/dist_xact.h"
#include "shim/replication.h"

PGDLLEXPORT void LocalityManagerMain(Datum arg);

/* True when pg_locality is installed in this database. */
static bool
ExtensionInstalled(void)
{
	return OidIsValid(get_extension_oid("pg_locality", true));
}

/*
 * RecoverInDoubt resolves in-doubt prepared transactions; an error (a
 * region down) is logged and retried next round, never fatal.
 */
static void
RecoverInDoubt(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	PG_TRY();
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
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		ereport(LOG,
				(errmsg("pg_locality could not resolve in-doubt prepared transactions: %s",
						edata->message)));
		FreeErrorData(edata);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
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
			PopActiveSnapshot();
			CommitTransactionCommand();
			proc_exit(0);
		}
		if (now >= next_recovery && LocalityRegionSetting && LocalityRegionSetting[0])
		{
			RecoverInDoubt();
			next_recovery = TimestampTzPlusMilliseconds(now, LocalityMaintenanceNaptimeMs);
		}
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_stat(false);

		rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					   1000L, PG_WAIT_EXTENSION);
		if (rc & WL_LATCH_SET)
			ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}
