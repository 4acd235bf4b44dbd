/*
 * restore.h -- managed tables coming back from pg_dump (src/shim/restore.c).
 */
#ifndef LOCALITY_SHIM_RESTORE_H
#define LOCALITY_SHIM_RESTORE_H

#include "postgres.h"

/*
 * True when managed table relid lacks the internal triggers its locality
 * needs: it was restored from a dump (pg_dump leaves internal triggers out)
 * and its restore has not been finished.
 */
extern bool LocalityTableAwaitsRestore(Oid relid);

/* Gives restored managed table relid its internal triggers. */
extern void LocalityFinishTableRestore(Oid relid);

/*
 * Refuses DROP EXTENSION pg_locality while this database has distributed
 * transactions in flight (prepared here, or decided here and not finished
 * elsewhere).
 */
extern void LocalityCheckExtensionDrop(void);

#endif							/* LOCALITY_SHIM_RESTORE_H */
