/*
 * hlc_clock.c -- this server's hybrid logical clock, one in shared memory
 * for every backend and worker (docs/conflicts.md section 1): now() stamps
 * a local commit that wrote a GLOBAL table, update() takes in a remote
 * stamp before its transaction is applied, refused when it is more than
 * locality.max_clock_skew ahead.  The clock's rules live in the core
 * (src/core/hlc.cpp).
 */
#include "postgres.h"

#include "access/commit_ts.h"
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "replication/origin.h"
#include "storage/lwlock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "shim.h"
#include "shim/catalog.h"
#include "shim/hlc_clock.h"

/* The clock, shared by every backend and worker of the server. */
typedef struct HlcShared
{
	LWLock	   *lock;
	LocalityHlc clock;
} HlcShared;

static HlcShared *Hlc = NULL;

int			LocalityMaxClockSkew = 500;

/* Physical milliseconds since 1970 of this server's clock. */
static uint64
PhysicalMs(void)
{
	return (uint64) (GetCurrentTimestamp() / 1000 + LOCALITY_HLC_UNIX_MS_AT_PG_EPOCH);
}

static void
CheckClock(void)
{
	if (Hlc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_locality must be in shared_preload_libraries")));
}

/* now(): a stamp for a local commit. */
uint64
LocalityHlcNow(void)
{
	LocalityStatus status;
	uint64		stamp = 0;
	bool		ok;

	CheckClock();
	LocalityInitStatus(&status);
	LWLockAcquire(Hlc->lock, LW_EXCLUSIVE);
	ok = locality_hlc_now(&Hlc->clock, PhysicalMs(), &stamp, &status);
	LWLockRelease(Hlc->lock);
	if (!ok)
		LocalityRaiseStatus(&status, NULL);
	return stamp;
}

void
LocalityHlcObserve(uint64 hlc)
{
	LocalityStatus status;
	bool		ok;

	if (hlc == 0)
		return;
	CheckClock();
	LocalityInitStatus(&status);
	LWLockAcquire(Hlc->lock, LW_EXCLUSIVE);
	ok = locality_hlc_update(&Hlc->clock, hlc, PhysicalMs(), (uint64) LocalityMaxClockSkew,
							 NULL, &status);
	LWLockRelease(Hlc->lock);
	if (!ok)
		LocalityRaiseStatus(&status, NULL);
}

PG_FUNCTION_INFO_V1(locality_hlc_current);

/* locality.hlc_now(): the last stamp of this server's clock. */
Datum
locality_hlc_current(PG_FUNCTION_ARGS)
{
	uint64		last;

	CheckClock();
	LWLockAcquire(Hlc->lock, LW_SHARED);
	last = Hlc->clock.last;
	LWLockRelease(Hlc->lock);
	PG_RETURN_INT64((int64) last);
}

void
LocalityInitHlcClock(void)
{
	DefineCustomIntVariable("locality.max_clock_skew",
							"How far ahead of this server's clock another region's "
							"stamps may be before their changes wait.",
							"Changes stamped further ahead are refused (retried) until "
							"this clock has caught up to within the bound.",
							&LocalityMaxClockSkew, 500, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	if (process_shared_preload_libraries_in_progress)
		LocalityShmemArea("pg_locality clock", sizeof(HlcShared), (void **) &Hlc);
}
