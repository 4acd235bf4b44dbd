/*
 * hlc_clock.c -- this server's hybrid logical clock, one in shared memory
 * for every backend and worker (docs/conflicts.md section 1): now() stamps
 * a local commit that wrote a GLOBAL table, update() takes in a remote
 * stamp before its transaction is applied, refused when it is more than
 * locality.max_clock_skew ahead.  The clock's rules live in the core
 * (src/core/hlc.cpp).
 *
 * The clock survives a restart (or a crash): a mark in the data directory
 * (pg_locality_hlc) is never below a stamp the clock has handed out or
 * observed.  As a sequence caches values, the mark is written ahead, one
 * window beyond the clock, durably and before the clock passes the old
 * mark, so a write costs one file replacement per window of clock advance;
 * the first use after the server starts raises the clock to the mark.
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
#include "storage/fd.h"
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
	bool		restored;		/* raised to the mark on disk since start */
	uint64		reserved;		/* the mark on disk */
} HlcShared;

/* The mark, in the data directory, and how far ahead of the clock it is written. */
#define HLC_MARK_FILE "pg_locality_hlc"
#define HLC_MARK_WINDOW_MS 1000

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

/* The mark on disk; 0 when there is none yet (a new data directory). */
static uint64
ReadMark(void)
{
	FILE	   *file = AllocateFile(HLC_MARK_FILE, "r");
	char		buf[32];
	char	   *end;
	uint64		mark;

	if (file == NULL)
	{
		if (errno == ENOENT)
			return 0;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", HLC_MARK_FILE)));
	}
	if (fgets(buf, sizeof(buf), file) == NULL)
		buf[0] = '\0';
	FreeFile(file);
	errno = 0;
	mark = strtou64(buf, &end, 10);
	if (errno != 0 || end == buf || (*end != '\n' && *end != '\0'))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("file \"%s\" does not hold a clock mark", HLC_MARK_FILE),
				 errdetail("It holds \"%s\".", buf),
				 errhint("It keeps this server's hybrid logical clock above the stamps it "
						 "handed out before a restart; rewrite it with a value at least "
						 "locality.hlc_now() of every database plus a second.")));
	return mark;
}

/* Replaces the mark on disk, durably (written, synced, renamed into place). */
static void
WriteMark(uint64 mark)
{
	const char *tmp = HLC_MARK_FILE ".tmp";
	char		buf[32];
	int			len = snprintf(buf, sizeof(buf), UINT64_FORMAT "\n", mark);
	int			fd = OpenTransientFile(tmp, O_CREAT | O_WRONLY | O_TRUNC | PG_BINARY);

	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", tmp)));
	errno = 0;
	if (write(fd, buf, len) != len)
	{
		if (errno == 0)
			errno = ENOSPC;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", tmp)));
	}
	if (CloseTransientFile(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", tmp)));
	(void) durable_rename(tmp, HLC_MARK_FILE, ERROR);
}

/* First use since the server started: the clock starts at the mark. */
static void
Restore(void)
{
	uint64		mark;

	if (Hlc->restored)
		return;
	mark = ReadMark();
	locality_hlc_restore(&Hlc->clock, mark);
	Hlc->reserved = mark;
	Hlc->restored = true;
}

/* The clock moves to next, once the mark on disk covers it. */
static void
Advance(LocalityHlc next)
{
	uint64		mark = locality_hlc_reservation(next.last, Hlc->reserved, HLC_MARK_WINDOW_MS);

	if (mark != 0)
	{
		WriteMark(mark);
		Hlc->reserved = mark;
	}
	Hlc->clock = next;
}

/* now(): a stamp for a local commit. */
uint64
LocalityHlcNow(void)
{
	LocalityStatus status;
	LocalityHlc next;
	uint64		stamp = 0;

	CheckClock();
	LocalityInitStatus(&status);
	LWLockAcquire(Hlc->lock, LW_EXCLUSIVE);
	Restore();
	next = Hlc->clock;
	if (!locality_hlc_now(&next, PhysicalMs(), &stamp, &status))
	{
		LWLockRelease(Hlc->lock);
		LocalityRaiseStatus(&status, NULL);
	}
	Advance(next);
	LWLockRelease(Hlc->lock);
	return stamp;
}

void
LocalityHlcObserve(uint64 hlc)
{
	LocalityStatus status;
	LocalityHlc next;

	if (hlc == 0)
		return;
	CheckClock();
	LocalityInitStatus(&status);
	LWLockAcquire(Hlc->lock, LW_EXCLUSIVE);
	Restore();
	next = Hlc->clock;
	if (!locality_hlc_update(&next, hlc, PhysicalMs(), (uint64) LocalityMaxClockSkew,
							 NULL, &status))
	{
		LWLockRelease(Hlc->lock);
		LocalityRaiseStatus(&status, NULL);
	}
	Advance(next);
	LWLockRelease(Hlc->lock);
}

/*
 * LocalityHlcCommit: the clock's part of a local commit (the rule is
 * locality_hlc_commit's): *derived when the commit's stamp is the one its
 * commit timestamp gives (at least the value returned), else a stamp from
 * now() to be stored.  For a derived stamp the mark on disk also covers
 * HLC_DERIVED_MARGIN_MS beyond the reading: the commit timestamp is taken a
 * little later, and LocalityHlcWitness, at commit, cannot write a file.
 */
#define HLC_DERIVED_MARGIN_MS 100
uint64
LocalityHlcCommit(bool *derived)
{
	LocalityStatus status;
	LocalityHlc next;
	uint64		stamp = 0;
	int			is_derived = 0;

	CheckClock();
	LocalityInitStatus(&status);
	LWLockAcquire(Hlc->lock, LW_EXCLUSIVE);
	Restore();
	next = Hlc->clock;
	if (!locality_hlc_commit(&next, PhysicalMs(), &stamp, &is_derived, &status))
	{
		LWLockRelease(Hlc->lock);
		LocalityRaiseStatus(&status, NULL);
	}
	if (is_derived)
	{
		uint64		mark = locality_hlc_reservation(stamp + ((uint64) HLC_DERIVED_MARGIN_MS << LOCALITY_HLC_LOGICAL_BITS),
													Hlc->reserved, HLC_MARK_WINDOW_MS);

		if (mark != 0)
		{
			WriteMark(mark);
			Hlc->reserved = mark;
		}
	}
	Advance(next);
	LWLockRelease(Hlc->lock);
	*derived = is_derived != 0;
	return stamp;
}

/*
 * LocalityHlcWitness: the clock passes hlc (a derived stamp, at commit);
 * never fails and writes nothing (LocalityHlcCommit reserved the mark).
 */
void
LocalityHlcWitness(uint64 hlc)
{
	if (Hlc == NULL)
		return;
	LWLockAcquire(Hlc->lock, LW_EXCLUSIVE);
	locality_hlc_witness(&Hlc->clock, hlc);
	LWLockRelease(Hlc->lock);
}

PG_FUNCTION_INFO_V1(locality_hlc_current);

/* locality.hlc_now(): the last stamp of this server's clock. */
Datum
locality_hlc_current(PG_FUNCTION_ARGS)
{
	uint64		last;

	CheckClock();
	LWLockAcquire(Hlc->lock, LW_EXCLUSIVE);
	Restore();
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
