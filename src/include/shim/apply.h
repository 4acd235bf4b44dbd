/*
 * apply.h -- applying a source region's decoded stream (src/shim/apply.c),
 * called by the apply worker (src/shim/apply_worker.c).
 */
#ifndef LOCALITY_SHIM_APPLY_H
#define LOCALITY_SHIM_APPLY_H

#include "postgres.h"

#include "shim/catalog.h"

/* What to do with a conflicting change (ResolveConflict in apply.c). */
typedef enum ConflictResolution
{
	CONFLICT_APPLY_REMOTE,
	CONFLICT_KEEP_LOCAL
} ConflictResolution;

/* Prepares applying source's stream (once per worker). */
extern void LocalityApplyInit(const LocalityRegion *source);

/* Decodes and applies one message (a CopyData payload after its header). */
extern void LocalityApplyMessage(const char *data, size_t len);

#endif							/* LOCALITY_SHIM_APPLY_H */
