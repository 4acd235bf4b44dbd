/*
 * merge_function.h -- user merge functions of columns of GLOBAL tables
 * (locality.set_merge_function, src/shim/merge_function.c), for apply.c.
 */
#ifndef LOCALITY_SHIM_MERGE_FUNCTION_H
#define LOCALITY_SHIM_MERGE_FUNCTION_H

#include "postgres.h"

#include "fmgr.h"
#include "utils/relcache.h"

/*
 * LocalityMergeFunctions: per column of rel (attribute order), its merge
 * function fn(local, remote), or NULL; NULL when rel has none.  Cached per
 * backend until the table's relcache entry is invalidated.
 */
extern FmgrInfo **LocalityMergeFunctions(Relation rel);

#endif							/* LOCALITY_SHIM_MERGE_FUNCTION_H */
