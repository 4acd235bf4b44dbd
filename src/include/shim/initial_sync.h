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

#endif							/* LOCALITY_SHIM_INITIAL_SYNC_H */
