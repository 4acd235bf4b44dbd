/*
 * replication.h -- the replication data plane's shared state: one apply
 * worker per (database, remote region), their slots in shared memory, and
 * the entry points of the launcher, the per-database manager and the apply
 * worker (src/shim/launcher.c, manager.c, apply_worker.c).
 */
#ifndef LOCALITY_SHIM_REPLICATION_H
#define LOCALITY_SHIM_REPLICATION_H

#include "postgres.h"

#include "access/xlogdefs.h"
#include "datatype/timestamp.h"
#include "postmaster/bgworker.h"
#include "storage/lwlock.h"

#include "locality_core.h"

#define LOCALITY_MAX_APPLY_WORKERS 64
#define LOCALITY_ERROR_LEN 512

/* What an apply worker is doing (locality.replication_status.state). */
typedef enum ApplyState
{
	APPLY_STOPPED = 0,
	APPLY_STARTING,
	APPLY_SYNCING,				/* initial copy of tables */
	APPLY_STREAMING,
	APPLY_PAUSED,
	APPLY_ERROR					/* waiting to retry after an error */
} ApplyState;

/* One (database, source region) pair: protected by LocalityReplicationLock. */
typedef struct ApplySlot
{
	bool		in_use;
	Oid			dboid;
	int16		region_id;
	char		region[LOCALITY_REGION_NAME_MAX + 1];
	pid_t		pid;
	struct Latch *latch;		/* the worker's, to wake it on resume */
	ApplyState	state;
	bool		paused;			/* locality.pause_replication() */
	XLogRecPtr	received_lsn;
	XLogRecPtr	applied_lsn;	/* committed locally (replication origin) */
	XLogRecPtr	source_lsn;		/* source's sent position, from its keepalives */
	XLogRecPtr	processed_lsn;	/* everything the source sent up to here is
								 * applied (or had nothing for us) */
	TimestampTz last_commit_time;	/* source commit time of the last applied txn */
	TimestampTz last_message_at;
	TimestampTz caught_up_at;	/* last time everything sent was applied */
	char		last_error[LOCALITY_ERROR_LEN];
	TimestampTz last_error_at;
	int			failures;		/* consecutive, for the retry backoff */
	char		sync_table[2 * NAMEDATALEN + 8];	/* table being copied, or "" */
	int64		sync_rows_copied;
	int64		sync_rows_estimate;
	TimestampTz retry_after;
	bool		reply_wanted;	/* a waiter wants processed_lsn brought up to
								 * date: ask the source for a keepalive now */
	XLogRecPtr	ungrouped_before;	/* an apply error's source position:
									 * no grouped commits before it */
} ApplySlot;

typedef struct LocalityReplicationShared
{
	LWLock	   *lock;
	struct Latch *launcher_latch;	/* set to wake the launcher */
	bool		launcher_woken;
	ApplySlot	slots[LOCALITY_MAX_APPLY_WORKERS];
} LocalityReplicationShared;

extern LocalityReplicationShared *LocalityReplication;

/* replication_shmem.c */
extern void LocalityReplicationShmemRequest(void);
extern void LocalityReplicationShmemInit(void);
extern ApplySlot *LocalityFindApplySlot(Oid dboid, int16 region_id);

/*
 * LocalityRequestKeepalive asks the apply worker of region (this database)
 * to ask its source for a keepalive at once, so that processed_lsn catches
 * up with the source's sent position without waiting for the next periodic
 * status update.  For waiters on LocalityProcessedLsn.
 */
extern void LocalityRequestKeepalive(int16 region_id);

/*
 * LOCALITY_WAL_END_SQL: SQL (a scalar expression) for the end of the WAL a
 * source has written, as a position its walsender reaches once it has
 * decoded everything (at a page boundary the page's start, not past the
 * next page's header), with the WAL flushed up to it so that the walsender
 * can decode it now, not at the walwriter's next round (asynchronous
 * commits, such as every applied transaction's).  See locality_wal_end()
 * in replication_control.c.
 */
#define LOCALITY_WAL_END_SQL "locality._wal_end()"

extern XLogRecPtr LocalityProcessedLsn(int16 region_id);

/* launcher.c: the static worker starting a manager per database */
extern int	LocalityMaintenanceNaptimeMs;
extern void LocalityRegisterLauncher(void);
extern void LocalityWakeLauncher(void);
extern void LocalityWakeLauncherAtCommit(void);
extern bool LocalityStartWorker(const char *function, const char *name, const char *type,
								Datum arg, BackgroundWorkerHandle **handle);


/* apply_worker.c */
extern void LocalityApplyRecordCommit(XLogRecPtr local_end, XLogRecPtr source_end,
									  TimestampTz source_commit_time);

/* Replication origin / slot names for a source region. */
extern void LocalityOriginName(const char *region, char *out, size_t size);
extern void LocalitySlotName(int16 target_region_id, Oid target_dboid, char *out,
							 size_t size);

#endif							/* LOCALITY_SHIM_REPLICATION_H */
