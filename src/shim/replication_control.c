/*
 * replication_control.c -- the SQL face of replication (SPEC.md section 6):
 * locality.replication_status, pause_replication, resume_replication and
 * wait_for_replication, all reading or writing the apply slots in shared
 * memory (replication.h).
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

#include "shim.h"
#include "shim/catalog.h"
#include "shim/remote.h"
#include "shim/replication.h"

static const char *
StateName(ApplyState state)
{
	switch (state)
	{
		case APPLY_STOPPED:
			return "stopped";
		case APPLY_STARTING:
			return "starting";
		case APPLY_SYNCING:
			return "syncing";
		case APPLY_STREAMING:
			return "streaming";
		case APPLY_PAUSED:
			return "paused";
		case APPLY_ERROR:
			return "error";
	}
	return "unknown";
}

PG_FUNCTION_INFO_V1(locality_replication_status);

/*
 * locality_replication_status returns one row per source region applied in
 * this database (the view locality.replication_status).
 */
Datum
locality_replication_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const char *local = LocalityGatewayRegion();
	TimestampTz now = GetCurrentTimestamp();
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < LOCALITY_MAX_APPLY_WORKERS; i++)
	{
		ApplySlot	copy;
		Datum		values[9];
		bool		nulls[9];
		bool		behind;

		LWLockAcquire(LocalityReplication->lock, LW_SHARED);
		copy = LocalityReplication->slots[i];
		LWLockRelease(LocalityReplication->lock);
		if (!copy.in_use || copy.dboid != MyDatabaseId)
			continue;

		memset(nulls, 0, sizeof(nulls));
		values[0] = CStringGetTextDatum(copy.region);
		values[1] = CStringGetTextDatum(local);
		values[2] = CStringGetTextDatum(copy.paused ? "paused" : StateName(copy.state));
		values[3] = LSNGetDatum(copy.received_lsn);
		values[4] = LSNGetDatum(copy.applied_lsn);
		behind = copy.source_lsn > copy.processed_lsn;
		values[5] = Int64GetDatum(behind ? (int64) (copy.source_lsn - copy.processed_lsn) : 0);
		/* Lag: how old the last applied source commit is, while behind. */
		if (behind && copy.last_commit_time != 0)
			values[6] = IntervalPGetDatum(DatumGetIntervalP(
				DirectFunctionCall2(timestamp_mi, TimestampTzGetDatum(now),
									TimestampTzGetDatum(copy.last_commit_time))));
		else
			values[6] = IntervalPGetDatum(DatumGetIntervalP(
				DirectFunctionCall2(timestamp_mi, TimestampTzGetDatum(now),
									TimestampTzGetDatum(now))));
		if (copy.last_commit_time != 0)
			values[7] = TimestampTzGetDatum(copy.last_commit_time);
		else
			nulls[7] = true;
		if (copy.last_error[0] != '\0')
			values[8] = CStringGetTextDatum(copy.last_error);
		else
			nulls[8] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * SetPaused marks source's apply slot in this database paused or not,
 * creating the slot when the manager has not yet.
 */
static void
SetPaused(const char *source, bool paused)
{
	const LocalityRegion *region = LocalityLookupRegion(source);
	ApplySlot  *slot;
	int			i;

	LocalityCheckRegionAdmin();
	if (region->is_local)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("region \"%s\" is this server's own region", source),
				 errhint("Name the region whose changes should %s being applied here.",
						 paused ? "stop" : "resume")));

	LWLockAcquire(LocalityReplication->lock, LW_EXCLUSIVE);
	slot = LocalityFindApplySlot(MyDatabaseId, region->id);
	for (i = 0; slot == NULL && i < LOCALITY_MAX_APPLY_WORKERS; i++)
	{
		if (!LocalityReplication->slots[i].in_use)
		{
			slot = &LocalityReplication->slots[i];
			memset(slot, 0, sizeof(*slot));
			slot->in_use = true;
			slot->dboid = MyDatabaseId;
			slot->region_id = region->id;
			strlcpy(slot->region, region->name, sizeof(slot->region));
		}
	}
	if (slot != NULL)
	{
		slot->paused = paused;
		if (!paused)
		{
			slot->retry_after = 0;
			slot->failures = 0;
		}
		if (slot->latch != NULL)
			SetLatch(slot->latch);
	}
	LWLockRelease(LocalityReplication->lock);
	if (slot == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many replication streams")));
}

PG_FUNCTION_INFO_V1(locality_pause_replication);
PG_FUNCTION_INFO_V1(locality_resume_replication);

/* locality.pause_replication(source): stop applying (changes are kept). */
Datum
locality_pause_replication(PG_FUNCTION_ARGS)
{
	SetPaused(text_to_cstring(PG_GETARG_TEXT_PP(0)), true);
	PG_RETURN_VOID();
}

/* locality.resume_replication(source). */
Datum
locality_resume_replication(PG_FUNCTION_ARGS)
{
	SetPaused(text_to_cstring(PG_GETARG_TEXT_PP(0)), false);
	PG_RETURN_VOID();
}

/*
 * locality._wal_end(): the end of the WAL this server has generated, as a
 * position a logical stream that decoded everything reaches, after
 * flushing the WAL up to it (LOCALITY_WAL_END_SQL, run by other regions'
 * waiters: read-your-writes, wait_for_replication, rehoming).
 *
 * pg_current_wal_insert_lsn() is where the next record will start: on a
 * page nothing is written on yet, past the page's header (24 bytes, 40 on
 * a segment's first page), while the stream stops at the page's start;
 * that is the position returned then.
 *
 * The flush: a walsender decodes flushed WAL only, and what precedes the
 * position is often an asynchronous commit (this server's apply workers
 * commit with synchronous_commit = off, as PostgreSQL's own apply does; so
 * may local sessions), which the walwriter flushes only at its next round,
 * up to wal_writer_delay (200 ms) later: waiters took 100 ms on average on
 * an idle cluster.  XLogFlush wakes the walsenders at once; it costs
 * nothing when the WAL is flushed already.
 */
