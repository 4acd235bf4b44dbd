/*
 * stamps.h -- the commit stamps of GLOBAL tables' writes and the stamp of a
 * row version (src/shim/stamps.c), for the output plugin, the apply worker
 * and the other pieces of causal last-write-wins.
 */
#ifndef LOCALITY_SHIM_STAMPS_H
#define LOCALITY_SHIM_STAMPS_H

#include "postgres.h"

#include "access/xlogdefs.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "replication/origin.h"
#include "utils/relcache.h"

#include "locality_core.h"

/* Settings, the clock, transaction callback (from _PG_init). */
extern void LocalityInitStamps(void);

/* The current transaction wrote a GLOBAL table: stamp it at pre-commit. */
extern void LocalityMarkGlobalWrite(void);

/* The full transaction id of xid, a recent one (not older than 2^31). */
extern int64 LocalityFullXid(TransactionId xid);

/*
 * The stamp of a full transaction id: stored in commit_stamps, else derived
 * from its commit timestamp and origin; false if neither (in progress,
 * aborted, or older than both).
 */
extern bool LocalityFindStampByFullXid(int64 xid, LocalityHlcStamp *stamp);

/* The stamp stored in commit_stamps for a full transaction id; false if none (derived). */
extern bool LocalityFindStoredStamp(int64 xid, LocalityHlcStamp *stamp);

/*
 * LocalityStoreStamp: the current transaction keeps rows keyed by its id
 * (a tombstone, column versions, a kept row stamp): its stamp is stored,
 * not derived, so that cleanup ages them out together.
 */
extern void LocalityStoreStamp(void);

/* The oid of the extension's table locality.name, InvalidOid if absent. */
extern Oid	LocalityExtensionTableOid(const char *name);

/*
 * LocalityExecuteSaved runs sql (every object schema-qualified) with a plan
 * prepared once per backend into *plan, as the owner of the extension's
 * tables: the per-row writes of triggers and apply must not re-plan.
 */
extern void LocalityExecuteSaved(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes,
								 Datum *values, const char *nulls);

/*
 * LocalityStampApplied: the current (apply) transaction wrote a GLOBAL
 * table with a change stamped stamp; it is recorded at commit as the stamp
 * of the row versions it wrote.
 */
extern void LocalityStampApplied(LocalityHlcStamp stamp);

/* The stamp of transaction xid (top or sub), stored or derived; false if none. */
extern bool LocalityFindStamp(TransactionId xid, LocalityHlcStamp *stamp);

/*
 * LocalityRowStamp: the stamp of the local row version in slot (of rel):
 * the one kept for it by LocalityKeepRowStamp (global tables), else its
 * writer's stored stamp, else its commit timestamp and origin region (a
 * derived stamp, or a row older than the stamps kept, or of a table that
 * is not GLOBAL).
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

/* The region id of the writer of a row version by its replication origin. */
extern int16 LocalityRegionOfOrigin(RepOriginId origin);

/* The stamp of a (full) transaction id: stored, else by commit time and origin, else 0. */
extern LocalityHlcStamp LocalityStampOfFullXid(int64 xid);

/* Deletes stamps and tombstones older than locality.stamp_retention. */
extern void LocalityCleanupConflictState(void);

#endif							/* LOCALITY_SHIM_STAMPS_H */
