/*
 * stamps.h -- this server's hybrid logical clock and the stamps and
 * tombstones of GLOBAL tables' rows (src/shim/stamps.c), for the output
 * plugin and the apply worker.
 */
#ifndef LOCALITY_SHIM_STAMPS_H
#define LOCALITY_SHIM_STAMPS_H

#include "postgres.h"

#include "access/xlogdefs.h"
#include "executor/tuptable.h"
#include "utils/relcache.h"

#include "locality_core.h"

/* GUC locality.max_clock_skew, milliseconds. */
extern int	LocalityMaxClockSkew;

/* Settings, shared memory, transaction callback (from _PG_init). */
extern void LocalityInitStamps(void);

/*
 * LocalityHlcObserve: the apply worker's clock update before applying a
 * remote transaction stamped hlc (0: unstamped, ignored); 55000 when hlc is
 * more than locality.max_clock_skew ahead of this server's clock.
 */
extern void LocalityHlcObserve(uint64 hlc);

/*
 * LocalityStampApplied: the current (apply) transaction wrote a GLOBAL
 * table with a change stamped stamp; it is recorded at commit as the stamp
 * of the row versions it wrote.
 */
extern void LocalityStampApplied(LocalityHlcStamp stamp);

/* The stamp recorded for transaction xid (top or sub); false if none. */
extern bool LocalityFindStamp(TransactionId xid, LocalityHlcStamp *stamp);

/*
 * LocalityRowStamp: the stamp of the local row version in slot (of rel):
 * the one kept for it by LocalityKeepRowStamp (global tables), else its
 * writer's recorded stamp, else (row older than the stamps kept, or of a
 * table that is not GLOBAL) its commit timestamp and origin region.
 */
extern LocalityHlcStamp LocalityRowStamp(Relation rel, TupleTableSlot *slot, bool global);

/*
 * LocalityKeepRowStamp: the row version of key that the current (apply)
 * transaction writes keeps stamp, not the transaction's: a remote write
 * that lost but changed merged columns must not make the row look older.
 */
extern void LocalityKeepRowStamp(Relation rel, const char *key, LocalityHlcStamp stamp);

/* A stamp from a commit time (ms in the physical part) and a region. */
extern LocalityHlcStamp LocalityStampFromTime(TimestampTz ts, int16 region_id);

/* The key of the row in slot (rel's replica identity), as tombstones store it. */
extern char *LocalityRowKey(Relation rel, TupleTableSlot *slot);

/*
 * LocalityFindTombstone: the stamp of the tombstone of key in rel; false
 * when there is none.  In last_write_wins_column mode *values (text forms
 * by attnum - 1, NULL entries for NULL) and *xids (column writers) are the
 * deleted row's, when kept; else both are set to NULL.
 */
extern bool LocalityFindTombstone(Relation rel, const char *key, LocalityHlcStamp *stamp,
								  char ***values, int64 **xids);

/*
 * LocalityRecordTombstone: key of rel was deleted by the current
 * transaction (its stamp is recorded at commit); replaces an older one.
 * deleted: the row deleted (NULL when it was not here), whose columns a
 * tombstone of a table in last_write_wins_column mode keeps.
 */
extern void LocalityRecordTombstone(Relation rel, const char *key, TupleTableSlot *deleted);

/*
 * LocalityMergeIntoTombstone: column mode, a write that lost against the
 * tombstone of key in rel (earlier than the delete) still won some of the
 * columns the tombstone keeps: values[natts] (text, NULL for null) and
 * their writers xids[natts] replace the kept ones; the delete stays.
 */
extern void LocalityMergeIntoTombstone(Relation rel, const char *key, char **values,
									   const int64 *xids);

/* The region id of the writer of a row version by its replication origin. */
extern int16 LocalityRegionOfOrigin(RepOriginId origin);

/*
 * LocalitySetGlobalTriggers creates (global) or drops the internal
 * triggers that stamp writes to relid and record its tombstones.
 */
extern void LocalitySetGlobalTriggers(Oid relid, bool global);

/*
 * last_write_wins_column.  LocalityColumnStamps: per column of the local
 * row version in local, the stamp of its last write (stamps[natts]) and
 * that writer's full transaction id (xids[natts]); row_stamp is the
 * version's own.  LocalityRecordColumnVersions: the version of key the
 * current transaction writes has columns last written by xids[natts].
 * LocalityColumnsWrittenBy (output plugin): which columns of the row in
 * slot transaction xid wrote; false when it kept no versions for it.
 */
extern void LocalityColumnStamps(Relation rel, TupleTableSlot *local, LocalityHlcStamp row_stamp,
								 LocalityHlcStamp *stamps, int64 *xids);
extern void LocalityRecordColumnVersions(Relation rel, const char *key, const int64 *xids);
extern bool LocalityColumnsWrittenBy(Relation rel, TupleTableSlot *slot, TransactionId xid,
									 bool *written);
/* The stamp of a (full) transaction id: recorded, else by commit time, else 0. */
extern LocalityHlcStamp LocalityStampOfFullXid(int64 xid);
/* The current transaction's full transaction id (assigning one). */
extern int64 LocalityCurrentFullXid(void);

/* Deletes stamps and tombstones older than locality.stamp_retention. */
extern void LocalityCleanupConflictState(void);

#endif							/* LOCALITY_SHIM_STAMPS_H */
