/*
 * tombstones.h -- the tombstones of deleted rows of GLOBAL tables
 * (src/shim/tombstones.c).
 */
#ifndef LOCALITY_SHIM_TOMBSTONES_H
#define LOCALITY_SHIM_TOMBSTONES_H

#include "postgres.h"

#include "executor/tuptable.h"
#include "utils/relcache.h"

#include "locality_core.h"

/*
 * LocalityFindTombstone: the stamp of the tombstone of key in rel; false
 * when there is none.  In last_write_wins_column mode *values (text forms
 * by attnum - 1, NULL entries for NULL) and *xids (column writers) are the
 * deleted row's, when kept; else both are set to NULL.
 */
extern bool LocalityFindTombstone(Relation rel, const char *key, LocalityHlcStamp *stamp,
								  char ***values, int64 **xids);

/*
 * LocalityRelationHasTombstones: whether rel has a tombstone (of any key),
 * committed or being written by a transaction in progress (a dirty
 * snapshot); a tombstone whose stamp is gone counts too
 * (LocalityFindTombstone decides for its key).
 */
extern bool LocalityRelationHasTombstones(Relation rel);

/*
 * LocalityAwaitTombstone: whether key of rel has a tombstone, committed or
 * written by this transaction, after waiting for every other transaction
 * in progress that is inserting one (docs/conflicts.md section 8, the key
 * race).  True only says there is one: LocalityFindTombstone, under a
 * snapshot taken after this call, gives its stamp.
 */
extern bool LocalityAwaitTombstone(Relation rel, const char *key);

/*
 * LocalityRecordTombstone: key of rel was deleted by the current
 * transaction (its stamp is recorded at commit); replaces an older one.
 * deleted: the row deleted (NULL when it was not here), whose columns a
 * tombstone of a table in last_write_wins_column mode keeps.  crdt: the
 * key's CRDT state after the delete, by attnum - 1 (NULL entries for other
 * columns), or NULL to keep what an older tombstone kept.
 */
extern void LocalityRecordTombstone(Relation rel, const char *key, TupleTableSlot *deleted,
									bytea **crdt);

/*
 * LocalityTombstoneCrdt: the CRDT state kept by the tombstone of key in
 * rel, by attnum - 1 (NULL entries for other columns); NULL when there is
 * no tombstone or it keeps none.  Read under the active snapshot.
 */
extern bytea **LocalityTombstoneCrdt(Relation rel, const char *key);

/*
 * LocalitySetTombstoneCrdt: replaces the CRDT state the tombstone of key
 * keeps (a write merged into it, the delete stays).
 */
extern void LocalitySetTombstoneCrdt(Relation rel, const char *key, bytea **crdt);

/*
 * LocalityMergeIntoTombstone: column mode, a write that lost against the
 * tombstone of key in rel (earlier than the delete) still won some of the
 * columns the tombstone keeps: values[natts] (text, NULL for null) and
 * their writers xids[natts] replace the kept ones; the delete stays.
 */
extern void LocalityMergeIntoTombstone(Relation rel, const char *key, char **values,
									   const int64 *xids);

/*
 * LocalityLockTombstone: locks the row of the tombstone of key in rel (if
 * any) until the end of the transaction, waiting for its writers: a key
 * lock for the apply workers' decisions on a key whose row is absent.
 */
extern void LocalityLockTombstone(Relation rel, const char *key);

#endif							/* LOCALITY_SHIM_TOMBSTONES_H */
