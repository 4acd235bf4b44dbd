/*
 * crdt.h -- the CRDT column types locality.gcounter, locality.pncounter and
 * locality.orset (src/shim/crdt_types.c, 080_crdt_types.sql).
 */
#ifndef LOCALITY_SHIM_CRDT_H
#define LOCALITY_SHIM_CRDT_H

#include "postgres.h"

#include "access/tupdesc.h"
#include "executor/tuptable.h"

#include "locality_core.h"

/*
 * LocalityCrdtMerge: the join of two values of kind (LocalityCrdtKind),
 * palloc'd in the current memory context.  a and b may be packed
 * (short-header) but not toasted.
 */
extern bytea *LocalityCrdtMerge(int kind, bytea *a, bytea *b);

/*
 * LocalityCrdtKindOfType: the LocalityCrdtKind of a column type when it is
 * locality.gcounter, locality.pncounter or locality.orset, else 0.
 */
extern int	LocalityCrdtKindOfType(Oid typid);

/*
 * LocalityCrdtReset: what a DELETE leaves of a value a (docs/conflicts.md
 * section 5): what a observed reset; palloc'd.
 */
extern bytea *LocalityCrdtReset(int kind, bytea *a);

/*
 * LocalityCrdtContinue: the value inserted here over the tombstone state
 * base of its key, continued from it and credited to the local region.
 */
extern bytea *LocalityCrdtContinue(int kind, bytea *base, bytea *inserted);

/* Per column of desc (attnum - 1): its LocalityCrdtKind or 0; NULL when none is. */
extern int *LocalityCrdtKinds(TupleDesc desc);

/* The CRDT columns' values of slot by attnum - 1 (NULL for others and NULLs), detoasted. */
extern bytea **LocalityCrdtValues(TupleTableSlot *slot, const int *kinds);

/* Two values (or NULLs) are the same state. */
extern bool LocalityCrdtEqual(bytea *a, bytea *b);

#endif							/* LOCALITY_SHIM_CRDT_H */
