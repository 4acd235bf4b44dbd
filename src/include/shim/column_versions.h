/*
 * column_versions.h -- per-column writers of rows of GLOBAL tables in
 * last_write_wins_column mode (src/shim/column_versions.c).
 */
#ifndef LOCALITY_SHIM_COLUMN_VERSIONS_H
#define LOCALITY_SHIM_COLUMN_VERSIONS_H

#include "postgres.h"

#include "executor/tuptable.h"
#include "utils/relcache.h"

#include "locality_core.h"

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
/*
 * LocalityColumnXids: per column of the row version in slot (key in rel),
 * the full id of the transaction that last wrote it (xids[natts]).
 */
extern void LocalityColumnXids(Relation rel, const char *key, TupleTableSlot *slot, int64 *xids);
/* The current transaction's full transaction id (assigning one). */
extern int64 LocalityCurrentFullXid(void);

#endif							/* LOCALITY_SHIM_COLUMN_VERSIONS_H */
