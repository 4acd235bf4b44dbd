/*
 * apply.h -- applying a source region's decoded stream (src/shim/apply.c),
 * called by the apply worker (src/shim/apply_worker.c).
 */
#ifndef LOCALITY_SHIM_APPLY_H
#define LOCALITY_SHIM_APPLY_H

#include "postgres.h"

#include "shim/catalog.h"

/* Prepares applying source's stream (once per worker). */
extern void LocalityApplyInit(const LocalityRegion *source);

/* Defines locality.apply_group_size (from _PG_init). */
extern void LocalityInitApply(void);

/* Decodes and applies one message (a CopyData payload after its header). */
extern void LocalityApplyMessage(const char *data, size_t len);

/*
 * Commits the source transactions applied and left open for a group, if
 * any; the worker calls it before waiting, reporting or anything else.
 */
extern void LocalityApplyCommitGroup(void);

/* After an apply error: its source position, and no grouping before it. */
extern XLogRecPtr LocalityApplyFailingLsn(void);
extern void LocalityApplyUngroupedBefore(XLogRecPtr lsn);

/*
 * Initial sync (initial_sync.c) feeds copied rows through the same path as
 * streamed INSERTs: define the columns of relation key, then insert rows of
 * text values (NULL for SQL NULL).
 */
extern void LocalityApplyDefineRelation(uint32 key, const char *schema, const char *table,
										int natts, char **attnames);
extern void LocalityApplyInsertRow(uint32 key, int natts, const char **values);
/* Ends the relations' open changes before the caller commits. */
extern void LocalityApplyFinish(void);

#endif							/* LOCALITY_SHIM_APPLY_H */
