/*
 * initial_sync.h -- copying the rows a source region owns, consistent with
 * the replication stream (src/shim/initial_sync.c), for the apply worker.
 */
#ifndef LOCALITY_SHIM_INITIAL_SYNC_H
#define LOCALITY_SHIM_INITIAL_SYNC_H

#include "postgres.h"

#include "access/xlogdefs.h"
#include "shim/catalog.h"
#include "shim/replication.h"

extern void LocalitySyncInit(const LocalityRegion *source, const char *user, ApplySlot *slot);
extern void LocalitySyncAtSlotCreation(const char *snapshot, XLogRecPtr lsn);
extern void LocalitySyncPending(void);
extern bool LocalitySyncSkip(Oid relid, XLogRecPtr commit_lsn);

/*
 * A copy never waits for a lock (it could be waiting across regions on a
 * schema change that waits for it): it gives way with 55P03, and a change
 * to a table not copied yet asks for the copy first.  For such an error
 * LocalitySyncRetryDelay returns the backoff in ms before streaming again
 * (-1 for other errors); after aborting, call LocalitySyncAfterRetry.
 */
extern int	LocalitySyncRetryDelay(const ErrorData *edata);
extern void LocalitySyncAfterRetry(void);

#endif							/* LOCALITY_SHIM_INITIAL_SYNC_H */