PG_FUNCTION_INFO_V1(locality_wal_end);

Datum
locality_wal_end(PG_FUNCTION_ARGS)
{
	XLogRecPtr	end;

	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("recovery is in progress"),
				 errhint("WAL control functions cannot be executed during recovery.")));
	end = GetXLogInsertRecPtr();
	if (XLogSegmentOffset(end, wal_segment_size) == SizeOfXLogLongPHD)
		end -= SizeOfXLogLongPHD;
	else if (end % XLOG_BLCKSZ == SizeOfXLogShortPHD)
		end -= SizeOfXLogShortPHD;
	XLogFlush(end);
	PG_RETURN_LSN(end);
}

/*
 * SourcePosition: the end of the WAL region has written (everything
 * committed there is before it), as a position its stream reaches
 * (LOCALITY_WAL_END_SQL).
 */
static XLogRecPtr
SourcePosition(const LocalityRegion *region)
{
	PGconn	   *conn = LocalityRemoteConnection(region);
	PGresult   *res = LocalityRemoteExec(conn, "SELECT " LOCALITY_WAL_END_SQL, region->name);
	XLogRecPtr	lsn = DatumGetLSN(DirectFunctionCall1(pg_lsn_in,
													  CStringGetDatum(PQgetvalue(res, 0, 0))));

	PQclear(res);
	return lsn;
}

/*
 * SyncPending: true while a managed table has not been copied from source
 * yet (its rows committed there before it became managed are not here).
 */
static bool
SyncPending(const char *source)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	bool		pending;

	values[0] = CStringGetTextDatum(source);
	SPI_connect();
	pending = LocalityCatalogExecute("SELECT 1 FROM locality.table_catalog t "
									 "WHERE NOT EXISTS (SELECT 1 FROM locality.sync_state s "
									 "WHERE s.relid = t.relid AND s.source_region = $1) LIMIT 1",
									 1, argtypes, values, NULL) > 0;
	SPI_finish();
	return pending;
}

PG_FUNCTION_INFO_V1(locality_wait_for_replication);

/*
 * locality_wait_for_replication is locality.wait_for_replication(source,
 * timeout): true once this database has applied everything the source (or
 * every other region, when source is NULL) had committed when it was called.
 */
Datum
locality_wait_for_replication(PG_FUNCTION_ARGS)
{
	Interval   *timeout = PG_ARGISNULL(1) ? NULL : PG_GETARG_INTERVAL_P(1);
	int			count;
	const LocalityRegion *regions = LocalityRegions(&count);
	LocalityRegion *sources = palloc(sizeof(LocalityRegion) * Max(count, 1));
	XLogRecPtr *targets = palloc(sizeof(XLogRecPtr) * Max(count, 1));
	int			nsources = 0;
	TimestampTz deadline;
	TimestampTz last_request = 0;
	int			i;

	if (!PG_ARGISNULL(0))
	{
		const LocalityRegion *r = LocalityLookupRegion(text_to_cstring(PG_GETARG_TEXT_PP(0)));

		sources[nsources] = *r;
		sources[nsources++].conninfo = pstrdup(r->conninfo);
	}
	else
	{
		for (i = 0; i < count; i++)
		{
			if (regions[i].is_local)
				continue;
			sources[nsources] = regions[i];
			sources[nsources++].conninfo = pstrdup(regions[i].conninfo);
		}
	}

	for (i = 0; i < nsources; i++)
		targets[i] = sources[i].is_local ? InvalidXLogRecPtr : SourcePosition(&sources[i]);

	deadline = GetCurrentTimestamp();
	if (timeout != NULL)
		deadline = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
														   TimestampTzGetDatum(deadline),
														   IntervalPGetDatum(timeout)));
	for (;;)
	{
		bool		done = true;

		for (i = 0; i < nsources && done; i++)
		{
			if (!sources[i].is_local &&
				(LocalityProcessedLsn(sources[i].id) < targets[i] || SyncPending(sources[i].name)))
				done = false;
		}
		if (done)
			PG_RETURN_BOOL(true);
		if (GetCurrentTimestamp() >= deadline)
			PG_RETURN_BOOL(false);
		/* Not there yet: have the stream's position brought up to date now. */
		if (TimestampDifferenceExceeds(last_request, GetCurrentTimestamp(), 20))
		{
			for (i = 0; i < nsources; i++)
			{
				if (!sources[i].is_local && LocalityProcessedLsn(sources[i].id) < targets[i])
					LocalityRequestKeepalive(sources[i].id);
			}
			last_request = GetCurrentTimestamp();
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

PG_FUNCTION_INFO_V1(locality_sync_progress_live);

/*
 * locality_sync_progress_live returns the tables being copied right now
 * (the 'copying' rows of locality.sync_progress).
 */
Datum
locality_sync_progress_live(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < LOCALITY_MAX_APPLY_WORKERS; i++)
	{
		ApplySlot	copy;
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		LWLockAcquire(LocalityReplication->lock, LW_SHARED);
		copy = LocalityReplication->slots[i];
		LWLockRelease(LocalityReplication->lock);
		if (!copy.in_use || copy.dboid != MyDatabaseId || copy.sync_table[0] == '\0')
			continue;
		values[0] = CStringGetTextDatum(copy.sync_table);
		values[1] = CStringGetTextDatum(copy.region);
		values[2] = Int64GetDatum(copy.sync_rows_copied);
		values[3] = Int64GetDatum(copy.sync_rows_estimate);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
