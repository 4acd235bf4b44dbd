/*
 * crdt.h -- the CRDT column types locality.gcounter, locality.pncounter and
 * locality.orset (src/shim/crdt_types.c, 080_crdt_types.sql).
 */
#ifndef LOCALITY_SHIM_CRDT_H
#define LOCALITY_SHIM_CRDT_H

#include "postgres.h"

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

#endif							/* LOCALITY_SHIM_CRDT_H */
